package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/internal/plugintest"
)

// These tests run real codrive processes: daemons on 127.0.0.1, each
// with its own data directory, and the commands against them, which go
// through each daemon's control API (the daemon holds the storage lock,
// so a command that opened the store itself would fail).

// pollWait bounds every wait for a condition between processes.
const pollWait = time.Minute

// daemonProc is a running "codrive daemon".
type daemonProc struct {
	dir    string
	addr   string
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{} // closed when the process has exited
}

// startDaemon runs "codrive daemon" on dir and waits for the first
// address it prints. The process is killed when the test ends if it is
// still running.
func startDaemon(t *testing.T, bin, dir string, args ...string) *daemonProc {
	t.Helper()
	d := &daemonProc{
		dir:    dir,
		cmd:    exec.Command(bin, append([]string{"daemon", "--dir", dir}, args...)...),
		stderr: &lockedBuffer{},
		done:   make(chan struct{}),
	}
	d.cmd.Stderr = d.stderr
	stdout, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		io.Copy(io.Discard, stdout)
		d.cmd.Wait()
		close(d.done)
	}()
	t.Cleanup(func() {
		d.cmd.Process.Kill()
		<-d.done
	})
	select {
	case d.addr = <-lines:
	case <-d.done:
		t.Fatalf("the daemon on %s exited without printing an address: %s", dir, d.stderr)
	case <-time.After(time.Minute):
		t.Fatalf("the daemon on %s printed no address within a minute: %s", dir, d.stderr)
	}
	if !strings.HasPrefix(d.addr, "/ip4/127.0.0.1/tcp/") {
		t.Fatalf("the daemon printed %q, want a loopback TCP multiaddr", d.addr)
	}
	return d
}

// stop sends SIGTERM and checks that the daemon exits cleanly.
func (d *daemonProc) stop(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the daemon on %s did not exit within 30 s of SIGTERM", d.dir)
	}
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the daemon on %s exited with %d after SIGTERM, want 0; stderr: %s", d.dir, code, d.stderr)
	}
}

// cliDir runs codrive commands in one data directory.
type cliDir struct {
	t   *testing.T
	bin string
	dir string
}

// run runs one command to completion.
func (c cliDir) run(stdin string, args ...string) (int, string, string) {
	c.t.Helper()
	return runBinary(c.t, c.bin, stdin, append(args, "--dir", c.dir)...)
}

// must runs a command that must succeed and returns its stdout.
func (c cliDir) must(stdin string, args ...string) string {
	c.t.Helper()
	code, out, stderr := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("codrive %s in %s: exit %d: %s", strings.Join(args, " "), filepath.Base(c.dir), code, stderr)
	}
	return out
}

