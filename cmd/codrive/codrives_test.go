package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// commandTest is one command line and what it should give. stdout is
// matched exactly, or as a regexp when match is set.
type commandTest struct {
	name     string
	stdin    string
	args     []string
	code     int
	stdout   string
	match    bool
	inStderr string
}

func (tt commandTest) check(t *testing.T) {
	t.Helper()
	code, stdout, stderr := codrive(t, tt.stdin, tt.args...)
	if code != tt.code {
		t.Fatalf("exit code %d, want %d (stdout %q, stderr %q)", code, tt.code, stdout, stderr)
	}
	if tt.match {
		if !regexp.MustCompile(tt.stdout).MatchString(stdout) {
			t.Errorf("stdout %q does not match %q", stdout, tt.stdout)
		}
	} else if diff := cmp.Diff(tt.stdout, stdout); diff != "" {
		t.Errorf("stdout (-want +got):\n%s", diff)
	}
	if !strings.Contains(stderr, tt.inStderr) {
		t.Errorf("stderr %q does not mention %q", stderr, tt.inStderr)
	}
	if tt.code != 0 && strings.Count(stderr, "\n") > 2 {
		t.Errorf("error is not short: %q", stderr)
	}
}

// initCoDrive runs init in dir and returns the key.
func initCoDrive(t *testing.T, dir string) string {
	t.Helper()
	code, key, stderr := codrive(t, "", "init", "--dir", dir)
	if code != 0 || !keyLine.MatchString(key) {
		t.Fatalf("init: exit %d, stdout %q, stderr %q", code, key, stderr)
	}
	return strings.TrimSpace(key)
}

