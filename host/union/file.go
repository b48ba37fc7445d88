package union

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sync"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/sdk"
)

// File is an open file of a view: a version of it to read, or a new
// version being written. Writes are kept (as changed chunks) until Close,
// which writes the new version as one entry: other readers never see a
// half-written file. A File is safe for concurrent use.
type File struct {
	v    *View
	ctx  context.Context
	path string
	stat *Stat

	// base is the version opened: its drive and entry, nil for a new
	// file; baseLimit is how many of its bytes still count.
	src       *drive.Drive
	base      *drive.Entry
	baseLimit int64
	baseCS    int64 // the base drive's chunk size
	cs        int64 // the chunk size of this handle's changes

	write, appendMode, excl bool
	// clock is the vector clock when the handle was opened: the new
	// version supersedes what the writer had seen then, not what arrives
	// while the file is open.
	clock sdk.VectorClock

	mu       sync.Mutex
	size     int64
	off      int64
	dirty    map[int64][]byte
	modified bool
	change   func(*drive.Entry)
	perm     fs.FileMode
	closed   bool
	last     int64
	lastData []byte
}

// OpenFile opens p with os.O_* flags: O_RDONLY to read; O_WRONLY or
// O_RDWR to write, with O_CREATE, O_EXCL, O_TRUNC and O_APPEND as in
// os.OpenFile. Symlinks are followed.
func (v *View) OpenFile(ctx context.Context, p string, flag int, perm fs.FileMode) (*File, error) {
	p, err := clean("open", p)
	if err != nil {
		return nil, err
	}
	write := flag&(os.O_WRONLY|os.O_RDWR) != 0
	if !write {
		if flag&(os.O_CREATE|os.O_TRUNC|os.O_APPEND) != 0 {
			return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("create, truncate or append without write access: %w", fs.ErrInvalid)}
		}
		sub, rel, s, err := v.follow(ctx, "open", p)
		if err != nil {
			return nil, err
		}
		return sub.openVersion(ctx, rel, s)
	}
	w, err := v.writable("open", p)
	if err != nil {
		return nil, err
	}
	// Follow a symlink at the end of p to the path it names.
	for range maxLinks {
		s, err := v.Lstat(ctx, p)
		if err != nil || s.Kind != drive.KindSymlink {
			break
		}
		p = linkTarget(p, s.Target)
	}
	clock := v.clock()
	cur, err := v.prepare(ctx, "open", p, true)
	if err != nil {
		return nil, err
	}
	switch {
	case cur == nil && flag&os.O_CREATE == 0:
		return nil, notExist("open", p)
	case cur != nil && flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL:
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrExist}
	case cur != nil && cur.Kind != drive.KindFile:
		return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("a %v, not a file: %w", cur.Kind, fs.ErrInvalid)}
	}
	f := &File{v: v, ctx: ctx, path: p, stat: cur, write: true, appendMode: flag&os.O_APPEND != 0,
		excl: flag&(os.O_CREATE|os.O_EXCL) == os.O_CREATE|os.O_EXCL, clock: clock,
		perm: perm & fs.ModePerm, dirty: map[int64][]byte{}, last: -1, cs: int64(w.ChunkSize())}
	if f.perm == 0 {
		f.perm = 0o644
	}
	if cur != nil {
		if err := f.setBase(); err != nil {
			return nil, err
		}
		f.perm = cur.Perm
		if flag&os.O_TRUNC != 0 {
			f.baseLimit, f.size, f.modified = 0, 0, true
		}
	} else {
		f.modified = true
		f.stat = &Stat{Path: p, Kind: drive.KindFile, Perm: f.perm}
	}
	return f, nil
}

// OpenVersion opens, for reading, the version of the file at p written by
// writer: the shown one or a conflict version.
func (v *View) OpenVersion(ctx context.Context, p string, writer sdk.FeedKey) (*File, error) {
	p, err := clean("open", p)
	if err != nil {
		return nil, err
	}
	st, err := v.state(ctx, p)
	if err != nil {
		return nil, err
	}
	for _, c := range st.cands {
		if c.src.key == writer && c.node.Kind == drive.KindFile {
			s := statOf(p, &state{cands: []cand{c}, shown: 0})
			return v.openVersion(ctx, p, s)
		}
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("no file version by writer %s: %w", writer, fs.ErrNotExist)}
}

