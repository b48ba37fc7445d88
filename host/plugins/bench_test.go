package plugins_test

import (
	"context"
	"crypto/ed25519"
	"testing"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/plugins"
	"github.com/codrive/codrive/internal/plugintest"
)

// BenchmarkExternalAppend appends batches of 100 blocks of 1 KiB through
// the memory storage plugin process, for profiling the host side.
func BenchmarkExternalAppend(b *testing.B) {
	bin := plugintest.Build(b, memoryPlugin)
	l := plugins.New(plugins.Config{})
	defer l.Close()
	ctx := context.Background()
	st, err := l.Storage(ctx, bin, nil)
	if err != nil {
		b.Fatal(err)
	}
	f, err := feed.Create(ctx, st, ed25519.NewKeyFromSeed(make([]byte, 32)))
	if err != nil {
		b.Fatal(err)
	}
	batch := make([][]byte, 100)
	for i := range batch {
		batch[i] = make([]byte, 1024)
	}
	for b.Loop() {
		if _, err := f.Append(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "blocks/s")
}

// BenchmarkExternalReadRange reads verified ranges of 1,000 blocks of
// 1 KiB through the memory storage plugin process.
func BenchmarkExternalReadRange(b *testing.B) {
	bin := plugintest.Build(b, memoryPlugin)
	l := plugins.New(plugins.Config{})
	defer l.Close()
	ctx := context.Background()
	st, err := l.Storage(ctx, bin, nil)
	if err != nil {
		b.Fatal(err)
	}
	f, err := feed.Create(ctx, st, ed25519.NewKeyFromSeed(make([]byte, 32)))
	if err != nil {
		b.Fatal(err)
	}
	batch := make([][]byte, 1000)
	for i := range batch {
		batch[i] = make([]byte, 1024)
	}
	for range 20 {
		if _, err := f.Append(ctx, batch...); err != nil {
			b.Fatal(err)
		}
	}
	i := uint64(0)
	for b.Loop() {
		if _, err := f.GetRange(ctx, i, i+1000); err != nil {
			b.Fatal(err)
		}
		i = (i + 1000) % 20_000
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "blocks/s")
}
