package replicate

import (
	"fmt"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/wire"
	"github.com/codrive/codrive/sdk"
)

// GroupHandler is the local side of a group (seed 003's multifeed): a set
// of feeds shared under one group key. The replicator tells peers which
// feeds the group holds and hands over the keys peers announce; the
// handler decides what to do with them (open replicas, add them to the
// Replicator, remember the list) and announces what it adds with
// AnnounceFeeds, which is how feeds travel through peers in between.
type GroupHandler interface {
	// Feeds lists the feed keys the group holds here.
	Feeds() []sdk.FeedKey
	// AddFeeds is called with keys a peer holds in the group. It must not
	// block for long: it runs on the peer's read path.
	AddFeeds(from sdk.PeerKey, keys []sdk.FeedKey)
}

// AddGroup starts replicating the group named by key with every peer.
func (r *Replicator) AddGroup(key sdk.FeedKey, h GroupHandler) {
	r.serve(&served{key: key, dkey: feed.DiscoveryKey(key), kind: wire.KindGroup, group: h, stop: make(chan struct{})})
}

// AnnounceFeeds tells every peer sharing the group about feeds it holds
// that it had not announced yet.
func (r *Replicator) AnnounceFeeds(group sdk.FeedKey, keys []sdk.FeedKey) {
	if len(keys) == 0 {
		return
	}
	dk := feed.DiscoveryKey(group)
	r.mu.Lock()
	s := r.feeds[dk]
	peers := r.peerList()
	r.mu.Unlock()
	if s == nil || s.group == nil {
		return
	}
	for _, p := range peers {
		// Only to peers that proved they know the group key: feed keys
		// are read capabilities.
		if ch := p.openChannel(dk); ch != nil {
			p.sendFeeds(ch, keys)
		}
	}
}

// ExtensionHandler receives an extension message and the key of the peer
// that sent it.
type ExtensionHandler func(from sdk.PeerKey, message []byte)

// HandleExtension registers h for the extension called name on the feed
// or group with this key. A later registration replaces an earlier one;
// messages with no handler are ignored.
func (r *Replicator) HandleExtension(key sdk.FeedKey, name string, h ExtensionHandler) {
	dk := feed.DiscoveryKey(key)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.extensions[dk] == nil {
		r.extensions[dk] = make(map[string]ExtensionHandler)
	}
	r.extensions[dk][name] = h
}

func (r *Replicator) deliverExtension(dk sdk.DiscoveryKey, name string, from sdk.PeerKey, msg []byte) {
	r.mu.Lock()
	h := r.extensions[dk][name]
	r.mu.Unlock()
	if h != nil {
		h(from, msg)
	}
}

// SendExtension sends an extension message on the feed or group with
// this key to one peer, or to every peer sharing it if to is nil. It
// fails with an error wrapping sdk.ErrInvalid for a message the protocol
// refuses (a name of 0 or more than 256 bytes, a message over the 16 MiB
// limit), and with ErrNotAvailable if no such peer shares it. A peer whose
// connection has 16 MiB waiting to be sent is skipped: it is not reading
// fast enough; if it was the only one, that is the error.
func (r *Replicator) SendExtension(key sdk.FeedKey, name string, to *sdk.PeerKey, message []byte) error {
	if _, err := wire.Append(nil, 1, &wire.Extension{Name: name, Message: message}, false); err != nil {
		return fmt.Errorf("extension %q on %s: %w: %v", truncate(name, 64), key, sdk.ErrInvalid, err)
	}
	dk := feed.DiscoveryKey(key)
	r.mu.Lock()
	peers := r.peerList()
	r.mu.Unlock()
	sent := 0
	var lastErr error
	for _, p := range peers {
		if to != nil && p.key != *to {
			continue
		}
		ch := p.openChannel(dk)
		if ch == nil {
			continue
		}
		if err := p.sendSoft(ch, &wire.Extension{Name: name, Message: message}); err != nil {
			lastErr = err
			continue
		}
		sent++
	}
	switch {
	case sent > 0:
		return nil
	case lastErr != nil:
		return fmt.Errorf("extension %q on %s: %w", name, key, lastErr)
	}
	return fmt.Errorf("extension %q on %s: %w: no connected peer shares it", name, key, ErrNotAvailable)
}

// reportFork tells the application, once per feed, that its writer forked
// it.
func (r *Replicator) reportFork(s *served, fork *feed.ForkError) {
	r.mu.Lock()
	first := !s.forkReported
	s.forkReported = true
	r.mu.Unlock()
	if !first {
		return
	}
	r.cfg.Logger.Error("feed forked by its writer; it no longer replicates", "feed", s.key, "error", fork)
	if r.cfg.OnFork != nil {
		r.cfg.OnFork(s.key, fork.Evidence)
	}
}