// TestCoDriveCommands runs the file and writer commands without a
// daemon, on the store opened directly, in order: each row sees what the
// rows before it did.
func TestCoDriveCommands(t *testing.T) {
	dir := t.TempDir()
	key := initCoDrive(t, dir)
	src := filepath.Join(t.TempDir(), "src.txt")
	if err := os.WriteFile(src, []byte("from a file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := []string{"--dir", dir}
	args := func(a ...string) []string { return append(a, d...) }
	long := `^-rw-r--r--  12  \d{4}-\d\d-\d\d \d\d:\d\d  ` + key[:12] + `  a\.txt\n` +
		`drwxr-xr-x  -   \d{4}-\d\d-\d\d \d\d:\d\d  ` + key[:12] + `  docs/\n$`
	tests := []commandTest{
		{name: "list", args: args("list"), stdout: key + "\n"},
		{name: "put from stdin", stdin: "hello\n", args: args("put", key, "/hello.txt")},
		{name: "put from -", stdin: "dash", args: args("put", "codrive://"+key, "notes/dash.txt", "-")},
		{name: "put from a file", args: args("put", key, "/a.txt", src)},
		{name: "cat", args: args("cat", key, "/hello.txt"), stdout: "hello\n"},
		{name: "cat a relative path", args: args("cat", key, "notes/dash.txt"), stdout: "dash"},
		{name: "mkdir", args: args("mkdir", key, "/docs")},
		{name: "rm a file", args: args("rm", key, "/hello.txt")},
		{name: "ls", args: args("ls", key), stdout: "a.txt\ndocs/\nnotes/\n"},
		{name: "ls a directory", args: args("ls", key, "/notes"), stdout: "dash.txt\n"},
		{name: "ls a file", args: args("ls", key, "/a.txt"), stdout: "a.txt\n"},
		{name: "ls -l", args: args("ls", "-l", key, "/", "--dir", dir), match: true,
			stdout: strings.Replace(long, `\n$`, `\n`+`drwxr-xr-x  -   -                 -             notes/\n$`, 1)},
		{name: "stat", args: args("stat", key, "/a.txt"), match: true,
			stdout: `^path +/a\.txt\ntype +file\nmode +-rw-r--r--\nsize +12\nhash +[0-9a-f]{64}\nmodified +\S+\nwriter +` + key + `\nentry +\d+\nconflicts +0\n$`},
		{name: "stat an implied directory", args: args("stat", key, "/notes"), match: true, stdout: `type +dir\n(.|\n)*writer +-`},
		{name: "rm an empty directory", args: args("rm", key, "/docs")},
		{name: "whoami", args: args("whoami", key), stdout: key + "\n"},
		{name: "writers", args: args("writers", key), stdout: key + "  writer   primary, this peer\n"},
		{name: "authorize", args: args("authorize", key, strings.Repeat("ab", 32)), stdout: "authorized " + strings.Repeat("ab", 32) + "\n"},
		{name: "authorize again", args: args("authorize", key, strings.Repeat("ab", 32)), stdout: "authorized " + strings.Repeat("ab", 32) + "\n"},
		{name: "deauthorize", args: args("deauthorize", key, strings.Repeat("ab", 32), "--discard"), stdout: "deauthorized " + strings.Repeat("ab", 32) + ", its files discarded\n"},
		{name: "writers after", args: args("writers", key), stdout: key + "  writer   primary, this peer\n" + strings.Repeat("ab", 32) + "  removed  files discarded\n"},
		{name: "conflicts: none", args: args("conflicts", key)},
		{name: "version", args: args("version", key), match: true, stdout: `^` + key + `:\d+\n$`},
		{name: "request-auth as a writer", args: args("request-auth", key), stdout: "granted\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

// TestCoDriveCommandErrors: wrong calls are usage errors (exit 2), other
// failures one clear line (exit 1), and neither changes anything.
func TestCoDriveCommandErrors(t *testing.T) {
	dir := t.TempDir()
	key := initCoDrive(t, dir)
	if code, _, stderr := codrive(t, "x", "put", "--dir", dir, key, "/dir/file"); code != 0 {
		t.Fatal(stderr)
	}
	other := strings.Repeat("cd", 32)
	d := func(a ...string) []string { return append(a, "--dir", dir) }
	tests := []commandTest{
		{name: "bad key", args: d("cat", "abc", "/x"), code: 2, inStderr: `invalid feed key "abc"`},
		{name: "bad key, usage shown", args: d("ls", "xyz"), code: 2, inStderr: "usage: codrive ls [--dir DIR] KEY [PATH] [-l]"},
		{name: "a co-drive the directory does not have", args: d("cat", other, "/x"), code: 1, inStderr: "unknown co-drive " + other},
		{name: "missing arguments", args: d("put", key), code: 2, inStderr: "missing arguments"},
		{name: "too many arguments", args: d("whoami", key, "extra"), code: 2, inStderr: `unexpected argument "extra"`},
		{name: "init with an argument", args: d("init", "x"), code: 2, inStderr: `unexpected argument "x"`},
		{name: "unknown flag", args: d("ls", key, "--bogus"), code: 2, inStderr: "flag provided but not defined: -bogus"},
		{name: "put a missing file", args: d("put", key, "/x", "/nonexistent/file"), code: 1, inStderr: "no such file"},
		{name: "put a directory", args: d("put", key, "/x", t.TempDir()), code: 1, inStderr: "is a directory"},
		{name: "put into the writer set", args: d("put", key, "/.writers/x", "-"), code: 1, inStderr: "writer set lives there"},
		{name: "put over a directory", args: d("put", key, "/dir", "-"), code: 1, inStderr: "is a directory"},
		{name: "cat a missing file", args: d("cat", key, "/nope"), code: 1, inStderr: "file does not exist"},
		{name: "cat a directory", args: d("cat", key, "/dir"), code: 1, inStderr: "is a directory"},
		{name: "cat a version of a bad writer", args: d("cat", key, "/dir/file", "--writer", "w"), code: 2, inStderr: "--writer: invalid feed key"},
		{name: "cat a version no writer has", args: d("cat", key, "/dir/file", "--writer", other), code: 1, inStderr: "does not exist"},
		{name: "ls a missing directory", args: d("ls", key, "/nope"), code: 1, inStderr: "file does not exist"},
		{name: "rm a missing file", args: d("rm", key, "/nope"), code: 1, inStderr: "file does not exist"},
		{name: "rm a directory that is not empty", args: d("rm", key, "/dir"), code: 1, inStderr: "directory not empty"},
		{name: "mkdir over a file", args: d("mkdir", key, "/dir/file"), code: 1, inStderr: "file already exists"},
		{name: "authorize a bad writer key", args: d("authorize", key, "nope"), code: 2, inStderr: "WRITER: invalid feed key"},
		{name: "deauthorize a stranger", args: d("deauthorize", key, other), code: 1, inStderr: "is not a writer"},
		{name: "clone a bad multiaddr", args: d("clone", other, "--peer", "/ip4/1.2.3.4/tcpx/1"), code: 2, inStderr: `--peer "/ip4/1.2.3.4/tcpx/1" is not a multiaddr`},
		{name: "clone over udp", args: d("clone", other, "--peer", "/ip4/127.0.0.1/udp/1"), code: 2, inStderr: "no transport for /ip4/127.0.0.1/udp/1"},
		{name: "clone from nobody", args: d("clone", other), code: 1, inStderr: "no peer to talk to: give one with --peer"},
		{name: "clone from a peer that is not there", args: d("clone", other, "--peer", "/ip4/127.0.0.1/tcp/1", "--timeout", "300ms"), code: 1,
			inStderr: "timed out after 300ms: holding 0 of 0 blocks: no peer is connected"},
		{name: "sync with a zero timeout", args: d("sync", key, "--timeout", "0s"), code: 2, inStderr: "--timeout must be positive"},
		{name: "sync with nobody", args: d("sync", key), code: 1, inStderr: "no peer to talk to"},
		{name: "sync an unknown co-drive", args: d("sync", other), code: 1, inStderr: "unknown co-drive"},
		{name: "request-auth of an unknown co-drive", args: d("request-auth", other), code: 1, inStderr: "unknown co-drive"},
		{name: "request-auth with a long proof", args: d("request-auth", key, "--proof", strings.Repeat("x", 5000)), code: 2, inStderr: "--proof is 5000 bytes"},
		{name: "daemon with an argument", args: d("daemon", "now"), code: 2, inStderr: `unexpected argument "now"`},
		{name: "daemon on a bad multiaddr", args: d("daemon", "--listen", "/bogus"), code: 2, inStderr: `--listen "/bogus" is not a multiaddr`},
		{name: "daemon on udp", args: d("daemon", "--listen", "/ip4/127.0.0.1/udp/0"), code: 2, inStderr: "listen on /ip4/127.0.0.1/udp/0"},
		{name: "daemon with a bad peer", args: d("daemon", "--peer", "/ip4/127.0.0.1/tcpx/1"), code: 2, inStderr: "is not a multiaddr"},
		{name: "daemon with an unknown auth policy", args: d("daemon", "--auth", "bribe"), code: 1, inStderr: `no auth plugin named "bribe"`},
		{name: "daemon with an empty auth policy", args: d("daemon", "--auth", ":x"), code: 2, inStderr: "want NAME or NAME:ARG"},
		{name: "daemon with a missing allow list", args: d("daemon", "--auth", "allowlist:/nonexistent/list"), code: 1, inStderr: "/nonexistent/list"},
		{name: "daemon with an unknown storage", args: d("daemon", "--storage", "tape"), code: 1, inStderr: `no storage plugin named "tape"`},
		{name: "daemon with an unknown resolver", args: d("daemon", "--resolver", "coinflip"), code: 1, inStderr: `no resolver plugin named "coinflip"`},
		{name: "daemon with an unknown transport", args: d("daemon", "--transport", "pigeon"), code: 1, inStderr: `no transport plugin named "pigeon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
	// The failures changed nothing: one co-drive, one file, no peer
	// remembered, no control socket left behind.
	if _, out, _ := codrive(t, "", "list", "--dir", dir); out != key+"\n" {
		t.Errorf("list after the errors: %q", out)
	}
	if _, out, _ := codrive(t, "", "ls", "--dir", dir, key, "/dir"); out != "file\n" {
		t.Errorf("ls after the errors: %q", out)
	}
	for _, name := range []string{"peers", socketName} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s exists after the errors: %v", name, err)
		}
	}
}

func TestNoCoDriveYet(t *testing.T) {
	dir := t.TempDir()
	commandTest{name: "list", args: []string{"list", "--dir", dir}}.check(t)
	commandTest{name: "whoami", args: []string{"whoami", "--dir", dir, strings.Repeat("ef", 32)}, code: 1,
		inStderr: `clone it with "codrive clone", or create one with "codrive init"`}.check(t)
}

func TestParseAuth(t *testing.T) {
	abs, err := filepath.Abs("list.txt")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		name string
		cfg  map[string]string
		err  bool
	}{
		{in: "deny", name: "deny"},
		{in: "allow", name: "allow"},
		{in: "allowlist:list.txt", name: "allowlist", cfg: map[string]string{"file": abs}},
		{in: "invite:/etc/secret", name: "invite", cfg: map[string]string{"secret-file": "/etc/secret"}},
		{in: "/path/to/plugin:setting", name: "/path/to/plugin", cfg: map[string]string{"arg": "setting"}},
		{in: "", err: true},
		{in: ":x", err: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			name, cfg, err := parseAuth(tt.in)
			if (err != nil) != tt.err {
				t.Fatalf("error %v, want one: %v", err, tt.err)
			}
			if name != tt.name || !cmp.Equal(map[string]string(cfg), tt.cfg, cmpEmptyMaps) {
				t.Errorf("got %q %v, want %q %v", name, cfg, tt.name, tt.cfg)
			}
		})
	}
}

var cmpEmptyMaps = cmp.FilterValues(func(a, b map[string]string) bool { return len(a) == 0 && len(b) == 0 }, cmp.Ignore())

// inProcessDaemon is "codrive daemon" run in the test's process.
type inProcessDaemon struct {
	addr   string
	stderr *lockedBuffer
	cancel context.CancelFunc
	done   chan int
}

// startInProcess runs the daemon on dir and waits for its first address.
func startInProcess(t *testing.T, dir string, args ...string) *inProcessDaemon {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := &inProcessDaemon{stderr: &lockedBuffer{}, cancel: cancel, done: make(chan int, 1)}
	stdout := &lockedBuffer{}
	e := &env{stdin: strings.NewReader(""), stdout: stdout, stderr: d.stderr, ctx: ctx,
		getenv: func(string) string { return "" }}
	go func() { d.done <- run(e, append([]string{"daemon", "--dir", dir}, args...)) }()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.After(time.Minute)
	for {
		if line, ok := strings.CutSuffix(stdout.String(), "\n"); ok {
			d.addr = strings.Split(line, "\n")[0]
			return d
		}
		select {
		case code := <-d.done:
			d.done <- code
			t.Fatalf("the daemon exited with %d before listening: %s", code, d.stderr)
		case <-deadline:
			t.Fatalf("the daemon printed no address within a minute: %s", d.stderr)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// stop ends the daemon as a signal would and checks it exits with 0.
func (d *inProcessDaemon) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case code := <-d.done:
		d.done <- code
		if code != 0 {
			t.Errorf("the daemon exited with %d: %s", code, d.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the daemon did not stop within 30 s")
	}
}

// pollCommand runs a command until its stdout satisfies ok, within a
// deadline, and returns the last stdout.
func pollCommand(t *testing.T, what string, ok func(code int, stdout string) bool, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		code, stdout, stderr := codrive(t, "", args...)
		if ok(code, stdout) {
			return stdout
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: last exit %d, stdout %q, stderr %q", what, code, stdout, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestDaemonInProcess runs two daemons in the test's process and the
// commands through their control API: clone, a write refused before
// authorization, request-auth with an allowing policy, sync, and a
// conflict made while both were stopped.
func TestDaemonInProcess(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startInProcess(t, dirA, "--auth", "allow")
	if _, err := os.Stat(filepath.Join(dirA, socketName)); err != nil {
		t.Fatalf("no control socket: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(dirA, socketName)); fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %v, want 0600", fi.Mode().Perm())
	}
	key := initCoDrive(t, dirA) // through the daemon
	b := startInProcess(t, dirB)

	steps := []commandTest{
		{name: "a second daemon", args: []string{"daemon", "--dir", dirA}, code: 1, inStderr: "a daemon already serves " + dirA},
		{name: "put at A", stdin: "from A", args: []string{"put", "--dir", dirA, key, "/a.txt"}},
		{name: "put from a client's file at A", args: []string{"put", "--dir", dirA, key, "/big", writeTemp(t, strings.Repeat("x", 3<<20))}},
		{name: "clone at B", args: []string{"clone", "--dir", dirB, key, "--peer", a.addr}, match: true, stdout: `^cloned ` + key + `: 1 writer, \d+ blocks\n$`},
		{name: "cat at B", args: []string{"cat", "--dir", dirB, key, "/a.txt"}, stdout: "from A"},
		{name: "put at B before authorization", stdin: "x", args: []string{"put", "--dir", dirB, key, "/b.txt"}, code: 1,
			inStderr: "/b.txt: this peer is not a writer of the co-drive (ask one with request-auth)"},
		{name: "authorize at B", args: []string{"authorize", "--dir", dirB, key, key}, code: 1, inStderr: "not a writer"},
		{name: "request-auth at B", args: []string{"request-auth", "--dir", dirB, key, "--timeout", "30s"}, stdout: "granted\n"},
		{name: "put at B", stdin: "from B", args: []string{"put", "--dir", dirB, key, "/b.txt"}},
		{name: "sync at A", args: []string{"sync", "--dir", dirA, key, "--timeout", "30s"}, match: true, stdout: `^synced ` + key + `: 2 writers, \d+ blocks\n$`},
		{name: "the peer is remembered", args: []string{"list", "--dir", dirB}, stdout: key + "\n"},
		{name: "feed commands need the daemon stopped", args: []string{"feed", "info", "--dir", dirA}, code: 1, inStderr: "the codrive daemon serves " + dirA},
	}
	for _, tt := range steps {
		t.Run(tt.name, tt.check)
	}
	pollCommand(t, "B's file at A", func(code int, out string) bool { return code == 0 && out == "from B" }, "cat", "--dir", dirA, key, "/b.txt")

	// A client on a terminal sees the daemon's progress lines, cleared
	// at the end.
	var syncOut, errOut bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &syncOut, stderr: &errOut, terminal: true, getenv: func(string) string { return "" }}
	if code := run(e, []string{"sync", "--dir", dirB, key}); code != 0 {
		t.Fatalf("sync on a terminal: exit %d: %s", code, errOut.String())
	}
	if p := errOut.String(); !strings.Contains(p, "\r\x1b[Ksyncing "+key[:12]+"…: ") || !strings.HasSuffix(p, "\r\x1b[K") {
		t.Errorf("progress on a terminal: %q", p)
	}
	if peers, err := os.ReadFile(filepath.Join(dirB, "peers")); err != nil || string(peers) != a.addr+"\n" {
		t.Errorf("B's remembered peers: %q, %v", peers, err)
	}
	if _, out, _ := codrive(t, "", "cat", "--dir", dirB, key, "/big"); len(out) != 3<<20 {
		t.Errorf("the 3 MiB file reads %d bytes at B", len(out))
	}

	// Both stopped, each writes the same file: a conflict once they meet.
	a.stop(t)
	b.stop(t)
	if _, err := os.Stat(filepath.Join(dirA, socketName)); !os.IsNotExist(err) {
		t.Errorf("the control socket outlived the daemon: %v", err)
	}
	_, whoB, _ := codrive(t, "", "whoami", "--dir", dirB, key)
	whoB = strings.TrimSpace(whoB)
	for _, w := range []struct{ dir, data string }{{dirA, "A's"}, {dirB, "B's"}} {
		if code, _, stderr := codrive(t, w.data, "put", "--dir", w.dir, key, "/same.txt"); code != 0 {
			t.Fatalf("offline put: %s", stderr)
		}
	}
	a = startInProcess(t, dirA, "--auth", "allow")
	startInProcess(t, dirB, "--peer", a.addr)
	out := pollCommand(t, "the conflict at A", func(code int, out string) bool { return strings.Contains(out, "/same.txt\n") },
		"conflicts", "--dir", dirA, key)
	sc := bufio.NewScanner(strings.NewReader(out))
	var writers []string
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) > 2 {
			writers = append(writers, f[1])
		}
	}
	want := []string{key, whoB}
	slices.Sort(want)
	slices.Sort(writers)
	if diff := cmp.Diff(want, writers); diff != "" {
		t.Errorf("writers of the shown and the other version (-want +got):\n%s\n%s", diff, out)
	}
	for w, want := range map[string]string{key: "A's", whoB: "B's"} {
		if _, got, _ := codrive(t, "", "cat", "--dir", dirA, key, "/same.txt", "--writer", w); got != want {
			t.Errorf("cat --writer %s: %q, want %q", w[:8], got, want)
		}
	}
	if _, ls, _ := codrive(t, "", "ls", "-l", "--dir", dirA, key); !strings.Contains(ls, "same.txt  (1 conflict)") {
		t.Errorf("ls -l does not show the conflict:\n%s", ls)
	}
}

func writeTemp(t *testing.T, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "data")
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestControlAPIRefuses: the daemon runs co-drive commands only, and a
// malformed request gets a reason.
func TestControlAPIRefuses(t *testing.T) {
	dir := t.TempDir()
	startInProcess(t, dir)
	cl := findDaemon(dir)
	if cl == nil {
		t.Fatal("no daemon found")
	}
	for _, args := range [][]string{{"feed", "info"}, {"daemon"}, {}, {"bench", "append"}} {
		var out, errOut bytes.Buffer
		e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errOut, getenv: func(string) string { return "" }}
		err := cl.run(t.Context(), e, args, nil)
		if err == nil || !strings.Contains(err.Error(), "is not a command the daemon runs") {
			t.Errorf("%q: %v", args, err)
		}
	}
}

// TestInviteThroughDaemons: the owner runs the invite policy, prints the
// code with invite-code, and a peer asks with --invite; a wrong code is
// denied.
func TestInviteThroughDaemons(t *testing.T) {
	dirA, dirB, dirC := t.TempDir(), t.TempDir(), t.TempDir()
	secret := writeTemp(t, "a secret of more than sixteen bytes\n")
	a := startInProcess(t, dirA, "--auth", "invite:"+secret)
	key := initCoDrive(t, dirA)
	startInProcess(t, dirB)
	startInProcess(t, dirC)
	code, out, stderr := codrive(t, "", "invite-code", key, "--secret-file", secret)
	if code != 0 {
		t.Fatalf("invite-code: %s", stderr)
	}
	invitation := strings.TrimSpace(out)
	steps := []commandTest{
		{name: "clone at B", args: []string{"clone", "--dir", dirB, key, "--peer", a.addr}, match: true, stdout: `^cloned `},
		{name: "clone at C", args: []string{"clone", "--dir", dirC, key, "--peer", a.addr}, match: true, stdout: `^cloned `},
		{name: "a wrong code at C", args: []string{"request-auth", "--dir", dirC, key, "--invite", strings.Repeat("0", 32), "--timeout", "30s"},
			code: 1, inStderr: "wrong invite code"},
		{name: "the code at B", args: []string{"request-auth", "--dir", dirB, key, "--invite", invitation, "--timeout", "30s"}, stdout: "granted\n"},
		{name: "a code that is not one", args: []string{"request-auth", "--dir", dirC, key, "--invite", "xyz"}, code: 2, inStderr: "--invite"},
		{name: "invite-code without a secret", args: []string{"invite-code", key}, code: 2, inStderr: "--secret-file"},
	}
	for _, tt := range steps {
		t.Run(tt.name, tt.check)
	}
}
