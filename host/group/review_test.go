package group

import (
	"testing"
	"time"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/host/wire"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
	"github.com/codrive/codrive/transports/tcp"
)

// Finding: every feed key a peer announced joined the group, each with a
// replica in the store, a write to the member list and a FEEDS message of
// its own to every peer, so one peer announcing millions of keys made the
// host store and forward millions of feeds.
func TestPeerAnnouncingManyFeeds(t *testing.T) {
	n := newNode(t, memory.New(), 7)
	const announced = 3000
	keys := make([]sdk.FeedKey, announced)
	for i := range keys {
		keys[i] = sdk.FeedKey{0xfe, byte(i), byte(i >> 8)}
	}

	id, _ := secure.NewIdentity()
	tr := tcp.New()
	t.Cleanup(func() { tr.Close() })
	c, err := tr.Dial(ctx, n.addr)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := secure.Client(ctx, c, id, secure.Hello{MinVersion: 1, MaxVersion: 1, Client: "evil"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sc.Close() })
	send := func(ch uint64, m wire.Message) {
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
	send(0, &wire.Open{ID: 1, Kind: wire.KindGroup, DiscoveryKey: feed.DiscoveryKey(groupKey),
		Capability: wire.Capability(groupKey, sc.HandshakeHash(), true)})
	send(1, &wire.Feeds{Keys: keys})
	// The host handles a connection's messages in order: once it answers
	// this, it has handled the FEEDS.
	sentinel := sdk.DiscoveryKey{0xee}
	send(0, &wire.Open{ID: 2, Kind: wire.KindFeed, DiscoveryKey: sentinel})

	timer := time.AfterFunc(20*time.Second, func() { sc.Close() })
	defer timer.Stop()
	feedsMessages := 0
	for {
		body, err := sc.ReadMessage()
		if err != nil {
			t.Fatalf("connection ended before the sentinel's answer: %v", err)
		}
		_, m, err := wire.Decode(body, false)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := m.(*wire.Feeds); ok {
			feedsMessages++
		}
		if r, ok := m.(*wire.Reject); ok && r.DiscoveryKey == sentinel {
			break
		}
	}
	if got := len(n.g.Feeds()); got > DefaultMaxFeeds {
		t.Errorf("the group took %d feeds from one peer, want at most %d", got, DefaultMaxFeeds)
	}
	if feedsMessages > 2 {
		t.Errorf("the feeds learnt were announced in %d FEEDS messages, want them together", feedsMessages)
	}
}