func (v *View) openVersion(ctx context.Context, p string, s *Stat) (*File, error) {
	if s.IsDir() {
		return nil, &fs.PathError{Op: "open", Path: p, Err: ErrIsDir}
	}
	if s.Kind != drive.KindFile {
		return nil, &fs.PathError{Op: "open", Path: p, Err: fmt.Errorf("a %v, not a file: %w", s.Kind, fs.ErrInvalid)}
	}
	f := &File{v: v, ctx: ctx, path: p, stat: s, last: -1}
	if err := f.setBase(); err != nil {
		return nil, err
	}
	return f, nil
}

// setBase finds the drive and entry of f.stat.
func (f *File) setBase() error {
	src := f.v.source(f.stat.Writer)
	if src == nil {
		return &fs.PathError{Op: "open", Path: f.path, Err: fmt.Errorf("drive %s left the view: %w", f.stat.Writer, fs.ErrNotExist)}
	}
	var n drive.Node
	var ok bool
	src.read(func(x *drive.Index) { n, ok = x.Get(f.stat.Path) })
	if !ok || n.Seq != f.stat.Seq || n.Kind != drive.KindFile {
		return &fs.PathError{Op: "open", Path: f.path, Err: fmt.Errorf("version changed while opening: %w", fs.ErrNotExist)}
	}
	f.src, f.base = src.d, n.Entry
	f.baseCS = int64(f.src.ChunkSize())
	if f.baseCS == 0 {
		return &fs.PathError{Op: "open", Path: f.path, Err: fmt.Errorf("drive %s: header not replicated yet: %w", f.src.Key(), fs.ErrNotExist)}
	}
	if err := checkSize(n.Entry, f.baseCS); err != nil {
		return &fs.PathError{Op: "open", Path: f.path, Err: err}
	}
	f.size, f.baseLimit = int64(n.Size), int64(n.Size)
	if f.cs == 0 {
		f.cs = f.baseCS
	}
	return nil
}

// checkSize refuses a file entry whose size its extents cannot hold: the
// size is the writer's word, and readers size buffers by it.
func checkSize(e *drive.Entry, cs int64) error {
	var blocks uint64
	for _, x := range e.Extents {
		if blocks += x.Blocks; blocks < x.Blocks {
			return fmt.Errorf("file entry with overflowing extents: %w", sdk.ErrCorrupt)
		}
	}
	ucs := uint64(cs)
	if e.Size > math.MaxInt64 || blocks > e.Size/ucs+1 || e.Size > blocks*ucs || (blocks > 0 && e.Size <= (blocks-1)*ucs) {
		return fmt.Errorf("file entry of %d bytes in %d chunks of %d: %w", e.Size, blocks, cs, sdk.ErrCorrupt)
	}
	return nil
}

// source returns the view's source for a drive key.
func (v *View) source(key sdk.FeedKey) *source {
	sources, _ := v.snapshot()
	for _, s := range sources {
		if s.key == key {
			return s
		}
	}
	return nil
}

// Name is the path the file was opened at.
func (f *File) Name() string { return f.path }

// Stat describes the file as opened (and, once written, its new size).
func (f *File) Stat() (*Stat, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := *f.stat
	s.Size = f.size
	return &s, nil
}

// Read reads from the current offset.
func (f *File) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.readAt(p, f.off)
	f.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt reads len(p) bytes at off.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.readAt(p, off)
}

func (f *File) readAt(p []byte, off int64) (int, error) {
	if f.closed {
		return 0, fs.ErrClosed
	}
	if off < 0 {
		return 0, &fs.PathError{Op: "read", Path: f.path, Err: fs.ErrInvalid}
	}
	n := 0
	for n < len(p) {
		if off >= f.size {
			return n, io.EOF
		}
		chunk, err := f.chunk(off / f.cs)
		if err != nil {
			return n, &fs.PathError{Op: "read", Path: f.path, Err: err}
		}
		k := copy(p[n:], chunk[off%f.cs:])
		n += k
		off += int64(k)
	}
	return n, nil
}

