package union

import (
	"context"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/sdk"
)

// Errors of writes, wrapped in *fs.PathError.
var (
	// ErrIsDir: the path is a directory where a file was expected.
	ErrIsDir = fmt.Errorf("is a directory: %w", fs.ErrInvalid)
	// ErrNotDir: a path's parent, or the path itself, is not a directory.
	ErrNotDir = fmt.Errorf("not a directory: %w", fs.ErrInvalid)
	// ErrNotEmpty: rmdir of a directory that still holds entries.
	ErrNotEmpty = fmt.Errorf("directory not empty: %w", fs.ErrInvalid)
)

// writer returns the writable drive, or ErrReadOnly.
func (v *View) writable(op, p string) (*drive.Drive, error) {
	if v.readOnly {
		return nil, &fs.PathError{Op: op, Path: p, Err: ErrReadOnly}
	}
	w := v.Writer()
	if w == nil {
		return nil, &fs.PathError{Op: op, Path: p, Err: ErrReadOnly}
	}
	return w, nil
}

// prepare checks that p can be written: a valid path below the root,
// under directories (or nothing), and not itself a directory when
// wantFile. It returns p's current stat, or nil.
func (v *View) prepare(ctx context.Context, op, p string, wantFile bool) (*Stat, error) {
	if !drive.ValidPath(p) {
		return nil, &fs.PathError{Op: op, Path: p, Err: fs.ErrInvalid}
	}
	if sub, rel, err := v.locate(ctx, p, false); err != nil {
		return nil, pathErr(op, p, err)
	} else if sub != v {
		return nil, &fs.PathError{Op: op, Path: p, Err: fmt.Errorf("inside a mounted drive, which this view cannot write: %w", ErrReadOnly)}
	} else if rel != p {
		return nil, &fs.PathError{Op: op, Path: p, Err: fmt.Errorf("a directory above is a symlink (to %s), which writes do not follow: %w", rel, ErrNotDir)}
	}
	var paths []string
	for q := path.Dir(p); q != "/"; q = path.Dir(q) {
		paths = append(paths, q)
	}
	paths = append(paths, p)
	sts, err := v.states(ctx, paths)
	if err != nil {
		return nil, err
	}
	for i, st := range sts[:len(sts)-1] {
		if st.exists() && !st.dir {
			return nil, &fs.PathError{Op: op, Path: p, Err: fmt.Errorf("%s: %w", paths[i], ErrNotDir)}
		}
	}
	self := statOf(p, sts[len(sts)-1])
	if wantFile && self != nil && self.IsDir() {
		return nil, &fs.PathError{Op: op, Path: p, Err: ErrIsDir}
	}
	return self, nil
}

// newEntry stamps an entry for the local writer, with the clock taken
// when the write began. writeMu is held.
func (v *View) newEntry(kind drive.Kind, p string, clock sdk.VectorClock) *drive.Entry {
	return &drive.Entry{Kind: kind, Path: p, WallClock: v.stamp(p), Clock: clock}
}

// clock is the vector clock of an entry written now: for every drive of
// the view but the writer's own, the length applied, merged with what
// the entries applied had seen of those drives. Writers outside the view
// are left out, so a hostile entry naming many cannot bloat every later
// clock.
func (v *View) clock() sdk.VectorClock {
	sources, _ := v.snapshot()
	own := v.Writer().Key()
	in := make(map[sdk.FeedKey]bool, len(sources))
	for _, s := range sources {
		in[s.key] = s.key != own
	}
	// What a drive claims to have seen of another is believed only up to
	// that drive's signed length here, and never about itself: a writer
	// cannot inflate the clocks others write (and so the cut of its own
	// removal) by claiming lengths that do not exist.
	signed := make(map[sdk.FeedKey]uint64, len(sources))
	for _, s := range sources {
		signed[s.key] = s.d.Feed().Length()
	}
	var c sdk.VectorClock
	for _, s := range sources {
		var length uint64
		var seen sdk.VectorClock
		s.read(func(x *drive.Index) { length, seen = x.Length(), x.MaxClock() })
		kept := seen[:0]
		for _, e := range seen {
			if in[e.Writer] && e.Writer != s.key {
				e.Length = min(e.Length, signed[e.Writer])
				kept = append(kept, e)
			}
		}
		c = drive.MergeClock(c, kept)
		if s.key != own && length > 1 {
			c = drive.MergeClock(c, sdk.VectorClock{{Writer: s.key, Length: length}})
		}
	}
	return c
}

