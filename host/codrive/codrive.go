// Package codrive implements co-drives (seed 000): the union of the
// drives of every authorized writer, with the writer set kept in the
// drives themselves, followed live by every peer, and grown by asking a
// writer over the network.
//
// A co-drive is named by the key of its first writer's drive, the
// primary. The writer set lives under the hidden path /.writers: every
// change is a file /.writers/<writer>/<nonce>.add or .remove (.discard
// for a removal that also hides the writer's files), written like any
// entry, so it carries its author's vector clock and is replicated with
// the author's drive. Members works the set out causally, never by wall
// clock; see its doc.
//
// Every peer that opens a co-drive loads the primary's drive, reads the
// writer set from it, loads the drives it names, reads their statements,
// and so on, and keeps doing so as entries arrive: a new writer's drive is
// loaded and replicated, a removed writer's is read only up to its cut (or
// not at all, with discard). Drives reach peers through any peer that
// holds them, so peers that never meet a writer still converge.
package codrive

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/host/union"
	"github.com/codrive/codrive/sdk"
)

// WritersDir is the hidden directory of the writer set.
const WritersDir = "/.writers"

// DefaultAuthTimeout bounds RequestAuthorization, as in seed 000.
const DefaultAuthTimeout = 60 * time.Second

// Errors of the writer set and of authorization requests.
var (
	// ErrNotWriter: this peer is not in the writer set.
	ErrNotWriter = errors.New("this peer is not a writer of the co-drive (ask one with request-auth)")
	// ErrDenied: the writers that answered denied the request.
	ErrDenied = errors.New("authorization denied")
	// ErrAuthTimeout: no grant arrived in time.
	ErrAuthTimeout = errors.New("authorization request timed out")
	// ErrNoWriter: no connected peer is a writer who could decide.
	ErrNoWriter = errors.New("no writer of the co-drive is online")
)

// Config configures a co-drive.
type Config struct {
	// Store holds the feeds; Replicator, if set, replicates them.
	Store      *feedstore.Store
	Replicator *replicate.Replicator
	// Resolver decides between writers' versions of a path.
	Resolver sdk.Resolver
	// Auth decides requests to become a writer; nil denies them all.
	Auth sdk.AuthPolicy
	// AuthTimeout bounds RequestAuthorization; zero means
	// DefaultAuthTimeout.
	AuthTimeout time.Duration
	// Drive configures this peer's writer drive (chunk size,
	// compression).
	Drive drive.Options
	// SparseContent fetches file content only when a file is read. By
	// default a peer downloads every writer's content as it arrives, so
	// it can read offline and pass content on to peers that only meet
	// it.
	SparseContent bool
	// Now is the wall clock (tests set it); nil means time.Now.
	Now func() time.Time
	// Logger; nil discards.
	Logger *slog.Logger
}

// CoDrive is a co-drive as one peer sees it. It is safe for concurrent
// use.
type CoDrive struct {
	cfg   Config
	key   sdk.FeedKey
	local *drive.Drive
	view  *union.View
	log   *slog.Logger

	mu      sync.Mutex
	drives  map[sdk.FeedKey]*loaded
	members map[sdk.FeedKey]Status
	waiters []chan struct{}
	closed  bool

	recompute chan struct{}
	stop      chan struct{}
	done      chan struct{}
	running   bool
	auth      authState
}

// loaded is a drive the co-drive follows.
type loaded struct {
	d      *drive.Drive
	cancel func()
	// inView says the drive is in the union view, and limit is the
	// length it is read at there (0: all of it).
	inView bool
	limit  uint64
	// capped says the content feed is no longer mirrored because its
	// writer was removed: what it writes past its cut is not shown, so
	// it is not downloaded either.
	capped bool
}

// Create makes a new co-drive whose primary is a fresh drive of this
// store, and returns it; its Key is what others open it by.
func Create(ctx context.Context, cfg Config) (*CoDrive, error) {
	var nonce [16]byte
	rand.Read(nonce[:])
	d, err := drive.Create(ctx, cfg.Store, "codrive/primary/"+hex.EncodeToString(nonce[:]), cfg.driveOptions(nil))
	if err != nil {
		return nil, err
	}
	return open(ctx, cfg, d.Key(), d)
}