// chunk returns chunk i as the file now reads: changed bytes, else the
// base version's bytes up to baseLimit, else zeros.
func (f *File) chunk(i int64) ([]byte, error) {
	want := min(f.cs, f.size-i*f.cs)
	if d, ok := f.dirty[i]; ok {
		if int64(len(d)) < want {
			d = append(d, make([]byte, want-int64(len(d)))...)
			f.dirty[i] = d
		}
		return d[:want], nil
	}
	out := make([]byte, want)
	if start := i * f.cs; f.base != nil && start < f.baseLimit {
		if err := f.readBase(out[:min(want, f.baseLimit-start)], start); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readBase fills p with the base version's bytes at off, which lie below
// baseLimit; the base's chunks may differ in size from this handle's.
func (f *File) readBase(p []byte, off int64) error {
	for len(p) > 0 {
		data, err := f.baseChunk(off / f.baseCS)
		if err != nil {
			return err
		}
		n := copy(p, data[off%f.baseCS:])
		p, off = p[n:], off+int64(n)
	}
	return nil
}

// baseChunk returns chunk i of the base version, keeping the last one.
func (f *File) baseChunk(i int64) ([]byte, error) {
	if i == f.last {
		return f.lastData, nil
	}
	data, err := f.src.Chunk(f.ctx, f.base, uint64(i))
	if err != nil {
		return nil, err
	}
	f.last, f.lastData = i, data
	return data, nil
}

// Seek sets the offset for the next Read or Write.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.off
	case io.SeekEnd:
		offset += f.size
	default:
		return f.off, &fs.PathError{Op: "seek", Path: f.path, Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return f.off, &fs.PathError{Op: "seek", Path: f.path, Err: fs.ErrInvalid}
	}
	f.off = offset
	return offset, nil
}

// Write writes at the current offset (at the end with O_APPEND).
func (f *File) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.appendMode {
		f.off = f.size
	}
	n, err := f.writeAt(p, f.off)
	f.off += int64(n)
	return n, err
}

// WriteAt writes p at off, growing the file if needed.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.writeAt(p, off)
}

func (f *File) writeAt(p []byte, off int64) (int, error) {
	switch {
	case f.closed:
		return 0, fs.ErrClosed
	case !f.write:
		return 0, &fs.PathError{Op: "write", Path: f.path, Err: fmt.Errorf("opened read-only: %w", fs.ErrPermission)}
	case off < 0:
		return 0, &fs.PathError{Op: "write", Path: f.path, Err: fs.ErrInvalid}
	}
	if end := off + int64(len(p)); end > f.size {
		f.size = end
	}
	n := 0
	for n < len(p) {
		i := off / f.cs
		d, err := f.chunk(i)
		if err != nil {
			return n, &fs.PathError{Op: "write", Path: f.path, Err: err}
		}
		if _, ok := f.dirty[i]; !ok {
			d = append([]byte(nil), d...)
		}
		k := copy(d[off%f.cs:], p[n:])
		f.dirty[i] = d
		n += k
		off += int64(k)
	}
	f.modified = true
	return n, nil
}

// Truncate sets the file's size, dropping bytes past it or adding zeros.
func (f *File) Truncate(size int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.closed:
		return fs.ErrClosed
	case !f.write:
		return &fs.PathError{Op: "truncate", Path: f.path, Err: fmt.Errorf("opened read-only: %w", fs.ErrPermission)}
	case size < 0:
		return &fs.PathError{Op: "truncate", Path: f.path, Err: fs.ErrInvalid}
	}
	if size < f.size {
		for i, d := range f.dirty {
			start := i * f.cs
			switch {
			case start >= size:
				delete(f.dirty, i)
			case start+int64(len(d)) > size:
				f.dirty[i] = d[:size-start]
			}
		}
		f.baseLimit = min(f.baseLimit, size)
	}
	f.size = size
	f.modified = true
	return nil
}

// Sync writes the file's new version now; the file stays open.
func (f *File) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.flush()
}

// Close writes the new version, if anything was written, and closes f.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return fs.ErrClosed
	}
	err := f.flush()
	f.closed = true
	return err
}

// abort closes f without writing.
func (f *File) abort() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

