package union_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/host/union"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
	"github.com/codrive/codrive/transports/tcp"
)

// wait bounds every wait for replication in these tests.
const wait = 20 * time.Second

// peer is a host with one writable drive, replicating over TCP on
// loopback, and a union view of its drive and the drives it follows.
type peer struct {
	t     *testing.T
	name  string
	ctx   context.Context
	store *feedstore.Store
	r     *replicate.Replicator
	tr    sdk.Transport
	ln    sdk.Listener
	clock *fakeClock
	d     *drive.Drive
	v     *union.View
	// sparse peers fetch content only when a file is read; the others
	// download every drive's content as it arrives.
	sparse bool

	mu    sync.Mutex
	conns map[*peer]context.CancelFunc
	wg    sync.WaitGroup
}

// newPeer starts a peer whose wall clock starts at start.
func newPeer(t *testing.T, name string, r sdk.Resolver, start time.Time) *peer {
	return newPeerSparse(t, name, r, start, false)
}

func newPeerSparse(t *testing.T, name string, r sdk.Resolver, start time.Time, sparse bool) *peer {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	p := &peer{t: t, name: name, ctx: ctx, clock: &fakeClock{now: start}, conns: map[*peer]context.CancelFunc{}, sparse: sparse}
	st, err := feedstore.New(memory.New(), feedstore.NewSeed())
	if err != nil {
		t.Fatal(err)
	}
	p.store = st
	id, err := secure.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	p.r = replicate.New(replicate.Config{Identity: id, Client: "codrive-union-test", RequestTimeout: 5 * time.Second,
		Logger: testLogger(t, name)})
	p.tr = tcp.New()
	p.ln, err = p.tr.Listen(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	p.wg.Go(func() {
		for {
			c, err := p.ln.Accept(ctx)
			if err != nil {
				return
			}
			p.wg.Go(func() { p.r.Handle(ctx, c, false) })
		}
	})
	t.Cleanup(func() {
		cancel()
		p.r.Close()
		p.ln.Close()
		p.tr.Close()
		p.wg.Wait()
		if p.v != nil {
			p.v.Close()
		}
		if p.d != nil {
			p.d.Close()
		}
		p.store.Close()
	})
	p.d, err = drive.Create(ctx, st, "drive", p.driveOptions())
	if err != nil {
		t.Fatal(err)
	}
	p.r.Add(p.d.Feed(), replicate.FeedOptions{Download: true})
	p.v, err = union.New(union.Config{Writer: p.d, Resolver: r, Now: p.clock.Now, Hidden: []string{"/.writers"}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *peer) driveOptions() drive.Options {
	return drive.Options{
		ChunkSize:     1024,
		Fetcher:       p.r,
		OnContentFeed: func(f *feed.Feed) { p.r.Add(f, replicate.FeedOptions{Download: !p.sparse}) },
	}
}

// follow adds other's drive to p's view, replicating it from any peer.
func (p *peer) follow(others ...*peer) {
	p.t.Helper()
	for _, o := range others {
		d, err := drive.Open(p.ctx, p.store, o.d.Key(), p.driveOptions())
		if err != nil {
			p.t.Fatal(err)
		}
		p.t.Cleanup(func() { d.Close() })
		p.r.Add(d.Feed(), replicate.FeedOptions{Download: true})
		if err := p.v.AddDrive(d); err != nil {
			p.t.Fatal(err)
		}
	}
}

// connect dials other over loopback TCP.
func (p *peer) connect(other *peer) {
	p.t.Helper()
	ctx, cancel := context.WithCancel(p.ctx)
	c, err := p.tr.Dial(ctx, other.ln.Addr())
	if err != nil {
		cancel()
		p.t.Fatalf("%s dialing %s: %v", p.name, other.name, err)
	}
	p.mu.Lock()
	p.conns[other] = func() { cancel(); c.Close() }
	p.mu.Unlock()
	p.wg.Go(func() { p.r.Handle(ctx, c, true) })
}

// disconnect ends p's connection to other and waits until neither side
// counts the other as a peer.
func (p *peer) disconnect(other *peer) {
	p.t.Helper()
	p.mu.Lock()
	stop := p.conns[other]
	delete(p.conns, other)
	p.mu.Unlock()
	if stop != nil {
		stop()
	}
	waitUntil(p.t, fmt.Sprintf("%s and %s disconnected", p.name, other.name), func() bool {
		return !hasPeer(p.r, other.r.PublicKey()) && !hasPeer(other.r, p.r.PublicKey())
	})
}

func hasPeer(r *replicate.Replicator, k sdk.PeerKey) bool {
	for _, x := range r.Peers() {
		if x == k {
			return true
		}
	}
	return false
}

// waitUntil polls cond until it holds, failing the test after wait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// converge waits until every peer's view has applied every entry of
// every drive it follows, as written by that drive's writer.
func converge(t *testing.T, peers ...*peer) {
	t.Helper()
	lengths := map[sdk.FeedKey]uint64{}
	for _, p := range peers {
		lengths[p.d.Key()] = p.d.Length()
	}
	waitUntil(t, "views to converge", func() bool {
		for _, p := range peers {
			for _, d := range p.v.Drives() {
				if want, ok := lengths[d.Key()]; ok && d.Length() != want {
					return false
				}
			}
		}
		return true
	})
}

// mesh makes every peer follow every other peer's drive and connects them
// all.
func mesh(peers ...*peer) {
	for i, p := range peers {
		for j, o := range peers {
			if i != j {
				p.follow(o)
			}
		}
	}
	for i, p := range peers {
		for _, o := range peers[i+1:] {
			p.connect(o)
		}
	}
}

// testLogger logs to the test when CODRIVE_TEST_LOG is set.
func testLogger(t *testing.T, name string) *slog.Logger {
	if os.Getenv("CODRIVE_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("peer", name)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
