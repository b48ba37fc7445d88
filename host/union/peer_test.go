package union_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/host/union"
	"github.com/codrive/codrive/internal/loopback"
	"github.com/codrive/codrive/sdk"
)

// wait bounds every wait for replication in these tests.
const wait = 20 * time.Second

// peer is a host with one writable drive, replicating over TCP on
// loopback, and a union view of its drive and the drives it follows.
type peer struct {
	t     *testing.T
	name  string
	ctx   context.Context
	host  *loopback.Host
	store *feedstore.Store
	r     *replicate.Replicator
	clock *fakeClock
	d     *drive.Drive
	v     *union.View
	// sparse peers fetch content only when a file is read; the others
	// download every drive's content as it arrives.
	sparse bool
}

// newPeer starts a peer whose wall clock starts at start.
func newPeer(t *testing.T, name string, r sdk.Resolver, start time.Time) *peer {
	return newPeerSparse(t, name, r, start, false)
}

func newPeerSparse(t *testing.T, name string, r sdk.Resolver, start time.Time, sparse bool) *peer {
	t.Helper()
	h, err := loopback.New(name, loopback.Options{Logger: testLogger(t, name), RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, name: name, ctx: t.Context(), host: h, store: h.Store, r: h.Replicator, clock: &fakeClock{now: start}, sparse: sparse}
	t.Cleanup(func() {
		h.Close()
		if p.v != nil {
			p.v.Close()
		}
		if p.d != nil {
			p.d.Close()
		}
	})
	p.d, err = drive.Create(p.ctx, p.store, "drive", p.driveOptions())
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

// connect dials other over loopback TCP and waits until both are
// connected.
func (p *peer) connect(other *peer) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait)
	defer cancel()
	if err := p.host.Connect(ctx, other.host); err != nil {
		p.t.Fatal(err)
	}
}

// disconnect ends p's connection to other and waits until neither side
// counts the other as a peer.
func (p *peer) disconnect(other *peer) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, wait)
	defer cancel()
	if err := p.host.Disconnect(ctx, other.host); err != nil {
		p.t.Fatal(err)
	}
}

// waitUntil polls cond until it holds, failing the test after wait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := loopback.WaitFor(ctx, what, cond); err != nil {
		t.Fatal(err)
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
