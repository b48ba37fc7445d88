package disk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/codrive/codrive/sdk"
)

// The crash test runs this test binary again as a child process that
// writes batches until it is killed. These variables tell the child where
// and how.
const (
	crashDirEnv  = "CODRIVE_DISK_CRASH_CHILD"
	crashSyncEnv = "CODRIVE_DISK_CRASH_SYNC"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(crashDirEnv); dir != "" {
		if err := crashChild(dir, os.Getenv(crashSyncEnv) == SyncNone.String()); err != nil {
			fmt.Fprintln(os.Stderr, "crash child:", err)
			os.Exit(2)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashBlocks is the number of blocks each crash batch adds.
const crashBlocks = 8

var crashKey = testKey(42)

// crashBatch returns batch n of the crash test's feed. After it the feed
// holds (n+1)*crashBlocks blocks and a head of that length. Block sizes
// vary from batch to batch, and every fifth batch first truncates and
// rewrites the last blocks of the one before.
func crashBatch(n uint64) *sdk.Batch {
	start, end := n*crashBlocks, (n+1)*crashBlocks
	if n%5 == 4 {
		start -= 3
	}
	b := blocksBatch(start, end, 50+int(n%7)*400, byte(n))
	if n%5 == 4 {
		b.Truncate, b.TruncateTo = true, start
		b.Evidence = []byte(fmt.Sprintf("evidence %d", n))
	}
	return b
}

// crashChild appends crash batches after whatever dir holds, printing the
// number of each batch once its Write has returned, until it is killed.
func crashChild(dir string, syncNone bool) error {
	opts := quiet
	if syncNone {
		opts.Sync = SyncNone
	}
	s, err := Open(dir, opts)
	if err != nil {
		return err
	}
	ctx := context.Background()
	err = s.Create(ctx, sdk.FeedHeader{Key: crashKey, SecretKey: testSecret(42)})
	if err != nil && !errors.Is(err, sdk.ErrExists) {
		return err
	}
	st, err := s.Load(ctx, crashKey)
	if err != nil {
		return err
	}
	for n := st.Head.Length / crashBlocks; ; n++ {
		if err := s.Write(ctx, crashKey, crashBatch(n)); err != nil {
			return err
		}
		if _, err := fmt.Println(n); err != nil {
			return err
		}
	}
}

// TestCrash kills a writing child process at random moments and checks that
// the storage then holds every batch the child saw acknowledged, possibly
// one more, and nothing of any other.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	dir := t.TempDir()
	stored := uint64(0) // batches known to be stored

	for round := range 8 {
		policy := []SyncPolicy{SyncEveryBatch, SyncNone}[round%2]
		var stderr bytes.Buffer
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashSyncEnv+"="+policy.String())
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}

		killAfter := 1 + rng.IntN(40)
		acked := 0
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			n, err := strconv.ParseUint(lines.Text(), 10, 64)
			if err != nil || n < stored {
				cmd.Process.Kill()
				t.Fatalf("round %d: child printed %q after %d batches were stored", round, lines.Text(), stored)
			}
			stored = n + 1
			acked++
			if acked == 1 {
				checkLockedBy(t, dir, cmd.Process.Pid)
			}
			if acked == killAfter {
				cmd.Process.Kill()
			}
			// Keep reading after the kill: a batch acknowledged meanwhile
			// must be stored too.
		}
		cmd.Wait()
		if acked < killAfter {
			t.Fatalf("round %d: child stopped after %d batches: %s", round, acked, stderr.String())
		}

		s := open(t, dir)
		st, err := s.Load(context.Background(), crashKey)
		if err != nil {
			t.Fatalf("round %d: Load: %v", round, err)
		}
		// The batch being written when the kill came may have made it.
		got := st.Head.Length / crashBlocks
		if got != stored && got != stored+1 {
			t.Fatalf("round %d: storage holds %d batches, want %d or %d", round, got, stored, stored+1)
		}
		m := newModel(sdk.FeedHeader{Key: crashKey, SecretKey: testSecret(42)})
		for n := range got {
			m.apply(crashBatch(n))
		}
		m.check(t, s)
		closeStorage(t, s)
		t.Logf("round %d (%v): killed after %d acknowledged batches; %d stored", round, policy, acked, got)
		stored = got
	}
}

// checkLockedBy checks that Open on dir fails naming pid.
func checkLockedBy(t *testing.T, dir string, pid int) {
	t.Helper()
	s, err := Open(dir, quiet)
	if err == nil {
		s.Close()
		t.Fatal("Open succeeded while the child had the directory open")
	}
	want := (&InUseError{Dir: dir, PID: pid}).Error()
	if err.Error() != want {
		t.Fatalf("Open while the child has the directory: %v, want %q", err, want)
	}
}
