// Package node is a codrive peer as one data directory holds it: the
// feed storage, the master seed, the co-drives the directory has created
// or cloned, the peers it remembers, and, when asked for, the networking
// that replicates all of them.
//
// A data directory holds:
//
//	seed       the master seed: writer keys and the network identity derive from it
//	feeds/     the storage (the disk storage by default)
//	codrives   the co-drives of the directory, one key a line
//	peers      the peers to keep connected to, one multiaddr a line
//
// The two lists are replaced atomically (a temporary file renamed over
// the old one), so a crash leaves either the old list or the new one.
//
// A Node without networking reads and writes the store alone, opening a
// co-drive when first asked for it; its writes reach peers when a node
// with networking (a daemon, a sync) runs later. A Node with networking
// opens every co-drive of the directory at once and replicates them with
// the peers it is given and the peers it remembers.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/host/codrive"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/plugins"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/host/swarm"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// Names of what a data directory holds.
const (
	SeedFile     = "seed"
	FeedsDir     = "feeds"
	CoDrivesFile = "codrives"
	PeersFile    = "peers"
)

// Defaults for Config.
const (
	DefaultStorage   = "disk"
	DefaultResolver  = "vclock"
	DefaultAuth      = "deny"
	DefaultTransport = "tcp"
)

// ErrUnknown: the data directory has no co-drive with that key. It
// matches sdk.ErrNotFound.
var ErrUnknown error = unknownError{}

type unknownError struct{}

func (unknownError) Error() string        { return "unknown co-drive" }
func (unknownError) Is(target error) bool { return target == sdk.ErrNotFound }

var (
	// ErrOffline: the node was opened without networking.
	ErrOffline = errors.New("this node has no networking")
	// ErrAddress: no transport can listen on or dial an address. It
	// wraps the transport's error, which matches sdk.ErrInvalid.
	ErrAddress = errors.New("unusable address")
	// ErrClosed: the node is closed. It matches sdk.ErrClosed.
	ErrClosed = fmt.Errorf("node %w", sdk.ErrClosed)
)

// Config configures a Node. Only Dir is required.
type Config struct {
	// Dir is the data directory; it is created (0700) if missing.
	Dir string
	// Storage names the feed storage plugin (default "disk") and
	// StorageConfig configures it; "dir" defaults to Dir/feeds.
	Storage       string
	StorageConfig plugin.Config
	// Resolver names the conflict resolver (default "vclock").
	Resolver string
	// Auth names the auth policy that decides other peers' requests to
	// become writers (default "deny"), configured by AuthConfig.
	Auth       string
	AuthConfig plugin.Config
	// AuthTimeout bounds this peer's own authorization requests; zero
	// means codrive.DefaultAuthTimeout.
	AuthTimeout time.Duration

	// Network turns replication on: the transports are started, Listen
	// is listened on, and Peers and the remembered peers are kept
	// connected.
	Network bool
	// Transports name the transports (default "tcp").
	Transports []string
	// Listen are the addresses to listen on; none means dialing out
	// only (replication runs both ways over a dialed connection).
	Listen []ma.Multiaddr
	// Peers are kept connected for as long as the node runs, without
	// being remembered.
	Peers []ma.Multiaddr

	// Loader resolves plugin names. Nil means a loader of the builtins
	// alone, closed with the node; a loader given is left open.
	Loader *plugins.Loader
	// Logger receives the node's events; nil discards them.
	Logger *slog.Logger
}

