package drive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/sdk"
)

func TestContentRoundTrip(t *testing.T) {
	sizes := []int{0, 1, testChunk - 1, testChunk, testChunk + 1, 3*testChunk + testChunk/2, 17*testChunk + 5}
	for _, compress := range []bool{false, true} {
		ctx := testCtx(t)
		d := createDrive(t, ctx, memStore(t), "d", Options{ChunkSize: testChunk, Compress: compress})
		for _, size := range sizes {
			t.Run(fmt.Sprintf("compress=%v/size=%d", compress, size), func(t *testing.T) {
				data := testData(size, uint64(size))
				before := d.ContentFeed().Length()
				c := writeContent(t, ctx, d, data)

				chunks := (size + testChunk - 1) / testChunk
				wantC := Content{Size: uint64(size), Hash: HashContent(data)}
				if chunks > 0 {
					wantC.Extents = []Extent{{Start: before, Blocks: uint64(chunks)}}
				}
				if compress {
					wantC.Compression = CompressionZstd
				}
				if diff := cmp.Diff(wantC, c, sameIndex); diff != "" {
					t.Errorf("content (-want +got):\n%s", diff)
				}
				if got := d.ContentFeed().Length() - before; got != uint64(chunks) {
					t.Errorf("content feed grew by %d blocks, want %d", got, chunks)
				}
				if !compress && chunks > 0 {
					b, err := d.ContentFeed().Get(ctx, before)
					if err != nil || !bytes.Equal(b, data[:min(size, testChunk)]) {
						t.Errorf("first block is not the first chunk: %v", err)
					}
				}

				p := fmt.Sprintf("/f%d", size)
				e := &Entry{Kind: KindFile, Path: p, Mode: 0o600}
				e.SetContent(c)
				if diff := cmp.Diff(c, e.Content()); diff != "" {
					t.Errorf("SetContent/Content (-set +got):\n%s", diff)
				}
				mustAppend(t, ctx, d, e)
				var n Node
				d.Read(func(x *Index) { n, _ = x.Get(p) })
				checkReads(t, ctx, d, n.Entry, data)

				for i := range uint64(chunks) {
					chunk, err := d.Chunk(ctx, e, i)
					if err != nil || !bytes.Equal(chunk, data[i*testChunk:min(uint64(size), (i+1)*testChunk)]) {
						t.Errorf("Chunk(%d) = %d bytes, %v", i, len(chunk), err)
					}
					b, ok := d.BlockOf(e, i)
					wantOK := !compress && (i+1)*testChunk <= uint64(size)
					if ok != wantOK || (ok && b != before+i) {
						t.Errorf("BlockOf(%d) = %d, %v; want %d, %v", i, b, ok, before+i, wantOK)
					}
				}
				if _, err := d.Chunk(ctx, e, uint64(chunks)); !errors.Is(err, sdk.ErrInvalid) {
					t.Errorf("Chunk past the end = %v, want ErrInvalid", err)
				}
			})
		}
	}
}

