package group

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
	"github.com/codrive/codrive/transports/tcp"
)

var ctx = context.Background()

var groupKey = sdk.FeedKey{7, 7, 7}

// node is one host in a test: a store, a replicator listening on
// loopback, and the group opened on them.
type node struct {
	store *feedstore.Store
	r     *replicate.Replicator
	g     *Group
	addr  ma.Multiaddr

	mu    sync.Mutex
	added []sdk.FeedKey
}

func newNode(t *testing.T, st sdk.Storage, seed byte) *node {
	t.Helper()
	store, err := feedstore.New(st, bytes.Repeat([]byte{seed}, feedstore.SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := secure.NewIdentity()
	n := &node{store: store, r: replicate.New(replicate.Config{Identity: id, RequestTimeout: 5 * time.Second})}
	n.g, err = Open(ctx, store, n.r, groupKey, Options{OnFeed: func(f *feed.Feed) {
		n.mu.Lock()
		n.added = append(n.added, f.Key())
		n.mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	tr := tcp.New()
	ln, err := tr.Listen(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	n.addr = ln.Addr()
	go func() {
		for {
			c, err := ln.Accept(ctx)
			if err != nil {
				return
			}
			go n.r.Handle(ctx, c, false)
		}
	}()
	t.Cleanup(func() {
		n.r.Close()
		tr.Close()
	})
	return n
}

func (n *node) dial(t *testing.T, to *node) {
	t.Helper()
	tr := tcp.New()
	t.Cleanup(func() { tr.Close() })
	c, err := tr.Dial(ctx, to.addr)
	if err != nil {
		t.Fatal(err)
	}
	go n.r.Handle(ctx, c, true)
}

// eventually waits, bounded, for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestFeedsTravelThroughPeers: A's feed reaches C, which is connected
// only to B, with its data; C's reaches A the same way.
func TestFeedsTravelThroughPeers(t *testing.T) {
	a, b, c := newNode(t, memory.New(), 1), newNode(t, memory.New(), 2), newNode(t, memory.New(), 3)
	b.dial(t, a)
	c.dial(t, b)
	wa, err := a.g.Writer(ctx, "notes")
	if err != nil {
		t.Fatal(err)
	}
	wa.Append(ctx, []byte("from a"))
	wc, _ := c.g.Writer(ctx, "notes")
	wc.Append(ctx, []byte("from c"))

	for _, tt := range []struct {
		at   *node
		key  sdk.FeedKey
		want string
	}{{c, wa.Key(), "from a"}, {a, wc.Key(), "from c"}, {b, wa.Key(), "from a"}} {
		eventually(t, "a feed to travel", func() bool {
			f := tt.at.g.Feed(tt.key)
			return f != nil && f.Has(0, 1) && f.Length() == 1
		})
		got, err := tt.at.g.Feed(tt.key).Get(ctx, 0)
		if err != nil || string(got) != tt.want {
			t.Fatalf("block: %q, %v", got, err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.added) != 2 {
		t.Errorf("C saw %d feed events, want 2 (its own and A's)", len(c.added))
	}
}

// TestRecomposedAfterRestart: the member list is kept in the store, so a
// reopened group has every feed without any peer.
func TestRecomposedAfterRestart(t *testing.T) {
	st := memory.New()
	a := newNode(t, st, 4)
	w, _ := a.g.Writer(ctx, "x")
	other := sdk.FeedKey{9}
	if err := a.g.Add(ctx, other); err != nil {
		t.Fatal(err)
	}
	id, _ := secure.NewIdentity()
	r := replicate.New(replicate.Config{Identity: id})
	defer r.Close()
	g, err := Open(ctx, a.store, r, groupKey, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Feeds(); len(got) != 2 || got[0] != w.Key() || got[1] != other {
		t.Fatalf("reopened group holds %v", got)
	}
}

func TestExtensions(t *testing.T) {
	a, b := newNode(t, memory.New(), 5), newNode(t, memory.New(), 6)
	got := make(chan string, 2)
	b.r.HandleExtension(groupKey, "chat", func(from sdk.PeerKey, msg []byte) {
		got <- string(msg)
	})
	if err := a.r.SendExtension(groupKey, "chat", nil, []byte("hi")); err == nil {
		t.Fatal("an extension was sent with no peer connected")
	}
	b.dial(t, a)
	eventually(t, "the group channel", func() bool {
		return a.r.SendExtension(groupKey, "chat", nil, []byte("hello")) == nil
	})
	select {
	case m := <-got:
		if m != "hello" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the extension message did not arrive")
	}
	peers := a.r.Peers()
	if err := a.r.SendExtension(groupKey, "chat", &peers[0], []byte("direct")); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "direct" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the direct extension message did not arrive")
	}
}
