// Package memory is an [sdk.Storage] that keeps feeds in memory. It is the
// in-memory twin of the disk storage: the same contract, but nothing
// survives Close or the process. Use it in tests, and for feeds that need
// not outlive the host.
package memory

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
)

// Storage is an in-memory [sdk.Storage]. It is safe for concurrent use: one
// lock guards the set of feeds and one per feed guards its contents, so
// reads of a feed run in parallel and writes to different feeds only share
// the first lock, for reading. Every slice is copied on the way in and on
// the way out.
//
// Blocks and tree nodes live in pages of 64 indexes, allocated only where
// something is stored, so a reader holding a few blocks near index
// 5,000,000 uses a few KiB. Storing a block or node costs a lookup in the
// map of pages and an array store; only one in 64 allocates a page.
//
// The zero Storage is not usable; call [New].
type Storage struct {
	mu    sync.RWMutex
	feeds map[sdk.FeedKey]*feed // nil once closed
}

var _ sdk.Storage = (*Storage)(nil)

// feed is one stored feed.
type feed struct {
	mu       sync.RWMutex
	header   sdk.FeedHeader
	head     sdk.Head
	evidence []byte
	// present lists the indexes stored in blocks, as sdk.FeedState.Present
	// does. ReadBlocks checks it before touching the pages.
	present []sdk.Range
	blocks  pagedArray[[]byte]
	nodes   pagedArray[sdk.Node]
}

// New returns an empty storage.
func New() *Storage {
	return &Storage{feeds: make(map[sdk.FeedKey]*feed)}
}

// Create stores a new, empty feed. It fails with [sdk.ErrExists] if a feed
// with the same key is stored.
func (s *Storage) Create(ctx context.Context, header sdk.FeedHeader) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f := &feed{header: sdk.FeedHeader{Key: header.Key, SecretKey: bytes.Clone(header.SecretKey)}}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.feeds == nil {
		return errClosed
	}
	if _, ok := s.feeds[header.Key]; ok {
		return fmt.Errorf("memory: create feed %s: %w", header.Key, sdk.ErrExists)
	}
	s.feeds[header.Key] = f
	return nil
}

// Feeds lists the keys of every stored feed, in no particular order.
func (s *Storage) Feeds(ctx context.Context) ([]sdk.FeedKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.feeds == nil {
		return nil, errClosed
	}
	return slices.Collect(maps.Keys(s.feeds)), nil
}

// Load returns a feed's header, head, present blocks and evidence.
func (s *Storage) Load(ctx context.Context, key sdk.FeedKey) (*sdk.FeedState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, err := s.lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &sdk.FeedState{
		Header:   sdk.FeedHeader{Key: f.header.Key, SecretKey: bytes.Clone(f.header.SecretKey)},
		Head:     f.head,
		Present:  slices.Clone(f.present),
		Evidence: bytes.Clone(f.evidence),
	}, nil
}

// Write applies a batch atomically: concurrent readers see all of it or
// none of it. It fails with [sdk.ErrInvalid], applying nothing, if batch is
// nil, if a block is larger than [sdk.MaxBlockSize], or if a block's index
// is the largest uint64 (which no [sdk.Range] can hold).
func (s *Storage) Write(ctx context.Context, key sdk.FeedKey, batch *sdk.Batch) error {
	if batch == nil {
		return fmt.Errorf("memory: write to feed %s: nil batch: %w", key, sdk.ErrInvalid)
	}
	// Copy before locking, so that readers of the feed do not wait for it.
	blocks, err := cloneBlocks(batch.Blocks)
	if err != nil {
		return fmt.Errorf("memory: write to feed %s: %w", key, err)
	}
	evidence := bytes.Clone(batch.Evidence) // nil stays nil: keep the stored evidence

	s.mu.RLock()
	defer s.mu.RUnlock()
	f, err := s.lookup(ctx, key)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if batch.Truncate {
		f.truncate(batch.TruncateTo)
	}
	for _, b := range blocks {
		f.blocks.set(b.Index, b.Data)
	}
	f.present = addBlocks(f.present, blocks)
	for _, n := range batch.Nodes {
		f.nodes.set(n.Index, n)
	}
	if batch.Head != nil {
		f.head = *batch.Head
	}
	if evidence != nil {
		f.evidence = evidence
	}
	return nil
}

