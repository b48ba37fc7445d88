package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// codrive runs one command line in-process and returns its exit code,
// stdout and stderr.
func codrive(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	e := &env{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errOut,
		getenv: func(k string) string {
			if k == "HOME" {
				return t.TempDir()
			}
			return ""
		},
	}
	code := run(e, args)
	return code, out.String(), errOut.String()
}

var keyLine = regexp.MustCompile(`^[0-9a-f]{64}\n$`)

func TestFeedCommands(t *testing.T) {
	dir := t.TempDir()
	code, key, stderr := codrive(t, "", "feed", "create", "--dir", dir)
	if code != 0 || !keyLine.MatchString(key) {
		t.Fatalf("feed create: code %d, stdout %q, stderr %q", code, key, stderr)
	}
	key = strings.TrimSpace(key)

	tests := []struct {
		name     string
		stdin    string
		args     []string
		code     int
		stdout   string
		inStderr string
	}{
		{"append args", "", []string{"feed", "append", "--dir", dir, key, "one", "two"}, 0, "2\n", ""},
		{"append stdin, prefixed key", "three\nfour\n", []string{"feed", "append", "--dir", dir, "codrive://" + key}, 0, "4\n", ""},
		{"get one", "", []string{"feed", "get", "--dir", dir, key, "2"}, 0, "three\n", ""},
		{"get range raw", "", []string{"feed", "get", "--raw", "--dir", dir, key, "0", "4"}, 0, "onetwothreefour", ""},
		{"flags after arguments", "", []string{"feed", "get", key, "1", "--dir", dir}, 0, "two\n", ""},
		{"verify", "", []string{"feed", "verify", "--dir", dir, key}, 0, "ok: 4 of 4 blocks held and verified, head signed at fork 0\n", ""},
		{"get past the end", "", []string{"feed", "get", "--dir", dir, key, "9"}, 1, "", "not available"},
		{"bad key", "", []string{"feed", "get", "--dir", dir, "abc", "0"}, 2, "", "invalid feed key"},
		{"unknown feed", "", []string{"feed", "info", "--dir", dir, strings.Repeat("ab", 32)}, 1, "", "not found"},
		{"missing index", "", []string{"feed", "get", "--dir", dir, key}, 2, "", "usage: codrive feed get"},
		{"unknown flag", "", []string{"feed", "info", "--bogus"}, 2, "", "flag provided but not defined"},
		{"unknown command", "", []string{"feed", "explode"}, 2, "", "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := codrive(t, tt.stdin, tt.args...)
			if code != tt.code {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			if diff := cmp.Diff(tt.stdout, stdout); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if !strings.Contains(stderr, tt.inStderr) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.inStderr)
			}
			if tt.code != 0 && strings.Count(stderr, "\n") > 2 {
				t.Errorf("error is not short: %q", stderr)
			}
		})
	}

	code, info, _ := codrive(t, "", "feed", "info", "--dir", dir)
	if code != 0 || !strings.Contains(info, key+"  true      4") {
		t.Errorf("feed info list: code %d\n%s", code, info)
	}
	if code, _, stderr := codrive(t, "", "feed", "purge", "--dir", dir, key); code != 0 {
		t.Fatalf("purge: %s", stderr)
	}
	if code, _, _ := codrive(t, "", "feed", "info", "--dir", dir, key); code != 1 {
		t.Errorf("info after purge: exit %d, want 1", code)
	}
}

func TestNamedFeedIsStable(t *testing.T) {
	dir := t.TempDir()
	_, a, _ := codrive(t, "", "feed", "create", "--dir", dir, "--name", "notes")
	_, b, _ := codrive(t, "", "feed", "create", "--dir", dir, "--name", "notes")
	_, c, _ := codrive(t, "", "feed", "create", "--dir", dir, "--name", "other")
	if a != b || a == c || !keyLine.MatchString(a) {
		t.Errorf("named keys: %q %q %q", a, b, c)
	}
	// The seed is what makes names stable; it must be private.
	fi, err := os.Stat(filepath.Join(dir, "seed"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("seed: %v, mode %v", err, fi.Mode().Perm())
	}
}

func TestDataDirFromEnvironment(t *testing.T) {
	dir := t.TempDir()
	e := &env{stdin: strings.NewReader(""), stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{},
		getenv: func(k string) string {
			if k == "CODRIVE_DIR" {
				return dir
			}
			return ""
		}}
	if code := run(e, []string{"feed", "create"}); code != 0 {
		t.Fatal(e.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "seed")); err != nil {
		t.Errorf("CODRIVE_DIR was not used: %v", err)
	}
}

func TestBenchAppendJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a benchmark")
	}
	code, stdout, stderr := codrive(t, "", "bench", "append", "--json", "--blocks", "200", "--dir", t.TempDir())
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
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
	for name, unit := range map[string]string{
		"append/memory/batch1":   "blocks/s",
		"append/memory/batch100": "blocks/s",
		"append/disk/batch1":     "blocks/s",
		"append/disk/batch100":   "blocks/s",
		"verify/memory":          "blocks/s",
		"verify/disk":            "blocks/s",
		"verify/disk/throughput": "MB/s",
		"limit/ed25519-sign":     "signatures/s",
	} {
		if got[name] != unit {
			t.Errorf("%s: unit %q, want %q", name, got[name], unit)
		}
	}
}

func TestDemo(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"demo"}, []string{"granted: bob's writer key", "carol lists /plans: bob.txt, trip.txt",
			"authorization denied", "as a conflict", "day 3: the beach", "bob tries to write: create /plans/bob.txt: read-only",
			"still reads bob's /plans/bob.txt"}},
		{[]string{"demo", "--feeds"}, []string{"bad proof", "Block 2 held: false", "length 3, fork 1"}},
	}
	for _, tt := range tests {
		code, stdout, stderr := codrive(t, "", tt.args...)
		if code != 0 {
			t.Fatalf("%v failed: %s", tt.args, stderr)
		}
		for _, want := range tt.want {
			if !strings.Contains(stdout, want) {
				t.Errorf("%v output lacks %q", tt.args, want)
			}
		}
	}
}
