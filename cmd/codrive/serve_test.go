package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/internal/plugintest"
)

func TestMain(m *testing.M) {
	os.Exit(plugintest.Main(m))
}

// codriveBinary builds the codrive command, for tests that need real
// processes.
func codriveBinary(t *testing.T) string {
	t.Helper()
	return plugintest.Build(t, "github.com/codrive/codrive/cmd/codrive")
}

// runBinary runs bin to completion, bounded, and returns its exit code,
// stdout and stderr.
func runBinary(t *testing.T, bin, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("codrive %s did not finish: %v\nstderr: %s", strings.Join(args, " "), err, errOut.String())
	}
	if err != nil && cmd.ProcessState == nil {
		t.Fatalf("codrive %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// server is a running "codrive feed serve".
type server struct {
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	done   chan struct{} // closed when the process has exited
}

// lockedBuffer is a buffer one goroutine writes while another reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startServer runs "codrive feed serve" on dir and waits for the first
// address it prints. The process is killed when the test ends if it is
// still running.
func startServer(t *testing.T, bin, dir string) *server {
	t.Helper()
	s := &server{
		cmd:    exec.Command(bin, "feed", "serve", "--dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0"),
		stderr: &lockedBuffer{},
		done:   make(chan struct{}),
	}
	s.cmd.Stderr = s.stderr
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
		s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-s.done
	})
	select {
	case s.addr = <-lines:
	case <-s.done:
		t.Fatalf("feed serve exited without printing an address: %s", s.stderr)
	case <-time.After(time.Minute):
		t.Fatalf("feed serve printed no address within a minute: %s", s.stderr)
	}
	if !strings.HasPrefix(s.addr, "/ip4/127.0.0.1/tcp/") {
		t.Fatalf("feed serve printed %q, want a loopback TCP multiaddr", s.addr)
	}
	return s
}

// stop sends SIGTERM and checks that the server exits cleanly.
func (s *server) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		t.Fatal("feed serve did not exit within 30 s of SIGTERM")
	}
	if code := s.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("feed serve exited with %d after SIGTERM, want 0; stderr: %s", code, s.stderr)
	}
}

// TestServeAndSync: one process serves a feed of 500 blocks, another
// syncs it into its own data directory, which then holds and verifies
// every block.
func TestServeAndSync(t *testing.T) {
	bin := codriveBinary(t)
	dir1, dir2 := t.TempDir(), t.TempDir()
	code, key, stderr := runBinary(t, bin, "", "feed", "create", "--dir", dir1)
	if code != 0 {
		t.Fatalf("feed create: %s", stderr)
	}
	key = strings.TrimSpace(key)
	var blocks strings.Builder
	for i := range 500 {
		fmt.Fprintf(&blocks, "block %d\n", i)
	}
	if code, out, stderr := runBinary(t, bin, blocks.String(), "feed", "append", "--dir", dir1, key); code != 0 || out != "500\n" {
		t.Fatalf("feed append: exit %d, stdout %q, stderr %s", code, out, stderr)
	}

	srv := startServer(t, bin, dir1)
	code, out, stderr := runBinary(t, bin, "", "feed", "sync", "--dir", dir2, "--timeout", "60s", key, srv.addr)
	if code != 0 {
		t.Fatalf("feed sync: exit %d: %s", code, stderr)
	}
	if want := "synced " + key + ": 500 blocks, head at fork 0\n"; out != want {
		t.Errorf("feed sync printed %q, want %q", out, want)
	}

	code, out, stderr = runBinary(t, bin, "", "feed", "get", "--dir", dir2, key, "0", "500")
	if code != 0 {
		t.Fatalf("feed get: %s", stderr)
	}
	if diff := cmp.Diff(blocks.String(), out); diff != "" {
		t.Errorf("synced blocks (-want +got):\n%s", diff)
	}
	code, out, stderr = runBinary(t, bin, "", "feed", "verify", "--dir", dir2, key)
	if want := "ok: 500 of 500 blocks held and verified, head signed at fork 0\n"; code != 0 || out != want {
		t.Errorf("feed verify: exit %d, stdout %q, stderr %s", code, out, stderr)
	}
	srv.stop(t)
}

// TestSyncPeerWithoutFeed: a peer that does not have the feed makes sync
// time out with an error that says so.
func TestSyncPeerWithoutFeed(t *testing.T) {
	bin := codriveBinary(t)
	srv := startServer(t, bin, t.TempDir())
	code, out, stderr := runBinary(t, bin, "", "feed", "sync", "--dir", t.TempDir(), "--timeout", "2s", strings.Repeat("ab", 32), srv.addr)
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q; want 1 and nothing", code, out)
	}
	if want := "codrive feed sync: timed out after 2s: holding 0 of 0 blocks: the connected peers have none of this feed\n"; stderr != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
	srv.stop(t)
}

