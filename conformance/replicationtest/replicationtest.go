// Package replicationtest checks that feeds replicate between hosts over
// a given storage and transport: whole feeds, live appends, sparse
// fetches, fetches of blocks nobody has, relays through a third host,
// truncations and large blocks. Every copy is compared with what its
// writer appended and verified against the writer's signatures. The
// hosts run package replicate as a codrive host does, so the suite tests
// the storage and the transport together with it, under the load
// replication puts on them.
//
// A storage or transport author, or a host that combines them, runs the
// suite from an ordinary test:
//
//	func TestReplication(t *testing.T) {
//		replicationtest.Run(t, replicationtest.Harness{
//			Storage: func(t *testing.T, dir string) (sdk.Storage, error) {
//				return disk.Open(dir, disk.Options{})
//			},
//			Transport: func(t *testing.T) (sdk.Transport, error) {
//				return tcp.New(), nil
//			},
//			ListenAddr: ma.StringCast("/ip4/127.0.0.1/tcp/0"),
//		})
//	}
//
// [Run] runs each scenario as a subtest, so that
//
//	go test -race -run 'TestReplication/Chain' ./...
//
// selects some of them. Every scenario builds its own hosts, each with a
// storage and a transport of its own, a fresh identity and a listener,
// and closes them all when it ends. The hosts' replicators log to the
// test's log at level Info and above.
//
// Timeouts only bound waits, so that a replication that stalls fails
// instead of blocking the test binary; they are far longer than a
// working replication needs. The one thing the suite times is a Fetch of
// blocks nobody has: it must fail within 10 s, before the hosts' request
// timeout of 30 s, which tells a Fetch that knows at once from one that
// waits for a request to time out.
package replicationtest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/sdk"
)

// Harness tells the suite how to make each host's storage and transport.
type Harness struct {
	// Storage opens a fresh storage in dir (a new t.TempDir() per host)
	// for one host. The suite closes it.
	Storage func(t *testing.T, dir string) (sdk.Storage, error)
	// Transport returns a transport for one host. The suite closes it.
	Transport func(t *testing.T) (sdk.Transport, error)
	// ListenAddr is the address each host listens on, with port 0 for a
	// system-chosen port, e.g. /ip4/127.0.0.1/tcp/0.
	ListenAddr ma.Multiaddr
}

// wait bounds every wait for replication to make progress. It is a
// guard against stalls, not a performance requirement.
const wait = 60 * time.Second

// requestTimeout is the hosts' replicate.Config.RequestTimeout. It is
// longer than promptly, the bound within which the suite expects Fetch to
// report blocks nobody has, so that a Fetch that waits for a request to
// time out rather than failing at once is told apart.
const (
	requestTimeout = 30 * time.Second
	promptly       = 10 * time.Second
)

// Run runs every replication scenario as subtests.
func Run(t *testing.T, h Harness) {
	switch {
	case h.Storage == nil:
		t.Fatal("replicationtest: Harness.Storage is nil")
	case h.Transport == nil:
		t.Fatal("replicationtest: Harness.Transport is nil")
	case len(h.ListenAddr) == 0:
		t.Fatal("replicationtest: Harness.ListenAddr is empty")
	}
	tests := []struct {
		name string
		run  func(*testing.T, Harness)
	}{
		{"FullDownload", testFullDownload},
		{"Live", testLive},
		{"SparseFetch", testSparseFetch},
		{"FetchNotAvailable", testFetchNotAvailable},
		{"Chain", testChain},
		{"Truncation", testTruncation},
		{"LargeBlocks", testLargeBlocks},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, h) })
	}
}

// host is one replicating host: a storage, a transport listening on
// loopback, and a replicator serving every connection made or accepted.
type host struct {
	t      *testing.T
	name   string
	ctx    context.Context
	cancel context.CancelFunc
	st     sdk.Storage
	tr     sdk.Transport
	ln     sdk.Listener
	key    sdk.PeerKey
	r      *replicate.Replicator

	wg    sync.WaitGroup // the accept loop and every connection's Handle
	mu    sync.Mutex
	feeds []*feed.Feed
}

