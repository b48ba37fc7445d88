package drive

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/zeebo/blake3"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/sdk"
)

// Content is where a file's bytes are: the fields of a file Entry.
type Content struct {
	Size        uint64
	Extents     []Extent
	Hash        sdk.Hash
	Compression Compression
}

// SetContent copies c into the file fields of e.
func (e *Entry) SetContent(c Content) {
	e.Size, e.Extents, e.Hash, e.Compression = c.Size, c.Extents, c.Hash, c.Compression
}

// Content returns the file fields of e.
func (e *Entry) Content() Content {
	return Content{Size: e.Size, Extents: e.Extents, Hash: e.Hash, Compression: e.Compression}
}

// HashContent returns the content hash of data, as a file entry records
// it: BLAKE3 of the bytes.
func HashContent(data []byte) sdk.Hash {
	return sdk.Hash(blake3.Sum256(data))
}

// writeBatch is how many chunks one content append signs together.
const writeBatch = 16

// readAhead is how many blocks past the one needed a fetch asks for.
const readAhead = 16

var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		e, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		if err != nil {
			panic(err)
		}
		return e
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(MaxChunkSize))
		if err != nil {
			panic(err)
		}
		return d
	})
)

// ChunkSize returns the drive's chunk size, or 0 while its header has not
// arrived.
func (d *Drive) ChunkSize() int {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.chunkSize
}

// ContentWriter stores a file's bytes as content blocks. Close it with
// Finish; a writer abandoned half way leaves unreferenced blocks, never a
// half-written file.
type ContentWriter struct {
	ctx       context.Context
	content   *feed.Feed
	chunkSize int
	compress  bool
	buf       []byte
	pending   [][]byte
	hash      *blake3.Hasher
	c         Content
	err       error
}

// NewContentWriter starts writing a file's content to the drive.
func (d *Drive) NewContentWriter(ctx context.Context) (*ContentWriter, error) {
	if !d.Writable() {
		return nil, ErrReadOnly
	}
	d.mu.RLock()
	content, cs := d.content, d.chunkSize
	d.mu.RUnlock()
	w := &ContentWriter{ctx: ctx, content: content, chunkSize: cs, compress: d.opts.Compress, hash: blake3.New()}
	if w.compress {
		w.c.Compression = CompressionZstd
	}
	return w, nil
}

// Write adds p to the file.
func (w *ContentWriter) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	n := len(p)
	w.hash.Write(p)
	w.c.Size += uint64(n)
	for len(p) > 0 {
		if w.buf == nil {
			w.buf = make([]byte, 0, w.chunkSize)
		}
		k := min(len(p), w.chunkSize-len(w.buf))
		w.buf = append(w.buf, p[:k]...)
		p = p[k:]
		if len(w.buf) == w.chunkSize {
			w.push(w.buf)
			w.buf = nil
		}
	}
	if w.err != nil {
		return 0, w.err
	}
	return n, nil
}

// Reuse adds a whole chunk that is already stored, uncompressed, as block
// of this drive's content feed, without storing it again: data must be
// that block's chunk. A compressing writer stores it again instead.
func (w *ContentWriter) Reuse(block uint64, data []byte) error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) != 0 || len(data) != w.chunkSize {
		return fmt.Errorf("drive: reusing a chunk off the chunk boundary: %w", sdk.ErrInvalid)
	}
	if w.compress {
		// The block holds the chunk as it is, and this file's blocks
		// are all zstd frames: store it again, compressed.
		_, err := w.Write(data)
		return err
	}
	w.flush()
	w.hash.Write(data)
	w.c.Size += uint64(len(data))
	w.addExtent(block, 1)
	return w.err
}

// Finish stores what is buffered and returns where the content is.
func (w *ContentWriter) Finish() (Content, error) {
	if len(w.buf) > 0 {
		w.push(w.buf)
		w.buf = nil
	}
	w.flush()
	if w.err != nil {
		return Content{}, w.err
	}
	copy(w.c.Hash[:], w.hash.Sum(nil))
	return w.c, nil
}

func (w *ContentWriter) push(chunk []byte) {
	if w.compress {
		chunk = zstdEncoder().EncodeAll(chunk, nil)
	}
	w.pending = append(w.pending, chunk)
	if len(w.pending) >= writeBatch {
		w.flush()
	}
}

func (w *ContentWriter) flush() {
	if w.err != nil || len(w.pending) == 0 {
		return
	}
	if w.content == nil {
		w.err = fmt.Errorf("drive: no content feed: %w", sdk.ErrInvalid)
		return
	}
	first, err := w.content.Append(w.ctx, w.pending...)
	if err != nil {
		w.err = fmt.Errorf("drive: storing content: %w", err)
		return
	}
	w.addExtent(first, uint64(len(w.pending)))
	w.pending = w.pending[:0]
}

func (w *ContentWriter) addExtent(start, blocks uint64) {
	if n := len(w.c.Extents); n > 0 && w.c.Extents[n-1].Start+w.c.Extents[n-1].Blocks == start {
		w.c.Extents[n-1].Blocks += blocks
		return
	}
	w.c.Extents = append(w.c.Extents, Extent{Start: start, Blocks: blocks})
}

// Block returns the content feed block that holds chunk i of e, and the
// end of the extent it is in.
func (e *Entry) block(i uint64) (block, extentEnd uint64, ok bool) {
	for _, x := range e.Extents {
		if i < x.Blocks {
			return x.Start + i, x.Start + x.Blocks, true
		}
		i -= x.Blocks
	}
	return 0, 0, false
}