// TestServeSyncErrors: wrong calls are usage errors (exit 2) and other
// failures one clear line (exit 1), in-process.
func TestServeSyncErrors(t *testing.T) {
	dir := t.TempDir()
	code, key, stderr := codrive(t, "", "feed", "create", "--dir", dir)
	if code != 0 {
		t.Fatal(stderr)
	}
	key = strings.TrimSpace(key)
	other := strings.Repeat("cd", 32)
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"sync without peers", []string{"feed", "sync", "--dir", dir, key}, 2, "want KEY and at least one PEER_MULTIADDR"},
		{"sync to a malformed multiaddr", []string{"feed", "sync", "--dir", dir, other, "/ip4/127.0.0.1/tcpx/1"}, 2, `peer "/ip4/127.0.0.1/tcpx/1" is not a multiaddr`},
		{"sync over udp", []string{"feed", "sync", "--dir", dir, other, "/ip4/127.0.0.1/udp/1"}, 2, "no transport for /ip4/127.0.0.1/udp/1"},
		{"sync a bad key", []string{"feed", "sync", "--dir", dir, "abc", "/ip4/127.0.0.1/tcp/1"}, 2, "invalid feed key"},
		{"sync with a zero timeout", []string{"feed", "sync", "--dir", dir, "--timeout", "0s", other, "/ip4/127.0.0.1/tcp/1"}, 2, "--timeout must be positive"},
		{"sync an unknown transport", []string{"feed", "sync", "--dir", dir, "--transport", "carrier-pigeon", other, "/ip4/127.0.0.1/tcp/1"}, 1, `no transport plugin named "carrier-pigeon"`},
		{"sync a writable feed", []string{"feed", "sync", "--dir", dir, key, "/ip4/127.0.0.1/tcp/1"}, 1, "is writable here"},
		{"sync from nobody", []string{"feed", "sync", "--dir", dir, "--timeout", "300ms", other, "/ip4/127.0.0.1/tcp/1"}, 1,
			"timed out after 300ms: holding 0 of 0 blocks: could not connect to any of the 1 peers"},
		{"serve on a malformed multiaddr", []string{"feed", "serve", "--dir", dir, "--listen", "/bogus"}, 2, `--listen "/bogus" is not a multiaddr`},
		{"serve on a name", []string{"feed", "serve", "--dir", dir, "--listen", "/dns/localhost/tcp/0"}, 2, "needs an IP address"},
		{"serve with a udp peer", []string{"feed", "serve", "--dir", dir, "--peer", "/ip4/127.0.0.1/udp/1"}, 2, "no transport for /ip4/127.0.0.1/udp/1"},
		{"serve a bad key", []string{"feed", "serve", "--dir", dir, "xyz"}, 2, "invalid feed key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := codrive(t, "", tt.args...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if !strings.Contains(stderr, tt.inStderr) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.inStderr)
			}
			if strings.Count(stderr, "\n") > 2 {
				t.Errorf("error is not short: %q", stderr)
			}
			if strings.HasPrefix(tt.args[1], "sync") && stdout != "" {
				t.Errorf("stdout %q, want nothing", stdout)
			}
		})
	}
	// A sync that got nothing leaves no empty replica behind.
	if _, info, _ := codrive(t, "", "feed", "info", "--dir", dir); strings.Contains(info, other) {
		t.Errorf("failed syncs left a replica of %s:\n%s", other, info)
	}
}

func TestHelpHidesInternalCommands(t *testing.T) {
	code, out, _ := codrive(t, "", "help")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"feed serve", "feed sync", "bench replicate"} {
		if !strings.Contains(out, "codrive "+want) {
			t.Errorf("help does not list %q", want)
		}
	}
	if strings.Contains(out, benchPeerCommand) {
		t.Errorf("help lists the internal %s commands:\n%s", benchPeerCommand, out)
	}
}

func TestBenchReplicateJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a benchmark")
	}
	bin := codriveBinary(t)
	// Built next to codrive, the plugin is found in the executable's
	// directory, so the plugin cases run too.
	plugintest.Build(t, "github.com/codrive/codrive/plugins/codrive-plugin-transport-tcp")
	code, stdout, stderr := runBinary(t, bin, "", "bench", "replicate", "--json", "--blocks", "2000", "--large", "50", "--dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stderr, "skipping") {
		t.Errorf("cases skipped: %s", stderr)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q is not a JSON result: %v", line, err)
		}
		if r.Value <= 0 {
			t.Errorf("%s has value %v", r.Name, r.Value)
		}
		got[r.Name] = r.Unit
	}
	want := map[string]string{"limit/tcp-loopback": "MB/s", "limit/disk-sync-8MiB": "MB/s"}
	for _, tr := range []string{"tcp-builtin", "tcp-plugin"} {
		for _, size := range []string{"1KiB", "64KiB"} {
			for _, z := range []string{"", "/zstd"} {
				name := "replicate/" + tr + "/" + size + z
				want[name] = "blocks/s"
				want[name+"/throughput"] = "MB/s"
				want[name+"/wire"] = "ratio"
				if z == "" {
					want[name+"/of-limit"] = "ratio"
				}
			}
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}