// flush stores the content, reusing the base's unchanged chunks when the
// base is this writer's, and appends the file's entry.
func (f *File) flush() error {
	if !f.write || !f.modified {
		return nil
	}
	w, err := f.v.writable("write", f.path)
	if err != nil {
		return err
	}
	cw, err := w.NewContentWriter(f.ctx)
	if err != nil {
		return &fs.PathError{Op: "write", Path: f.path, Err: err}
	}
	chunks := (f.size + f.cs - 1) / f.cs
	for i := int64(0); i < chunks; i++ {
		if _, changed := f.dirty[i]; !changed && f.src == w && f.baseCS == f.cs && (i+1)*f.cs <= min(f.size, f.baseLimit) {
			if block, ok := w.BlockOf(f.base, uint64(i)); ok {
				data, err := f.baseChunk(i)
				if err == nil {
					err = cw.Reuse(block, data)
				}
				if err != nil {
					return &fs.PathError{Op: "write", Path: f.path, Err: err}
				}
				continue
			}
		}
		data, err := f.chunk(i)
		if err == nil {
			_, err = cw.Write(data)
		}
		if err != nil {
			return &fs.PathError{Op: "write", Path: f.path, Err: err}
		}
	}
	content, err := cw.Finish()
	if err != nil {
		return &fs.PathError{Op: "write", Path: f.path, Err: err}
	}
	v := f.v
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	cur, err := v.prepare(f.ctx, "write", f.path, true)
	if err != nil {
		return err
	}
	if f.excl && cur != nil {
		return &fs.PathError{Op: "open", Path: f.path, Err: fs.ErrExist}
	}
	e := v.newEntry(drive.KindFile, f.path, f.clock)
	e.Mode = f.perm
	if f.base != nil {
		e.Metadata = f.base.Metadata
	}
	e.SetContent(content)
	if f.change != nil {
		f.change(e)
	}
	if err := v.append(f.ctx, "write", f.path, w, e); err != nil {
		return err
	}
	// The new version is the base from now on, and what the writer had
	// seen now is what the next version supersedes.
	f.src, f.base, f.baseLimit, f.baseCS, f.excl = w, e, f.size, f.cs, false
	f.clock = v.clock()
	f.dirty, f.modified, f.last, f.lastData = map[int64][]byte{}, false, -1, nil
	f.stat = &Stat{Path: f.path, Kind: drive.KindFile, Perm: e.Mode, Size: f.size, Writer: w.Key(), Hash: e.Hash, Metadata: e.Metadata}
	return nil
}

// Writer streams the content of a new version of a file: the bytes go to
// content blocks as they come, and Close writes the entry. Nothing shows
// until Close succeeds.
type Writer struct {
	v      *View
	ctx    context.Context
	path   string
	perm   fs.FileMode
	meta   map[string][]byte
	cw     *drive.ContentWriter
	clock  sdk.VectorClock
	closed bool
}

// Create starts writing the whole content of the file at p, streaming.
// An existing file keeps its permissions and metadata.
func (v *View) Create(ctx context.Context, p string, perm fs.FileMode) (*Writer, error) {
	p, err := clean("create", p)
	if err != nil {
		return nil, err
	}
	w, err := v.writable("create", p)
	if err != nil {
		return nil, err
	}
	clock := v.clock()
	cur, err := v.prepare(ctx, "create", p, true)
	if err != nil {
		return nil, err
	}
	if cur != nil && cur.Kind != drive.KindFile {
		return nil, &fs.PathError{Op: "create", Path: p, Err: fmt.Errorf("a %v, not a file: %w", cur.Kind, fs.ErrInvalid)}
	}
	cw, err := w.NewContentWriter(ctx)
	if err != nil {
		return nil, &fs.PathError{Op: "create", Path: p, Err: err}
	}
	sw := &Writer{v: v, ctx: ctx, path: p, perm: perm & fs.ModePerm, cw: cw, clock: clock}
	if sw.perm == 0 {
		sw.perm = 0o644
	}
	if cur != nil {
		sw.perm, sw.meta = cur.Perm, cur.Metadata
	}
	return sw, nil
}

// Write adds p to the file.
func (w *Writer) Write(p []byte) (int, error) {
	if w.closed {
		return 0, fs.ErrClosed
	}
	return w.cw.Write(p)
}

// Close writes the file's entry.
func (w *Writer) Close() error {
	if w.closed {
		return fs.ErrClosed
	}
	w.closed = true
	content, err := w.cw.Finish()
	if err != nil {
		return &fs.PathError{Op: "write", Path: w.path, Err: err}
	}
	d, err := w.v.writable("write", w.path)
	if err != nil {
		return err
	}
	v := w.v
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	if _, err := v.prepare(w.ctx, "write", w.path, true); err != nil {
		return err
	}
	e := v.newEntry(drive.KindFile, w.path, w.clock)
	e.Mode, e.Metadata = w.perm, w.meta
	e.SetContent(content)
	return v.append(w.ctx, "write", w.path, d, e)
}
