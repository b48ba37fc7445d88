package plugins

import (
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/codrive/codrive/internal/plugintest"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

const (
	diskPluginPkg   = "github.com/codrive/codrive/plugins/codrive-plugin-storage-disk"
	memoryPluginPkg = "github.com/codrive/codrive/plugins/codrive-plugin-storage-memory"
)

// loadExternal loads a storage plugin binary and returns it with its
// supervisor, for tests that reach into the process.
func loadExternal(t *testing.T, pkg string, cfg plugin.Config) (*supervisedStorage, *Loader) {
	t.Helper()
	l := New(Config{})
	t.Cleanup(func() { l.Close() })
	st, err := l.Storage(context.Background(), plugintest.Build(t, pkg), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return st.(*supervisedStorage), l
}

func (e *external) pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client == nil {
		return 0
	}
	return e.client.ReattachConfig().Pid
}

// fill writes n blocks of 1 KiB to one feed.
func fill(t *testing.T, st sdk.Storage, key sdk.FeedKey, n int) {
	t.Helper()
	ctx := context.Background()
	if err := st.Create(ctx, sdk.FeedHeader{Key: key}); err != nil {
		t.Fatal(err)
	}
	b := &sdk.Batch{}
	for i := 0; i < n; i++ {
		b.Blocks = append(b.Blocks, sdk.Block{Index: uint64(i), Data: make([]byte, 1024)})
	}
	if err := st.Write(ctx, key, b); err != nil {
		t.Fatal(err)
	}
}

// TestStaleErrorSparesRestartedPlugin: a call on a process that has been
// replaced fails late; that must not kill the replacement.
func TestStaleErrorSparesRestartedPlugin(t *testing.T) {
	st, _ := loadExternal(t, diskPluginPkg, plugin.Config{"dir": t.TempDir()})
	key := sdk.FeedKey{1}
	fill(t, st, key, 3000) // about 3 MiB: several stream chunks
	ctx := context.Background()
	old := st.ext.pid()
	restarted := 0
	err := st.StreamBlocks(ctx, key, 0, 3000, func(uint64, [][]byte) error {
		if restarted != 0 {
			return nil
		}
		// Kill the process serving this very stream, and let another
		// caller bring up its replacement before the stream notices.
		syscall.Kill(old, syscall.SIGKILL)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if _, err := st.Feeds(ctx); err == nil {
				restarted = st.ext.pid()
				break
			}
		}
		return nil
	})
	if restarted == 0 || restarted == old {
		t.Fatalf("the plugin was not restarted (old pid %d, new %d); stream: %v", old, restarted, err)
	}
	if err == nil {
		t.Fatal("a stream from a killed process succeeded")
	}
	if got := st.ext.pid(); got != restarted {
		t.Fatalf("the late error of the old process killed its replacement: pid %d, want %d", got, restarted)
	}
	if _, err := st.Feeds(ctx); err != nil {
		t.Fatalf("the replacement does not answer: %v", err)
	}
}

// TestCallerErrorsAreNotCrashes: the caller's own callback error, even one
// that looks like an unavailable plugin, leaves the plugin alone.
func TestCallerErrorsAreNotCrashes(t *testing.T) {
	st, _ := loadExternal(t, diskPluginPkg, plugin.Config{"dir": t.TempDir()})
	key := sdk.FeedKey{2}
	fill(t, st, key, 10)
	pid := st.ext.pid()
	mine := errors.New("my destination is down: " + plugin.ErrUnavailable.Error())
	err := st.StreamBlocks(context.Background(), key, 0, 10, func(uint64, [][]byte) error {
		return errors.Join(mine, plugin.ErrUnavailable)
	})
	if !errors.Is(err, mine) {
		t.Fatalf("StreamBlocks returned %v, want the callback's error", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	time.Sleep(time.Millisecond)
	st.Feeds(ctx) // a caller's deadline, already passed
	if got := st.ext.pid(); got != pid {
		t.Fatalf("a caller's error restarted the plugin: pid %d, want %d", got, pid)
	}
}

// TestMemoryPluginIsNotRestarted: a storage that kept its data in memory
// lost it in the crash; it must fail, not come back empty.
func TestMemoryPluginIsNotRestarted(t *testing.T) {
	st, _ := loadExternal(t, memoryPluginPkg, nil)
	fill(t, st, sdk.FeedKey{3}, 1)
	syscall.Kill(st.ext.pid(), syscall.SIGKILL)
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err = st.Feeds(context.Background()); err != nil && strings.Contains(err.Error(), "not restarted") {
			break
		}
	}
	if err == nil || !strings.Contains(err.Error(), "not restarted") || !errors.Is(err, plugin.ErrUnavailable) {
		t.Fatalf("after the memory plugin crashed: %v, want it reported lost", err)
	}
}

// TestCloseDuringCall: a call cut short by Close reports the plugin
// closed, not crashed.
func TestCloseDuringCall(t *testing.T) {
	st, _ := loadExternal(t, diskPluginPkg, plugin.Config{"dir": t.TempDir()})
	key := sdk.FeedKey{4}
	// Far more than the connection's flow window, so the stream is still
	// running when the plugin stops.
	const n = 32 << 10
	fill(t, st, key, n)
	closed := make(chan error, 1)
	err := st.StreamBlocks(context.Background(), key, 0, n, func(uint64, [][]byte) error {
		select {
		case <-closed:
		default:
			closed <- st.Close()
		}
		return nil
	})
	if err == nil || !errors.Is(err, sdk.ErrClosed) {
		t.Fatalf("a stream cut by Close: %v, want ErrClosed", err)
	}
}

func TestBackoffGrows(t *testing.T) {
	e := &external{loader: New(Config{}), kind: plugin.KindStorage, name: "x", path: "/x"}
	e.started = time.Now().Add(-2 * stableAfter) // it had been up a long while
	var waits []time.Duration
	for range 4 {
		e.noteCrash(errors.New("boom"))
		waits = append(waits, time.Until(e.nextStart).Round(50*time.Millisecond))
	}
	for i := 1; i < len(waits); i++ {
		if waits[i] <= waits[i-1] {
			t.Fatalf("backoff does not grow over repeated crashes: %v", waits)
		}
	}
}
