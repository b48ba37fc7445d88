// Package group keeps a set of feeds under one shared key, the multifeed
// of seed 003: every member's feeds, replicated with every peer that
// knows the group key, including feeds that reach a peer only through
// peers in between.
//
// The list of member feeds is kept in a local feed of its own (never
// replicated), so a group is recomposed from the feed store after a
// restart.
package group

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/sdk"
)

// Options configure a group.
type Options struct {
	// OnFeed, if set, is called for every feed that joins the group,
	// created here or learnt from a peer (seed 003's "feed" event). It
	// runs on the path that added the feed and must not block for long.
	OnFeed func(*feed.Feed)
}

// Group is a set of feeds shared under one key.
type Group struct {
	key   sdk.FeedKey
	store *feedstore.Store
	r     *replicate.Replicator
	opts  Options
	list  *feed.Feed // member keys, one per block; local only

	mu    sync.Mutex
	feeds map[sdk.FeedKey]*feed.Feed
	order []sdk.FeedKey
}

// Open opens the group named by key: its stored member list, every
// member feed, and its replication with r. Member feeds are downloaded in
// full.
func Open(ctx context.Context, store *feedstore.Store, r *replicate.Replicator, key sdk.FeedKey, opts Options) (*Group, error) {
	list, err := store.Namespace("groups").Writer(ctx, key.String())
	if err != nil {
		return nil, fmt.Errorf("open group %s: member list: %w", key, err)
	}
	g := &Group{key: key, store: store, r: r, opts: opts, list: list, feeds: make(map[sdk.FeedKey]*feed.Feed)}
	blocks, err := list.GetRange(ctx, 0, list.Length())
	if err != nil {
		return nil, fmt.Errorf("open group %s: member list: %w", key, err)
	}
	for _, b := range blocks {
		k, err := toKey(b)
		if err != nil {
			return nil, fmt.Errorf("open group %s: member list: %w", key, err)
		}
		if err := g.join(ctx, k, false); err != nil {
			return nil, err
		}
	}
	r.AddGroup(key, g)
	return g, nil
}

func toKey(b []byte) (sdk.FeedKey, error) {
	var k sdk.FeedKey
	if len(b) != len(k) {
		return k, fmt.Errorf("%w: a member entry of %d bytes", sdk.ErrCorrupt, len(b))
	}
	copy(k[:], b)
	return k, nil
}

// Key returns the group key.
func (g *Group) Key() sdk.FeedKey { return g.key }

// Writer returns this host's writable feed called name in the group,
// creating it and announcing it to peers on first use.
func (g *Group) Writer(ctx context.Context, name string) (*feed.Feed, error) {
	f, err := g.store.Namespace("group/"+g.key.String()).Writer(ctx, name)
	if err != nil {
		return nil, err
	}
	if err := g.join(ctx, f.Key(), true); err != nil {
		return nil, err
	}
	return f, nil
}

// Add adds the feed with this key to the group and announces it.
func (g *Group) Add(ctx context.Context, key sdk.FeedKey) error {
	return g.join(ctx, key, true)
}

// join makes key a member: opens (or creates a replica of) the feed,
// replicates it, and if it is new, records and announces it. The lock
// covers only the membership change, never calls out.
func (g *Group) join(ctx context.Context, key sdk.FeedKey, record bool) error {
	g.mu.Lock()
	if g.feeds[key] != nil {
		g.mu.Unlock()
		return nil
	}
	f, err := g.store.Get(ctx, key)
	if err == nil && record {
		_, err = g.list.Append(ctx, key[:])
	}
	if err != nil {
		g.mu.Unlock()
		return fmt.Errorf("group %s: feed %s: %w", g.key, key, err)
	}
	g.feeds[key] = f
	g.order = append(g.order, key)
	g.mu.Unlock()

	g.r.Add(f, replicate.FeedOptions{Download: true})
	if record {
		g.r.AnnounceFeeds(g.key, []sdk.FeedKey{key})
	}
	if g.opts.OnFeed != nil {
		g.opts.OnFeed(f)
	}
	return nil
}

// Feeds lists the member feed keys, in the order they joined. It
// implements replicate.GroupHandler.
func (g *Group) Feeds() []sdk.FeedKey {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.order)
}

// Feed returns the member feed with this key, or nil.
func (g *Group) Feed(key sdk.FeedKey) *feed.Feed {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.feeds[key]
}

// AddFeeds takes the feeds a peer announced, implementing
// replicate.GroupHandler: each new one joins, is recorded and is
// announced on to the other peers.
func (g *Group) AddFeeds(from sdk.PeerKey, keys []sdk.FeedKey) {
	for _, k := range keys {
		if err := g.join(context.Background(), k, true); err != nil {
			// A local storage failure: the next announcement retries.
			continue
		}
	}
}
