package drive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/disk"
	"github.com/codrive/codrive/storage/memory"
)

const testChunk = 1024

// testCtx bounds a test: nothing it waits for may take longer.
func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func memStore(t *testing.T) *feedstore.Store {
	t.Helper()
	s, err := feedstore.New(memory.New(), feedstore.NewSeed())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func createDrive(t *testing.T, ctx context.Context, s *feedstore.Store, name string, opts Options) *Drive {
	t.Helper()
	d, err := Create(ctx, s, name, opts)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func openDrive(t *testing.T, ctx context.Context, s *feedstore.Store, key sdk.FeedKey, opts Options) *Drive {
	t.Helper()
	d, err := Open(ctx, s, key, opts)
	if err != nil {
		t.Fatalf("Open(%s): %v", key, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func mustAppend(t *testing.T, ctx context.Context, d *Drive, entries ...*Entry) uint64 {
	t.Helper()
	seq, err := d.Append(ctx, entries...)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	return seq
}

// dump is what d's index says now.
func dump(d *Drive) indexDump {
	var x indexDump
	d.Read(func(i *Index) { x = dumpIndex(i) })
	return x
}

// sameIndex compares dumps of entries built by hand with dumps of entries
// decoded from the feed, which may hold empty slices for nil ones.
var sameIndex = cmpopts.EquateEmpty()

// testData returns n reproducible bytes: random runs and zero runs, so
// that zstd has something to compress.
func testData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, n32(n)))
	b := make([]byte, n)
	for i := 0; i < n; {
		run := min(n-i, 1+r.IntN(300))
		if r.IntN(2) == 0 {
			for j := i; j < i+run; j++ {
				b[j] = byte(r.Uint32())
			}
		}
		i += run
	}
	return b
}

func n32(n int) uint64 { return uint64(n) * 0x9e3779b97f4a7c15 }

// writeContent stores data through a ContentWriter in uneven writes.
func writeContent(t *testing.T, ctx context.Context, d *Drive, data []byte) Content {
	t.Helper()
	w, err := d.NewContentWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for rest, k := data, 1; len(rest) > 0; k = (k*7 + 3) % 10007 {
		n := min(len(rest), 1+k%1499)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	c, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// writeFile stores data as the file p and returns its entry.
func writeFile(t *testing.T, ctx context.Context, d *Drive, p string, data []byte) *Entry {
	t.Helper()
	e := &Entry{Kind: KindFile, Path: p, Mode: 0o644, WallClock: int64(len(data))}
	e.SetContent(writeContent(t, ctx, d, data))
	mustAppend(t, ctx, d, e)
	return e
}

func readAll(t *testing.T, ctx context.Context, d *Drive, e *Entry) ([]byte, error) {
	t.Helper()
	r, err := d.NewReader(ctx, e)
	if err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// waitUntil polls cond until it holds or ctx ends.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		}
	}
}

// copyFeed gives dst, a replica, every block src holds.
func copyFeed(t *testing.T, ctx context.Context, src, dst *feed.Feed) {
	t.Helper()
	p, err := src.Proof(ctx, feed.ProofRequest{Start: 0, End: src.Length(), UpgradeFrom: dst.Length()})
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Put(ctx, p); err != nil {
		t.Fatal(err)
	}
}

func TestCreateAndAppend(t *testing.T) {
	ctx := testCtx(t)
	s := memStore(t)
	d := createDrive(t, ctx, s, "home", Options{ChunkSize: testChunk})

	if got, want := d.Key(), s.WriterKey("home"); got != want {
		t.Errorf("Key = %s, want the store's writer key %s", got, want)
	}
	if d.Feed().Key() != d.Key() {
		t.Errorf("Feed().Key() = %s, want %s", d.Feed().Key(), d.Key())
	}
	if cf := d.ContentFeed(); cf == nil || cf.Key() != s.WriterKey("home/content") {
		t.Errorf("ContentFeed = %v, want the writer feed home/content", cf)
	}
	if !d.Writable() || d.Length() != 1 || d.ChunkSize() != testChunk || d.Feed().Length() != 1 {
		t.Errorf("new drive: writable %v, length %d, chunk size %d, feed length %d",
			d.Writable(), d.Length(), d.ChunkSize(), d.Feed().Length())
	}
	hb, err := d.Feed().Get(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	h, err := decodeHeader(hb)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(header{content: s.WriterKey("home/content"), chunkSize: testChunk}, h, cmp.AllowUnexported(header{})); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}

	entries := []*Entry{dirAt("/docs"), fileAt("/docs/a", 1), linkAt("/l", "/docs/a"), tombAt("/docs/a"), mountAt("/m")}
	steps := []struct {
		batch   []*Entry
		wantSeq uint64
	}{
		{entries[:2], 1},
		{entries[2:3], 3},
		{nil, 4}, // an empty batch changes nothing
		{entries[3:], 4},
	}
	for _, st := range steps {
		if seq := mustAppend(t, ctx, d, st.batch...); seq != st.wantSeq {
			t.Errorf("Append of %d entries = %d, want %d", len(st.batch), seq, st.wantSeq)
		}
	}
	want := NewIndex()
	for i, e := range entries {
		want.Apply(uint64(i+1), e)
	}
	if diff := cmp.Diff(dumpIndex(want), dump(d)); diff != "" {
		t.Errorf("index (-want +got):\n%s", diff)
	}
	if d.Length() != 6 || d.Feed().Length() != 6 {
		t.Errorf("Length %d, feed length %d, want 6", d.Length(), d.Feed().Length())
	}

	// A batch with one invalid entry writes nothing.
	_, err = d.Append(ctx, fileAt("/ok", 1), &Entry{Kind: KindFile, Path: "bad"})
	if !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("Append with an invalid entry = %v, want ErrInvalid", err)
	}
	if d.Length() != 6 || d.Feed().Length() != 6 {
		t.Errorf("after a failed Append: Length %d, feed length %d, want 6", d.Length(), d.Feed().Length())
	}
	// Every stored block decodes to the entry appended.
	blocks, err := d.Feed().GetRange(ctx, 1, 6)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range blocks {
		e, err := DecodeEntry(b)
		if err != nil {
			t.Fatalf("block %d: %v", i+1, err)
		}
		if diff := cmp.Diff(entries[i], e, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("block %d (-appended +stored):\n%s", i+1, diff)
		}
	}
}

func TestCreateChunkSize(t *testing.T) {
	tests := []struct {
		chunk   int
		want    int
		wantErr error
	}{
		{0, DefaultChunkSize, nil},
		{MinChunkSize, MinChunkSize, nil},
		{MaxChunkSize, MaxChunkSize, nil},
		{5000, 5000, nil},
		{MinChunkSize - 1, 0, sdk.ErrInvalid},
		{MaxChunkSize + 1, 0, sdk.ErrInvalid},
		{-1, 0, sdk.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.chunk), func(t *testing.T) {
			ctx := testCtx(t)
			s := memStore(t)
			d, err := Create(ctx, s, "d", Options{ChunkSize: tt.chunk})
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("Create = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			defer d.Close()
			if got := d.ChunkSize(); got != tt.want {
				t.Errorf("ChunkSize = %d, want %d", got, tt.want)
			}
			// An existing drive keeps the size in its header.
			d2 := createDrive(t, ctx, s, "d", Options{ChunkSize: 2 * MinChunkSize})
			if got := d2.ChunkSize(); got != tt.want {
				t.Errorf("ChunkSize after Create again with another size = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestCreateSameNameSameDrive(t *testing.T) {
	ctx := testCtx(t)
	seed := feedstore.NewSeed()
	s, err := feedstore.New(memory.New(), seed)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d1 := createDrive(t, ctx, s, "x", Options{ChunkSize: testChunk})
	mustAppend(t, ctx, d1, fileAt("/f", 1))
	d2 := createDrive(t, ctx, s, "x", Options{})
	if d1.Key() != d2.Key() {
		t.Errorf("two Creates of one name: keys %s and %s", d1.Key(), d2.Key())
	}
	if diff := cmp.Diff(dump(d1), dump(d2)); diff != "" {
		t.Errorf("second handle's index (-first +second):\n%s", diff)
	}
	if other := createDrive(t, ctx, s, "y", Options{}); other.Key() == d1.Key() {
		t.Error("drives of two names share a key")
	}
	if other := createDrive(t, ctx, s.Namespace("ns"), "x", Options{}); other.Key() == d1.Key() {
		t.Error("drives of one name in two namespaces share a key")
	}
	// Another store with the same seed derives the same key.
	s2, err := feedstore.New(memory.New(), seed)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if other := createDrive(t, ctx, s2, "x", Options{}); other.Key() != d1.Key() {
		t.Error("the same seed and name gave another key")
	}
}

// TestReopenFromDisk: a drive on disk is rebuilt identically after a
// restart, content included.
func TestReopenFromDisk(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	seed := feedstore.NewSeed()
	openStore := func() *feedstore.Store {
		st, err := disk.Open(dir, disk.Options{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := feedstore.New(st, seed)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}

	s := openStore()
	d, err := Create(ctx, s, "home", Options{ChunkSize: testChunk, Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	data := testData(5*testChunk+7, 1)
	file := writeFile(t, ctx, d, "/a/file", data)
	mustAppend(t, ctx, d, dirAt("/a/empty"), linkAt("/a/link", "file"),
		&Entry{Kind: KindDir, Path: "/meta", Metadata: map[string][]byte{"k": []byte("v")}},
		fileAt("/a/gone", 9, sdk.ClockEntry{Writer: fkey(5), Length: 4}))
	mustAppend(t, ctx, d, tombAt("/a/gone"))
	before := dump(d)
	key := d.Key()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore()
	defer s.Close()
	for _, how := range []string{"Create", "Open"} {
		var d2 *Drive
		if how == "Create" {
			d2 = createDrive(t, ctx, s, "home", Options{ChunkSize: 4 * testChunk})
		} else {
			d2 = openDrive(t, ctx, s, key, Options{})
		}
		if d2.Key() != key || !d2.Writable() || d2.ChunkSize() != testChunk {
			t.Errorf("%s after restart: key %s (want %s), writable %v, chunk size %d",
				how, d2.Key(), key, d2.Writable(), d2.ChunkSize())
		}
		if diff := cmp.Diff(before, dump(d2), sameIndex); diff != "" {
			t.Errorf("%s after restart: index (-before +after):\n%s", how, diff)
		}
		var e *Entry
		d2.Read(func(x *Index) {
			n, _ := x.Get("/a/file")
			e = n.Entry
		})
		if diff := cmp.Diff(file.Content(), e.Content(), sameIndex); diff != "" {
			t.Errorf("content (-before +after):\n%s", diff)
		}
		got, err := readAll(t, ctx, d2, e)
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s after restart: read %d bytes, %v; want the %d bytes written", how, len(got), err, len(data))
		}
		// The reopened drive goes on where it stopped.
		if seq := mustAppend(t, ctx, d2, fileAt("/"+how, 1)); seq != before.Length {
			t.Errorf("%s after restart: Append at %d, want %d", how, seq, before.Length)
		}
		before = dump(d2)
	}
}

// TestOpenReplica: a drive opened by key on a store without it is an
// empty, read-only replica that fills as its feed arrives.
func TestOpenReplica(t *testing.T) {
	ctx := testCtx(t)
	w := createDrive(t, ctx, memStore(t), "w", Options{ChunkSize: testChunk})
	sr := memStore(t)
	var mu sync.Mutex
	var contentFeeds []*feed.Feed
	var seqs []uint64
	r := openDrive(t, ctx, sr, w.Key(), Options{OnContentFeed: func(f *feed.Feed) {
		mu.Lock()
		contentFeeds = append(contentFeeds, f)
		mu.Unlock()
	}})
	cancel := r.Subscribe(func(u Update) {
		if u.Drive != r {
			t.Errorf("update of drive %p, want %p", u.Drive, r)
		}
		mu.Lock()
		for _, n := range u.Nodes {
			seqs = append(seqs, n.Seq)
		}
		mu.Unlock()
	})
	defer cancel()

	if r.Key() != w.Key() || r.Writable() || r.Length() != 1 || r.ContentFeed() != nil || r.ChunkSize() != 0 {
		t.Errorf("empty replica: key %s, writable %v, length %d, content feed %v, chunk size %d",
			r.Key(), r.Writable(), r.Length(), r.ContentFeed(), r.ChunkSize())
	}
	if r.Feed().Length() != 0 {
		t.Errorf("replica feed length %d, want 0", r.Feed().Length())
	}
	if _, err := r.Append(ctx, fileAt("/f", 1)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append to a replica = %v, want ErrReadOnly", err)
	}
	if _, err := r.NewContentWriter(ctx); !errors.Is(err, ErrReadOnly) {
		t.Errorf("NewContentWriter on a replica = %v, want ErrReadOnly", err)
	}
	if _, err := r.NewReader(ctx, fileAt("/f", 1)); !errors.Is(err, feed.ErrNotAvailable) {
		t.Errorf("NewReader before the header = %v, want ErrNotAvailable", err)
	}
	if _, err := r.Chunk(ctx, &Entry{Kind: KindFile, Path: "/f", Size: 1, Extents: []Extent{{0, 1}}}, 0); !errors.Is(err, feed.ErrNotAvailable) {
		t.Errorf("Chunk before the header = %v, want ErrNotAvailable", err)
	}
	x, err := r.Snapshot(ctx, 1)
	if err != nil || x.Length() != 1 || x.Len() != 0 {
		t.Errorf("Snapshot(1) of an empty replica: %v, %v", x, err)
	}

	data := testData(3*testChunk+100, 2)
	writeFile(t, ctx, w, "/f", data)
	mustAppend(t, ctx, w, dirAt("/d"), tombAt("/f"), fileAt("/f", 5))
	copyFeed(t, ctx, w.Feed(), r.Feed())
	waitUntil(t, ctx, "the replica to apply the feed", func() bool { return r.Length() == w.Length() })

	if diff := cmp.Diff(dump(w), dump(r), sameIndex); diff != "" {
		t.Errorf("replica index (-writer +replica):\n%s", diff)
	}
	if r.ChunkSize() != testChunk || r.ContentFeed() == nil || r.ContentFeed().Key() != w.ContentFeed().Key() {
		t.Errorf("replica after the header: chunk size %d, content feed %v", r.ChunkSize(), r.ContentFeed())
	}
	if r.ContentFeed().Writable() {
		t.Error("the replica's content feed is writable")
	}
	mu.Lock()
	if len(contentFeeds) != 1 || contentFeeds[0] != r.ContentFeed() {
		t.Errorf("OnContentFeed called with %v, want once with the content feed", contentFeeds)
	}
	if want := []uint64{1, 2, 3, 4}; !slices.Equal(seqs, want) {
		t.Errorf("subscriber saw seqs %v, want %v", seqs, want)
	}
	mu.Unlock()
	if r.Writable() {
		t.Error("replica became writable")
	}
	if _, err := r.Append(ctx, fileAt("/g", 1)); !errors.Is(err, ErrReadOnly) {
		t.Errorf("Append to a filled replica = %v, want ErrReadOnly", err)
	}
}

// TestSnapshot: Snapshot(n) is the index as it was at length n.
func TestSnapshot(t *testing.T) {
	ctx := testCtx(t)
	d := createDrive(t, ctx, memStore(t), "d", Options{ChunkSize: testChunk})
	history := map[uint64]indexDump{1: dump(d)}
	batches := [][]*Entry{
		{fileAt("/a/b", 1)},
		{dirAt("/a"), fileAt("/c", 2, sdk.ClockEntry{Writer: fkey(9), Length: 3})},
		{tombAt("/a/b")},
		{linkAt("/a/l", "b"), mountAt("/m"), tombAt("/c"), fileAt("/c", 7)},
		{tombAt("/a")},
	}
	for _, b := range batches {
		mustAppend(t, ctx, d, b...)
		history[d.Length()] = dump(d)
	}
	// Lengths inside batches are versions too: replay them by hand.
	var all []*Entry
	for _, b := range batches {
		all = append(all, b...)
	}
	for n := uint64(0); n <= uint64(len(all))+1; n++ {
		x, err := d.Snapshot(ctx, n)
		if err != nil {
			t.Fatalf("Snapshot(%d): %v", n, err)
		}
		want := NewIndex()
		for i := uint64(1); i < n; i++ {
			want.Apply(i, all[i-1])
		}
		if diff := cmp.Diff(dumpIndex(want), dumpIndex(x), sameIndex); diff != "" {
			t.Errorf("Snapshot(%d) (-replayed +snapshot):\n%s", n, diff)
		}
		if h, ok := history[n]; ok {
			if diff := cmp.Diff(h, dumpIndex(x), sameIndex); diff != "" {
				t.Errorf("Snapshot(%d) (-index then +snapshot):\n%s", n, diff)
			}
		}
	}
	if _, err := d.Snapshot(ctx, d.Length()+1); !errors.Is(err, feed.ErrNotAvailable) {
		t.Errorf("Snapshot past the end = %v, want ErrNotAvailable", err)
	}
}

// TestSubscribe: subscribers see every applied batch in order, until they
// cancel.
func TestSubscribe(t *testing.T) {
	ctx := testCtx(t)
	d := createDrive(t, ctx, memStore(t), "d", Options{ChunkSize: testChunk})
	type seen struct {
		mu  sync.Mutex
		ups [][]uint64
	}
	record := func(s *seen) func(Update) {
		return func(u Update) {
			var seqs []uint64
			for _, n := range u.Nodes {
				seqs = append(seqs, n.Seq)
			}
			s.mu.Lock()
			s.ups = append(s.ups, seqs)
			s.mu.Unlock()
		}
	}
	var a, b seen
	cancelA := d.Subscribe(record(&a))
	cancelB := d.Subscribe(record(&b))
	e1, e2 := fileAt("/1", 1), fileAt("/2", 2)
	mustAppend(t, ctx, d, e1, e2)
	mustAppend(t, ctx, d, fileAt("/3", 3))
	cancelA()
	cancelA() // twice is harmless
	mustAppend(t, ctx, d, fileAt("/4", 4), fileAt("/5", 5), fileAt("/6", 6))
	cancelB()
	mustAppend(t, ctx, d, fileAt("/7", 7))

	a.mu.Lock()
	if diff := cmp.Diff([][]uint64{{1, 2}, {3}}, a.ups); diff != "" {
		t.Errorf("first subscriber (-want +got):\n%s", diff)
	}
	a.mu.Unlock()
	b.mu.Lock()
	if diff := cmp.Diff([][]uint64{{1, 2}, {3}, {4, 5, 6}}, b.ups); diff != "" {
		t.Errorf("second subscriber (-want +got):\n%s", diff)
	}
	b.mu.Unlock()

	// Updates carry the entries appended.
	var got []*Entry
	cancel := d.Subscribe(func(u Update) {
		for _, n := range u.Nodes {
			got = append(got, n.Entry)
		}
	})
	defer cancel()
	e8 := fileAt("/8", 8)
	mustAppend(t, ctx, d, e8)
	if len(got) != 1 || got[0] != e8 {
		t.Errorf("update held %v, want the entry appended", got)
	}
}

// TestCorruptEntrySkipped: a block that is not an entry advances the
// index without changing it, on the writer, on a fresh reopen and in a
// snapshot.
func TestCorruptEntrySkipped(t *testing.T) {
	ctx := testCtx(t)
	s := memStore(t)
	d := createDrive(t, ctx, s, "d", Options{ChunkSize: testChunk})
	mustAppend(t, ctx, d, fileAt("/a", 1))
	var mu sync.Mutex
	var updates []uint64
	cancel := d.Subscribe(func(u Update) {
		mu.Lock()
		for _, n := range u.Nodes {
			updates = append(updates, n.Seq)
		}
		mu.Unlock()
	})
	defer cancel()
	valid := encode(t, fileAt("/never", 1))
	raw := [][]byte{[]byte("not an entry"), {}, append(valid, 0), appendHeader(nil, header{content: fkey(1), chunkSize: testChunk})}
	first, err := d.Feed().Append(ctx, raw...)
	if err != nil {
		t.Fatal(err)
	}
	if first != 2 {
		t.Fatalf("raw blocks appended at %d, want 2", first)
	}
	end := first + uint64(len(raw))
	// The next entry lands after them, whether the follow goroutine or
	// Append's own catch-up applies them.
	if seq := mustAppend(t, ctx, d, fileAt("/b", 2)); seq != end {
		t.Errorf("Append after raw blocks at %d, want %d", seq, end)
	}
	want := NewIndex()
	want.Apply(1, fileAt("/a", 1))
	for i := range raw {
		want.Apply(first+uint64(i), nil)
	}
	want.Apply(end, fileAt("/b", 2))
	if diff := cmp.Diff(dumpIndex(want), dump(d), sameIndex); diff != "" {
		t.Errorf("index (-want +got):\n%s", diff)
	}
	mu.Lock()
	if diff := cmp.Diff([]uint64{end}, updates); diff != "" {
		t.Errorf("subscriber saw (-want +got):\n%s", diff)
	}
	mu.Unlock()
	// A fresh handle and a snapshot skip them the same way.
	d2 := createDrive(t, ctx, s, "d", Options{})
	if diff := cmp.Diff(dumpIndex(want), dump(d2), sameIndex); diff != "" {
		t.Errorf("reopened index (-want +got):\n%s", diff)
	}
	x, err := d.Snapshot(ctx, end+1)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dumpIndex(want), dumpIndex(x), sameIndex); diff != "" {
		t.Errorf("snapshot (-want +got):\n%s", diff)
	}
}

// TestTwoHandlesAppend: two Drives over one writable feed (Create called
// twice with one name, which the store allows) both append. Each handle's
// Append catches up with the feed before appending, but the other handle
// may append between that catch-up and the append itself. This test makes
// that interleaving happen deterministically: the first handle's
// subscriber, called from the catch-up inside its Append, appends through
// the second handle. The first handle is closed beforehand so that its
// follow goroutine cannot do the catch-up instead.
func TestTwoHandlesAppend(t *testing.T) {
	ctx := testCtx(t)
	s := memStore(t)
	d1, err := Create(ctx, s, "x", Options{ChunkSize: testChunk})
	if err != nil {
		t.Fatal(err)
	}
	d2 := createDrive(t, ctx, s, "x", Options{})
	if err := d1.Close(); err != nil {
		t.Fatal(err)
	}
	triggered := false
	d1.Subscribe(func(u Update) {
		for _, n := range u.Nodes {
			if n.Path == "/trigger" && !triggered {
				triggered = true
				if _, err := d2.Append(ctx, fileAt("/between", 2)); err != nil {
					t.Errorf("second handle's Append: %v", err)
				}
			}
		}
	})
	mustAppend(t, ctx, d2, fileAt("/trigger", 1))

	var seq uint64
	if r := catchPanic(func() { seq, err = d1.Append(ctx, fileAt("/mine", 3)) }); r != nil {
		// d1's index lock is still held by the panicking apply: leave d1
		// alone from here.
		t.Fatalf("bug: Append through one handle, after another handle appended during its catch-up, panicked: %v", r)
	}
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if !triggered {
		t.Fatal("the subscriber did not run during Append's catch-up")
	}
	if seq != 3 {
		t.Errorf("Append = %d, want 3 (after /trigger at 1 and /between at 2)", seq)
	}
	x, err := d1.Snapshot(ctx, 4)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(dumpIndex(x), dump(d1), sameIndex); diff != "" {
		t.Errorf("index of the first handle (-feed +index):\n%s", diff)
	}
	waitUntil(t, ctx, "the second handle to apply /mine", func() bool { return d2.Length() == 4 })
	if diff := cmp.Diff(dumpIndex(x), dump(d2), sameIndex); diff != "" {
		t.Errorf("index of the second handle (-feed +index):\n%s", diff)
	}
}

// TestFollowSeesChangesRightAfterOpen: blocks that reach the drive feed
// just after Create or Open returns are applied without any later change
// to wake the drive. The follow goroutine must not miss the feed's change
// notification between the catch-up in Open and its first wait.
// GOMAXPROCS(1) keeps the follow goroutine from starting before the block
// is stored, which is when a missed notification shows; if it starts
// earlier anyway, the test passes without testing anything.
func TestFollowSeesChangesRightAfterOpen(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, ctx context.Context) (d *Drive, want uint64)
	}{
		{"writer", func(t *testing.T, ctx context.Context) (*Drive, uint64) {
			d := createDrive(t, ctx, memStore(t), "d", Options{ChunkSize: testChunk})
			if _, err := d.Feed().Append(ctx, encode(t, fileAt("/raw", 1))); err != nil {
				t.Fatal(err)
			}
			return d, 2
		}},
		{"replica", func(t *testing.T, ctx context.Context) (*Drive, uint64) {
			w := createDrive(t, ctx, memStore(t), "w", Options{ChunkSize: testChunk})
			mustAppend(t, ctx, w, fileAt("/a", 1), fileAt("/b", 2))
			r := openDrive(t, ctx, memStore(t), w.Key(), Options{})
			copyFeed(t, ctx, w.Feed(), r.Feed())
			return r, 3
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
			defer cancel()
			prev := runtime.GOMAXPROCS(1)
			restore := sync.OnceFunc(func() { runtime.GOMAXPROCS(prev) })
			t.Cleanup(restore)
			d, want := tt.run(t, ctx)
			restore()
			waitUntil(t, ctx, fmt.Sprintf("the drive to apply blocks stored right after opening it (length %d, feed %d)", want, d.Feed().Length()),
				func() bool { return d.Length() == want })
		})
	}
}
