package memory_test

import (
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
)

const (
	benchBlockSize = 1 << 10
	benchBatchLen  = 100
)

// BenchmarkWriteBatch100 appends batches shaped like the host's: 100
// blocks of 1 KiB, two tree nodes per block and a signed head.
func BenchmarkWriteBatch100(b *testing.B) {
	ctx := b.Context()
	s := memory.New()
	defer s.Close()
	header := sdk.FeedHeader{Key: sdk.FeedKey{1}}
	if err := s.Create(ctx, header); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, benchBlockSize)
	batch := &sdk.Batch{
		Blocks: make([]sdk.Block, benchBatchLen),
		Nodes:  make([]sdk.Node, 2*benchBatchLen),
		Head:   &sdk.Head{},
	}
	// Start a new feed now and then, so that the heap stays near 100 MiB
	// however long the benchmark runs.
	const batchesPerFeed = 1000
	var length uint64
	batches := 0
	b.SetBytes(benchBatchLen * benchBlockSize)
	for b.Loop() {
		if batches > 0 && batches%batchesPerFeed == 0 {
			b.StopTimer()
			if err := s.Delete(ctx, header.Key); err != nil {
				b.Fatal(err)
			}
			if err := s.Create(ctx, header); err != nil {
				b.Fatal(err)
			}
			length = 0
			b.StartTimer()
		}
		for i := range batch.Blocks {
			batch.Blocks[i] = sdk.Block{Index: length + uint64(i), Data: data}
		}
		for i := range batch.Nodes {
			batch.Nodes[i] = sdk.Node{Index: 2*length + uint64(i), Size: benchBlockSize}
		}
		length += benchBatchLen
		batch.Head.Length = length
		if err := s.Write(ctx, header.Key, batch); err != nil {
			b.Fatal(err)
		}
		batches++
	}
	b.ReportMetric(float64(batches*benchBatchLen)/b.Elapsed().Seconds(), "blocks/s")
}

// BenchmarkReadBlocks reads ranges of 100 blocks of 1 KiB from a feed of
// 10,000.
func BenchmarkReadBlocks(b *testing.B) {
	ctx := b.Context()
	s := memory.New()
	defer s.Close()
	key := sdk.FeedKey{1}
	if err := s.Create(ctx, sdk.FeedHeader{Key: key}); err != nil {
		b.Fatal(err)
	}
	const length = 10_000
	data := make([]byte, benchBlockSize)
	blocks := make([]sdk.Block, length)
	for i := range blocks {
		blocks[i] = sdk.Block{Index: uint64(i), Data: data}
	}
	if err := s.Write(ctx, key, &sdk.Batch{Blocks: blocks}); err != nil {
		b.Fatal(err)
	}
	var start uint64
	reads := 0
	b.SetBytes(benchBatchLen * benchBlockSize)
	for b.Loop() {
		got, err := s.ReadBlocks(ctx, key, start, start+benchBatchLen)
		if err != nil || len(got) != benchBatchLen {
			b.Fatalf("ReadBlocks(%d, %d) = %d blocks, %v", start, start+benchBatchLen, len(got), err)
		}
		start = (start + benchBatchLen) % length
		reads++
	}
	b.ReportMetric(float64(reads*benchBatchLen)/b.Elapsed().Seconds(), "blocks/s")
}