// Node is a data directory opened: its store, its co-drives and, if
// configured, its networking. It is safe for concurrent use.
type Node struct {
	cfg       Config
	log       *slog.Logger
	loader    *plugins.Loader
	ownLoader bool
	store     *feedstore.Store
	resolver  sdk.Resolver
	auth      sdk.AuthPolicy

	// Networking; all nil without.
	id         secure.Identity
	transports []sdk.Transport
	r          *replicate.Replicator
	swarm      *swarm.Swarm

	// openMu serialises opening, adding and forgetting co-drives and the
	// writes of the lists, so that two of them never race on a file or
	// open one co-drive twice. mu guards the fields below and is held
	// only briefly.
	openMu  sync.Mutex
	mu      sync.Mutex
	keys    []sdk.FeedKey
	open    map[sdk.FeedKey]*entry
	peers   []ma.Multiaddr
	dialing []ma.Multiaddr
	closed  bool
}

// entry is an open co-drive.
type entry struct {
	c *codrive.CoDrive
	// before holds the feeds the store had when Add opened the co-drive
	// in this process, so that Forget can purge what the Add created;
	// nil for a co-drive opened otherwise.
	before map[sdk.FeedKey]bool
}

// Open opens the data directory cfg.Dir.
func Open(ctx context.Context, cfg Config) (_ *Node, err error) {
	if cfg.Dir == "" {
		return nil, fmt.Errorf("node: no data directory given: %w", sdk.ErrInvalid)
	}
	if cfg.Storage == "" {
		cfg.Storage = DefaultStorage
	}
	if cfg.Resolver == "" {
		cfg.Resolver = DefaultResolver
	}
	if cfg.Auth == "" {
		cfg.Auth = DefaultAuth
	}
	if len(cfg.Transports) == 0 {
		cfg.Transports = []string{DefaultTransport}
	}
	n := &Node{cfg: cfg, log: cfg.Logger, loader: cfg.Loader, open: map[sdk.FeedKey]*entry{}}
	if n.log == nil {
		n.log = slog.New(slog.DiscardHandler)
	}
	if n.loader == nil {
		n.loader = plugins.New(plugins.Config{Builtins: builtin.Plugins()})
		n.ownLoader = true
	}
	defer func() {
		if err != nil {
			n.Close()
		}
	}()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, err
	}
	if n.keys, err = loadKeys(filepath.Join(cfg.Dir, CoDrivesFile)); err != nil {
		return nil, err
	}
	if n.peers, err = loadPeers(filepath.Join(cfg.Dir, PeersFile)); err != nil {
		return nil, err
	}
	seed, err := feedstore.LoadOrCreateSeed(filepath.Join(cfg.Dir, SeedFile))
	if err != nil {
		return nil, err
	}
	stCfg := plugin.Config{"dir": filepath.Join(cfg.Dir, FeedsDir)}
	for k, v := range cfg.StorageConfig {
		stCfg[k] = v
	}
	st, err := n.loader.Storage(ctx, cfg.Storage, stCfg)
	if err != nil {
		return nil, err
	}
	if n.store, err = feedstore.New(st, seed); err != nil {
		st.Close()
		return nil, err
	}
	if n.resolver, err = n.loader.Resolver(ctx, cfg.Resolver, nil); err != nil {
		return nil, err
	}
	if n.auth, err = n.loader.AuthPolicy(ctx, cfg.Auth, cfg.AuthConfig); err != nil {
		return nil, err
	}
	if !cfg.Network {
		return n, nil
	}
	// The identity derives from the seed, as feed serve's does, so that
	// a directory is the same peer after every restart.
	if n.id, err = secure.IdentityFromSeed(seed); err != nil {
		return nil, err
	}
	for _, name := range cfg.Transports {
		tr, err := n.loader.Transport(ctx, name, plugin.Config{})
		if err != nil {
			return nil, err
		}
		n.transports = append(n.transports, tr)
	}
	n.r = replicate.New(replicate.Config{Identity: n.id, Client: "codrive/" + builtin.Version, Logger: n.log})
	n.swarm = swarm.New(n.r, swarm.Config{Transports: n.transports, Logger: n.log})
	// Every co-drive is served before the first connection, so that
	// peers find all of them at once.
	for _, k := range n.Keys() {
		if _, err := n.Get(ctx, k); err != nil {
			// One damaged co-drive does not keep the others from
			// being replicated; Get tries it again when asked.
			n.log.Warn("node: not replicating a co-drive that failed to open", "codrive", k, "err", err)
		}
	}
	for _, a := range cfg.Listen {
		if _, err := n.swarm.Listen(ctx, a); err != nil {
			return nil, addressError("listen on", a, err)
		}
	}
	if err := n.Connect(append(n.Peers(), cfg.Peers...)...); err != nil {
		return nil, err
	}
	return n, nil
}