// checkReads reads e every way a Reader offers and compares with data.
func checkReads(t *testing.T, ctx context.Context, d *Drive, e *Entry, data []byte) {
	t.Helper()
	size := int64(len(data))
	r, err := d.NewReader(ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	if r.Size() != size {
		t.Errorf("Size = %d, want %d", r.Size(), size)
	}
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll = %d bytes, %v; want the %d bytes written", len(got), err, size)
	}
	if n, err := r.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read at the end = %d, %v; want 0, EOF", n, err)
	}

	// Small sequential reads, across chunk boundaries.
	r, _ = d.NewReader(ctx, e)
	var buf bytes.Buffer
	for p := make([]byte, 333); ; {
		n, err := r.Read(p)
		buf.Write(p[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if buf.Len() > len(data) {
			t.Fatal("read more than the file holds")
		}
	}
	if !bytes.Equal(buf.Bytes(), data) {
		t.Errorf("reads of 333 bytes gave %d bytes, not the file", buf.Len())
	}

	rng := rand.New(rand.NewPCG(uint64(size), 7))
	for range 40 {
		off := rng.Int64N(size + 2)
		n := rng.IntN(3 * testChunk)
		p := make([]byte, n)
		k, err := r.ReadAt(p, off)
		wantN := int(max(0, min(int64(n), size-off)))
		var wantErr error
		if int64(n) > size-off && n > 0 {
			wantErr = io.EOF
		}
		if k != wantN || err != wantErr {
			t.Fatalf("ReadAt(%d bytes, %d) of %d = %d, %v; want %d, %v", n, off, size, k, err, wantN, wantErr)
		}
		if !bytes.Equal(p[:k], data[min(off, size):min(off, size)+int64(k)]) {
			t.Fatalf("ReadAt(%d bytes, %d) read other bytes", n, off)
		}
	}
	if _, err := r.ReadAt(make([]byte, 1), -1); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("ReadAt(-1) = %v, want ErrInvalid", err)
	}

	// Seek then Read, and Seek then WriteTo.
	seeks := []struct {
		offset int64
		whence int
		want   int64
	}{
		{size / 2, io.SeekStart, size / 2},
		{0, io.SeekStart, 0},
		{-min(size, 3), io.SeekEnd, size - min(size, 3)},
		{size + 10, io.SeekStart, size + 10},
	}
	for _, s := range seeks {
		pos, err := r.Seek(s.offset, s.whence)
		if err != nil || pos != s.want {
			t.Fatalf("Seek(%d, %d) = %d, %v; want %d", s.offset, s.whence, pos, err, s.want)
		}
		p := make([]byte, testChunk+10)
		n, err := io.ReadFull(r, p)
		start := min(pos, size)
		want := data[start:min(size, start+int64(len(p)))]
		if !bytes.Equal(p[:n], want) {
			t.Errorf("after Seek to %d: read %d bytes, not the file's (%v)", pos, n, err)
		}
		if pos2, _ := r.Seek(0, io.SeekCurrent); pos2 != pos+int64(n) {
			t.Errorf("Seek(0, current) = %d after reading %d at %d", pos2, n, pos)
		}
		r.Seek(s.offset, s.whence)
		var w bytes.Buffer
		m, err := r.WriteTo(&w)
		if err != nil || m != int64(len(data[start:])) || !bytes.Equal(w.Bytes(), data[start:]) {
			t.Errorf("WriteTo after Seek to %d = %d, %v; want the %d bytes from there", pos, m, err, len(data[start:]))
		}
	}
	if _, err := r.Seek(-1, io.SeekStart); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("Seek(-1) = %v, want ErrInvalid", err)
	}
	if _, err := r.Seek(0, 42); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("Seek with whence 42 = %v, want ErrInvalid", err)
	}

	// ReadAt may be called concurrently.
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 20 {
				off := rng.Int64N(size + 1)
				p := make([]byte, min(size-off, 2*testChunk))
				if n, err := r.ReadAt(p, off); n != len(p) || (err != nil && err != io.EOF) || !bytes.Equal(p, data[off:off+int64(n)]) {
					t.Errorf("concurrent ReadAt(%d bytes, %d) = %d, %v", len(p), off, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestChunkPastTheEnd: Chunk refuses every index past the file, including
// those whose byte offset i*chunkSize wraps around 2^64 onto the file
// (1<<54 chunks of 1 KiB), even when the extents claim that many blocks.
func TestChunkPastTheEnd(t *testing.T) {
	ctx := testCtx(t)
	d := createDrive(t, ctx, memStore(t), "d", Options{ChunkSize: testChunk})
	c := writeContent(t, ctx, d, testData(testChunk+1, 12))
	honest := &Entry{Kind: KindFile, Path: "/f"}
	honest.SetContent(c)
	greedy := &Entry{Kind: KindFile, Path: "/g"}
	greedy.SetContent(c)
	greedy.Extents = []Extent{{Start: 0, Blocks: 1 << 62}}
	for _, e := range []*Entry{honest, greedy} {
		for _, i := range []uint64{2, 3, 1 << 54, 1<<54 + 1, 1 << 63, ^uint64(0)} {
			if _, err := d.Chunk(ctx, e, i); !errors.Is(err, sdk.ErrInvalid) {
				t.Errorf("Chunk(%s, %d) of a 2-chunk file = %v, want ErrInvalid", e.Path, i, err)
			}
		}
	}
}

func TestNewReaderOfNonFile(t *testing.T) {
	ctx := testCtx(t)
	d := createDrive(t, ctx, memStore(t), "d", Options{ChunkSize: testChunk})
	for _, e := range []*Entry{dirAt("/d"), tombAt("/t"), linkAt("/l", "x"), mountAt("/m")} {
		if _, err := d.NewReader(ctx, e); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("NewReader of a %v = %v, want ErrInvalid", e.Kind, err)
		}
		if _, err := d.Chunk(ctx, e, 0); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("Chunk of a %v = %v, want ErrInvalid", e.Kind, err)
		}
	}
}

// TestLyingEntries: a file entry whose fields disagree with its content
// blocks reads as corrupt, never as other bytes.
func TestLyingEntries(t *testing.T) {
	ctx := testCtx(t)
	d := createDrive(t, ctx, memStore(t), "d", Options{ChunkSize: testChunk})
	data := testData(2*testChunk+10, 3)
	c := writeContent(t, ctx, d, data)
	tests := []struct {
		name string
		mod  func(c *Content)
	}{
		{"extents too short", func(c *Content) { c.Extents = []Extent{{c.Extents[0].Start, 2}} }},
		{"size larger than the last chunk", func(c *Content) { c.Size += 5 }},
		{"size smaller than the last chunk", func(c *Content) { c.Size -= 5 }},
		{"compressed flag on raw chunks", func(c *Content) { c.Compression = CompressionZstd }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := c
			c.Extents = append([]Extent(nil), c.Extents...)
			tt.mod(&c)
			e := &Entry{Kind: KindFile, Path: "/f"}
			e.SetContent(c)
			got, err := readAll(t, ctx, d, e)
			if !errors.Is(err, sdk.ErrCorrupt) {
				t.Errorf("ReadAll = %d bytes, %v; want ErrCorrupt", len(got), err)
			}
		})
	}
}

