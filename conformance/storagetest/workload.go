package storagetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/google/go-cmp/cmp"
)

// The tests in this file run longer sequences of calls: concurrent ones, a
// larger feed, and random batches checked against the model.

// testConcurrent runs writers on feeds of their own, readers that check
// every Load sees whole batches, and a goroutine that creates and deletes
// other feeds, all at once.
func testConcurrent(t *testing.T, h Harness) {
	e := newEnv(t, h)
	const writers, batches, perBatch = 4, 25, 8
	models := make(map[sdk.FeedKey]*feedModel)
	var keys []sdk.FeedKey
	for w := range uint64(writers) {
		m := e.create(header(w, true))
		models[m.header.Key] = m
		keys = append(keys, m.header.Key)
	}
	// Batch k of every writer holds blocks [k·perBatch, (k+1)·perBatch),
	// their leaf and parent nodes, and a head of length (k+1)·perBatch.
	batch := func(k uint64) *sdk.Batch {
		start, end := k*perBatch, (k+1)*perBatch
		return &sdk.Batch{Blocks: blocks(start, end, 1, 256), Nodes: nodes(2*start, 2*end, 1), Head: head(0, end)}
	}

	var writing, others sync.WaitGroup
	done := make(chan struct{})
	for _, key := range keys {
		writing.Go(func() {
			for k := range uint64(batches) {
				if err := e.s.Write(e.ctx, key, batch(k)); err != nil {
					t.Errorf("Write(%s, batch %d): %v", key, k, err)
					return
				}
			}
		})
	}
	for range 2 {
		others.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, key := range keys {
					if err := checkWholeBatches(e, key); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	others.Go(func() {
		for i := range uint64(20) {
			hd := header(1000+i, i%2 == 0)
			if err := e.s.Create(e.ctx, hd); err != nil {
				t.Errorf("Create: %v", err)
				return
			}
			if err := e.s.Write(e.ctx, hd.Key, batch(0)); err != nil {
				t.Errorf("Write: %v", err)
				return
			}
			listed, err := e.s.Feeds(e.ctx)
			if err != nil {
				t.Errorf("Feeds: %v", err)
				return
			}
			for _, key := range keys {
				if !slices.Contains(listed, key) {
					t.Errorf("Feeds does not list %s", key)
				}
			}
			if !slices.Contains(listed, hd.Key) {
				t.Errorf("Feeds does not list %s", hd.Key)
			}
			if err := e.s.Delete(e.ctx, hd.Key); err != nil {
				t.Errorf("Delete: %v", err)
				return
			}
		}
	})
	writing.Wait()
	close(done)
	others.Wait()

	for _, m := range models {
		for k := range uint64(batches) {
			m.apply(batch(k))
		}
	}
	e.checkFeeds(models)
}

// checkWholeBatches checks, while testConcurrent writes, that the feed
// shows whole batches: its blocks are exactly those under its head, and the
// last block and nodes of the batch that wrote the head are stored.
func checkWholeBatches(e *env, key sdk.FeedKey) error {
	st, err := e.s.Load(e.ctx, key)
	if err != nil {
		return err
	}
	n := st.Head.Length
	var want []sdk.Range
	if n > 0 {
		want = []sdk.Range{{Start: 0, End: n}}
	}
	if diff := cmp.Diff(want, st.Present, equateEmpty); diff != "" {
		return fmt.Errorf("Load(%s) shows part of a batch: Present (-under head +got):\n%s", key, diff)
	}
	if n == 0 {
		return nil
	}
	got, err := e.s.ReadBlocks(e.ctx, key, n-1, n)
	if err != nil {
		return err
	}
	if diff := cmp.Diff([][]byte{blockData(n-1, 1, 256)}, got); diff != "" {
		return fmt.Errorf("feed %s: last block under the head (-want +got):\n%s", key, diff)
	}
	ns, err := e.s.ReadNodes(e.ctx, key, []uint64{2*n - 2, 2*n - 1})
	if err != nil {
		return err
	}
	if diff := cmp.Diff(nodesAt(1, 2*n-2, 2*n-1), ns); diff != "" {
		return fmt.Errorf("feed %s: last nodes under the head (-want +got):\n%s", key, diff)
	}
	return nil
}

// testLargeWorkload appends 10,000 blocks of 1 KiB in batches of 100, as a
// writer does, and reads them all back.
func testLargeWorkload(t *testing.T, h Harness) {
	const length, perBatch, size = 10_000, 100, 1 << 10
	e := newEnv(t, h)
	m := e.create(header(1, true))
	for start := uint64(0); start < length; start += perBatch {
		end := start + perBatch
		e.write(m, &sdk.Batch{Blocks: blocks(start, end, 1, size), Nodes: nodes(2*start, 2*end, 1), Head: head(0, end)})
	}
	e.check(m)
}

// testRandomized writes random batches to a few feeds, deletes and
// recreates them now and then, and compares the storage with the model as
// it goes. A persistent storage is also closed and reopened every so often.
func testRandomized(t *testing.T, h Harness) {
	const (
		feeds    = 3
		steps    = 300
		checkGap = 25
	)
	e := newEnv(t, h)
	rng := rand.New(rand.NewPCG(1, 2))
	models := make(map[sdk.FeedKey]*feedModel)
	var keys []sdk.FeedKey
	for f := range uint64(feeds) {
		m := e.create(header(f, f%2 == 0))
		models[m.header.Key] = m
		keys = append(keys, m.header.Key)
	}
	for step := range steps {
		key := keys[rng.IntN(len(keys))]
		if rng.IntN(50) == 0 {
			e.delete(key)
			models[key] = e.create(header(uint64(slices.Index(keys, key)), rng.IntN(2) == 0))
		} else {
			e.write(models[key], randomBatch(rng, models[key], step))
		}
		if (step+1)%checkGap == 0 {
			if h.Persistent && (step+1)%(4*checkGap) == 0 {
				e.reopen()
			}
			e.checkFeeds(models)
		}
	}
}

// randomBatch returns a batch for m: mostly blocks appended at or near the
// end of the feed's first run, sometimes sparse or far away blocks, a
// truncation, some nodes, a head and evidence. It never writes an index
// twice in one batch.
func randomBatch(rng *rand.Rand, m *feedModel, gen int) *sdk.Batch {
	const far = 1 << 40
	b := &sdk.Batch{}
	if rng.IntN(10) == 0 {
		b.Truncate = true
		b.TruncateTo = rng.Uint64N(600)
		if rng.IntN(4) == 0 {
			b.TruncateTo = far + rng.Uint64N(64)
		}
	}
	var start uint64
	switch r := rng.IntN(10); {
	case r < 6: // append to the first run
		if p := m.present(); len(p) > 0 && p[0].Start == 0 {
			start = p[0].End
		}
	case r < 9:
		start = rng.Uint64N(512)
	default:
		start = far + rng.Uint64N(64)
	}
	n := rng.Uint64N(16)
	for i := start; i < start+n; i++ {
		b.Blocks = append(b.Blocks, sdk.Block{Index: i, Data: blockData(i, uint64(gen), rng.IntN(300))})
	}
	seen := make(map[uint64]bool)
	for range rng.IntN(20) {
		i := rng.Uint64N(1100)
		if rng.IntN(8) == 0 {
			i = 2*far + rng.Uint64N(128)
		}
		if !seen[i] {
			seen[i] = true
			b.Nodes = append(b.Nodes, node(i, uint64(gen)))
		}
	}
	if rng.IntN(2) == 0 {
		b.Head = head(rng.Uint64N(3), rng.Uint64N(1000))
	}
	if rng.IntN(6) == 0 {
		b.Evidence = blockData(uint64(gen), 0, 1+rng.IntN(100))
	}
	return b
}