// poll runs a command until ok accepts its outcome, within pollWait.
func (c cliDir) poll(what string, ok func(code int, stdout, stderr string) bool, args ...string) {
	c.t.Helper()
	deadline := time.Now().Add(pollWait)
	for {
		code, stdout, stderr := c.run("", args...)
		if ok(code, stdout, stderr) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s: last exit %d, stdout %q, stderr %q", what, code, stdout, stderr)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// reads waits until the file at p reads want.
func (c cliDir) reads(key, p, want string) {
	c.t.Helper()
	c.poll(p+" to read "+want+" in "+filepath.Base(c.dir), func(code int, out, _ string) bool { return code == 0 && out == want }, "cat", key, p)
}

// gone waits until the file at p does not exist.
func (c cliDir) gone(key, p string) {
	c.t.Helper()
	c.poll(p+" to be gone in "+filepath.Base(c.dir), func(code int, _, stderr string) bool {
		return code == 1 && strings.Contains(stderr, "file does not exist")
	}, "cat", key, p)
}

// writerStatus waits until writers lists w with the status given.
func (c cliDir) writerStatus(key, w, status string) {
	c.t.Helper()
	c.poll(w[:8]+" to be "+status+" in "+filepath.Base(c.dir), func(code int, out, _ string) bool {
		return code == 0 && strings.Contains(out, w+"  "+status)
	}, "writers", key)
}

// TestDaemonsShareACoDrive: seed 000's scenarios between three daemons.
// A clone reads the original's file; a writer authorized by the
// original writes a file that reaches it; a third peer asks for
// authorization, which A's policy (allow) grants, then writes and lists
// its file; deauthorized with --discard, its file disappears at a
// clone; deauthorized without, a writer's file stays.
func TestDaemonsShareACoDrive(t *testing.T) {
	bin := codriveBinary(t)
	a, b, c := cliDir{t, bin, t.TempDir()}, cliDir{t, bin, t.TempDir()}, cliDir{t, bin, t.TempDir()}

	// Made before the daemon runs, on the store opened directly.
	key := strings.TrimSpace(a.must("", "init"))
	a.must("hello from A", "put", key, "/hello.txt")

	da := startDaemon(t, bin, a.dir, "--auth", "allow")
	db := startDaemon(t, bin, b.dir)
	dc := startDaemon(t, bin, c.dir)

	// A clone reads the original's file.
	if out := b.must("", "clone", key, "--peer", da.addr, "--timeout", "60s"); !strings.HasPrefix(out, "cloned "+key) {
		t.Errorf("clone printed %q", out)
	}
	b.reads(key, "/hello.txt", "hello from A")

	// An authorized writer's file appears at the original.
	wb := strings.TrimSpace(b.must("", "whoami", key))
	if code, _, stderr := b.run("x", "put", key, "/b.txt"); code != 1 || !strings.Contains(stderr, "not a writer") {
		t.Errorf("put before authorization: exit %d, %s", code, stderr)
	}
	a.must("", "authorize", key, wb)
	b.writerStatus(key, wb, "writer")
	b.must("from B", "put", key, "/b.txt")
	a.reads(key, "/b.txt", "from B")

	// A peer requests authorization from an online writer whose policy
	// allows it, then writes and lists its file.
	c.must("", "clone", key, "--peer", da.addr)
	wc := strings.TrimSpace(c.must("", "whoami", key))
	if out := c.must("", "request-auth", key, "--timeout", "60s"); out != "granted\n" {
		t.Errorf("request-auth printed %q", out)
	}
	c.must("from C", "put", key, "/c.txt")
	c.poll("C's listing", func(code int, out, _ string) bool { return code == 0 && out == "b.txt\nc.txt\nhello.txt\n" }, "ls", key)
	b.reads(key, "/c.txt", "from C") // through A: B and C never met

	// Deauthorized with --discard, C's file disappears at a clone.
	if out := a.must("", "deauthorize", key, wc, "--discard"); out != "deauthorized "+wc+", its files discarded\n" {
		t.Errorf("deauthorize printed %q", out)
	}
	b.gone(key, "/c.txt")
	b.writerStatus(key, wc, "removed")

	// Deauthorized without, B's file stays at a clone, and B can no
	// longer write.
	a.must("", "deauthorize", key, wb)
	c.writerStatus(key, wb, "removed")
	c.reads(key, "/b.txt", "from B")
	b.poll("B to learn it is no writer", func(code int, _, stderr string) bool {
		return code == 1 && strings.Contains(stderr, "not a writer")
	}, "put", key, "/late.txt", os.DevNull)

	for _, d := range []*daemonProc{da, db, dc} {
		d.stop(t)
	}
	// Stopped, the directories are read directly again.
	if out := c.must("", "cat", key, "/b.txt"); out != "from B" {
		t.Errorf("C reads %q without its daemon", out)
	}
}

// TestRequestAuthFailures: a request is denied by a writer whose policy
// denies (the default), times out against a writer whose policy never
// decides (a plugin that stalls), and finds no writer online once the
// writer's daemon is stopped. The denied request goes through a daemon,
// the stalled one runs without (its node is the command's own).
func TestRequestAuthFailures(t *testing.T) {
	bin := codriveBinary(t)
	stall := plugintest.Build(t, "github.com/codrive/codrive/cmd/codrive/testdata/codrive-plugin-auth-stall")
	w1, w2 := cliDir{t, bin, t.TempDir()}, cliDir{t, bin, t.TempDir()}
	b1, b2 := cliDir{t, bin, t.TempDir()}, cliDir{t, bin, t.TempDir()}
	denying := strings.TrimSpace(w1.must("", "init"))
	stalling := strings.TrimSpace(w2.must("", "init"))
	d1 := startDaemon(t, bin, w1.dir)
	d2 := startDaemon(t, bin, w2.dir, "--auth", stall)
	db1 := startDaemon(t, bin, b1.dir)
	b1.must("", "clone", denying, "--peer", d1.addr)
	b2.must("", "clone", stalling, "--peer", d2.addr)

	code, out, stderr := b1.run("", "request-auth", denying, "--timeout", "60s")
	if want := "codrive request-auth: authorization denied: this drive does not accept new writers\n"; code != 1 || out != "" || stderr != want {
		t.Errorf("denied request: exit %d, stdout %q, stderr %q; want 1 and %q", code, out, stderr, want)
	}
	start := time.Now()
	code, out, stderr = b2.run("", "request-auth", stalling, "--timeout", "2s")
	if want := "codrive request-auth: authorization request timed out after 2s\n"; code != 1 || out != "" || stderr != want {
		t.Errorf("stalled request: exit %d, stdout %q, stderr %q; want 1 and %q", code, out, stderr, want)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("a request with --timeout 2s took %s", took)
	}
	d2.stop(t) // with the stalled decision in flight

	d1.stop(t)
	b1.poll("no writer online", func(code int, out, stderr string) bool {
		return code == 1 && out == "" && strings.HasPrefix(stderr, "codrive request-auth: no writer of the co-drive is online")
	}, "request-auth", denying, "--timeout", "2s")
	db1.stop(t)
}

// TestNetworkCommandsWithoutDaemon: clone, request-auth and sync start
// networking for as long as they run when no daemon serves the
// directory; a daemon killed with SIGKILL leaves a stale socket that
// neither the commands nor the next daemon trip over.
func TestNetworkCommandsWithoutDaemon(t *testing.T) {
	bin := codriveBinary(t)
	a, b := cliDir{t, bin, t.TempDir()}, cliDir{t, bin, t.TempDir()}
	key := strings.TrimSpace(a.must("", "init"))
	a.must("from A", "put", key, "/a.txt")
	da := startDaemon(t, bin, a.dir, "--auth", "allow")

	b.must("", "clone", key, "--peer", da.addr)
	if out := b.must("", "cat", key, "/a.txt"); out != "from A" {
		t.Errorf("the clone reads %q", out)
	}
	// The peer given to clone is remembered: neither needs --peer.
	if out := b.must("", "request-auth", key, "--timeout", "60s"); out != "granted\n" {
		t.Errorf("request-auth printed %q", out)
	}
	b.must("from B", "put", key, "/b.txt")
	// B's write reaches A while a sync of B's runs.
	a.poll("B's file at A", func(int, string, string) bool {
		b.must("", "sync", key, "--timeout", "60s")
		code, out, _ := a.run("", "cat", key, "/b.txt")
		return code == 0 && out == "from B"
	}, "version", key)
	if out := b.must("", "sync", key); !strings.HasPrefix(out, "synced "+key+": 2 writers, ") {
		t.Errorf("sync printed %q", out)
	}

	// A daemon killed outright leaves its socket behind.
	db := startDaemon(t, bin, b.dir)
	db.cmd.Process.Kill()
	<-db.done
	if _, err := os.Stat(filepath.Join(b.dir, socketName)); err != nil {
		t.Fatalf("no stale socket to test with: %v", err)
	}
	if out := b.must("", "cat", key, "/b.txt"); out != "from B" {
		t.Errorf("B reads %q after its daemon died", out)
	}
	db = startDaemon(t, bin, b.dir)
	if out := b.must("", "cat", key, "/a.txt"); out != "from A" {
		t.Errorf("B reads %q through its new daemon", out)
	}
	db.stop(t)
	da.stop(t)
}

// bench live runs two real daemons and reports its figures under their
// JSON names.
func TestBenchLive(t *testing.T) {
	bin := codriveBinary(t)
	code, stdout, stderr := runBinary(t, bin, "", "bench", "live", "--writes", "10", "--json")
	if code != 0 {
		t.Fatalf("bench live: exit %d: %s", code, stderr)
	}
	got := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var r result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if r.Value <= 0 {
			t.Errorf("%s = %v", r.Name, r.Value)
		}
		got[r.Name] = r.Unit
	}
	want := map[string]string{"live/put-visible/p50": "ms", "live/put-visible/p99": "ms", "live/request-auth": "ms", "limit/control-round-trip": "ms"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}
