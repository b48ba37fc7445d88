// Package loopback runs codrive hosts in one process that replicate with
// each other over TCP on 127.0.0.1: the harness of multi-peer tests and of
// the demo. Each host has its own memory storage, identity and listener,
// and connections can be made and cut at will.
package loopback

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
	"github.com/codrive/codrive/transports/tcp"
)

// Options configure a Host.
type Options struct {
	// Logger receives the replicator's log; nil discards it.
	Logger *slog.Logger
	// RequestTimeout bounds a request to a peer; zero means
	// replicate.DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// Host is one peer: a feed store on memory storage and a replicator
// listening on a loopback port.
type Host struct {
	Name       string
	Store      *feedstore.Store
	Replicator *replicate.Replicator

	tr     sdk.Transport
	ln     sdk.Listener
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[*Host]func()
}

// New starts a host that accepts connections until Close.
func New(name string, opts Options) (*Host, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Host{Name: name, ctx: ctx, cancel: cancel, conns: map[*Host]func(){}}
	var err error
	if h.Store, err = feedstore.New(memory.New(), feedstore.NewSeed()); err != nil {
		cancel()
		return nil, err
	}
	id, err := secure.NewIdentity()
	if err != nil {
		cancel()
		return nil, err
	}
	h.Replicator = replicate.New(replicate.Config{Identity: id, Client: "codrive-loopback/" + name,
		RequestTimeout: opts.RequestTimeout, Logger: opts.Logger})
	h.tr = tcp.New()
	if h.ln, err = h.tr.Listen(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/0")); err != nil {
		h.Close()
		return nil, err
	}
	h.wg.Go(func() {
		for {
			c, err := h.ln.Accept(ctx)
			if err != nil {
				return
			}
			h.wg.Go(func() { h.Replicator.Handle(ctx, c, false) })
		}
	})
	return h, nil
}

// Addr is the address the host listens on.
func (h *Host) Addr() ma.Multiaddr { return h.ln.Addr() }

// PeerKey is the host's peer key.
func (h *Host) PeerKey() sdk.PeerKey { return h.Replicator.PublicKey() }

// Connect dials other and waits, until ctx ends, for both hosts to count
// each other as connected.
func (h *Host) Connect(ctx context.Context, other *Host) error {
	cctx, cancel := context.WithCancel(h.ctx)
	c, err := h.tr.Dial(ctx, other.Addr())
	if err != nil {
		cancel()
		return fmt.Errorf("%s dialing %s: %w", h.Name, other.Name, err)
	}
	h.mu.Lock()
	h.conns[other] = func() { cancel(); c.Close() }
	h.mu.Unlock()
	h.wg.Go(func() { h.Replicator.Handle(cctx, c, true) })
	return WaitFor(ctx, fmt.Sprintf("%s and %s to connect", h.Name, other.Name), func() bool {
		return h.Connected(other) && other.Connected(h)
	})
}

// Disconnect ends the connection h dialed to other and waits, until ctx
// ends, for neither host to count the other as connected.
func (h *Host) Disconnect(ctx context.Context, other *Host) error {
	h.mu.Lock()
	stop := h.conns[other]
	delete(h.conns, other)
	h.mu.Unlock()
	if stop != nil {
		stop()
	}
	return WaitFor(ctx, fmt.Sprintf("%s and %s to disconnect", h.Name, other.Name), func() bool {
		return !h.Connected(other) && !other.Connected(h)
	})
}

// Connected reports whether other is among h's connected peers.
func (h *Host) Connected(other *Host) bool {
	return slices.Contains(h.Replicator.Peers(), other.PeerKey())
}

// Close stops the host: its connections, its listener, then its store.
func (h *Host) Close() {
	h.cancel()
	h.Replicator.Close()
	if h.ln != nil {
		h.ln.Close()
	}
	if h.tr != nil {
		h.tr.Close()
	}
	h.wg.Wait()
	h.Store.Close()
}

// WaitFor polls cond every few milliseconds until it holds or ctx ends.
func WaitFor(ctx context.Context, what string, cond func() bool) error {
	for !cond() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s: %w", what, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
	return nil
}
