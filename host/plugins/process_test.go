package plugins_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/plugins"
	"github.com/codrive/codrive/internal/plugintest"
	"github.com/codrive/codrive/sdk/plugin"
)

// childPlugins returns the pids of this process's children running bin.
func childPlugins(t *testing.T, bin string) []int {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("finds plugin processes through /proc")
	}
	return findChildren(bin)
}

func findChildren(bin string) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(os.Getpid()) && sameFile(filepath.Join("/proc", e.Name(), "exe"), bin) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// sameFile compares files, not paths, so symlinks in TMPDIR don't matter.
func sameFile(a, b string) bool {
	fa, errA := os.Stat(a)
	fb, errB := os.Stat(b)
	return errA == nil && errB == nil && os.SameFile(fa, fb)
}

// alive reports whether pid runs and is not a zombie waiting to be reaped.
func alive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(stat)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	return len(fields) > 0 && fields[0] != "Z"
}

// TestCrashedStoragePluginRestarts kills the disk storage plugin while a
// feed appends through it. The calls in flight fail with an error naming
// the plugin; the next call restarts it, and the feed reopens whole, with
// every acknowledged batch.
func TestCrashedStoragePluginRestarts(t *testing.T) {
	bin := plugintest.Build(t, diskPlugin)
	dir := t.TempDir()
	l := newLoader(t, plugins.Config{})
	ctx := context.Background()
	st, err := l.Storage(ctx, bin, plugin.Config{"dir": dir})
	if err != nil {
		t.Fatal(err)
	}
	f, err := feed.Create(ctx, st, ed25519.NewKeyFromSeed(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	batch := make([][]byte, 50)
	for i := range batch {
		batch[i] = make([]byte, 1000)
	}
	pids := childPlugins(t, bin)
	if len(pids) != 1 {
		t.Fatalf("found %d plugin processes, want 1", len(pids))
	}
	killed := make(chan struct{})
	go func() {
		time.Sleep(100 * time.Millisecond)
		syscall.Kill(pids[0], syscall.SIGKILL)
		close(killed)
	}()
	var acked uint64
	var crashErr error
	for i := 0; i < 100_000 && crashErr == nil; i++ {
		if _, err := f.Append(ctx, batch...); err != nil {
			crashErr = err
			break
		}
		acked = f.Length()
	}
	<-killed
	if crashErr == nil || !strings.Contains(crashErr.Error(), "crashed") || !strings.Contains(crashErr.Error(), "storage plugin \"disk\"") {
		t.Fatalf("append during the crash: %v, want an error naming the crashed plugin", crashErr)
	}

	// The next calls restart it after a short backoff.
	var g *feed.Feed
	deadline := time.Now().Add(10 * time.Second)
	for {
		g, err = feed.Open(ctx, st, f.Key())
		if err == nil || time.Now().After(deadline) {
			break
		}
		if !errors.Is(err, plugin.ErrUnavailable) {
			t.Fatalf("reopen after crash: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("the plugin did not come back: %v", err)
	}
	if g.Length() < acked {
		t.Fatalf("length %d after the crash, %d acknowledged", g.Length(), acked)
	}
	if err := g.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Append(ctx, batch...); err != nil {
		t.Fatalf("append after restart: %v", err)
	}
	if n := len(childPlugins(t, bin)); n != 1 {
		t.Fatalf("%d plugin processes after restart, want 1", n)
	}
	l.Close()
	for deadline := time.Now().Add(5 * time.Second); len(childPlugins(t, bin)) > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(childPlugins(t, bin)); n != 0 {
		t.Fatalf("%d plugin processes left after Close", n)
	}
}

const hostChildEnv = "CODRIVE_PLUGINS_TEST_HOST"

// hostChild, in a child test process, loads the plugin named by the
// environment, prints the plugin's pid and waits to be killed.
func hostChild() bool {
	bin := os.Getenv(hostChildEnv)
	if bin == "" {
		return false
	}
	l := plugins.New(plugins.Config{})
	if _, err := l.Storage(context.Background(), bin, nil); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	pids := findChildren(bin)
	if len(pids) != 1 {
		fmt.Println("error: plugin processes", pids)
		os.Exit(1)
	}
	fmt.Println("plugin", pids[0])
	time.Sleep(time.Minute)
	os.Exit(0)
	return true
}

// TestPluginExitsWithHost: when the host dies without stopping its
// plugins (SIGKILL), the plugins notice and exit by themselves.
func TestPluginExitsWithHost(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("finds plugin processes through /proc")
	}
	bin := plugintest.Build(t, memoryPlugin)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), hostChildEnv+"="+bin)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		t.Fatal("the host child printed nothing")
	}
	var pid int
	if _, err := fmt.Sscanf(sc.Text(), "plugin %d", &pid); err != nil {
		t.Fatalf("host child: %q", sc.Text())
	}
	cmd.Process.Kill()
	cmd.Wait()
	deadline := time.Now().Add(10 * time.Second)
	for alive(pid) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if alive(pid) {
		syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("plugin %d outlived its host", pid)
	}
}
