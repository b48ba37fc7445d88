package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/disk"
	"github.com/codrive/codrive/storage/memory"
)

// benchAppend appends blocks of 1 KiB in batches of 1 and 100 to memory and
// disk storage, reads and verifies them back, and measures the limits set
// by hashing, signing and syncing in the same run.
func benchAppend(e *env, args []string) error {
	var dir string
	var asJSON bool
	var blocks int
	fs := flags(e, "bench append", nil)
	fs.StringVar(&dir, "dir", "", "directory for the disk cases (default: a temporary directory)")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	fs.IntVar(&blocks, "blocks", 100_000, "blocks per case")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) != 0 || blocks < 100 {
		return fmt.Errorf("%w: --blocks must be at least 100", errUsage)
	}
	tmp, err := os.MkdirTemp(dir, "codrive-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)

	const blockSize = 1024
	r := newReporter(e.stdout, asJSON)
	lim := measureLimits(tmp, blockSize)
	r.add("limit/blake3-1KiB", lim.hash, "blocks/s")
	r.add("limit/ed25519-sign", lim.sign, "signatures/s")
	r.add("limit/fdatasync-batch1", lim.sync[1], "syncs/s")
	r.add("limit/fdatasync-batch100", lim.sync[100], "syncs/s")

	ctx := context.Background()
	data := make([]byte, blockSize)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, storage := range []string{"memory", "disk"} {
		var verifyFeed *feed.Feed
		for _, batch := range []int{1, 100} {
			st, err := openBenchStorage(storage, filepath.Join(tmp, fmt.Sprintf("%s-%d", storage, batch)))
			if err != nil {
				return err
			}
			defer st.Close()
			_, secret, _ := ed25519.GenerateKey(nil)
			f, err := feed.Create(ctx, st, secret)
			if err != nil {
				return err
			}
			buf := make([][]byte, batch)
			for i := range buf {
				buf[i] = data
			}
			start := time.Now()
			for n := 0; n < blocks; n += batch {
				if _, err := f.Append(ctx, buf[:min(batch, blocks-n)]...); err != nil {
					return err
				}
			}
			rate := float64(blocks) / time.Since(start).Seconds()
			name := fmt.Sprintf("append/%s/batch%d", storage, batch)
			r.add(name, rate, "blocks/s")
			r.add(name+"/throughput", rate*blockSize/1e6, "MB/s")
			// The bound if hashing, one signature per batch and, on disk,
			// one sync per batch were all the work there is.
			perBlock := 1/lim.hash + 1/(lim.sign*float64(batch))
			if storage == "disk" {
				perBlock += 1 / (lim.sync[batch] * float64(batch))
			}
			r.add(name+"/of-bound", rate*perBlock, "ratio")
			verifyFeed = f
		}

		// Verify reads every block of the batch-100 feed back from storage
		// and rebuilds its whole tree.
		start := time.Now()
		if err := verifyFeed.Verify(ctx); err != nil {
			return err
		}
		rate := float64(verifyFeed.Length()) / time.Since(start).Seconds()
		r.add("verify/"+storage, rate, "blocks/s")
		r.add("verify/"+storage+"/throughput", rate*blockSize/1e6, "MB/s")
		r.add("verify/"+storage+"/of-bound", rate/lim.hash, "ratio")
	}
	return nil
}

func openBenchStorage(kind, dir string) (sdk.Storage, error) {
	if kind == "memory" {
		return memory.New(), nil
	}
	return disk.Open(dir, disk.Options{})
}

// limits are the costs that bound appends, measured on this machine.
type limits struct {
	hash float64         // 1 KiB leaves hashed per second, on every core
	sign float64         // ed25519 signatures per second, one core
	sync map[int]float64 // fdatasyncs per second after appending one batch of that many blocks
}

func measureLimits(dir string, blockSize int) limits {
	const window = 300 * time.Millisecond
	var lim limits
	data := make([]byte, blockSize)

	var wg sync.WaitGroup
	var mu sync.Mutex
	var hashed int
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			n := 0
			for ; time.Since(start) < window; n++ {
				feed.LeafHash(uint64(n), data)
			}
			mu.Lock()
			hashed += n
			mu.Unlock()
		})
	}
	wg.Wait()
	lim.hash = float64(hashed) / time.Since(start).Seconds()

	_, secret, _ := ed25519.GenerateKey(nil)
	msg := make([]byte, 80)
	n := 0
	for start = time.Now(); time.Since(start) < window; n++ {
		ed25519.Sign(secret, msg)
	}
	lim.sign = float64(n) / time.Since(start).Seconds()

	// A batch on disk also carries its nodes (about 100 bytes a block)
	// and a signed head.
	lim.sync = map[int]float64{}
	for _, batch := range []int{1, 100} {
		lim.sync[batch] = measureSync(dir, batch*(blockSize+100)+100, window)
	}
	return lim
}

// measureSync appends size bytes and fdatasyncs, as the disk storage does
// per batch, for the given time.
func measureSync(dir string, size int, window time.Duration) float64 {
	f, err := os.CreateTemp(dir, "sync-probe-")
	if err != nil {
		return 0
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, size)
	n := 0
	start := time.Now()
	for ; time.Since(start) < window; n++ {
		f.Write(buf)
		fdatasync(f)
	}
	return float64(n) / time.Since(start).Seconds()
}
