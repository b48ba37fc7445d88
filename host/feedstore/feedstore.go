// Package feedstore keeps many feeds in one sdk.Storage, the way corestore
// does for hypercores: a default feed, writable feeds created by name,
// any feed opened by key, namespaces, listing and purging.
//
// Writable feeds made by name get keys derived from one secret master seed
// and the name (with its namespace), so a device that keeps only the seed
// can re-derive every one of its writer keys, and the same name always
// gives the same feed.
package feedstore

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/sdk"
)

// SeedSize is the size of a master seed.
const SeedSize = 32

// DefaultName is the name of the feed returned by Default.
const DefaultName = "default"

// deriveContext separates key derivation from every other use of the seed.
const deriveContext = "codrive feedstore writer key v1"

// ErrClosed is returned by a store after Close.
var ErrClosed = errors.New("feed store is closed")

// Store keeps many feeds in one storage. Its methods are safe for
// concurrent use, and opening the same key twice returns the same *Feed.
type Store struct {
	core *core
	ns   []string // namespace path, outermost first
}

// core is the state shared by a store and its namespaces.
type core struct {
	st   sdk.Storage
	seed [SeedSize]byte

	mu     sync.Mutex
	feeds  map[sdk.FeedKey]*feed.Feed
	closed bool
}

// New returns a store over st whose named feeds derive from seed. The
// store takes ownership of st and closes it on Close.
func New(st sdk.Storage, seed []byte) (*Store, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("feed store: master seed is %d bytes, want %d", len(seed), SeedSize)
	}
	c := &core{st: st, feeds: make(map[sdk.FeedKey]*feed.Feed)}
	copy(c.seed[:], seed)
	return &Store{core: c}, nil
}

// NewSeed returns a fresh random master seed.
func NewSeed() []byte {
	seed := make([]byte, SeedSize)
	if _, err := rand.Read(seed); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return seed
}

// LoadOrCreateSeed reads the master seed at path, or creates one there
// (readable by its owner only) if the file does not exist.
func LoadOrCreateSeed(path string) ([]byte, error) {
	return loadOrCreateSeed(path, true)
}