// newHost builds a host and tears it down when the test ends: the
// replicator first, so that connections end, then the transport, then,
// once every connection's goroutine has returned, the storage.
func newHost(t *testing.T, h Harness, name string) *host {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	hs := &host{t: t, name: name, ctx: ctx, cancel: cancel}
	t.Cleanup(cancel)

	st, err := h.Storage(t, t.TempDir())
	if err != nil {
		t.Fatalf("host %s: Harness.Storage: %v", name, err)
	}
	hs.st = st
	t.Cleanup(func() {
		if err := boundedErr(st.Close); err != nil {
			t.Errorf("host %s: closing the storage: %v", name, err)
		}
	})

	tr, err := h.Transport(t)
	if err != nil {
		t.Fatalf("host %s: Harness.Transport: %v", name, err)
	}
	hs.tr = tr

	id, err := secure.NewIdentity()
	if err != nil {
		t.Fatalf("host %s: %v", name, err)
	}
	hs.key = id.PublicKey()
	hs.r = replicate.New(replicate.Config{
		Identity:       id,
		Client:         "codrive-replicationtest",
		RequestTimeout: requestTimeout,
		Logger:         testLogger(t).With("host", name),
	})

	// Registered after the storage's Close, so it runs before it.
	t.Cleanup(hs.shutdown)

	lctx, lcancel := context.WithTimeout(ctx, wait)
	defer lcancel()
	ln, err := bounded(func() (sdk.Listener, error) { return tr.Listen(lctx, h.ListenAddr) })
	if err != nil {
		t.Fatalf("host %s: Listen(%s): %v", name, h.ListenAddr, err)
	}
	hs.ln = ln
	hs.wg.Go(func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			hs.wg.Go(func() { hs.r.Handle(ctx, c, false) })
		}
	})
	return hs
}

