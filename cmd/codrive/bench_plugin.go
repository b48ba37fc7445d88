package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// benchPlugin runs the feed workloads against each storage twice in one
// run, builtin and through its plugin binary, and reports both and their
// ratio.
func benchPlugin(e *env, args []string) error {
	var dir string
	var asJSON bool
	var blocks int
	var pluginDirs stringList
	fs := flags(e, "bench plugin", nil)
	fs.StringVar(&dir, "dir", "", "directory for the disk cases (default: a temporary directory)")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	fs.IntVar(&blocks, "blocks", 100_000, "blocks per case")
	fs.Var(&pluginDirs, "plugin-dir", "directory to search for plugin binaries (repeatable)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) != 0 || blocks < 1000 {
		return fmt.Errorf("%w: --blocks must be at least 1000", errUsage)
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
	for _, name := range []string{"memory", "disk"} {
		bin, err := l.Find(plugin.KindStorage, name)
		if err != nil {
			return fmt.Errorf("%w; build the plugins with: go build -o bin/ ./cmd/codrive ./plugins/...", err)
		}
		var results [2]storageFigures
		for i, target := range []string{name, bin} {
			st, err := l.Storage(ctx, target, plugin.Config{"dir": filepath.Join(tmp, fmt.Sprintf("%s-%d", name, i))})
			if err != nil {
				return err
			}
			results[i], err = measureStorage(ctx, st, blocks)
			st.Close()
			if err != nil {
				return err
			}
		}
		b, x := results[0], results[1]
		for _, c := range []struct {
			workload string
			unit     string
			builtin  float64
			external float64
			ratio    float64
		}{
			{"append-batch100", "blocks/s", b.append, x.append, x.append / b.append},
			{"read-range", "blocks/s", b.readRange, x.readRange, x.readRange / b.readRange},
			{"verify", "blocks/s", b.verify, x.verify, x.verify / b.verify},
			// For latencies the ratio is builtin/external, so that for every
			// figure 1.0 means "as fast as builtin".
			{"read-block-p50", "µs", b.p50, x.p50, b.p50 / x.p50},
			{"read-block-p99", "µs", b.p99, x.p99, b.p99 / x.p99},
		} {
			name := "plugin/" + name + "/" + c.workload
			r.add(name+"/builtin", c.builtin, c.unit)
			r.add(name+"/external", c.external, c.unit)
			r.add(name+"/ratio", c.ratio, "ratio")
		}
	}
	return nil
}

// storageFigures are one storage's results.
type storageFigures struct {
	append, readRange, verify float64 // blocks/s
	p50, p99                  float64 // µs for one verified block read
}

// measureStorage appends blocks of 1 KiB in batches of 100, reads them
// back in verified ranges of 1,000, verifies the whole feed, and times
// single verified block reads at random.
func measureStorage(ctx context.Context, st sdk.Storage, blocks int) (storageFigures, error) {
	var m storageFigures
	_, secret, _ := ed25519.GenerateKey(nil)
	f, err := feed.Create(ctx, st, secret)
	if err != nil {
		return m, err
	}
	data := make([]byte, 1024)
	batch := make([][]byte, 100)
	for i := range batch {
		batch[i] = data
	}
	start := time.Now()
	for n := 0; n < blocks; n += len(batch) {
		if _, err := f.Append(ctx, batch[:min(len(batch), blocks-n)]...); err != nil {
			return m, err
		}
	}
	m.append = float64(blocks) / time.Since(start).Seconds()

	start = time.Now()
	for s := uint64(0); s < uint64(blocks); s += 1000 {
		if _, err := f.GetRange(ctx, s, min(s+1000, uint64(blocks))); err != nil {
			return m, err
		}
	}
	m.readRange = float64(blocks) / time.Since(start).Seconds()

	start = time.Now()
	if err := f.Verify(ctx); err != nil {
		return m, err
	}
	m.verify = float64(blocks) / time.Since(start).Seconds()

	rng := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 2000)
	for i := range lat {
		i0 := rng.Uint64N(uint64(blocks))
		t := time.Now()
		if _, err := f.Get(ctx, i0); err != nil {
			return m, err
		}
		lat[i] = time.Since(t)
	}
	slices.Sort(lat)
	m.p50 = float64(lat[len(lat)/2].Nanoseconds()) / 1e3
	m.p99 = float64(lat[len(lat)*99/100].Nanoseconds()) / 1e3
	return m, nil
}