func TestContentReuse(t *testing.T) {
	ctx := testCtx(t)
	d := createDrive(t, ctx, memStore(t), "d", Options{ChunkSize: testChunk})
	old := testData(2*testChunk+testChunk/2, 4)
	e1 := writeFile(t, ctx, d, "/old", old)

	// New file: a new chunk, the old file's second chunk, a new tail.
	head, tail := testData(testChunk, 5), testData(100, 6)
	want := append(append(append([]byte(nil), head...), old[testChunk:2*testChunk]...), tail...)
	before := d.ContentFeed().Length()
	w, err := d.NewContentWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(head); err != nil {
		t.Fatal(err)
	}
	b, ok := d.BlockOf(e1, 1)
	if !ok {
		t.Fatal("BlockOf the old file's second chunk: not reusable")
	}
	if err := w.Reuse(b, old[testChunk:2*testChunk]); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(tail); err != nil {
		t.Fatal(err)
	}
	c, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	wantC := Content{Size: uint64(len(want)), Hash: HashContent(want),
		Extents: []Extent{{before, 1}, {b, 1}, {before + 1, 1}}}
	if diff := cmp.Diff(wantC, c); diff != "" {
		t.Errorf("content (-want +got):\n%s", diff)
	}
	if got := d.ContentFeed().Length() - before; got != 2 {
		t.Errorf("content feed grew by %d blocks, want 2 (the reused chunk is not stored again)", got)
	}
	e2 := &Entry{Kind: KindFile, Path: "/new"}
	e2.SetContent(c)
	mustAppend(t, ctx, d, e2)
	checkReads(t, ctx, d, e2, want)

	// Reusing the same block twice in a row makes two one-block extents,
	// or one run when the blocks follow each other.
	w, _ = d.NewContentWriter(ctx)
	b0, _ := d.BlockOf(e1, 0)
	if err := w.Reuse(b0, old[:testChunk]); err != nil {
		t.Fatal(err)
	}
	if err := w.Reuse(b, old[testChunk:2*testChunk]); err != nil {
		t.Fatal(err)
	}
	c, err = w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Extent{{b0, 2}}, c.Extents); diff != "" {
		t.Errorf("extents of two consecutive reused blocks (-want +got):\n%s", diff)
	}

	// Off the chunk boundary or with a partial chunk: refused.
	if _, ok := d.BlockOf(e1, 2); ok {
		t.Error("BlockOf a partial last chunk: reusable")
	}
	w, _ = d.NewContentWriter(ctx)
	w.Write([]byte("x"))
	if err := w.Reuse(b, old[testChunk:2*testChunk]); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("Reuse off the chunk boundary = %v, want ErrInvalid", err)
	}
	w, _ = d.NewContentWriter(ctx)
	if err := w.Reuse(b, old[:10]); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("Reuse of a partial chunk = %v, want ErrInvalid", err)
	}
}

