// Package replicate exchanges feeds with peers over the protocol of
// PROTOCOL.md: one secure connection per remote host, a channel per shared
// feed, pull-only requests answered with proofs that are verified before
// anything is stored.
//
// A Replicator serves a set of feeds. Each feed is replicated either in
// full (every block any peer has is downloaded, and new blocks as they
// are appended) or sparsely (blocks are fetched on demand with Fetch).
// Writers announce new heads as soon as they append, so readers see new
// data promptly.
//
// What a host holds (heads, blocks, a group's feed keys) is told to a
// peer only once it has proven, with its OPEN's capability, that it knows
// the key. Received proofs are verified and stored off the connection's
// reading path, several answers per storage write, so that receiving,
// hashing and syncing overlap; every bound on what a peer can make a
// session hold (queued bytes, announced ranges, rejected channels,
// requests waiting for an answer) is a constant of this package.
package replicate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/host/wire"
	"github.com/codrive/codrive/sdk"
)

// ProtocolVersion is the version of PROTOCOL.md this package speaks.
const ProtocolVersion = 1

// Defaults for Config.
const (
	DefaultRequestTimeout = 10 * time.Second
	// maxInflight bounds a channel's outstanding requests (PROTOCOL.md 6).
	maxInflight = 16
	// requestBlocks bounds the blocks of one request (see requestBytes).
	requestBlocks = 256
)

// ErrNotAvailable: no connected peer has the blocks asked for. It matches
// feed.ErrNotAvailable.
var ErrNotAvailable = feed.ErrNotAvailable

// ErrClosed: the replicator or the connection is closed.
var ErrClosed = sdk.ErrClosed

// Config configures a Replicator.
type Config struct {
	// Identity is this host's Noise key pair.
	Identity secure.Identity
	// Client names this implementation in handshakes.
	Client string
	// RequestTimeout bounds one request to a peer; zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
	// Logger receives connection and protocol events; nil means
	// slog.Default().
	Logger *slog.Logger
	// OnListen and OnUnlisten, if set, are called when a discovery key
	// starts or stops being replicated, for discovery layers.
	OnListen, OnUnlisten func(sdk.DiscoveryKey)
	// DisableCompression stops this host from offering zstd, so DATA is
	// never compressed on its connections (for peers or links where the
	// CPU costs more than the bytes).
	DisableCompression bool
	// OnFork, if set, is called once when a feed turns out to be forked
	// by its writer, with the evidence any peer can check. The feed
	// accepts nothing more from any peer afterwards.
	OnFork func(key sdk.FeedKey, evidence *feed.ForkEvidence)
}

// FeedOptions say how a feed is replicated.
type FeedOptions struct {
	// Download fetches every block peers have, and new blocks as they
	// appear. Without it blocks are fetched only by Fetch.
	Download bool
}

// Replicator serves feeds to peers and fetches them from peers.
type Replicator struct {
	cfg Config

	mu         sync.Mutex
	feeds      map[sdk.DiscoveryKey]*served // feeds and groups
	peers      map[sdk.PeerKey]*peer
	extensions map[sdk.DiscoveryKey]map[string]ExtensionHandler
	closed     bool
}

// served is a feed or a group being replicated.
type served struct {
	key  sdk.FeedKey // the feed key, or the group key
	dkey sdk.DiscoveryKey
	kind wire.Kind

	f    *feed.Feed // a feed
	opts FeedOptions

	group GroupHandler // a group

	stop         chan struct{}
	forkReported bool // guarded by Replicator.mu
}

// New returns a replicator serving no feeds yet.
func New(cfg Config) *Replicator {
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Client == "" {
		cfg.Client = "codrive"
	}
	return &Replicator{cfg: cfg, feeds: make(map[sdk.DiscoveryKey]*served), peers: make(map[sdk.PeerKey]*peer),
		extensions: make(map[sdk.DiscoveryKey]map[string]ExtensionHandler)}
}

// Add starts replicating f with every connected peer and every peer that
// connects later.
func (r *Replicator) Add(f *feed.Feed, opts FeedOptions) {
	s := &served{key: f.Key(), dkey: f.DiscoveryKey(), kind: wire.KindFeed, f: f, opts: opts, stop: make(chan struct{})}
	if r.serve(s) {
		go r.watch(s)
	}
}

