package memory_test

import (
	"context"
	"errors"
	"math"
	"runtime"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
	"github.com/codrive/codrive/storage/memory"
)

// The conformance suite covers the contract; these tests cover what this
// implementation adds to it.

func TestCloseTwice(t *testing.T) {
	s := memory.New()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("second Close error = %v, want ErrClosed", err)
	}
}

func TestLastBlockIndexInvalid(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	key := sdk.FeedKey{1}
	if err := s.Create(ctx, sdk.FeedHeader{Key: key}); err != nil {
		t.Fatal(err)
	}
	// No Range can hold this block: End would be 2^64.
	err := s.Write(ctx, key, &sdk.Batch{Blocks: []sdk.Block{{Index: math.MaxUint64}}})
	if !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("Write(block %d) error = %v, want ErrInvalid", uint64(math.MaxUint64), err)
	}
}

func TestCanceledContext(t *testing.T) {
	s := memory.New()
	key := sdk.FeedKey{1}
	if err := s.Create(t.Context(), sdk.FeedHeader{Key: key}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Write(ctx, key, &sdk.Batch{Head: &sdk.Head{Length: 1}}); !errors.Is(err, context.Canceled) {
		t.Errorf("Write error = %v, want context.Canceled", err)
	}
	if _, err := s.Load(ctx, key); !errors.Is(err, context.Canceled) {
		t.Errorf("Load error = %v, want context.Canceled", err)
	}
}

// TestSparseFeedStaysSmall checks that a reader holding a few blocks far
// into a feed, with the nodes that prove them, pays for those alone.
func TestSparseFeedStaysSmall(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	key := sdk.FeedKey{1}
	if err := s.Create(ctx, sdk.FeedHeader{Key: key}); err != nil {
		t.Fatal(err)
	}
	const start, end = 5_000_000, 5_000_011
	batch := &sdk.Batch{}
	for i := uint64(start); i < end; i++ {
		batch.Blocks = append(batch.Blocks, sdk.Block{Index: i, Data: make([]byte, 100)})
		batch.Nodes = append(batch.Nodes, sdk.Node{Index: 2 * i})
	}
	// A proof reaches up the tree: one node per depth, far apart.
	for d := uint64(1); d < 24; d++ {
		batch.Nodes = append(batch.Nodes, sdk.Node{Index: flattree.Index(d, start>>d)})
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if err := s.Write(ctx, key, batch); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	const limit = 128 << 10
	if n := after.TotalAlloc - before.TotalAlloc; n > limit {
		t.Errorf("writing %d blocks and %d nodes at block %d allocated %d bytes, want at most %d", len(batch.Blocks), len(batch.Nodes), start, n, limit)
	}
}
