package drive

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/transports/tcp"
)

// peerHost is one host of a replication test: a feed store in memory and
// a replicator listening on loopback TCP.
type peerHost struct {
	store *feedstore.Store
	r     *replicate.Replicator
	addr  ma.Multiaddr
	tr    *tcp.Transport
	ctx   context.Context
}

func newPeerHost(t *testing.T, ctx context.Context) *peerHost {
	t.Helper()
	id, err := secure.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r := replicate.New(replicate.Config{
		Identity: id, Client: "drive-test", RequestTimeout: 20 * time.Second,
		Logger: slog.New(slog.DiscardHandler),
	})
	tr := tcp.New()
	ln, err := tr.Listen(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			wg.Go(func() { r.Handle(ctx, c, false) })
		}
	})
	h := &peerHost{store: memStore(t), r: r, addr: ln.Addr(), tr: tr, ctx: ctx}
	t.Cleanup(func() {
		r.Close()
		ln.Close()
		tr.Close()
		wg.Wait()
	})
	return h
}

// dial connects h to other; the session runs in the background until the
// test ends.
func (h *peerHost) dial(t *testing.T, other *peerHost) {
	t.Helper()
	c, err := h.tr.Dial(h.ctx, other.addr)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.r.Handle(h.ctx, c, true)
	}()
	t.Cleanup(func() {
		h.r.Close()
		<-done
	})
}

// readWhenAnnounced reads e through d, retrying while the blocks are not
// available: a peer's announcement of the content feed may still be on
// its way, and Fetch fails fast until it arrives.
func readWhenAnnounced(t *testing.T, ctx context.Context, d *Drive, e *Entry) []byte {
	t.Helper()
	var data []byte
	var err error
	waitUntil(t, ctx, "a readable "+e.Path, func() bool {
		data, err = readAll(t, ctx, d, e)
		if err != nil && !errors.Is(err, feed.ErrNotAvailable) {
			t.Fatalf("read %s: %v", e.Path, err)
		}
		return err == nil
	})
	return data
}

// TestFollowOverReplication: host B follows host A's drive over a real
// replication session: the drive feed in full and live, content on
// demand.
func TestFollowOverReplication(t *testing.T) {
	ctx := testCtx(t)
	a, b := newPeerHost(t, ctx), newPeerHost(t, ctx)

	dA := createDrive(t, ctx, a.store, "home", Options{ChunkSize: testChunk, Compress: true})
	files := map[string][]byte{
		"/docs/a":   testData(3*testChunk+testChunk/2, 20),
		"/docs/b":   testData(10, 21),
		"/big":      testData(40*testChunk+3, 22),
		"/empty":    nil,
		"/x/y/z/w":  testData(testChunk, 23),
		"/docs/old": testData(5, 24),
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		writeFile(t, ctx, dA, p, files[p])
	}
	mustAppend(t, ctx, dA, dirAt("/empty-dir"), linkAt("/docs/link", "a"), tombAt("/docs/old"))
	a.r.Add(dA.Feed(), replicate.FeedOptions{})
	a.r.Add(dA.ContentFeed(), replicate.FeedOptions{})

	var mu sync.Mutex
	var seqs []uint64
	changed := make(chan struct{}, 1)
	dB := openDrive(t, ctx, b.store, dA.Key(), Options{
		Fetcher:       b.r,
		OnContentFeed: func(f *feed.Feed) { b.r.Add(f, replicate.FeedOptions{Download: false}) },
	})
	cancel := dB.Subscribe(func(u Update) {
		mu.Lock()
		for _, n := range u.Nodes {
			seqs = append(seqs, n.Seq)
		}
		mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	defer cancel()
	b.r.Add(dB.Feed(), replicate.FeedOptions{Download: true})
	b.dial(t, a)

	waitLength := func(what string) {
		t.Helper()
		want := dA.Length()
		for dB.Length() != want {
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatalf("timed out waiting for %s: B at %d, A at %d", what, dB.Length(), want)
			}
		}
	}
	waitLength("the drive feed")
	if diff := cmp.Diff(dump(dA), dump(dB), sameIndex); diff != "" {
		t.Fatalf("B's index (-A +B):\n%s", diff)
	}
	if dB.Writable() || dB.ChunkSize() != testChunk || dB.ContentFeed() == nil {
		t.Fatalf("B's drive: writable %v, chunk size %d, content feed %v", dB.Writable(), dB.ChunkSize(), dB.ContentFeed())
	}
	if held := dB.ContentFeed().Present(); len(held) != 0 {
		t.Errorf("B holds content %v before reading any: the content feed must not be downloaded", held)
	}

	get := func(d *Drive, p string) *Entry {
		t.Helper()
		var e *Entry
		d.Read(func(x *Index) {
			if n, ok := x.Get(p); ok {
				e = n.Entry
			}
		})
		if e == nil {
			t.Fatalf("%s not in the index", p)
		}
		return e
	}
	ea := get(dB, "/docs/a")
	if got := readWhenAnnounced(t, ctx, dB, ea); !bytes.Equal(got, files["/docs/a"]) {
		t.Fatalf("B read %d bytes of /docs/a, not the file", len(got))
	}
	// Only what was read was fetched (with read-ahead inside its extent).
	held := dB.ContentFeed().Present()
	x := ea.Extents[0]
	if !dB.ContentFeed().Has(x.Start, x.Start+x.Blocks) {
		t.Errorf("B holds %v, not all of /docs/a's blocks %v", held, x)
	}
	if eb := get(dB, "/big"); dB.ContentFeed().Has(eb.Extents[0].Start, eb.Extents[0].Start+1) {
		t.Errorf("B holds %v, including /big's first block, which it never read", held)
	}
	for _, p := range []string{"/big", "/docs/b", "/empty", "/x/y/z/w"} {
		if got := readWhenAnnounced(t, ctx, dB, get(dB, p)); !bytes.Equal(got, files[p]) {
			t.Errorf("B read %d bytes of %s, not the file", len(got), p)
		}
	}
	for _, p := range []string{"/docs/a", "/big"} {
		checkReads(t, ctx, dB, get(dB, p), files[p])
	}

	// Live: later writes on A reach B.
	live := testData(2*testChunk+1, 25)
	writeFile(t, ctx, dA, "/live", live)
	mustAppend(t, ctx, dA, tombAt("/docs/b"), dirAt("/docs/new"))
	waitLength("the live entries")
	if diff := cmp.Diff(dump(dA), dump(dB), sameIndex); diff != "" {
		t.Errorf("B's index after live writes (-A +B):\n%s", diff)
	}
	if got := readWhenAnnounced(t, ctx, dB, get(dB, "/live")); !bytes.Equal(got, live) {
		t.Errorf("B read %d bytes of /live, not the file", len(got))
	}

	mu.Lock()
	defer mu.Unlock()
	var want []uint64
	for s := uint64(1); s < dA.Length(); s++ {
		want = append(want, s)
	}
	if diff := cmp.Diff(want, seqs); diff != "" {
		t.Errorf("B's subscriber saw (-want +got):\n%s", diff)
	}
}
