package codrive_test

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

	"github.com/codrive/codrive/conflict/vclock"
	"github.com/codrive/codrive/host/codrive"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
	"github.com/codrive/codrive/transports/tcp"
)

// wait bounds every wait for replication.
const wait = 20 * time.Second

// host is one peer: a feed store, a replicator listening on loopback TCP.
type host struct {
	t     *testing.T
	name  string
	ctx   context.Context
	store *feedstore.Store
	r     *replicate.Replicator
	tr    sdk.Transport
	ln    sdk.Listener
	wg    sync.WaitGroup

	mu    sync.Mutex
	conns map[*host]func()
}

func newHost(t *testing.T, name string) *host {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	h := &host{t: t, name: name, ctx: ctx, conns: map[*host]func(){}}
	var err error
	if h.store, err = feedstore.New(memory.New(), feedstore.NewSeed()); err != nil {
		t.Fatal(err)
	}
	id, err := secure.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	h.r = replicate.New(replicate.Config{Identity: id, Client: "codrive-test", RequestTimeout: 5 * time.Second, Logger: testLogger(t, name)})
	h.tr = tcp.New()
	if h.ln, err = h.tr.Listen(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/0")); err != nil {
		t.Fatal(err)
	}
	h.wg.Go(func() {
		for {
			c, err := h.ln.Accept(ctx)
			if err != nil {
				return
			}
			h.wg.Go(func() { h.r.Handle(ctx, c, false) })
		}
	})
	t.Cleanup(func() {
		cancel()
		h.r.Close()
		h.ln.Close()
		h.tr.Close()
		h.wg.Wait()
		h.store.Close()
	})
	return h
}

// connect dials other and waits until both count each other as peers.
func (h *host) connect(other *host) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.ctx)
	c, err := h.tr.Dial(ctx, other.ln.Addr())
	if err != nil {
		cancel()
		h.t.Fatalf("%s dialing %s: %v", h.name, other.name, err)
	}
	h.mu.Lock()
	h.conns[other] = func() { cancel(); c.Close() }
	h.mu.Unlock()
	h.wg.Go(func() { h.r.Handle(ctx, c, true) })
	waitUntil(h.t, fmt.Sprintf("%s and %s connected", h.name, other.name), func() bool {
		return hasPeer(h.r, other.r.PublicKey()) && hasPeer(other.r, h.r.PublicKey())
	})
}

func (h *host) disconnect(other *host) {
	h.t.Helper()
	h.mu.Lock()
	stop := h.conns[other]
	delete(h.conns, other)
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
	waitUntil(h.t, fmt.Sprintf("%s and %s disconnected", h.name, other.name), func() bool {
		return !hasPeer(h.r, other.r.PublicKey()) && !hasPeer(other.r, h.r.PublicKey())
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

func (h *host) config(auth sdk.AuthPolicy) codrive.Config {
	return codrive.Config{Store: h.store, Replicator: h.r, Resolver: vclock.New(), Auth: auth,
		AuthTimeout: 10 * time.Second, Logger: testLogger(h.t, h.name)}
}

// create makes a new co-drive on h.
func (h *host) create(auth sdk.AuthPolicy) *codrive.CoDrive {
	h.t.Helper()
	c, err := codrive.Create(h.ctx, h.config(auth))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// open opens the co-drive key on h.
func (h *host) open(key sdk.FeedKey, auth sdk.AuthPolicy) *codrive.CoDrive {
	h.t.Helper()
	c, err := codrive.Open(h.ctx, h.config(auth), key)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

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

// waitFile waits until the file at p reads want on c ("" waits until it
// does not exist).
func waitFile(t *testing.T, c *codrive.CoDrive, name, p, want string) {
	t.Helper()
	last := ""
	waitUntil(t, fmt.Sprintf("%s to read %q at %s", name, want, p), func() bool {
		b, err := c.View().ReadFile(t.Context(), p)
		if err != nil {
			last = err.Error()
			return want == "" && strings.Contains(err.Error(), "not exist")
		}
		last = string(b)
		return want != "" && string(b) == want
	})
	_ = last
}

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
