package replicate

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/host/wire"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
	"github.com/codrive/codrive/transports/tcp"
)

var ctx = context.Background()

// host is one side of a test: a replicator listening on loopback.
type host struct {
	r    *Replicator
	addr ma.Multiaddr
}

func newHost(t *testing.T) *host { return newHostB(t) }

func newHostB(t testing.TB) *host {
	t.Helper()
	id, err := secure.NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	r := New(Config{Identity: id, Client: "codrive-test", RequestTimeout: 5 * time.Second})
	tr := tcp.New()
	ln, err := tr.Listen(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			go r.Handle(ctx, c, false)
		}
	}()
	t.Cleanup(func() {
		r.Close()
		tr.Close()
	})
	return &host{r: r, addr: ln.Addr()}
}

// dial connects a to b in the background.
func (a *host) dial(t *testing.T, b *host) { a.dialB(t, b) }

func (a *host) dialB(t testing.TB, b *host) {
	t.Helper()
	tr := tcp.New()
	t.Cleanup(func() { tr.Close() })
	c, err := tr.Dial(ctx, b.addr)
	if err != nil {
		t.Fatal(err)
	}
	go a.r.Handle(ctx, c, true)
}

func writer(t *testing.T, seed byte, n int) *feed.Feed {
	t.Helper()
	f, err := feed.Create(ctx, memory.New(), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, f, 0, n)
	return f
}