// TestReuseIntoCompressedFile: a drive written without compression and
// reopened with Compress reuses one of its old, uncompressed chunks. The
// new file must either be refused or read back correctly; a file that
// says zstd over a raw block reads as corrupt.
func TestReuseIntoCompressedFile(t *testing.T) {
	ctx := testCtx(t)
	s := memStore(t)
	d, err := Create(ctx, s, "d", Options{ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	old := testData(testChunk, 8)
	e1 := writeFile(t, ctx, d, "/old", old)
	d.Close()

	d = createDrive(t, ctx, s, "d", Options{ChunkSize: testChunk, Compress: true})
	b, ok := d.BlockOf(e1, 0)
	if !ok {
		t.Fatal("BlockOf: not reusable")
	}
	w, err := d.NewContentWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	err = w.Reuse(b, old)
	var c Content
	if err == nil {
		c, err = w.Finish()
	}
	if err != nil {
		if !errors.Is(err, sdk.ErrInvalid) {
			t.Fatalf("Reuse into a compressed file = %v, want success or ErrInvalid", err)
		}
		return
	}
	e2 := &Entry{Kind: KindFile, Path: "/new"}
	e2.SetContent(c)
	got, err := readAll(t, ctx, d, e2)
	if err != nil || !bytes.Equal(got, old) {
		t.Errorf("bug: file made by Reuse in a compressing writer reads %d bytes, %v; want the reused chunk (content %+v)", len(got), err, c)
	}
}

func TestEmptyContent(t *testing.T) {
	ctx := testCtx(t)
	d := createDrive(t, ctx, memStore(t), "d", Options{ChunkSize: testChunk})
	w, err := d.NewContentWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := w.Write(nil); n != 0 || err != nil {
		t.Errorf("Write(nil) = %d, %v", n, err)
	}
	c, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Content{Hash: HashContent(nil)}, c); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if d.ContentFeed().Length() != 0 {
		t.Errorf("an empty file stored %d blocks", d.ContentFeed().Length())
	}
}

// copyFetcher is a Fetcher that copies proofs from writers' feeds into a
// store's replicas, as a peer would send them.
type copyFetcher struct {
	to *feedstore.Store

	mu    sync.Mutex
	from  map[sdk.FeedKey]*feed.Feed
	limit uint64 // if not 0, blocks from limit on are on no peer
	calls []fetchCall
}

type fetchCall struct {
	Key        sdk.FeedKey
	Start, End uint64
}

func (f *copyFetcher) Fetch(ctx context.Context, key sdk.FeedKey, start, end uint64) error {
	f.mu.Lock()
	f.calls = append(f.calls, fetchCall{key, start, end})
	src, limit := f.from[key], f.limit
	f.mu.Unlock()
	if src == nil || start >= end || end > src.Length() || (limit != 0 && end > limit) {
		return fmt.Errorf("fetch %s [%d, %d): %w", key, start, end, feed.ErrNotAvailable)
	}
	dst, err := f.to.Get(ctx, key)
	if err != nil {
		return err
	}
	p, err := src.Proof(ctx, feed.ProofRequest{Start: start, End: end, UpgradeFrom: dst.Length()})
	if err != nil {
		return err
	}
	return dst.Put(ctx, p)
}

func (f *copyFetcher) takeCalls() []fetchCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.calls
	f.calls = nil
	return c
}