// Open opens the co-drive named key. On the peer that created it, this
// peer's writer drive is the primary; elsewhere it is a drive derived from
// the store's seed and the co-drive key, so it is the same after every
// restart.
func Open(ctx context.Context, cfg Config, key sdk.FeedKey) (*CoDrive, error) {
	var local *drive.Drive
	f, err := cfg.Store.Open(ctx, key)
	switch {
	case err != nil && !errors.Is(err, sdk.ErrNotFound):
		// Not knowing whether this peer created the co-drive, it must
		// not take it for a clone under a new writer key.
		return nil, fmt.Errorf("codrive: opening %s: %w", key, err)
	case err == nil && f.Writable():
		if local, err = drive.Open(ctx, cfg.Store, key, cfg.driveOptions(nil)); err != nil {
			return nil, err
		}
	default:
		if local, err = drive.Create(ctx, cfg.Store, "codrive/"+key.String(), cfg.driveOptions(nil)); err != nil {
			return nil, err
		}
	}
	return open(ctx, cfg, key, local)
}

// driveOptions are the options of every drive the co-drive opens: content
// is replicated sparsely and fetched from peers when read.
func (cfg Config) driveOptions(log *slog.Logger) drive.Options {
	opts := cfg.Drive
	opts.Logger = log
	// Statements are permanent: a writer cannot take one back by
	// overwriting or deleting it.
	opts.History = WritersDir
	if r := cfg.Replicator; r != nil {
		opts.Fetcher = r
		full := !cfg.SparseContent
		opts.OnContentFeed = func(f *feed.Feed) { r.Add(f, replicate.FeedOptions{Download: full}) }
	}
	return opts
}

func open(ctx context.Context, cfg Config, key sdk.FeedKey, local *drive.Drive) (*CoDrive, error) {
	if cfg.Resolver == nil {
		return nil, fmt.Errorf("codrive: a resolver is required: %w", sdk.ErrInvalid)
	}
	if cfg.AuthTimeout == 0 {
		cfg.AuthTimeout = DefaultAuthTimeout
	}
	c := &CoDrive{
		cfg: cfg, key: key, local: local, log: cfg.Logger,
		drives:    map[sdk.FeedKey]*loaded{},
		recompute: make(chan struct{}, 1),
		stop:      make(chan struct{}), done: make(chan struct{}),
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.auth.ctx, c.auth.cancel = context.WithCancel(context.Background())
	view, err := union.New(union.Config{Resolver: cfg.Resolver, Hidden: []string{WritersDir}, Now: cfg.Now, Logger: c.log})
	if err != nil {
		return nil, err
	}
	c.view = view
	if r := cfg.Replicator; r != nil {
		// The local drive is served even before it is a writer's: a
		// writer deciding a request may want to look at it.
		r.Add(local.Feed(), replicate.FeedOptions{Download: true})
		if cf := local.ContentFeed(); cf != nil {
			r.Add(cf, replicate.FeedOptions{Download: true})
		}
		r.HandleExtension(key, extRequest, c.onRequest)
		r.HandleExtension(key, extReply, c.onReply)
	}
	if _, err := c.follow(local); err != nil {
		return nil, err
	}
	if _, err := c.load(ctx, key); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.update(ctx); err != nil {
		c.Close()
		return nil, err
	}
	c.running = true
	go c.run()
	return c, nil
}

// Key is the co-drive's key: its primary drive's.
func (c *CoDrive) Key() sdk.FeedKey { return c.key }

// View is the co-drive's file system: the union of its writers' drives.
// Writes fail with union.ErrReadOnly while this peer is not a writer.
func (c *CoDrive) View() *union.View { return c.view }

// LocalWriter is this peer's writer key for the co-drive: what a writer
// authorizes to let it in.
func (c *CoDrive) LocalWriter() sdk.FeedKey { return c.local.Key() }

// PeerKey is this host's peer key, which authorization requests carry
// (and invite proofs bind); zero without a replicator.
func (c *CoDrive) PeerKey() sdk.PeerKey {
	if c.cfg.Replicator == nil {
		return sdk.PeerKey{}
	}
	return c.cfg.Replicator.PublicKey()
}

// IsWriter reports whether this peer is in the writer set.
func (c *CoDrive) IsWriter() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.members[c.local.Key()].Member
}

// Writer is one entry of Writers.
type Writer struct {
	Key sdk.FeedKey
	Status
	// Primary marks the co-drive's first writer.
	Primary bool
}

// Writers lists the writer set, current writers first, then removed ones,
// each sorted by key.
func (c *CoDrive) Writers() []Writer {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Writer, 0, len(c.members))
	for k, st := range c.members {
		out = append(out, Writer{Key: k, Status: st, Primary: k == c.key})
	}
	slices.SortFunc(out, func(a, b Writer) int {
		if a.Member != b.Member {
			if a.Member {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Key.String(), b.Key.String())
	})
	return out
}