// stamp is the wall clock of the next entry at p: now, but never below a
// wall clock the view has seen (the newest of any drive, the newest of
// this writer, the versions at p), unless that one is more than MaxSkew
// ahead of now and so not to be trusted.
func (v *View) stamp(p string) int64 {
	now := v.cfg.Now().UnixNano()
	limit := now + int64(v.cfg.MaxSkew)
	best := now
	consider := func(w int64) {
		if w <= limit && w >= best {
			best = w + 1
		}
	}
	sources, _ := v.snapshot()
	for _, s := range sources {
		s.read(func(x *drive.Index) {
			consider(x.MaxWallClock())
			if n, ok := x.Get(p); ok {
				consider(n.WallClock)
			}
		})
	}
	return best
}

// append writes entries to the local drive.
func (v *View) append(ctx context.Context, op, p string, w *drive.Drive, entries ...*drive.Entry) error {
	if _, err := w.Append(ctx, entries...); err != nil {
		return &fs.PathError{Op: op, Path: p, Err: err}
	}
	return nil
}

// WriteFile writes data as the whole content of the file at p, creating
// it (and implicitly its directories) if needed. A file written by
// another writer is replaced by this writer's version; its metadata is
// kept.
func (v *View) WriteFile(ctx context.Context, p string, data []byte, perm fs.FileMode) error {
	w, err := v.Create(ctx, p, perm)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return err
	}
	return w.Close()
}

// Mkdir makes the directory p.
func (v *View) Mkdir(ctx context.Context, p string, perm fs.FileMode) error {
	return v.create(ctx, "mkdir", p, func(e *drive.Entry) { e.Mode = perm & fs.ModePerm }, drive.KindDir)
}

// Symlink makes p a symbolic link to target.
func (v *View) Symlink(ctx context.Context, target, p string) error {
	return v.create(ctx, "symlink", p, func(e *drive.Entry) { e.Target = target; e.Mode = 0o777 }, drive.KindSymlink)
}

// Mount mounts the drive key at p, at its latest version (version 0) or
// pinned to a length of its feed.
func (v *View) Mount(ctx context.Context, p string, key sdk.FeedKey, version uint64) error {
	return v.create(ctx, "mount", p, func(e *drive.Entry) {
		e.MountKey, e.MountVersion, e.Mode = key, version, 0o755
	}, drive.KindMount)
}

// create writes a new entry at p, which must not exist.
func (v *View) create(ctx context.Context, op, p string, fill func(*drive.Entry), kind drive.Kind) error {
	p, err := clean(op, p)
	if err != nil {
		return err
	}
	w, err := v.writable(op, p)
	if err != nil {
		return err
	}
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	clock := v.clock()
	self, err := v.prepare(ctx, op, p, false)
	if err != nil {
		return err
	}
	if self != nil {
		return &fs.PathError{Op: op, Path: p, Err: fs.ErrExist}
	}
	e := v.newEntry(kind, p, clock)
	fill(e)
	return v.append(ctx, op, p, w, e)
}

// Remove deletes the file, symlink or mount at p, whoever wrote it, by
// writing a tombstone; a later write brings the path back.
func (v *View) Remove(ctx context.Context, p string) error {
	return v.remove(ctx, "unlink", p, func(s *Stat) error {
		if s.Kind == drive.KindDir {
			return ErrIsDir
		}
		return nil
	})
}

// Unmount removes the mount at p.
func (v *View) Unmount(ctx context.Context, p string) error {
	return v.remove(ctx, "unmount", p, func(s *Stat) error {
		if s.Kind != drive.KindMount {
			return fmt.Errorf("not a mount: %w", fs.ErrInvalid)
		}
		return nil
	})
}