// Chunk returns chunk i of the file e, which this drive wrote: from local
// storage, or fetched from peers when it is not stored here.
func (d *Drive) Chunk(ctx context.Context, e *Entry, i uint64) ([]byte, error) {
	d.mu.RLock()
	content, cs := d.content, uint64(d.chunkSize)
	d.mu.RUnlock()
	if content == nil {
		return nil, fmt.Errorf("drive %s: header not replicated yet: %w", d.Key(), feed.ErrNotAvailable)
	}
	if e.Kind != KindFile || e.Size == 0 || i > (e.Size-1)/cs {
		return nil, fmt.Errorf("drive %s: %s has no chunk %d: %w", d.Key(), e.Path, i, sdk.ErrInvalid)
	}
	want := min(cs, e.Size-i*cs)
	b, end, ok := e.block(i)
	if !ok {
		return nil, fmt.Errorf("drive %s: %s: extents too short for its size: %w", d.Key(), e.Path, sdk.ErrCorrupt)
	}
	if !content.Has(b, b+1) {
		if d.opts.Fetcher == nil {
			return nil, fmt.Errorf("drive %s: %s: content block %d is not stored here: %w", d.Key(), e.Path, b, feed.ErrNotAvailable)
		}
		if err := d.opts.Fetcher.Fetch(ctx, content.Key(), b, min(end, b+readAhead)); err != nil {
			// The read-ahead may be what no peer has; the block itself
			// is what matters.
			if !content.Has(b, b+1) {
				if err2 := d.opts.Fetcher.Fetch(ctx, content.Key(), b, b+1); err2 != nil {
					return nil, fmt.Errorf("drive %s: %s: %w", d.Key(), e.Path, err2)
				}
			}
		}
	}
	data, err := content.Get(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("drive %s: %s: %w", d.Key(), e.Path, err)
	}
	if e.Compression == CompressionZstd {
		data, err = zstdDecoder().DecodeAll(data, make([]byte, 0, want))
		if err != nil {
			return nil, fmt.Errorf("drive %s: %s: chunk %d: %v: %w", d.Key(), e.Path, i, err, sdk.ErrCorrupt)
		}
	}
	if uint64(len(data)) != want {
		return nil, fmt.Errorf("drive %s: %s: chunk %d holds %d bytes, want %d: %w", d.Key(), e.Path, i, len(data), want, sdk.ErrCorrupt)
	}
	return data, nil
}

// BlockOf returns the content feed block holding chunk i of e, if e's
// chunk is stored uncompressed as a whole chunk that a ContentWriter of
// this drive may reuse.
func (d *Drive) BlockOf(e *Entry, i uint64) (uint64, bool) {
	cs := uint64(d.ChunkSize())
	if e.Compression != CompressionNone || cs == 0 || (i+1)*cs > e.Size {
		return 0, false
	}
	b, _, ok := e.block(i)
	return b, ok
}

// Reader reads a file's content. It implements io.Reader, io.ReaderAt and
// io.Seeker; ReadAt may be called concurrently.
type Reader struct {
	ctx  context.Context
	d    *Drive
	e    *Entry
	cs   int64
	off  int64
	mu   sync.Mutex
	last int64
	data []byte
}

// NewReader returns a reader of e, a file this drive wrote. Reads use
// ctx to fetch missing blocks.
func (d *Drive) NewReader(ctx context.Context, e *Entry) (*Reader, error) {
	if e.Kind != KindFile {
		return nil, fmt.Errorf("drive: %s is a %v, not a file: %w", e.Path, e.Kind, sdk.ErrInvalid)
	}
	cs := d.ChunkSize()
	if cs == 0 {
		return nil, fmt.Errorf("drive %s: header not replicated yet: %w", d.Key(), feed.ErrNotAvailable)
	}
	return &Reader{ctx: ctx, d: d, e: e, cs: int64(cs), last: -1}, nil
}

// Size is the file's length in bytes.
func (r *Reader) Size() int64 { return int64(r.e.Size) }

// Read reads the next bytes of the file.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.off)
	r.off += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// Seek sets the offset of the next Read.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += r.off
	case io.SeekEnd:
		offset += r.Size()
	default:
		return r.off, fmt.Errorf("seek: bad whence %d: %w", whence, sdk.ErrInvalid)
	}
	if offset < 0 {
		return r.off, fmt.Errorf("seek: negative offset: %w", sdk.ErrInvalid)
	}
	r.off = offset
	return offset, nil
}

// ReadAt reads len(p) bytes at off, or up to the end of the file with
// io.EOF.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("read at negative offset: %w", sdk.ErrInvalid)
	}
	n := 0
	for n < len(p) {
		if off >= r.Size() {
			return n, io.EOF
		}
		chunk, err := r.chunk(off / r.cs)
		if err != nil {
			return n, err
		}
		k := copy(p[n:], chunk[off%r.cs:])
		n += k
		off += int64(k)
	}
	return n, nil
}

// chunk returns chunk i, keeping the last one for small sequential reads.
func (r *Reader) chunk(i int64) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i == r.last {
		return r.data, nil
	}
	data, err := r.d.Chunk(r.ctx, r.e, uint64(i))
	if err != nil {
		return nil, err
	}
	r.last, r.data = i, data
	return data, nil
}

// WriteTo copies the rest of the file to w, chunk by chunk.
func (r *Reader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for r.off < r.Size() {
		chunk, err := r.chunk(r.off / r.cs)
		if err != nil {
			return total, err
		}
		n, err := w.Write(chunk[r.off%r.cs:])
		total += int64(n)
		r.off += int64(n)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