// shutdown stops the host's replication and networking, and waits,
// bounded, for its goroutines.
func (hs *host) shutdown() {
	hs.cancel()
	var trErr error
	closed := make(chan struct{}) // closed once the transport is, after trErr is set
	err := boundedErr(func() error {
		hs.r.Close()
		if hs.ln != nil {
			hs.ln.Close()
		}
		trErr = hs.tr.Close()
		close(closed)
		hs.wg.Wait()
		return nil
	})
	switch {
	case err != nil && !isClosed(closed):
		hs.t.Errorf("host %s: closing the replicator and the transport: %v", hs.name, err)
	case err != nil:
		hs.t.Errorf("host %s: connections still being handled after the replicator and the transport closed: %v", hs.name, err)
	}
	if isClosed(closed) && trErr != nil {
		hs.t.Errorf("host %s: closing the transport: %v", hs.name, trErr)
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	for _, f := range hs.feeds {
		f.Close()
	}
}

// dial connects hs to other and runs the connection in the background.
func (hs *host) dial(other *host) {
	hs.t.Helper()
	ctx, cancel := context.WithTimeout(hs.ctx, wait)
	defer cancel()
	c, err := bounded(func() (sdk.Conn, error) { return hs.tr.Dial(ctx, other.ln.Addr()) })
	if err != nil {
		hs.t.Fatalf("host %s: Dial(%s) to host %s: %v", hs.name, other.ln.Addr(), other.name, err)
	}
	hs.wg.Go(func() { hs.r.Handle(hs.ctx, c, true) })
}

// connect dials other and waits until both hosts count each other as
// connected.
func (hs *host) connect(other *host) {
	hs.t.Helper()
	hs.dial(other)
	waitConnected(hs.t, hs, other)
	waitConnected(hs.t, other, hs)
}

// waitConnected waits until b is among a's connected peers. The
// replicator says nothing when a peer connects, so this polls.
func waitConnected(t *testing.T, a, b *host) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !a.hasPeer(b) {
		if time.Now().After(deadline) {
			t.Fatalf("host %s: host %s is not connected after %s", a.name, b.name, wait)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (hs *host) hasPeer(other *host) bool {
	for _, k := range hs.r.Peers() {
		if k == other.key {
			return true
		}
	}
	return false
}

// writer creates a writable feed, named by seed, and replicates it.
func (hs *host) writer(seed string) *feed.Feed {
	hs.t.Helper()
	k := sha256.Sum256([]byte(seed))
	f, err := feed.Create(hs.ctx, hs.st, ed25519.NewKeyFromSeed(k[:]))
	if err != nil {
		hs.t.Fatalf("host %s: feed.Create: %v", hs.name, err)
	}
	hs.add(f, replicate.FeedOptions{})
	return f
}

// reader creates a read-only replica of the feed with key and replicates
// it, downloading it whole or not.
func (hs *host) reader(key sdk.FeedKey, download bool) *feed.Feed {
	hs.t.Helper()
	f, err := feed.CreateReader(hs.ctx, hs.st, key)
	if err != nil {
		hs.t.Fatalf("host %s: feed.CreateReader: %v", hs.name, err)
	}
	hs.add(f, replicate.FeedOptions{Download: download})
	return f
}

func (hs *host) add(f *feed.Feed, opts replicate.FeedOptions) {
	hs.mu.Lock()
	hs.feeds = append(hs.feeds, f)
	hs.mu.Unlock()
	hs.r.Add(f, opts)
}

// fetch fetches [start, end) of the feed with key. Until the peers have
// announced what they hold, Fetch fails with ErrNotAvailable, so it is
// retried, bounded, until it succeeds.
func (hs *host) fetch(key sdk.FeedKey, start, end uint64) {
	hs.t.Helper()
	ctx, cancel := context.WithTimeout(hs.ctx, wait)
	defer cancel()
	for {
		err := hs.r.Fetch(ctx, key, start, end)
		if err == nil {
			return
		}
		if !errors.Is(err, replicate.ErrNotAvailable) || ctx.Err() != nil {
			hs.t.Fatalf("host %s: Fetch [%d, %d): %v", hs.name, start, end, err)
		}
		select {
		case <-ctx.Done():
			hs.t.Fatalf("host %s: Fetch [%d, %d) still fails after %s: %v", hs.name, start, end, wait, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// testLogger sends a replicator's log to the test's log, until the test
// ends: connections closing as it ends may still log.
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.done = true
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

// waitFor waits, bounded, until cond holds for f, waking whenever f
// changes.
func waitFor(t *testing.T, f *feed.Feed, what string, cond func() bool) {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		changed := f.Changed() // taken before cond, so no change is missed
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("%s: not there after %s: the replica has length %d and holds %v", what, wait, f.Length(), f.Present())
		}
	}
}

// waitComplete waits until f has length n and holds all of it.
func waitComplete(t *testing.T, f *feed.Feed, what string, n uint64) {
	t.Helper()
	waitFor(t, f, what, func() bool { return f.Length() == n && f.Has(0, n) })
}

// verify runs Verify on each feed.
func verify(t *testing.T, feeds ...*feed.Feed) {
	t.Helper()
	for _, f := range feeds {
		if err := f.Verify(t.Context()); err != nil {
			t.Errorf("Verify %s (writable %v): %v", f.Key(), f.Writable(), err)
		}
	}
}

// bounded calls fn in the background and waits for it, bounded by wait,
// so that a call that never returns fails the test instead of hanging
// it: it then returns an error saying so.
func bounded[T any](fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := fn()
		ch <- result{v, err}
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-timer.C:
		var zero T
		return zero, fmt.Errorf("the call did not return within %s", wait)
	}
}

// boundedErr is bounded for functions with only an error result.
func boundedErr(fn func() error) error {
	_, err := bounded(func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
