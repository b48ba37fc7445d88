package feed

import (
	"fmt"
	"testing"

	"github.com/codrive/codrive/storage/memory"
)

func BenchmarkAppend(b *testing.B) {
	data := make([]byte, 1024)
	for _, batch := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			f, err := Create(ctx, memory.New(), testKey(30))
			if err != nil {
				b.Fatal(err)
			}
			blocks := make([][]byte, batch)
			for i := range blocks {
				blocks[i] = data
			}
			b.SetBytes(int64(batch * len(data)))
			for b.Loop() {
				if _, err := f.Append(ctx, blocks...); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "blocks/s")
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	f, err := Create(ctx, memory.New(), testKey(31))
	if err != nil {
		b.Fatal(err)
	}
	data := make([][]byte, 100)
	for i := range data {
		data[i] = make([]byte, 1024)
	}
	for range 100 {
		f.Append(ctx, data...)
	}
	b.SetBytes(int64(f.ByteLength()))
	for b.Loop() {
		if err := f.Verify(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*float64(f.Length())/b.Elapsed().Seconds(), "blocks/s")
}

func BenchmarkVerifyProof(b *testing.B) {
	f := newWriter(b, 32, 100_000, 1000)
	p, err := f.Proof(ctx, ProofRequest{Start: 77_777, End: 77_778})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := VerifyProof(f.Key(), p); err != nil {
			b.Fatal(err)
		}
	}
}
