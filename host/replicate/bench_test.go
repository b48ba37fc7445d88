package replicate

import (
	"bytes"
	"crypto/ed25519"
	"math/rand/v2"
	"testing"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/disk"
	"github.com/codrive/codrive/storage/memory"
)

// BenchmarkDownload64KiB replicates 64 MiB of 64 KiB blocks between two
// replicators in this process over loopback TCP, with memory storage on
// both sides, for profiling the protocol path alone.
func BenchmarkDownload64KiB(b *testing.B) {
	benchmarkDownload(b, func(b *testing.B) sdk.Storage { return memory.New() })
}

// BenchmarkDownload64KiBDisk is BenchmarkDownload64KiB with disk storage,
// which syncs every write, on the receiving side: the pipeline of
// receiving, verifying and storing, as in codrive bench replicate.
func BenchmarkDownload64KiBDisk(b *testing.B) {
	benchmarkDownload(b, func(b *testing.B) sdk.Storage {
		st, err := disk.Open(b.TempDir(), disk.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return st
	})
}

func benchmarkDownload(b *testing.B, receiver func(*testing.B) sdk.Storage) {
	const blocks = 1024
	w, err := feed.Create(ctx, memory.New(), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)))
	if err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < blocks; i += 64 {
		batch := make([][]byte, 64)
		for j := range batch {
			batch[j] = make([]byte, 64<<10)
			for k := range batch[j] {
				batch[j][k] = byte(rng.Uint32())
			}
		}
		if _, err := w.Append(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(blocks) << 16)
	for b.Loop() {
		b.StopTimer()
		a, c := newHostB(b), newHostB(b)
		r, err := feed.CreateReader(ctx, receiver(b), w.Key())
		if err != nil {
			b.Fatal(err)
		}
		a.r.Add(w, FeedOptions{})
		c.r.Add(r, FeedOptions{Download: true})
		b.StartTimer()
		c.dialB(b, a)
		// The next change is taken before the check, so that the last
		// one can't land between them unseen.
		for changed := r.Changed(); !r.Has(0, blocks); changed = r.Changed() {
			<-changed
		}
		b.StopTimer()
		a.r.Close()
		c.r.Close()
		b.StartTimer()
	}
}
