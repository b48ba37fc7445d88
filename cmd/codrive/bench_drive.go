package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"time"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/union"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
	"github.com/codrive/codrive/storage/disk"
	"github.com/codrive/codrive/storage/memory"
)

// benchDrive measures the file-system layer: writing and reading files,
// stat, a directory merged across writers with the builtin and the
// plugin resolver, and opening a drive of many entries from disk.
func benchDrive(e *env, args []string) error {
	var dir string
	var asJSON bool
	var files, entries, writers, listing int
	var resolver, profile string
	var pluginDirs stringList
	fs := flags(e, "bench drive", nil)
	fs.StringVar(&dir, "dir", "", "directory for the disk cases (default: a temporary directory)")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	fs.IntVar(&files, "files", 10_000, "files of 4 KiB to write and read")
	fs.IntVar(&listing, "listing", 10_000, "entries in the merged directory")
	fs.IntVar(&writers, "writers", 10, "writers the merged directory spans")
	fs.IntVar(&entries, "entries", 1_000_000, "entries of the drive opened from disk")
	fs.StringVar(&resolver, "resolver", "vclock", "resolver to measure, builtin and as a plugin")
	fs.Var(&pluginDirs, "plugin-dir", "directory to search for plugin binaries (repeatable)")
	fs.StringVar(&profile, "cpuprofile", "", "write a CPU profile of opening the large drive to FILE")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) != 0 || files < 100 || listing < 100 || writers < 2 || entries < 1000 {
		return fmt.Errorf("%w: need --files >= 100, --listing >= 100, --writers >= 2, --entries >= 1000", errUsage)
	}
	tmp, err := os.MkdirTemp(dir, "codrive-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	l := newLoader(e, pluginDirs)
	defer l.Close()
	ctx := context.Background()
	r := newReporter(e.stdout, asJSON)

	if err := benchFiles(ctx, r, filepath.Join(tmp, "files"), files); err != nil {
		return err
	}
	bin, err := l.Find(plugin.KindResolver, resolver)
	if err != nil {
		return fmt.Errorf("%w; build the plugins with: go build -o bin/ ./cmd/codrive ./plugins/...", err)
	}
	var ms [2]float64
	for i, target := range []string{resolver, bin} {
		res, err := l.Resolver(ctx, target, plugin.Config{})
		if err != nil {
			return err
		}
		ms[i], err = benchMerged(ctx, res, writers, listing)
		if err != nil {
			return err
		}
	}
	r.add("drive/readdir-merged/builtin", ms[0], "ms")
	r.add("drive/readdir-merged/plugin", ms[1], "ms")
	r.add("drive/readdir-merged/plugin-ratio", ms[1]/ms[0], "ratio")
	return benchOpen(ctx, r, filepath.Join(tmp, "open"), entries, profile)
}

