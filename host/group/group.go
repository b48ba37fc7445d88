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

// DefaultMaxFeeds is the default of Options.MaxFeeds.
const DefaultMaxFeeds = 1024

// Options configure a group.
type Options struct {
	// OnFeed, if set, is called for every feed that joins the group,
	// created here or learnt from a peer (seed 003's "feed" event). It
	// runs on the path that added the feed and must not block for long.
	OnFeed func(*feed.Feed)
	// MaxFeeds bounds the members: once the group has that many, feeds
	// announced by peers are ignored, so that a peer announcing millions
	// of keys can't make this host store and forward millions of feeds.
	// Writer and Add are not bounded. Zero means DefaultMaxFeeds.
	MaxFeeds int
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
	if opts.MaxFeeds <= 0 {
		opts.MaxFeeds = DefaultMaxFeeds
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
		if _, err := g.join(ctx, k, false, false); err != nil {
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
	if _, err := g.join(ctx, f.Key(), true, false); err != nil {
		return nil, err
	}
	return f, nil
}

// Add adds the feed with this key to the group and announces it.
func (g *Group) Add(ctx context.Context, key sdk.FeedKey) error {
	_, err := g.join(ctx, key, true, false)
	return err
}

// join makes key a member and, if record is set, records and announces
// it; see joinAll.
func (g *Group) join(ctx context.Context, key sdk.FeedKey, record, bounded bool) (bool, error) {
	joined, err := g.joinAll(ctx, []sdk.FeedKey{key}, record, bounded)
	return len(joined) > 0, err
}

// joinAll makes the keys that are not members yet members: opens (or
// creates a replica of) each feed and replicates it; if record is set,
// it records them in the member list, with one write, and announces them
// to peers, in one announcement. With bounded set (feeds learnt from a
// peer), a group that has MaxFeeds members takes no more. It returns the
// keys that joined, and the first error of a key that could not. The lock serialises membership changes, the store
// calls included, so a key never joins twice; it is not held while
// calling the replicator or OnFeed.
func (g *Group) joinAll(ctx context.Context, keys []sdk.FeedKey, record, bounded bool) ([]sdk.FeedKey, error) {
	g.mu.Lock()
	var joined []sdk.FeedKey
	var feeds []*feed.Feed
	var firstErr error
	fresh := make(map[sdk.FeedKey]bool)
	for _, k := range keys {
		if g.feeds[k] != nil || fresh[k] {
			continue
		}
		if bounded && len(g.feeds)+len(joined) >= g.opts.MaxFeeds {
			break
		}
		f, err := g.store.Get(ctx, k)
		if err != nil {
			// One key the store refuses does not keep the others out.
			if firstErr == nil {
				firstErr = fmt.Errorf("group %s: feed %s: %w", g.key, k, err)
			}
			continue
		}
		fresh[k] = true
		joined = append(joined, k)
		feeds = append(feeds, f)
	}
	if record && len(joined) > 0 {
		entries := make([][]byte, len(joined))
		for i := range joined {
			entries[i] = joined[i][:]
		}
		if _, err := g.list.Append(ctx, entries...); err != nil {
			g.mu.Unlock()
			return nil, fmt.Errorf("group %s: member list: %w", g.key, err)
		}
	}
	for i, k := range joined {
		g.feeds[k] = feeds[i]
		g.order = append(g.order, k)
	}
	g.mu.Unlock()

	for _, f := range feeds {
		g.r.Add(f, replicate.FeedOptions{Download: true})
	}
	if record {
		g.r.AnnounceFeeds(g.key, joined)
	}
	if g.opts.OnFeed != nil {
		for _, f := range feeds {
			g.opts.OnFeed(f)
		}
	}
	return joined, firstErr
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
// replicate.GroupHandler: the new ones join, up to MaxFeeds members, are
// recorded with one write and announced on to the peers together. It runs
// on the peer's reading path, so it does one write, not one per key.
func (g *Group) AddFeeds(from sdk.PeerKey, keys []sdk.FeedKey) {
	// A local storage failure leaves the keys out: the next announcement
	// retries.
	g.joinAll(context.Background(), keys, true, true)
}