// serve starts replicating s with every peer; it reports false if s was
// served already.
func (r *Replicator) serve(s *served) bool {
	r.mu.Lock()
	if r.closed || r.feeds[s.dkey] != nil {
		r.mu.Unlock()
		return false
	}
	r.feeds[s.dkey] = s
	peers := r.peerList()
	r.mu.Unlock()
	for _, p := range peers {
		p.open(s)
	}
	if r.cfg.OnListen != nil {
		r.cfg.OnListen(s.dkey)
	}
	return true
}

// Remove stops replicating the feed or group with this key.
func (r *Replicator) Remove(key sdk.FeedKey) {
	dk := feed.DiscoveryKey(key)
	r.mu.Lock()
	s := r.feeds[dk]
	delete(r.feeds, dk)
	peers := r.peerList()
	r.mu.Unlock()
	if s == nil {
		return
	}
	close(s.stop)
	for _, p := range peers {
		p.closeChannel(dk)
	}
	if r.cfg.OnUnlisten != nil {
		r.cfg.OnUnlisten(dk)
	}
}

func (r *Replicator) served(dk sdk.DiscoveryKey) *served {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.feeds[dk]
}

// peerList returns the connected peers; r.mu is held.
func (r *Replicator) peerList() []*peer {
	out := make([]*peer, 0, len(r.peers))
	for _, p := range r.peers {
		out = append(out, p)
	}
	return out
}

// PublicKey returns this host's peer key.
func (r *Replicator) PublicKey() sdk.PeerKey { return r.cfg.Identity.PublicKey() }

// Peers returns the keys of the connected peers.
func (r *Replicator) Peers() []sdk.PeerKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]sdk.PeerKey, 0, len(r.peers))
	for k := range r.peers {
		out = append(out, k)
	}
	return out
}

// watch announces the feed's changes to every peer until it is removed.
// It takes the next change channel before reading the state it
// announces, so a change that lands while it announces is never missed.
func (r *Replicator) watch(s *served) {
	changed := s.f.Changed()
	for {
		select {
		case <-s.stop:
			return
		case <-changed:
		}
		changed = s.f.Changed()
		r.mu.Lock()
		peers := r.peerList()
		r.mu.Unlock()
		for _, p := range peers {
			p.announceServed(s)
		}
	}
}

// Handle runs the protocol over c until the connection ends: the Noise
// handshake (as initiator if this host dialed), then the session. At most
// one connection per remote host is kept: when two exist, both hosts keep
// the one dialed by the host with the smaller key and close the other.
func (r *Replicator) Handle(ctx context.Context, c sdk.Conn, initiator bool) error {
	hello := secure.Hello{MinVersion: ProtocolVersion, MaxVersion: ProtocolVersion, Client: r.cfg.Client}
	if !r.cfg.DisableCompression {
		hello.Features = []string{"zstd"}
	}
	var sc *secure.Conn
	var err error
	if initiator {
		sc, err = secure.Client(ctx, c, r.cfg.Identity, hello)
	} else {
		sc, err = secure.Server(ctx, c, r.cfg.Identity, hello)
	}
	if err != nil {
		c.Close()
		return err
	}
	p := newPeer(r, sc)
	if err := r.register(p); err != nil {
		sc.Close()
		return err
	}
	err = p.run()
	r.unregister(p)
	return err
}

// ErrDuplicate: a second connection to a peer was closed in favour of the
// one both sides keep. Errors of Handle that match it are *DuplicateError.
var ErrDuplicate = errors.New("duplicate connection to peer")

// DuplicateError says which peer a dropped duplicate connection was to.
type DuplicateError struct {
	Peer sdk.PeerKey
}

func (e *DuplicateError) Error() string { return fmt.Sprintf("%v %s", ErrDuplicate, e.Peer) }

// Is makes errors.Is(err, ErrDuplicate) true.
func (e *DuplicateError) Is(target error) bool { return target == ErrDuplicate }

// register makes p the connection to its peer, resolving duplicates the
// same way on both sides.
func (r *Replicator) register(p *peer) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	old := r.peers[p.key]
	if old != nil && !p.preferredOver(old) {
		r.mu.Unlock()
		return &DuplicateError{Peer: p.key}
	}
	r.peers[p.key] = p
	feeds := make([]*served, 0, len(r.feeds))
	for _, s := range r.feeds {
		feeds = append(feeds, s)
	}
	r.mu.Unlock()
	if old != nil {
		old.fail(&DuplicateError{Peer: p.key})
	}
	for _, s := range feeds {
		p.open(s)
	}
	return nil
}

func (r *Replicator) unregister(p *peer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.peers[p.key] == p {
		delete(r.peers, p.key)
	}
}