func addressError(op string, a ma.Multiaddr, err error) error {
	if errors.Is(err, sdk.ErrInvalid) {
		return fmt.Errorf("%w: %s %s: %w", ErrAddress, op, a, err)
	}
	return fmt.Errorf("%s %s: %w", op, a, err)
}

// Dir returns the data directory.
func (n *Node) Dir() string { return n.cfg.Dir }

// Store returns the feed store.
func (n *Node) Store() *feedstore.Store { return n.store }

// Networked reports whether the node replicates.
func (n *Node) Networked() bool { return n.r != nil }

// PeerKey returns the node's network identity, the zero key without
// networking.
func (n *Node) PeerKey() sdk.PeerKey {
	if n.r == nil {
		return sdk.PeerKey{}
	}
	return n.r.PublicKey()
}

// Addrs returns the addresses the node listens on.
func (n *Node) Addrs() []ma.Multiaddr {
	if n.swarm == nil {
		return nil
	}
	return n.swarm.Addrs()
}

// Connected returns the peers connected now.
func (n *Node) Connected() []sdk.PeerKey {
	if n.r == nil {
		return nil
	}
	return n.r.Peers()
}

// AuthTimeout returns how long this peer's authorization requests wait
// for a grant.
func (n *Node) AuthTimeout() time.Duration {
	if n.cfg.AuthTimeout > 0 {
		return n.cfg.AuthTimeout
	}
	return codrive.DefaultAuthTimeout
}

// Keys returns the co-drives of the data directory, in the order they
// were added.
func (n *Node) Keys() []sdk.FeedKey {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.keys)
}

// Has reports whether the data directory has the co-drive key.
func (n *Node) Has(key sdk.FeedKey) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Contains(n.keys, key)
}

// Peers returns the remembered peers.
func (n *Node) Peers() []ma.Multiaddr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.peers)
}

func (n *Node) codriveConfig() codrive.Config {
	return codrive.Config{
		Store: n.store, Replicator: n.r, Resolver: n.resolver, Auth: n.auth,
		AuthTimeout: n.cfg.AuthTimeout, Logger: n.log,
	}
}

func (n *Node) check() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return ErrClosed
	}
	return nil
}

// Create makes a new co-drive, of which this peer is the first writer,
// and adds it to the data directory.
func (n *Node) Create(ctx context.Context) (*codrive.CoDrive, error) {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	if err := n.check(); err != nil {
		return nil, err
	}
	c, err := codrive.Create(ctx, n.codriveConfig())
	if err != nil {
		return nil, err
	}
	if err := n.addKey(c.Key()); err != nil {
		c.Close()
		return nil, err
	}
	n.mu.Lock()
	n.open[c.Key()] = &entry{c: c}
	n.mu.Unlock()
	return c, nil
}

