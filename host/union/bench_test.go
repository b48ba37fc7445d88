package union_test

import (
	"fmt"
	"testing"

	"github.com/codrive/codrive/conflict/vclock"
	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/union"
	"github.com/codrive/codrive/sdk"
)

// mergedDrives returns writers drives that each hold the same n files in
// /dir, each writer having seen the ones before it.
func mergedDrives(b *testing.B, writers, n int) []*drive.Drive {
	ctx := b.Context()
	s := newStoreTB(b)
	drives := make([]*drive.Drive, writers)
	for w := range drives {
		d, err := drive.Create(ctx, s, fmt.Sprint("w", w), drive.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close() })
		var clock sdk.VectorClock
		for _, o := range drives[:w] {
			clock = drive.MergeClock(clock, sdk.VectorClock{{Writer: o.Key(), Length: o.Length()}})
		}
		batch := make([]*drive.Entry, 0, n)
		for i := range n {
			batch = append(batch, &drive.Entry{Kind: drive.KindFile, Path: fmt.Sprintf("/dir/file-%06d", i),
				Mode: 0o644, WallClock: int64(1e18) + int64((w*7919+i*104729)%1_000_003), Clock: clock})
		}
		if _, err := d.Append(ctx, batch...); err != nil {
			b.Fatal(err)
		}
		drives[w] = d
	}
	return drives
}

// BenchmarkReadDirMerged lists 10,000 entries held by 10 writers each,
// in a fresh view (nothing cached) every time.
func BenchmarkReadDirMerged(b *testing.B) {
	drives := mergedDrives(b, 10, 10_000)
	ctx := b.Context()
	for b.Loop() {
		v, err := union.New(union.Config{Drives: drives, Resolver: vclock.New()})
		if err != nil {
			b.Fatal(err)
		}
		list, err := v.ReadDir(ctx, "/dir")
		if err != nil || len(list) != 10_000 {
			b.Fatal(len(list), err)
		}
		v.Close()
	}
}
