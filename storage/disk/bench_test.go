package disk

import (
	"context"
	"fmt"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
)

const (
	benchBlockSize = 1 << 10
	benchBatch     = 100
)

// benchBatchAt fills b with batch n of 1 KiB blocks, their leaves and a
// head, reusing b's slices so that the benchmark loop does not allocate.
func benchBatchAt(b *sdk.Batch, n uint64, data []byte) {
	if b.Blocks == nil {
		b.Blocks = make([]sdk.Block, benchBatch)
		b.Nodes = make([]sdk.Node, benchBatch)
		b.Head = new(sdk.Head)
	}
	start := n * benchBatch
	for k := range benchBatch {
		i := start + uint64(k)
		b.Blocks[k] = sdk.Block{Index: i, Data: data}
		b.Nodes[k] = sdk.Node{Index: flattree.Leaf(i), Size: benchBlockSize, Hash: sdk.Hash{byte(i)}}
	}
	*b.Head = sdk.Head{Length: start + benchBatch, Signature: sdk.Signature{byte(n)}}
}

func benchStorage(b *testing.B, policy SyncPolicy) (*Storage, sdk.FeedKey) {
	s, err := Open(b.TempDir(), Options{Sync: policy, Logger: quiet.Logger})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	key := testKey(1)
	if err := s.Create(context.Background(), sdk.FeedHeader{Key: key, SecretKey: testSecret(1)}); err != nil {
		b.Fatal(err)
	}
	return s, key
}

// BenchmarkWriteBatch100 appends batches of 100 blocks of 1 KiB, each with
// 100 nodes and a head: the host's append workload.
func BenchmarkWriteBatch100(b *testing.B) {
	for _, policy := range []SyncPolicy{SyncEveryBatch, SyncNone} {
		b.Run(policy.String(), func(b *testing.B) {
			s, key := benchStorage(b, policy)
			ctx := context.Background()
			data := blockData(0, benchBlockSize, 0)
			var batch sdk.Batch
			b.SetBytes(benchBatch * benchBlockSize)
			b.ReportAllocs()
			n := uint64(0)
			for b.Loop() {
				benchBatchAt(&batch, n, data)
				if err := s.Write(ctx, key, &batch); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(n*benchBatch)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}

// BenchmarkReadBlocks reads ranges of a feed of 100,000 blocks of 1 KiB
// written in batches of 100.
func BenchmarkReadBlocks(b *testing.B) {
	const total = 100_000
	s, key := benchStorage(b, SyncNone)
	ctx := context.Background()
	data := blockData(0, benchBlockSize, 0)
	var batch sdk.Batch
	for n := range uint64(total / benchBatch) {
		benchBatchAt(&batch, n, data)
		if err := s.Write(ctx, key, &batch); err != nil {
			b.Fatal(err)
		}
	}
	for _, size := range []uint64{1, 100, total} {
		b.Run(fmt.Sprintf("range=%d", size), func(b *testing.B) {
			b.SetBytes(int64(size) * benchBlockSize)
			b.ReportAllocs()
			start, reads := uint64(0), 0
			for b.Loop() {
				blocks, err := s.ReadBlocks(ctx, key, start, start+size)
				if err != nil || uint64(len(blocks)) != size {
					b.Fatalf("ReadBlocks: %d blocks, %v", len(blocks), err)
				}
				start = (start + 7919*size) % (total - size + 1)
				reads++
			}
			b.ReportMetric(float64(reads)*float64(size)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}

// BenchmarkOpen replays a feed of 100,000 blocks of 1 KiB written in
// batches of 100.
func BenchmarkOpen(b *testing.B) {
	const total = 100_000
	dir := b.TempDir()
	s, err := Open(dir, Options{Sync: SyncNone, Logger: quiet.Logger})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	key := testKey(1)
	if err := s.Create(ctx, sdk.FeedHeader{Key: key}); err != nil {
		b.Fatal(err)
	}
	data := blockData(0, benchBlockSize, 0)
	var batch sdk.Batch
	for n := range uint64(total / benchBatch) {
		benchBatchAt(&batch, n, data)
		if err := s.Write(ctx, key, &batch); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s, err := Open(dir, quiet)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total*b.N)/b.Elapsed().Seconds(), "blocks/s")
}