// cloneBlocks checks blocks and copies them.
func cloneBlocks(blocks []sdk.Block) ([]sdk.Block, error) {
	out := make([]sdk.Block, len(blocks))
	for i, b := range blocks {
		if len(b.Data) > sdk.MaxBlockSize {
			return nil, fmt.Errorf("block %d has %d bytes, more than %d: %w", b.Index, len(b.Data), sdk.MaxBlockSize, sdk.ErrInvalid)
		}
		if b.Index == math.MaxUint64 {
			return nil, fmt.Errorf("block index %d is out of range: %w", b.Index, sdk.ErrInvalid)
		}
		out[i] = sdk.Block{Index: b.Index, Data: bytes.Clone(b.Data)}
	}
	return out, nil
}

// truncate removes every block at index n or above and every node whose
// span reaches past n.
func (f *feed) truncate(n uint64) {
	f.present = cutRanges(f.present, n)
	f.blocks.truncate(n)
	if n >= 1<<63 {
		return // flat indexes reach only blocks below 2^63: every node ends at or before n
	}
	// A node reaching past n either lies wholly at or after block n, and
	// then its flat index is at least 2n, or its span holds block n: one
	// node per depth, the leaf being 2n.
	f.nodes.truncate(2 * n)
	for d := uint64(1); d < 64; d++ {
		f.nodes.delete(flattree.Index(d, n>>d))
	}
}

// ReadBlocks returns the blocks at indexes [start, end), in order. It fails
// with [sdk.ErrNotFound] if any of them is not stored and with
// [sdk.ErrInvalid] if end < start.
func (s *Storage) ReadBlocks(ctx context.Context, key sdk.FeedKey, start, end uint64) ([][]byte, error) {
	if end < start {
		return nil, fmt.Errorf("memory: read blocks [%d, %d) of feed %s: %w", start, end, key, sdk.ErrInvalid)
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, err := s.lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	// Checking present first fails a read of a missing range without
	// allocating for it.
	if !covers(f.present, start, end) {
		return nil, fmt.Errorf("memory: read blocks [%d, %d) of feed %s: %w", start, end, key, sdk.ErrNotFound)
	}
	out := make([][]byte, 0, end-start)
	for i := start; i < end; i++ {
		data, _ := f.blocks.get(i) // present covers i
		out = append(out, bytes.Clone(data))
	}
	return out, nil
}

// ReadNodes returns the stored nodes among the given flat-tree indexes, in
// the order asked, skipping indexes with no stored node. An index asked
// twice is returned twice.
func (s *Storage) ReadNodes(ctx context.Context, key sdk.FeedKey, indexes []uint64) ([]sdk.Node, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	f, err := s.lookup(ctx, key)
	if err != nil {
		return nil, err
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]sdk.Node, 0, len(indexes))
	for _, i := range indexes {
		if n, ok := f.nodes.get(i); ok {
			out = append(out, n)
		}
	}
	return out, nil
}

// Delete removes a feed and leaves its memory to the garbage collector.
func (s *Storage) Delete(ctx context.Context, key sdk.FeedKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := s.lookup(ctx, key); err != nil {
		return err
	}
	delete(s.feeds, key)
	return nil
}

// Close drops every feed. Every later call, Close included, fails with
// [sdk.ErrClosed].
func (s *Storage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.feeds == nil {
		return errClosed
	}
	s.feeds = nil
	return nil
}

var errClosed = fmt.Errorf("memory: storage %w", sdk.ErrClosed)

// lookup returns the feed stored under key. The caller holds s.mu.
func (s *Storage) lookup(ctx context.Context, key sdk.FeedKey) (*feed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.feeds == nil {
		return nil, errClosed
	}
	f, ok := s.feeds[key]
	if !ok {
		return nil, fmt.Errorf("memory: feed %s: %w", key, sdk.ErrNotFound)
	}
	return f, nil
}
