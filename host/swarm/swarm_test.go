package swarm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
	"github.com/codrive/codrive/transports/tcp"
)

var ctx = context.Background()

// testConfig redials quickly, so tests that wait for a redial are short.
func testConfig(tr ...sdk.Transport) Config {
	return Config{
		Transports:  tr,
		Logger:      slog.New(slog.NewTextHandler(io.Discard, nil)),
		MinBackoff:  10 * time.Millisecond,
		MaxBackoff:  50 * time.Millisecond,
		DialTimeout: 5 * time.Second,
	}
}

// countingTransport counts dials, so tests can wait for redials without
// guessing how long they take.
type countingTransport struct {
	sdk.Transport
	dials atomic.Int64
}

func (t *countingTransport) Dial(ctx context.Context, addr ma.Multiaddr) (sdk.Conn, error) {
	t.dials.Add(1)
	return t.Transport.Dial(ctx, addr)
}

// node is one host of a test: a replicator, a swarm over its own TCP
// transport, and an identity that survives restarts.
type node struct {
	id secure.Identity
	r  *replicate.Replicator
	tr *countingTransport
	s  *Swarm
}

func newNode(t *testing.T) *node {
	t.Helper()
	id, err := secure.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return startNode(t, id)
}

// startNode starts a host with the given identity; it is closed when the
// test ends, if the test has not stopped it.
func startNode(t *testing.T, id secure.Identity) *node {
	t.Helper()
	n := &node{id: id, tr: &countingTransport{Transport: tcp.New()}}
	n.r = replicate.New(replicate.Config{Identity: id, Client: "codrive-test", RequestTimeout: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	n.s = New(n.r, testConfig(n.tr))
	t.Cleanup(n.stop)
	return n
}

// stop shuts the host down the way a process exit would.
func (n *node) stop() {
	n.s.Close()
	n.r.Close()
	n.tr.Close()
}

func (n *node) listen(t *testing.T, addr string) ma.Multiaddr {
	t.Helper()
	bound, err := n.s.Listen(ctx, ma.StringCast(addr))
	if err != nil {
		t.Fatal(err)
	}
	return bound
}

func writer(t *testing.T, n int) *feed.Feed {
	t.Helper()
	f, err := feed.Create(ctx, memory.New(), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	appendBlocks(t, f, n)
	return f
}

func appendBlocks(t *testing.T, f *feed.Feed, n int) {
	t.Helper()
	var batch [][]byte
	for i := range n {
		batch = append(batch, fmt.Appendf(nil, "block %d", int(f.Length())+i))
	}
	if _, err := f.Append(ctx, batch...); err != nil {
		t.Fatal(err)
	}
}

func replica(t *testing.T, key sdk.FeedKey) *feed.Feed {
	t.Helper()
	f, err := feed.CreateReader(ctx, memory.New(), key)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// waitHeld waits, bounded, until f holds blocks [0, n).
func waitHeld(t *testing.T, f *feed.Feed, n uint64) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for f.Length() != n || !f.Has(0, n) {
		select {
		case <-f.Changed():
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %d blocks: length %d, present %v", n, f.Length(), f.Present())
		}
	}
}

// waitUntil polls cond, bounded.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freeAddr returns a loopback address nothing listens on (for now).
func freeAddr(t *testing.T) ma.Multiaddr {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return ma.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port))
}

// closeBounded closes s and fails the test if Close does not return: a
// goroutine of the swarm that does not stop would hold it up.
func closeBounded(t *testing.T, s *Swarm) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Close did not return: a goroutine of the swarm did not stop")
	}
}

func TestReplicateOverTCP(t *testing.T) {
	a, b := newNode(t), newNode(t)
	w := writer(t, 300)
	r := replica(t, w.Key())
	a.r.Add(w, replicate.FeedOptions{})
	b.r.Add(r, replicate.FeedOptions{Download: true})

	addr := a.listen(t, "/ip4/127.0.0.1/tcp/0")
	if got := a.s.Addrs(); len(got) != 1 || !got[0].Equal(addr) {
		t.Errorf("Addrs() = %v, want [%s]", got, addr)
	}
	if err := b.s.Connect(addr); err != nil {
		t.Fatal(err)
	}
	if err := b.s.Connect(addr); err != nil { // again: nothing more happens
		t.Fatal(err)
	}
	waitHeld(t, r, 300)

	appendBlocks(t, w, 50) // live updates over the same connection
	waitHeld(t, r, 350)
	if err := r.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	if n := b.tr.dials.Load(); n != 1 {
		t.Errorf("%d dials, want 1", n)
	}
}