// Authorize adds writer to the writer set. This peer must be a writer.
func (c *CoDrive) Authorize(ctx context.Context, writer sdk.FeedKey) error {
	if !c.IsWriter() {
		return ErrNotWriter
	}
	c.mu.Lock()
	already := c.members[writer].Member
	c.mu.Unlock()
	if already {
		return nil
	}
	return c.state(ctx, writer, "add")
}

// Deauthorize removes writer from the writer set: its entries from what
// this peer has seen of its drive on are ignored on every peer, and with
// discard all of its files are hidden too. This peer must be a writer.
func (c *CoDrive) Deauthorize(ctx context.Context, writer sdk.FeedKey, discard bool) error {
	if !c.IsWriter() {
		return ErrNotWriter
	}
	c.mu.Lock()
	st, known := c.members[writer]
	c.mu.Unlock()
	if !known || (!st.Member && (st.Discard || !discard)) {
		return fmt.Errorf("codrive: %s is not a writer: %w", writer, sdk.ErrNotFound)
	}
	op := "remove"
	if discard {
		op = "discard"
	}
	return c.state(ctx, writer, op)
}

// state writes a writer-set statement and waits until it is applied.
func (c *CoDrive) state(ctx context.Context, writer sdk.FeedKey, op string) error {
	var nonce [8]byte
	rand.Read(nonce[:])
	p := path.Join(WritersDir, writer.String(), hex.EncodeToString(nonce[:])+"."+op)
	if err := c.view.Record(ctx, p); err != nil {
		if errors.Is(err, union.ErrReadOnly) {
			return ErrNotWriter
		}
		return err
	}
	return c.update(ctx)
}

// Close stops following the writer set and closes the drives it opened.
func (c *CoDrive) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	if r := c.cfg.Replicator; r != nil {
		r.HandleExtension(c.key, extRequest, nil)
		r.HandleExtension(c.key, extReply, nil)
	}
	c.auth.cancel()
	c.auth.deciding.Wait()
	if c.running {
		<-c.done
	}
	// No update runs past here: they all check closed under updateMu.
	c.auth.updateMu.Lock()
	defer c.auth.updateMu.Unlock()
	c.view.Close()
	c.mu.Lock()
	drives := c.drives
	c.drives = map[sdk.FeedKey]*loaded{}
	waiters := c.waiters
	c.waiters = nil
	c.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
	for _, l := range drives {
		l.cancel()
		l.d.Close()
		if r := c.cfg.Replicator; r != nil {
			r.Remove(l.d.Key())
			if cf := l.d.ContentFeed(); cf != nil {
				r.Remove(cf.Key())
			}
		}
	}
	if _, ok := drives[c.local.Key()]; !ok {
		c.local.Close()
	}
	return nil
}

// run recomputes the writer set whenever a statement arrives.
func (c *CoDrive) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.recompute:
		}
		if err := c.update(context.Background()); err != nil {
			c.log.Warn("codrive: updating the writer set", "codrive", c.key, "err", err)
		}
	}
}

// follow subscribes to d's statements. c.mu must not be held.
func (c *CoDrive) follow(d *drive.Drive) (*loaded, error) {
	l := &loaded{d: d}
	l.cancel = d.Subscribe(func(u drive.Update) {
		for _, n := range u.Nodes {
			if strings.HasPrefix(n.Path, WritersDir+"/") {
				select {
				case c.recompute <- struct{}{}:
				default:
				}
				return
			}
		}
	})
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		l.cancel()
		return nil, sdk.ErrClosed
	}
	c.drives[d.Key()] = l
	c.mu.Unlock()
	return l, nil
}

// load opens and follows the drive key if it is not yet, replicating it
// in full.
func (c *CoDrive) load(ctx context.Context, key sdk.FeedKey) (*loaded, error) {
	c.mu.Lock()
	l, closed := c.drives[key], c.closed
	c.mu.Unlock()
	if closed {
		return nil, sdk.ErrClosed
	}
	if l != nil {
		return l, nil
	}
	d, err := drive.Open(ctx, c.cfg.Store, key, c.cfg.driveOptions(c.log))
	if err != nil {
		return nil, fmt.Errorf("codrive: opening writer drive %s: %w", key, err)
	}
	l, err = c.follow(d)
	if err != nil {
		d.Close()
		return nil, err
	}
	if r := c.cfg.Replicator; r != nil {
		r.Add(d.Feed(), replicate.FeedOptions{Download: true})
	}
	return l, nil
}