// Add adds the co-drive key to the data directory and opens it (a
// clone): it fills from peers as they connect. If the directory has it
// already, Add opens it and reports added false.
func (n *Node) Add(ctx context.Context, key sdk.FeedKey) (c *codrive.CoDrive, added bool, err error) {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	if err := n.check(); err != nil {
		return nil, false, err
	}
	if n.Has(key) {
		c, err := n.getLocked(ctx, key)
		return c, false, err
	}
	list, err := n.store.List(ctx)
	if err != nil {
		return nil, false, err
	}
	before := make(map[sdk.FeedKey]bool, len(list))
	for _, k := range list {
		before[k] = true
	}
	c, err = codrive.Open(ctx, n.codriveConfig(), key)
	if err != nil {
		n.purgeNew(ctx, createdBy(n.store, key, nil), before)
		return nil, false, err
	}
	e := &entry{c: c, before: before}
	if err := n.addKey(key); err != nil {
		keys := createdBy(n.store, key, c)
		c.Close()
		n.purgeNew(ctx, keys, before)
		return nil, false, err
	}
	n.mu.Lock()
	n.open[key] = e
	n.mu.Unlock()
	return c, true, nil
}

// Get returns the co-drive key of the data directory, opening it if it
// is not open yet. A key the directory does not have is an error
// wrapping ErrUnknown.
func (n *Node) Get(ctx context.Context, key sdk.FeedKey) (*codrive.CoDrive, error) {
	n.mu.Lock()
	e := n.open[key]
	n.mu.Unlock()
	if e != nil {
		return e.c, nil
	}
	n.openMu.Lock()
	defer n.openMu.Unlock()
	return n.getLocked(ctx, key)
}

// getLocked is Get with openMu held.
func (n *Node) getLocked(ctx context.Context, key sdk.FeedKey) (*codrive.CoDrive, error) {
	if err := n.check(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	e := n.open[key]
	listed := slices.Contains(n.keys, key)
	n.mu.Unlock()
	if e != nil {
		return e.c, nil
	}
	if !listed {
		return nil, fmt.Errorf("%w %s in %s (clone it with \"codrive clone\", or create one with \"codrive init\")", ErrUnknown, key, n.cfg.Dir)
	}
	c, err := codrive.Open(ctx, n.codriveConfig(), key)
	if err != nil {
		return nil, fmt.Errorf("opening co-drive %s: %w", key, err)
	}
	n.mu.Lock()
	n.open[key] = &entry{c: c}
	n.mu.Unlock()
	return c, nil
}

// Forget closes the co-drive key and removes it from the data directory.
// If this node added it (Add) and it is forgotten before the node
// closes, as when a clone fails, the feeds of the co-drive that the Add
// brought into the store are purged too; otherwise its feeds stay in the
// store and a later clone finds them.
func (n *Node) Forget(ctx context.Context, key sdk.FeedKey) error {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	if err := n.check(); err != nil {
		return err
	}
	n.mu.Lock()
	e := n.open[key]
	delete(n.open, key)
	keys := slices.DeleteFunc(slices.Clone(n.keys), func(k sdk.FeedKey) bool { return k == key })
	listed := len(keys) != len(n.keys)
	n.mu.Unlock()
	if !listed {
		return fmt.Errorf("%w %s in %s", ErrUnknown, key, n.cfg.Dir)
	}
	var drop []sdk.FeedKey
	if e != nil {
		drop = createdBy(n.store, key, e.c)
		e.c.Close()
	}
	if err := saveKeys(filepath.Join(n.cfg.Dir, CoDrivesFile), keys); err != nil {
		return err
	}
	n.mu.Lock()
	n.keys = keys
	n.mu.Unlock()
	if e != nil && e.before != nil {
		n.purgeNew(ctx, drop, e.before)
	}
	return nil
}

// createdBy lists the feeds a co-drive may have brought into the store:
// its primary, this peer's writer drive and content feed (named as
// codrive.Open names them), and every drive of its view with its content
// feed. c may be nil.
func createdBy(store *feedstore.Store, key sdk.FeedKey, c *codrive.CoDrive) []sdk.FeedKey {
	name := "codrive/" + key.String()
	local := store.WriterKey(name)
	keys := []sdk.FeedKey{key}
	if c == nil || c.LocalWriter() == local {
		keys = append(keys, local, store.WriterKey(name+"/content"))
	}
	if c != nil {
		for _, d := range c.View().Drives() {
			keys = append(keys, d.Key())
			if cf := d.ContentFeed(); cf != nil {
				keys = append(keys, cf.Key())
			}
		}
	}
	return keys
}

// purgeNew purges the feeds of keys that were not in before. It is best
// effort: what cannot be purged is only space.
func (n *Node) purgeNew(ctx context.Context, keys []sdk.FeedKey, before map[sdk.FeedKey]bool) {
	for _, k := range keys {
		if before[k] {
			continue
		}
		before[k] = true // once
		if err := n.store.Purge(ctx, k); err != nil && !errors.Is(err, sdk.ErrNotFound) {
			n.log.Debug("node: purging a feed of a forgotten co-drive", "feed", k, "err", err)
		}
	}
}

// addKey appends key to the list of co-drives and saves it. openMu is
// held.
func (n *Node) addKey(key sdk.FeedKey) error {
	keys := append(n.Keys(), key)
	if err := saveKeys(filepath.Join(n.cfg.Dir, CoDrivesFile), keys); err != nil {
		return err
	}
	n.mu.Lock()
	n.keys = keys
	n.mu.Unlock()
	return nil
}

// Connect keeps connections to addrs for as long as the node runs,
// without remembering them. An address no transport handles is an error
// wrapping ErrAddress; connecting to an address already kept does
// nothing.
func (n *Node) Connect(addrs ...ma.Multiaddr) error {
	if n.swarm == nil {
		if len(addrs) == 0 {
			return nil
		}
		return ErrOffline
	}
	for _, a := range addrs {
		if err := n.swarm.Connect(a); err != nil {
			return addressError("connect to", a, err)
		}
		n.mu.Lock()
		if !slices.ContainsFunc(n.dialing, a.Equal) {
			n.dialing = append(n.dialing, a)
		}
		n.mu.Unlock()
	}
	return nil
}

// Dialing returns the addresses the node keeps connections to.
func (n *Node) Dialing() []ma.Multiaddr {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.dialing)
}