// TestConnectBeforeListen: Connect keeps dialing an address nobody
// listens on, and connects once a listener comes up there.
func TestConnectBeforeListen(t *testing.T) {
	a, b := newNode(t), newNode(t)
	w := writer(t, 100)
	r := replica(t, w.Key())
	a.r.Add(w, replicate.FeedOptions{})
	b.r.Add(r, replicate.FeedOptions{Download: true})

	addr := freeAddr(t)
	if err := b.s.Connect(addr); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "two failed dials", func() bool { return b.tr.dials.Load() >= 2 })
	a.listen(t, addr.String())
	waitHeld(t, r, 100)
}

// TestReconnectAfterRestart: the listening host goes away and comes back
// on the same address with more data; the connecting host redials and
// replication picks up where it stopped.
func TestReconnectAfterRestart(t *testing.T) {
	a, b := newNode(t), newNode(t)
	w := writer(t, 200)
	r := replica(t, w.Key())
	a.r.Add(w, replicate.FeedOptions{})
	b.r.Add(r, replicate.FeedOptions{Download: true})
	addr := a.listen(t, "/ip4/127.0.0.1/tcp/0")
	if err := b.s.Connect(addr); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, r, 200)

	a.stop()
	waitUntil(t, "the connection to end", func() bool { return len(b.r.Peers()) == 0 })
	appendBlocks(t, w, 100) // written while the peer is away
	dials := b.tr.dials.Load()
	waitUntil(t, "a failed redial", func() bool { return b.tr.dials.Load() > dials })

	a2 := startNode(t, a.id)
	a2.r.Add(w, replicate.FeedOptions{})
	a2.listen(t, addr.String())
	waitHeld(t, r, 300)
	if err := r.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestCloseStopsRedialing: Close ends a redial loop that never connects,
// waits for it, and nothing dials afterwards.
func TestCloseStopsRedialing(t *testing.T) {
	b := newNode(t)
	if err := b.s.Connect(freeAddr(t)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "three failed dials", func() bool { return b.tr.dials.Load() >= 3 })
	closeBounded(t, b.s)
	dials := b.tr.dials.Load()
	// Close waited for the loop, so no dial can start after it; give a
	// stray one several backoffs to show up anyway.
	time.Sleep(10 * b.s.cfg.MaxBackoff)
	if n := b.tr.dials.Load(); n != dials {
		t.Errorf("%d dials after Close", n-dials)
	}

	if err := b.s.Connect(freeAddr(t)); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Connect after Close: %v, want ErrClosed", err)
	}
	if _, err := b.s.Listen(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/0")); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Listen after Close: %v, want ErrClosed", err)
	}
	if err := b.s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestCloseEndsSessions: closing the swarm ends the sessions it accepted
// and dialed, and the listener stops accepting.
func TestCloseEndsSessions(t *testing.T) {
	a, b := newNode(t), newNode(t)
	addr := a.listen(t, "/ip4/127.0.0.1/tcp/0")
	if err := b.s.Connect(addr); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the connection", func() bool { return len(a.r.Peers()) == 1 && len(b.r.Peers()) == 1 })
	closeBounded(t, a.s)
	waitUntil(t, "both sessions to end", func() bool { return len(a.r.Peers()) == 0 && len(b.r.Peers()) == 0 })
	if got := a.s.Addrs(); len(got) != 0 {
		t.Errorf("Addrs() after Close = %v", got)
	}
	na, err := manet.ToNetAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", na.String(), time.Second); err == nil {
		c.Close()
		t.Error("the listener still accepts after Close")
	}
}