// Rmdir deletes the empty directory p.
func (v *View) Rmdir(ctx context.Context, p string) error {
	return v.remove(ctx, "rmdir", p, func(s *Stat) error {
		if s.Kind != drive.KindDir {
			return ErrNotDir
		}
		return nil
	})
}

func (v *View) remove(ctx context.Context, op, p string, check func(*Stat) error) error {
	p, err := clean(op, p)
	if err != nil {
		return err
	}
	w, err := v.writable(op, p)
	if err != nil {
		return err
	}
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	clock := v.clock()
	self, err := v.prepare(ctx, op, p, false)
	if err != nil {
		return err
	}
	if self == nil {
		return notExist(op, p)
	}
	if err := check(self); err != nil {
		return &fs.PathError{Op: op, Path: p, Err: err}
	}
	if self.Kind == drive.KindDir {
		sources, _ := v.snapshot()
		live, err := v.shownBeneath(ctx, sources, p)
		if err != nil {
			return err
		}
		if live {
			return &fs.PathError{Op: op, Path: p, Err: ErrNotEmpty}
		}
	}
	return v.append(ctx, op, p, w, v.newEntry(drive.KindTombstone, p, clock))
}

// SetMetadata sets key to value in the metadata of p.
func (v *View) SetMetadata(ctx context.Context, p, key string, value []byte) error {
	if key == "" {
		return &fs.PathError{Op: "setmetadata", Path: p, Err: fmt.Errorf("empty metadata key: %w", fs.ErrInvalid)}
	}
	return v.rewrite(ctx, "setmetadata", p, func(e *drive.Entry) {
		m := maps.Clone(e.Metadata)
		if m == nil {
			m = map[string][]byte{}
		}
		m[key] = append([]byte(nil), value...)
		e.Metadata = m
	})
}

// RemoveMetadata removes key from the metadata of p.
func (v *View) RemoveMetadata(ctx context.Context, p, key string) error {
	return v.rewrite(ctx, "removemetadata", p, func(e *drive.Entry) {
		m := maps.Clone(e.Metadata)
		delete(m, key)
		if len(m) == 0 {
			m = nil
		}
		e.Metadata = m
	})
}

// rewrite writes a new version of p that changes only what change does.
// A file written by another writer has its content copied to this
// writer's drive, which entries can only point into.
func (v *View) rewrite(ctx context.Context, op, p string, change func(*drive.Entry)) error {
	p, err := clean(op, p)
	if err != nil {
		return err
	}
	if _, err := v.writable(op, p); err != nil {
		return err
	}
	s, err := v.Lstat(ctx, p)
	if err != nil {
		return err
	}
	if s.Kind == drive.KindFile {
		f, err := v.OpenFile(ctx, p, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		f.change = change
		f.modified = true
		return f.Close()
	}
	w, _ := v.writable(op, p)
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	clock := v.clock()
	cur, err := v.prepare(ctx, op, p, false)
	if err != nil {
		return err
	}
	if cur == nil {
		return notExist(op, p)
	}
	e := v.newEntry(cur.Kind, p, clock)
	e.Mode, e.Target, e.MountKey, e.MountVersion, e.Metadata = cur.Perm, cur.Target, cur.MountKey, cur.MountVersion, cur.Metadata
	change(e)
	return v.append(ctx, op, p, w, e)
}

// Truncate changes the size of the file at p, padding with zeros.
func (v *View) Truncate(ctx context.Context, p string, size int64) error {
	f, err := v.OpenFile(ctx, p, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.abort()
		return err
	}
	return f.Close()
}

// Record writes an empty file at p, stamped like any write, without the
// checks a file system makes on the directories above it: for records
// such as a co-drive's writer set, whose paths other writers must not be
// able to block by putting a file or a symlink in the way.
func (v *View) Record(ctx context.Context, p string) error {
	p, err := clean("record", p)
	if err != nil {
		return err
	}
	if !drive.ValidPath(p) {
		return &fs.PathError{Op: "record", Path: p, Err: fs.ErrInvalid}
	}
	w, err := v.writable("record", p)
	if err != nil {
		return err
	}
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	e := v.newEntry(drive.KindFile, p, v.clock())
	e.Mode = 0o644
	return v.append(ctx, "record", p, w, e)
}