// Disconnect stops keeping connections to addrs.
func (n *Node) Disconnect(addrs ...ma.Multiaddr) {
	if n.swarm == nil {
		return
	}
	for _, a := range addrs {
		n.swarm.Disconnect(a)
		n.mu.Lock()
		n.dialing = slices.DeleteFunc(n.dialing, a.Equal)
		n.mu.Unlock()
	}
}

// RememberPeers adds addrs to the remembered peers, which every node
// with networking opened on the data directory keeps connected. It does
// not connect to them; Connect does.
func (n *Node) RememberPeers(addrs ...ma.Multiaddr) error {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	peers := n.Peers()
	grew := false
	for _, a := range addrs {
		if !slices.ContainsFunc(peers, a.Equal) {
			peers = append(peers, a)
			grew = true
		}
	}
	if !grew {
		return nil
	}
	if err := savePeers(filepath.Join(n.cfg.Dir, PeersFile), peers); err != nil {
		return err
	}
	n.mu.Lock()
	n.peers = peers
	n.mu.Unlock()
	return nil
}

// Close closes every co-drive, stops the networking and closes the store.
// Calling it again does nothing.
func (n *Node) Close() error {
	n.openMu.Lock()
	defer n.openMu.Unlock()
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	open := n.open
	n.open = nil
	n.mu.Unlock()

	var errs []error
	// Connections end first, so that nothing arrives for a co-drive
	// being closed.
	if n.swarm != nil {
		errs = append(errs, n.swarm.Close())
	}
	for _, e := range open {
		errs = append(errs, e.c.Close())
	}
	if n.r != nil {
		errs = append(errs, n.r.Close())
	}
	for _, tr := range n.transports {
		if err := tr.Close(); err != nil && !errors.Is(err, sdk.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	if n.ownLoader {
		errs = append(errs, n.loader.Close())
	}
	return errors.Join(errs...)
}
