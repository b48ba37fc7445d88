package feed_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/storage/disk"
)

// crashChildEnv, when set to a directory, turns the test binary into the
// writer that TestCrashKeepsAcknowledgedBatches kills.
const crashChildEnv = "CODRIVE_FEED_CRASH_CHILD"

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		if err := crashChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

var crashKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{42}, ed25519.SeedSize))

func crashBlock(i uint64) []byte {
	// Sizes vary so that records straddle page and sector boundaries.
	return bytes.Repeat([]byte{byte(i), byte(i >> 8)}, 1+int(i%700))
}

// crashChild appends batches forever, printing the length after each
// acknowledged (synced) batch, until it is killed.
func crashChild(dir string) error {
	ctx := context.Background()
	st, err := disk.Open(dir, disk.Options{})
	if err != nil {
		return err
	}
	var key [32]byte
	copy(key[:], crashKey.Public().(ed25519.PublicKey))
	f, err := feed.Open(ctx, st, key)
	if err != nil {
		if f, err = feed.Create(ctx, st, crashKey); err != nil {
			return err
		}
	}
	out := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewPCG(uint64(os.Getpid()), 1))
	for {
		n := 1 + rng.IntN(50)
		batch := make([][]byte, n)
		for k := range batch {
			batch[k] = crashBlock(f.Length() + uint64(k))
		}
		if _, err := f.Append(ctx, batch...); err != nil {
			return err
		}
		fmt.Fprintln(out, f.Length())
		out.Flush()
	}
}

// TestCrashKeepsAcknowledgedBatches kills a writing process at random
// moments. After each kill the feed must open, verify from scratch, and
// hold at least every batch the writer acknowledged, with exact contents.
func TestCrashKeepsAcknowledgedBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	var key [32]byte
	copy(key[:], crashKey.Public().(ed25519.PublicKey))
	for round := 0; round < 6; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acked := uint64(0)
		sc := bufio.NewScanner(stdout)
		want := 1 + rng.IntN(40)
		for i := 0; i < want && sc.Scan(); i++ {
			if acked, err = strconv.ParseUint(sc.Text(), 10, 64); err != nil {
				t.Fatal(err)
			}
		}
		// Kill mid-write: let it run on for a moment of random length.
		time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		if acked == 0 {
			t.Fatalf("round %d: the writer acknowledged nothing: %s", round, stderr.String())
		}

		st, err := disk.Open(dir, disk.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		f, err := feed.Open(context.Background(), st, key)
		if err != nil {
			t.Fatalf("round %d: open feed after kill: %v", round, err)
		}
		if f.Length() < acked {
			t.Fatalf("round %d: length %d after kill, but %d blocks were acknowledged", round, f.Length(), acked)
		}
		if err := f.Verify(context.Background()); err != nil {
			t.Fatalf("round %d: verify after kill: %v", round, err)
		}
		blocks, err := f.GetRange(context.Background(), 0, f.Length())
		if err != nil {
			t.Fatal(err)
		}
		for i, b := range blocks {
			if !bytes.Equal(b, crashBlock(uint64(i))) {
				t.Fatalf("round %d: block %d has the wrong contents", round, i)
			}
		}
		st.Close()
		t.Logf("round %d: %d acknowledged, %d held after kill", round, acked, f.Length())
	}
}