// benchFiles writes files of 4 KiB to a drive on disk (synced per
// write), reads them back, and stats random paths.
func benchFiles(ctx context.Context, r *reporter, dir string, files int) error {
	st, err := disk.Open(dir, disk.Options{})
	if err != nil {
		return err
	}
	store, err := feedstore.New(st, feedstore.NewSeed())
	if err != nil {
		return err
	}
	defer store.Close()
	d, err := drive.Create(ctx, store, "bench", drive.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	v, err := union.New(union.Config{Writer: d})
	if err != nil {
		return err
	}
	defer v.Close()
	data := bytes.Repeat([]byte("codrive!"), 512)
	path := func(i int) string { return fmt.Sprintf("/files/%03d/%06d.txt", i%100, i) }
	start := time.Now()
	for i := range files {
		if err := v.WriteFile(ctx, path(i), data, 0o644); err != nil {
			return err
		}
	}
	r.add("drive/write-4KiB/files-per-s", float64(files)/time.Since(start).Seconds(), "files/s")
	start = time.Now()
	for i := range files {
		got, err := v.ReadFile(ctx, path(i))
		if err != nil {
			return err
		}
		if !bytes.Equal(got, data) {
			return fmt.Errorf("bench drive: %s reads back wrong", path(i))
		}
	}
	r.add("drive/read-4KiB/files-per-s", float64(files)/time.Since(start).Seconds(), "files/s")
	// Stat at random: after the first touch of each path, as a
	// long-running reader sees it.
	const stats = 100_000
	lat := make([]time.Duration, stats)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range stats {
		p := path(rng.IntN(files))
		t0 := time.Now()
		if _, err := v.Stat(ctx, p); err != nil {
			return err
		}
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	r.add("drive/stat/p50", micros(lat[stats/2]), "µs")
	r.add("drive/stat/p99", micros(lat[stats*99/100]), "µs")
	// Cold: the first stat of each path in a fresh view, nothing cached.
	cold, err := union.New(union.Config{Writer: d})
	if err != nil {
		return err
	}
	defer cold.Close()
	lat = lat[:files]
	for i, k := range rng.Perm(files) {
		t0 := time.Now()
		if _, err := cold.Stat(ctx, path(k)); err != nil {
			return err
		}
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	r.add("drive/stat-cold/p50", micros(lat[files/2]), "µs")
	r.add("drive/stat-cold/p99", micros(lat[files*99/100]), "µs")
	return nil
}

func micros(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// benchMerged lists a directory of listing entries that every one of
// writers drives holds (so each name has a candidate per writer), in a
// fresh view each time so nothing is cached, and returns the median in
// milliseconds.
func benchMerged(ctx context.Context, res sdk.Resolver, writers, listing int) (float64, error) {
	store, err := feedstore.New(memory.New(), feedstore.NewSeed())
	if err != nil {
		return 0, err
	}
	defer store.Close()
	drives := make([]*drive.Drive, writers)
	for w := range drives {
		d, err := drive.Create(ctx, store, "writer-"+strconv.Itoa(w), drive.Options{})
		if err != nil {
			return 0, err
		}
		defer d.Close()
		drives[w] = d
		// Entries are written directly: the listing, not the writing, is
		// measured. Each writer has seen the others' earlier entries.
		batch := make([]*drive.Entry, 0, 1000)
		for i := range listing {
			batch = append(batch, &drive.Entry{
				Kind: drive.KindFile, Path: fmt.Sprintf("/dir/file-%06d", i), Mode: 0o644,
				WallClock: int64(1e18) + int64(rng(w, i)), Clock: clockOf(drives[:w]),
			})
			if len(batch) == cap(batch) || i == listing-1 {
				if _, err := d.Append(ctx, batch...); err != nil {
					return 0, err
				}
				batch = batch[:0]
			}
		}
	}
	const runs = 9
	times := make([]time.Duration, runs)
	for i := range times {
		v, err := union.New(union.Config{Drives: drives, Resolver: res})
		if err != nil {
			return 0, err
		}
		t0 := time.Now()
		list, err := v.ReadDir(ctx, "/dir")
		times[i] = time.Since(t0)
		v.Close()
		if err != nil {
			return 0, err
		}
		if len(list) != listing {
			return 0, fmt.Errorf("bench drive: merged listing has %d entries, want %d", len(list), listing)
		}
	}
	slices.Sort(times)
	return float64(times[runs/2].Microseconds()) / 1e3, nil
}

func rng(w, i int) int { return (w*7919 + i*104729) % 1_000_003 }

// clockOf is a clock that has seen all of drives.
func clockOf(drives []*drive.Drive) sdk.VectorClock {
	var c sdk.VectorClock
	for _, d := range drives {
		c = drive.MergeClock(c, sdk.VectorClock{{Writer: d.Key(), Length: d.Length()}})
	}
	return c
}

// benchOpen writes a drive of n file entries to disk, then opens it again
// in this process and reports the time and the heap the open took.
func benchOpen(ctx context.Context, r *reporter, dir string, n int, profile string) error {
	seed := feedstore.NewSeed()
	st, err := disk.Open(dir, disk.Options{})
	if err != nil {
		return err
	}
	store, err := feedstore.New(st, seed)
	if err != nil {
		return err
	}
	d, err := drive.Create(ctx, store, "big", drive.Options{})
	if err != nil {
		return err
	}
	key := d.Key()
	batch := make([]*drive.Entry, 0, 10_000)
	for i := range n {
		batch = append(batch, &drive.Entry{
			Kind: drive.KindFile, Mode: 0o644, WallClock: int64(1e18) + int64(i),
			// 10 top directories of 1,000 directories of 100 files.
			Path: fmt.Sprintf("/tree/%02d/%03d/file-%07d.dat", (i/100_000)%100, (i/100)%1000, i),
		})
		if len(batch) == cap(batch) || i == n-1 {
			if _, err := d.Append(ctx, batch...); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	d.Close()
	store.Close()

	before := heapInUse()
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	start := time.Now()
	st, err = disk.Open(dir, disk.Options{})
	if err != nil {
		return err
	}
	store, err = feedstore.New(st, seed)
	if err != nil {
		return err
	}
	defer store.Close()
	d, err = drive.Open(ctx, store, key, drive.Options{})
	if err != nil {
		return err
	}
	defer d.Close()
	elapsed := time.Since(start)
	if profile != "" {
		pprof.StopCPUProfile()
	}
	if got := d.Length(); got != uint64(n)+1 {
		return fmt.Errorf("bench drive: reopened drive has %d blocks, want %d", got, n+1)
	}
	heap := heapInUse() - before
	r.add("drive/open-1M/seconds", elapsed.Seconds(), "s")
	r.add("drive/open-1M/bytes-per-entry", float64(heap)/float64(n), "bytes")
	runtime.KeepAlive(d)
	return nil
}

// heapInUse is the live heap after a collection.
func heapInUse() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