// TestReplicaReadsOnDemand: a replica holding the drive feed but no
// content fails to read without a Fetcher, and fetches what it reads
// with one.
func TestReplicaReadsOnDemand(t *testing.T) {
	ctx := testCtx(t)
	w := createDrive(t, ctx, memStore(t), "w", Options{ChunkSize: testChunk})
	small := testData(3*testChunk+testChunk/2, 10)
	big := testData(20*testChunk, 11)
	writeFile(t, ctx, w, "/small", small)
	writeFile(t, ctx, w, "/big", big)

	// The drive feed is stored before the drive is opened, so that Open's
	// catch-up applies it (TestOpenReplica covers following it).
	sr := memStore(t)
	rf, err := sr.Get(ctx, w.Key())
	if err != nil {
		t.Fatal(err)
	}
	copyFeed(t, ctx, w.Feed(), rf)
	plain := openDrive(t, ctx, sr, w.Key(), Options{})
	if plain.Length() != w.Length() {
		t.Fatalf("replica opened at length %d, want %d", plain.Length(), w.Length())
	}
	get := func(d *Drive, p string) *Entry {
		var e *Entry
		d.Read(func(x *Index) {
			n, _ := x.Get(p)
			e = n.Entry
		})
		if e == nil {
			t.Fatalf("%s not in the index", p)
		}
		return e
	}

	if _, err := readAll(t, ctx, plain, get(plain, "/small")); !errors.Is(err, feed.ErrNotAvailable) {
		t.Fatalf("read without a Fetcher = %v, want ErrNotAvailable", err)
	}

	f := &copyFetcher{to: sr, from: map[sdk.FeedKey]*feed.Feed{w.ContentFeed().Key(): w.ContentFeed()}}
	d := openDrive(t, ctx, sr, w.Key(), Options{Fetcher: f})
	if d.Length() != w.Length() {
		t.Fatalf("second handle on the replica: length %d, want %d", d.Length(), w.Length())
	}
	ck := w.ContentFeed().Key()
	es := get(d, "/small")
	checkReads(t, ctx, d, es, small)
	s0 := es.Extents[0].Start
	// One fetch brings the whole small file (read-ahead covers it).
	if diff := cmp.Diff([]fetchCall{{ck, s0, s0 + 4}}, f.takeCalls()); diff != "" {
		t.Errorf("fetches for the small file (-want +got):\n%s", diff)
	}
	// Held now, so the handle without a Fetcher reads it too.
	if got, err := readAll(t, ctx, plain, get(plain, "/small")); err != nil || !bytes.Equal(got, small) {
		t.Errorf("read of fetched blocks without a Fetcher = %d bytes, %v", len(got), err)
	}

	// The big file: reading chunk 17 fetches from there on.
	eb := get(d, "/big")
	b0 := eb.Extents[0].Start
	p := make([]byte, 10)
	if _, err := d.Chunk(ctx, eb, 17); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]fetchCall{{ck, b0 + 17, b0 + 20}}, f.takeCalls()); diff != "" {
		t.Errorf("fetches for chunk 17 (-want +got):\n%s", diff)
	}
	// When the read-ahead is on no peer, the block alone is fetched.
	f.mu.Lock()
	f.limit = b0 + 3
	f.mu.Unlock()
	r, err := d.NewReader(ctx, eb)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(p, 2*testChunk); err != nil || !bytes.Equal(p, big[2*testChunk:2*testChunk+10]) {
		t.Fatalf("ReadAt chunk 2 with the read-ahead missing: %v", err)
	}
	if diff := cmp.Diff([]fetchCall{{ck, b0 + 2, b0 + 2 + readAhead}, {ck, b0 + 2, b0 + 3}}, f.takeCalls()); diff != "" {
		t.Errorf("fetches for chunk 2 (-want +got):\n%s", diff)
	}
	if _, err := r.ReadAt(p, 5*testChunk); !errors.Is(err, feed.ErrNotAvailable) {
		t.Errorf("ReadAt of a chunk no peer has = %v, want ErrNotAvailable", err)
	}
	f.mu.Lock()
	f.limit = 0
	f.mu.Unlock()
	checkReads(t, ctx, d, eb, big)

}