// Fetch downloads blocks [start, end) of a replicated feed from connected
// peers, waiting for the proofs to arrive and verify. Each run of missing
// blocks is asked of a peer that announced its first block, for as much
// of the run as that peer announced, so blocks spread over several peers
// are fetched from each. It fails at once with ErrNotAvailable, fetching
// nothing, if some missing block is announced by no connected peer; on a
// forked feed it fails with the *feed.ForkError.
func (r *Replicator) Fetch(ctx context.Context, key sdk.FeedKey, start, end uint64) error {
	s := r.served(feed.DiscoveryKey(key))
	if s == nil || s.f == nil {
		return fmt.Errorf("fetch %s: the feed is not replicated", key)
	}
	if err := r.announcedSoon(ctx, s, start, end); err != nil {
		return err
	}
	for start < end {
		if ev := s.f.Evidence(); ev != nil {
			return &feed.ForkError{Key: key, Evidence: ev}
		}
		held := rangeSet{r: s.f.Present()}
		if h, ok := held.containing(start); ok {
			start = h.End
			continue
		}
		e := min(end, held.startAfter(start))
		if e-start > requestSize(s.f) {
			e = start + requestSize(s.f)
		}
		if err := r.fetchRange(ctx, s, start, e); err != nil {
			return err
		}
		// An answer may cover only a prefix; the loop asks for the rest.
		if !s.f.Has(start, start+1) {
			return fmt.Errorf("fetch %s block %d: %w: the answer did not bring it", key, start, ErrNotAvailable)
		}
	}
	return nil
}

// settleWait bounds how long Fetch waits for connected peers to say what
// they hold of a feed just added (one round trip, normally) before
// deciding that none has a block.
const settleWait = 2 * time.Second

// announcedSoon is announced, after waiting, briefly, for peers whose
// channel for s is still opening or whose announcements have not reached
// start yet: a block is not "not available" merely because it is new. A
// peer that announced a head past start and lacks the block, or no peer
// at all, fails at once.
func (r *Replicator) announcedSoon(ctx context.Context, s *served, start, end uint64) error {
	deadline := time.Now().Add(min(settleWait, r.cfg.RequestTimeout))
	for {
		err := r.announced(s, start, end)
		if err == nil || !r.settling(s, start) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// settling reports whether some connected peer has yet to say what it
// holds of s as far as block.
func (r *Replicator) settling(s *served, block uint64) bool {
	r.mu.Lock()
	peers := r.peerList()
	r.mu.Unlock()
	for _, p := range peers {
		if p.unsettled(s.dkey, block) {
			return true
		}
	}
	return false
}

// announced checks that every block of [start, end) that s does not hold
// was announced by some connected peer.
func (r *Replicator) announced(s *served, start, end uint64) error {
	r.mu.Lock()
	peers := r.peerList()
	r.mu.Unlock()
	held := rangeSet{r: s.f.Present()}
	for i := start; i < end; {
		if h, ok := held.containing(i); ok {
			i = h.End
			continue
		}
		// The longest run from i that one peer announced.
		next := i
		for _, p := range peers {
			if ch, e := p.available(s.dkey, i, end); ch != nil {
				next = max(next, e)
			}
		}
		if next == i {
			return fmt.Errorf("fetch %s block %d: %w: none of the %d connected peers has it", s.f.Key(), i, ErrNotAvailable, len(peers))
		}
		i = next
	}
	return nil
}

// fetchRange asks the peers that announced block start, one after the
// other, for as much of [start, end) as each announced, until one
// delivers.
func (r *Replicator) fetchRange(ctx context.Context, s *served, start, end uint64) error {
	r.mu.Lock()
	peers := r.peerList()
	r.mu.Unlock()
	var lastErr error
	tried := 0
	for _, p := range peers {
		ch, e := p.available(s.dkey, start, end)
		if ch == nil {
			continue
		}
		tried++
		err := p.request(ctx, ch, start, e)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		lastErr = err
	}
	if tried == 0 {
		return fmt.Errorf("fetch %s block %d: %w: none of the %d connected peers has it", s.f.Key(), start, ErrNotAvailable, len(peers))
	}
	return fmt.Errorf("fetch %s block %d: %w: %d peers tried, last: %v", s.f.Key(), start, ErrNotAvailable, tried, lastErr)
}

// Close ends every connection and stops replicating.
func (r *Replicator) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	peers := r.peerList()
	for _, s := range r.feeds {
		close(s.stop)
	}
	r.feeds = nil
	r.mu.Unlock()
	for _, p := range peers {
		p.fail(ErrClosed)
	}
	return nil
}