func loadOrCreateSeed(path string, retry bool) ([]byte, error) {
	seed, err := os.ReadFile(path)
	if err == nil {
		if len(seed) != SeedSize {
			return nil, fmt.Errorf("master seed %s is %d bytes, want %d: the file is damaged", path, len(seed), SeedSize)
		}
		return seed, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read master seed: %w", err)
	}
	seed = NewSeed()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create master seed: %w", err)
	}
	// Write to a temporary file and link it into place, so that a crash
	// never leaves a partial seed and two racing creators agree on one.
	tmp, err := os.CreateTemp(filepath.Dir(path), ".seed-*")
	if err != nil {
		return nil, fmt.Errorf("create master seed: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(seed); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), path)
	}
	if errors.Is(err, os.ErrExist) && retry {
		return loadOrCreateSeed(path, false) // another process created it first
	}
	if err != nil {
		return nil, fmt.Errorf("create master seed: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return seed, nil
}

// Namespace returns a view of the store in which names are taken inside
// name: Writer("x") in namespace "a" is a different feed from Writer("x")
// in namespace "b" or in the root. Namespaces nest.
func (s *Store) Namespace(name string) *Store {
	ns := append(append([]string(nil), s.ns...), name)
	return &Store{core: s.core, ns: ns}
}

// Default returns this namespace's default writable feed, creating it on
// first use.
func (s *Store) Default(ctx context.Context) (*feed.Feed, error) {
	return s.Writer(ctx, DefaultName)
}

// WriterKey returns the key of the writable feed that Writer(name) gives,
// without opening it.
func (s *Store) WriterKey(name string) sdk.FeedKey {
	var k sdk.FeedKey
	copy(k[:], s.derive(name).Public().(ed25519.PublicKey))
	return k
}

// derive returns the key pair for name in this namespace: a BLAKE3 hash
// keyed by the master seed over the length-prefixed namespace path and
// name, used as an ed25519 seed.
func (s *Store) derive(name string) ed25519.PrivateKey {
	h, err := blake3.NewKeyed(s.core.seed[:])
	if err != nil {
		panic(err) // unreachable: the seed is always 32 bytes
	}
	h.WriteString(deriveContext)
	var buf [binary.MaxVarintLen64]byte
	for _, part := range append(append([]string(nil), s.ns...), name) {
		h.Write(buf[:binary.PutUvarint(buf[:], uint64(len(part)))])
		h.WriteString(part)
	}
	var edSeed [ed25519.SeedSize]byte
	h.Sum(edSeed[:0])
	return ed25519.NewKeyFromSeed(edSeed[:])
}

// Writer returns the writable feed called name in this namespace, creating
// it if it does not exist.
func (s *Store) Writer(ctx context.Context, name string) (*feed.Feed, error) {
	secret := s.derive(name)
	var key sdk.FeedKey
	copy(key[:], secret.Public().(ed25519.PublicKey))
	f, err := s.core.get(ctx, key, func() (*feed.Feed, error) {
		return feed.Create(ctx, s.core.st, secret)
	})
	if err == nil && !f.Writable() {
		return nil, fmt.Errorf("feed %q is %s, which is stored here as a read-only replica without its secret key", name, key)
	}
	return f, err
}

// CreateRandom creates a writable feed with a fresh random key pair. Its
// secret key lives only in storage: it can't be re-derived from the seed.
func (s *Store) CreateRandom(ctx context.Context) (*feed.Feed, error) {
	_, secret, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	var key sdk.FeedKey
	copy(key[:], secret.Public().(ed25519.PublicKey))
	return s.core.get(ctx, key, func() (*feed.Feed, error) {
		return feed.Create(ctx, s.core.st, secret)
	})
}

// Open returns the stored feed with this key. It fails with an error
// wrapping sdk.ErrNotFound if the store does not hold it.
func (s *Store) Open(ctx context.Context, key sdk.FeedKey) (*feed.Feed, error) {
	return s.core.get(ctx, key, nil)
}

// Get returns the feed with this key, creating an empty read-only replica
// to fill from peers if the store does not hold it yet.
func (s *Store) Get(ctx context.Context, key sdk.FeedKey) (*feed.Feed, error) {
	return s.core.get(ctx, key, func() (*feed.Feed, error) {
		return feed.CreateReader(ctx, s.core.st, key)
	})
}

// get returns the cached feed, or opens it from storage, or, if it is not
// stored and create is not nil, creates it.
func (c *core) get(ctx context.Context, key sdk.FeedKey, create func() (*feed.Feed, error)) (*feed.Feed, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	if f := c.feeds[key]; f != nil {
		return f, nil
	}
	f, err := feed.Open(ctx, c.st, key)
	if errors.Is(err, sdk.ErrNotFound) && create != nil {
		f, err = create()
	}
	if err != nil {
		return nil, err
	}
	c.feeds[key] = f
	return f, nil
}

// List returns the keys of every stored feed, in every namespace.
func (s *Store) List(ctx context.Context) ([]sdk.FeedKey, error) {
	if err := s.core.check(); err != nil {
		return nil, err
	}
	return s.core.st.Feeds(ctx)
}

// CloseFeed closes an open feed: writes through its *Feed fail from then
// on, and the next Open of the key reads it from storage again. Closing
// the old handle is what keeps two handles from appending to one feed.
func (s *Store) CloseFeed(key sdk.FeedKey) {
	s.core.mu.Lock()
	defer s.core.mu.Unlock()
	if f := s.core.feeds[key]; f != nil {
		f.Close()
		delete(s.core.feeds, key)
	}
}

// Purge deletes a feed and its data from storage, freeing the space. A
// *Feed of it still held by a caller fails from then on.
func (s *Store) Purge(ctx context.Context, key sdk.FeedKey) error {
	c := s.core
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if f := c.feeds[key]; f != nil {
		f.Close()
		delete(c.feeds, key)
	}
	if err := c.st.Delete(ctx, key); err != nil {
		return fmt.Errorf("purge feed %s: %w", key, err)
	}
	return nil
}

// Close closes the store, every namespace of it, and its storage.
func (s *Store) Close() error {
	c := s.core
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	for _, f := range c.feeds {
		f.Close()
	}
	c.feeds = nil
	return c.st.Close()
}

func (c *core) check() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	return nil
}