// update reads every statement of every drive followed, works out the
// writer set, and brings the loaded drives and the view in line with it,
// until the set stops growing.
func (c *CoDrive) update(ctx context.Context) error {
	c.auth.updateMu.Lock()
	defer c.auth.updateMu.Unlock()
	for {
		c.mu.Lock()
		closed := c.closed
		c.mu.Unlock()
		if closed {
			return sdk.ErrClosed
		}
		c.mu.Lock()
		drives := make([]*loaded, 0, len(c.drives))
		for _, l := range c.drives {
			drives = append(drives, l)
		}
		c.mu.Unlock()
		var stmts []Statement
		for _, l := range drives {
			stmts = append(stmts, statements(l.d)...)
		}
		members := Members(c.key, stmts)
		grew := false
		for k, st := range members {
			if k == c.local.Key() {
				continue
			}
			c.mu.Lock()
			_, have := c.drives[k]
			c.mu.Unlock()
			if !have && (st.Member || !st.Discard) {
				if _, err := c.load(ctx, k); err != nil {
					return err
				}
				grew = true
			}
		}
		if grew {
			continue // new drives may hold statements
		}
		return c.apply(ctx, members)
	}
}

// apply puts the drives the writer set names into the view, each read as
// far as the set allows, and wakes whoever waits for a change.
func (c *CoDrive) apply(ctx context.Context, members map[sdk.FeedKey]Status) error {
	c.mu.Lock()
	drives := maps.Clone(c.drives)
	c.mu.Unlock()
	for k, l := range drives {
		st, named := members[k]
		want := named && (st.Member || !st.Discard)
		var limit uint64
		if named && !st.Member {
			limit = max(st.Cut, 1) // a cut at 0 leaves only the header
		}
		switch {
		case want && !l.inView:
			// Added at its limit, so nothing past a cut shows even for
			// an instant.
			if err := c.view.AddDriveAt(ctx, l.d, limit); err != nil {
				return err
			}
			l.inView = true
			l.limit = limit
		case !want && l.inView:
			if k == c.local.Key() {
				if err := c.view.SetWriter(nil); err != nil {
					return err
				}
			}
			if err := c.view.RemoveDrive(k); err != nil && !errors.Is(err, sdk.ErrNotFound) {
				return err
			}
			l.inView = false
		}
		if want && l.limit != limit {
			if err := c.view.Limit(ctx, k, limit); err != nil {
				return err
			}
			l.limit = limit
		}
		c.capContent(l, named && !st.Member)
	}
	localMember := members[c.local.Key()].Member
	if err := c.view.SetWriter(map[bool]*drive.Drive{true: c.local, false: nil}[localMember]); err != nil {
		return err
	}
	c.mu.Lock()
	c.members = members
	waiters := c.waiters
	c.waiters = nil
	c.mu.Unlock()
	for _, w := range waiters {
		close(w)
	}
	return nil
}

// capContent stops mirroring the content feed of a removed writer, which
// could otherwise push any amount of data to every peer after its cut;
// content it wrote before is still fetched when read. A writer authorized
// again is mirrored again.
func (c *CoDrive) capContent(l *loaded, removed bool) {
	r := c.cfg.Replicator
	cf := l.d.ContentFeed()
	if r == nil || cf == nil || l.capped == removed || c.cfg.SparseContent {
		return
	}
	r.Remove(cf.Key())
	r.Add(cf, replicate.FeedOptions{Download: !removed})
	l.capped = removed
}

// changed returns a channel closed at the next update of the writer set.
func (c *CoDrive) changed() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan struct{})
	c.waiters = append(c.waiters, ch)
	return ch
}

// statements reads the writer-set statements of a drive: every file ever
// written at /.writers/<writer>/<nonce>.<op>, including any the writer
// overwrote or deleted since.
func statements(d *drive.Drive) []Statement {
	var out []Statement
	author := d.Key()
	d.Read(func(x *drive.Index) {
		for _, n := range x.History() {
			if n.Kind != drive.KindFile {
				continue
			}
			rest, ok := strings.CutPrefix(n.Path, WritersDir+"/")
			if !ok {
				continue
			}
			wk, name, ok := strings.Cut(rest, "/")
			if !ok || strings.Contains(name, "/") {
				continue
			}
			w, err := sdk.ParseFeedKey(wk)
			if err != nil {
				continue
			}
			s := Statement{Author: author, Seq: n.Seq, Clock: n.Clock, Writer: w}
			switch path.Ext(name) {
			case ".add":
			case ".remove":
				s.Remove = true
			case ".discard":
				s.Remove, s.Discard = true, true
			default:
				continue
			}
			out = append(out, s)
		}
	})
	return out
}