func appendN(t *testing.T, f *feed.Feed, from, to int) {
	t.Helper()
	for i := from; i < to; i += 100 {
		var batch [][]byte
		for j := i; j < min(i+100, to); j++ {
			batch = append(batch, []byte(fmt.Sprintf("block %d", j)))
		}
		if _, err := f.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
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

// waitFor waits, bounded, until cond holds, waking on the feed's changes.
func waitFor(t *testing.T, f *feed.Feed, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for !cond() {
		select {
		case <-f.Changed():
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func waitPeers(t *testing.T, r *Replicator, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.Peers()) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d peers, want %d", len(r.Peers()), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLiveDownload: a reader downloads everything a writer has, then
// every block the writer appends afterwards, over TCP.
func TestLiveDownload(t *testing.T) {
	a, b := newHost(t), newHost(t)
	w := writer(t, 1, 1500)
	r := replica(t, w.Key())
	a.r.Add(w, FeedOptions{})
	b.r.Add(r, FeedOptions{Download: true})
	b.dial(t, a)

	waitFor(t, r, "the first 1,500 blocks", func() bool { return r.Length() == 1500 && r.Has(0, 1500) })
	appendN(t, w, 1500, 1700)
	waitFor(t, r, "the live appends", func() bool { return r.Length() == 1700 && r.Has(0, 1700) })

	got, err := r.GetRange(ctx, 0, 1700)
	if err != nil {
		t.Fatal(err)
	}
	for i, blk := range got {
		if string(blk) != fmt.Sprintf("block %d", i) {
			t.Fatalf("block %d = %q", i, blk)
		}
	}
	if err := r.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSparseFetch: a sparse reader fetches only what it asks for, and
// learns at once when nobody has what it wants.
func TestSparseFetch(t *testing.T) {
	a, b := newHost(t), newHost(t)
	w := writer(t, 2, 1000)
	r := replica(t, w.Key())

	b.r.Add(r, FeedOptions{})
	if err := b.r.Fetch(ctx, w.Key(), 0, 1); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("fetch with no peers: %v, want ErrNotAvailable", err)
	}

	a.r.Add(w, FeedOptions{})
	b.dial(t, a)
	waitPeers(t, b.r, 1)
	deadline := time.Now().Add(10 * time.Second)
	var err error
	for {
		if err = b.r.Fetch(ctx, w.Key(), 500, 510); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the peer's HAVE may still be on its way
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Present(); len(got) != 1 || got[0] != (sdk.Range{Start: 500, End: 510}) {
		t.Fatalf("held %v, want [500,510)", got)
	}
	start := time.Now()
	if err := b.r.Fetch(ctx, w.Key(), 2000, 2001); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("fetch past the writer's length: %v, want ErrNotAvailable", err)
	}
	t.Logf("not-available answer after %s", time.Since(start))
}

// TestUnservedFeedIsRejected: a peer that does not have the feed says so,
// and fetching fails fast instead of waiting.
func TestUnservedFeedIsRejected(t *testing.T) {
	a, b := newHost(t), newHost(t)
	other := writer(t, 3, 10)
	a.r.Add(other, FeedOptions{})
	w := writer(t, 4, 10)
	r := replica(t, w.Key())
	b.r.Add(r, FeedOptions{})
	b.dial(t, a)
	waitPeers(t, b.r, 1)
	if err := b.r.Fetch(ctx, w.Key(), 0, 1); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("fetch of a feed the peer lacks: %v, want ErrNotAvailable", err)
	}
}

// TestOneConnectionPerPeer: when two hosts dial each other at once, both
// keep the same single connection, and replication works over it.
func TestOneConnectionPerPeer(t *testing.T) {
	a, b := newHost(t), newHost(t)
	w := writer(t, 5, 300)
	r := replica(t, w.Key())
	a.r.Add(w, FeedOptions{})
	b.r.Add(r, FeedOptions{Download: true})
	a.dial(t, b)
	b.dial(t, a)
	waitFor(t, r, "the download", func() bool { return r.Has(0, 300) && r.Length() == 300 })
	waitPeers(t, a.r, 1)
	waitPeers(t, b.r, 1)
}

// rawPeer speaks the protocol by hand, to misbehave.
func rawPeer(t *testing.T, to *host) *secure.Conn {
	t.Helper()
	id, _ := secure.NewIdentity()
	tr := tcp.New()
	t.Cleanup(func() { tr.Close() })
	c, err := tr.Dial(ctx, to.addr)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := secure.Client(ctx, c, id, secure.Hello{MinVersion: 1, MaxVersion: 1, Client: "evil"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	return sc
}

func sendRaw(t *testing.T, sc *secure.Conn, ch uint64, m wire.Message) {
	t.Helper()
	body, err := wire.Append(nil, ch, m, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.WriteMessage(body); err != nil {
		t.Fatal(err)
	}
	if err := sc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// readUntilError reads until the honest host closes the connection and
// returns the reason it gave. It gives up after 10 seconds, closing the
// connection, so a host that never disconnects fails the test instead of
// hanging it.
func readUntilError(t *testing.T, sc *secure.Conn) string {
	t.Helper()
	timer := time.AfterFunc(10*time.Second, func() { sc.Close() })
	defer timer.Stop()
	for {
		body, err := sc.ReadMessage()
		if err != nil {
			return ""
		}
		if _, m, err := wire.Decode(body, false); err == nil {
			if e, ok := m.(*wire.Error); ok {
				return e.Reason
			}
		}
	}
}

func TestBadCapabilityDisconnects(t *testing.T) {
	a := newHost(t)
	w := writer(t, 6, 10)
	a.r.Add(w, FeedOptions{})
	sc := rawPeer(t, a)
	// Knowing only the discovery key, the peer can't make the capability.
	sendRaw(t, sc, 0, &wire.Open{ID: 1, Kind: wire.KindFeed, DiscoveryKey: w.DiscoveryKey()})
	if reason := readUntilError(t, sc); !bytes.Contains([]byte(reason), []byte("bad capability")) {
		t.Fatalf("honest host's reason: %q", reason)
	}
}

// openAsEvil opens a channel for w on the honest host from a raw peer
// that knows the key, announces length blocks, and returns the first
// request it gets.
func openAsEvil(t *testing.T, sc *secure.Conn, w *feed.Feed, length uint64) *wire.Request {
	t.Helper()
	capa := wire.Capability(w.Key(), sc.HandshakeHash(), true)
	sendRaw(t, sc, 0, &wire.Open{ID: 1, Kind: wire.KindFeed, DiscoveryKey: w.DiscoveryKey(), Capability: capa})
	sendRaw(t, sc, 1, &wire.Sync{Length: length})
	sendRaw(t, sc, 1, &wire.Have{Ranges: []sdk.Range{{Start: 0, End: length}}})
	for {
		body, err := sc.ReadMessage()
		if err != nil {
			t.Fatalf("connection ended before a request: %v", err)
		}
		_, m, err := wire.Decode(body, false)
		if err != nil {
			t.Fatal(err)
		}
		if req, ok := m.(*wire.Request); ok {
			return req
		}
	}
}

// TestMaliciousAnswers: a peer that answers a request with anything but
// a valid proof is disconnected with a reason, and nothing it sent is
// stored.
func TestMaliciousAnswers(t *testing.T) {
	tests := []struct {
		name   string
		tamper func(p *feed.Proof) []byte // returns the body to send, or nil for a DATA with p
		reason string
	}{
		{"forged block", func(p *feed.Proof) []byte { p.Blocks[0] = []byte("forged"); return nil }, "bad proof"},
		{"bad signature", func(p *feed.Proof) []byte { p.Head.Signature[0] ^= 1; return nil }, "bad signature"},
		{"tampered node", func(p *feed.Proof) []byte { p.Roots[0].Hash[3] ^= 1; return nil }, "bad signature"},
		{"extra node", func(p *feed.Proof) []byte { p.Nodes = append(p.Nodes, sdk.Node{Index: 100}); return nil }, "bad proof"},
		{"undecodable proof", func(p *feed.Proof) []byte { return []byte{1, 2, 3} }, "protocol error"},
		{"garbage message", func(p *feed.Proof) []byte { return []byte{0xff, 0xff, 0xff} }, "protocol error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newHost(t)
			w := writer(t, 7, 10)
			r := replica(t, w.Key())
			b.r.Add(r, FeedOptions{Download: true})
			sc := rawPeer(t, b)
			req := openAsEvil(t, sc, w, 10)
			proof, err := w.Proof(ctx, feed.ProofRequest{Start: req.Start, End: req.End, UpgradeFrom: req.UpgradeFrom})
			if err != nil {
				t.Fatal(err)
			}
			switch body := tt.tamper(proof); {
			case body == nil:
				sendRaw(t, sc, 1, &wire.Data{ID: req.ID, Proof: feed.AppendProof(nil, proof)})
			case tt.name == "undecodable proof":
				sendRaw(t, sc, 1, &wire.Data{ID: req.ID, Proof: body})
			default:
				if err := sc.WriteMessage(body); err != nil {
					t.Fatal(err)
				}
				sc.Flush()
			}
			if reason := readUntilError(t, sc); !strings.Contains(reason, tt.reason) {
				t.Fatalf("honest host's reason: %q, want it to say %q", reason, tt.reason)
			}
			if r.Length() != 0 || len(r.Present()) != 0 {
				t.Fatalf("a malicious answer left length %d, present %v", r.Length(), r.Present())
			}
		})
	}
}

// TestForkReported: a reader meets two histories signed with one key;
// it reports the fork once, with evidence anyone can check.
func TestForkReported(t *testing.T) {
	a, c, b := newHost(t), newHost(t), newHost(t)
	honest := writer(t, 8, 3)
	clone, _ := feed.Create(ctx, memory.New(), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, 32)))
	for _, blk := range []string{"block 0", "other 1", "other 2", "other 3"} {
		clone.Append(ctx, []byte(blk))
	}
	forks := make(chan *feed.ForkEvidence, 4)
	id, _ := secure.NewIdentity()
	b.r = New(Config{Identity: id, OnFork: func(_ sdk.FeedKey, ev *feed.ForkEvidence) { forks <- ev }})
	t.Cleanup(func() { b.r.Close() })
	r := replica(t, honest.Key())
	b.r.Add(r, FeedOptions{Download: true})
	a.r.Add(honest, FeedOptions{})
	c.r.Add(clone, FeedOptions{})

	b.dial(t, a)
	waitFor(t, r, "the honest blocks", func() bool { return r.Has(0, 3) && r.Length() == 3 })
	b.dial(t, c)
	select {
	case ev := <-forks:
		if err := ev.Verify(honest.Key()); err != nil {
			t.Fatalf("reported evidence does not verify: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the fork was not reported")
	}
	if r.Evidence() == nil {
		t.Fatal("the replica did not keep the evidence")
	}
	select {
	case <-forks:
		t.Fatal("the fork was reported twice")
	case <-time.After(200 * time.Millisecond):
	}
}

// TestSlowReaderBoundsSender: a peer that asks for a lot and never reads
// makes the sender wait, not buffer without bound.
func TestSlowReaderBoundsSender(t *testing.T) {
	a := newHost(t)
	w, err := feed.Create(ctx, memory.New(), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{'x'}, 64<<10)
	for i := 0; i < 4; i++ {
		batch := make([][]byte, 100)
		for j := range batch {
			batch[j] = big
		}
		if _, err := w.Append(ctx, batch...); err != nil {
			t.Fatal(err)
		}
	}
	a.r.Add(w, FeedOptions{})
	sc := rawPeer(t, a)
	capa := wire.Capability(w.Key(), sc.HandshakeHash(), true)
	sendRaw(t, sc, 0, &wire.Open{ID: 1, Kind: wire.KindFeed, DiscoveryKey: w.DiscoveryKey(), Capability: capa})
	// 16 requests of 25 MiB of blocks in all, and no reading.
	for i := uint64(0); i < 16; i++ {
		sendRaw(t, sc, 1, &wire.Request{ID: i + 1, Start: (i * 25) % 400, End: (i*25)%400 + 25, UpgradeFrom: 0})
	}
	var p *peer
	eventually := time.Now().Add(10 * time.Second)
	for p == nil && time.Now().Before(eventually) {
		a.r.mu.Lock()
		for _, q := range a.r.peers {
			p = q
		}
		a.r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	if p == nil {
		t.Fatal("no session")
	}
	most := 0
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		p.qmu.Lock()
		most = max(most, p.queued)
		p.qmu.Unlock()
	}
	if limit := dataLimit + wire.MaxBodySize; most > limit {
		t.Fatalf("the sender queued %d bytes for a peer that does not read, over %d", most, limit)
	}
	t.Logf("at most %d bytes queued", most)
}