// TestDisconnect: Disconnect ends the connection and its redial loop.
func TestDisconnect(t *testing.T) {
	a, b := newNode(t), newNode(t)
	addr := a.listen(t, "/ip4/127.0.0.1/tcp/0")
	if err := b.s.Connect(addr); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the connection", func() bool { return len(a.r.Peers()) == 1 })
	b.s.Disconnect(addr)
	waitUntil(t, "the session to end", func() bool { return len(a.r.Peers()) == 0 })
	dials := b.tr.dials.Load()
	time.Sleep(10 * b.s.cfg.MaxBackoff)
	if n := b.tr.dials.Load(); n != dials {
		t.Errorf("%d dials after Disconnect", n-dials)
	}
	if err := b.s.Connect(addr); err != nil { // and connecting again works
		t.Fatal(err)
	}
	waitUntil(t, "the new connection", func() bool { return len(a.r.Peers()) == 1 })
}

// TestMutualConnect: two hosts that connect to each other end up with one
// connection, and the host whose connection was dropped as a duplicate
// stops dialing while the other connection lasts.
func TestMutualConnect(t *testing.T) {
	a, b := newNode(t), newNode(t)
	w := writer(t, 100)
	r := replica(t, w.Key())
	a.r.Add(w, replicate.FeedOptions{})
	b.r.Add(r, replicate.FeedOptions{Download: true})
	addrA := a.listen(t, "/ip4/127.0.0.1/tcp/0")
	addrB := b.listen(t, "/ip4/127.0.0.1/tcp/0")
	if err := a.s.Connect(addrB); err != nil {
		t.Fatal(err)
	}
	if err := b.s.Connect(addrA); err != nil {
		t.Fatal(err)
	}
	waitHeld(t, r, 100)

	// Settled: one connection each way, and a quiet spell many times the
	// longest backoff long with no dials on either side. Without the
	// duplicate rule, the host that lost would redial at least once per
	// MaxBackoff.
	quiet := 20 * a.s.cfg.MaxBackoff
	deadline := time.Now().Add(20 * time.Second)
	for {
		da, db := a.tr.dials.Load(), b.tr.dials.Load()
		time.Sleep(quiet)
		if a.tr.dials.Load() == da && b.tr.dials.Load() == db && len(a.r.Peers()) == 1 && len(b.r.Peers()) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still dialing: %d and %d dials, %d and %d peers", a.tr.dials.Load(), b.tr.dials.Load(), len(a.r.Peers()), len(b.r.Peers()))
		}
	}
	appendBlocks(t, w, 10)
	waitHeld(t, r, 110)
}

func TestBadAddresses(t *testing.T) {
	n := newNode(t)
	none := New(n.r, testConfig())
	defer none.Close()
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"listen on udp", func() error {
			_, err := n.s.Listen(ctx, ma.StringCast("/ip4/127.0.0.1/udp/4000"))
			return err
		}, "no transport for /ip4/127.0.0.1/udp/4000"},
		{"connect to udp", func() error { return n.s.Connect(ma.StringCast("/ip4/127.0.0.1/udp/4000")) }, "none of the 1 transports"},
		{"connect with a /p2p suffix", func() error {
			return n.s.Connect(ma.StringCast("/ip4/127.0.0.1/tcp/4000/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N"))
		}, "no transport"},
		{"listen on a name", func() error {
			_, err := n.s.Listen(ctx, ma.StringCast("/dns/localhost/tcp/0"))
			return err
		}, "needs an IP address"},
		{"empty address", func() error { return n.s.Connect(nil) }, "empty multiaddr"},
		{"no transports", func() error { return none.Connect(ma.StringCast("/ip4/127.0.0.1/tcp/4000")) }, "the swarm has no transports"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, sdk.ErrInvalid) {
				t.Fatalf("error %v does not wrap sdk.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	if n := n.tr.dials.Load(); n != 0 {
		t.Errorf("%d dials for bad addresses", n)
	}
}

func TestDuplicatePeer(t *testing.T) {
	var key sdk.PeerKey
	key[0], key[31] = 0xab, 0xcd
	tests := []struct {
		name string
		err  error
		ok   bool
	}{
		{"as Handle returns it", &replicate.DuplicateError{Peer: key}, true},
		{"wrapped", fmt.Errorf("session: %w", &replicate.DuplicateError{Peer: key}), true},
		{"the bare sentinel", replicate.ErrDuplicate, false},
		{"not a duplicate", fmt.Errorf("EOF %s", key), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := duplicatePeer(tt.err)
			if ok != tt.ok || (ok && got != key) {
				t.Errorf("duplicatePeer(%v) = %s, %v", tt.err, got, ok)
			}
		})
	}
}
