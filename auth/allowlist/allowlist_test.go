package allowlist_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/auth/allowlist"
	"github.com/codrive/codrive/conformance/authtest"
	"github.com/codrive/codrive/conformance/authtest/shipped"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// TestConformance runs the auth suite on the builtin policy.
func TestConformance(t *testing.T) {
	h := shipped.Harness(t, "allowlist")
	h.Open = func(_ *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error) { return allowlist.Open(cfg) }
	authtest.Run(t, h)
}

var (
	alice = shipped.ListedPeer
	bob   = shipped.ListedWriter
	carol = shipped.OtherPeer
	dave  = shipped.OtherWriter
)

// decisions asks p whether each of alice, bob, carol and dave gets in,
// first as a peer then as a writer.
func decisions(t *testing.T, p sdk.AuthPolicy) []bool {
	t.Helper()
	var out []bool
	for _, k := range [][sdk.KeySize]byte{alice, bob, carol, dave} {
		for _, req := range []sdk.AuthRequest{
			{Drive: shipped.DriveA, Peer: sdk.PeerKey(k), Writer: sdk.FeedKey(dave)},
			{Drive: shipped.DriveA, Peer: sdk.PeerKey(carol), Writer: sdk.FeedKey(k)},
		} {
			d, err := p.Authorize(t.Context(), req)
			if err != nil {
				t.Fatalf("Authorize: %v", err)
			}
			out = append(out, d.Allow)
		}
	}
	return out
}

// Who gets in, for decisions: alice, bob, carol and dave, each as peer
// and as writer. Carol asks for dave's feed when she is not the one
// asked about, so the lists never allow either.
var (
	none      = []bool{false, false, false, false, false, false, false, false}
	aliceOnly = []bool{true, true, false, false, false, false, false, false}
	aliceBob  = []bool{true, true, true, true, false, false, false, false}
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestFile: what a file may hold, and how a malformed one is reported.
func TestFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    []bool
		wantErr string // in the error of New
	}{
		{name: "empty", content: "", want: none},
		{name: "comments and blank lines", content: "# nobody yet\n\n   \n\t# still nobody\n", want: none},
		{name: "one key", content: alice.String() + "\n", want: aliceOnly},
		{name: "no final newline", content: alice.String(), want: aliceOnly},
		{name: "CRLF", content: alice.String() + "\r\n" + bob.String() + "\r\n", want: aliceBob},
		{name: "URI and comment after the key", content: sdk.URIScheme + alice.String() + " # alice\n\t" + bob.String() + "#bob", want: aliceBob},
		{name: "repeated key", content: alice.String() + "\n" + alice.String() + "\n", want: aliceOnly},
		{name: "upper case", content: "# ok\n" + strings.ToUpper(alice.String()) + "\n", wantErr: "line 2: "},
		{name: "short", content: alice.String()[:63] + "\n", wantErr: "line 1: "},
		{name: "long", content: "\n\n\n" + alice.String() + "0\n", wantErr: "line 4: "},
		{name: "not hex", content: strings.Repeat("g", 64), wantErr: "line 1: "},
		{name: "zero key", content: alice.String() + "\n" + strings.Repeat("0", 64) + "\n", wantErr: "line 2: the all-zero key"},
		{name: "two keys on a line", content: alice.String() + " " + bob.String(), wantErr: "line 1: "},
		{name: "other URI scheme", content: "hyper://" + alice.String(), wantErr: "line 1: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "allowed")
			writeFile(t, path, tt.content)
			p, err := allowlist.New(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, sdk.ErrInvalid) {
					t.Fatalf("New: got error %v, want one containing %q and wrapping sdk.ErrInvalid", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), path) {
					t.Errorf("New: error %q does not name the file", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			if diff := cmp.Diff(tt.want, decisions(t, p)); diff != "" {
				t.Errorf("alice, bob, carol, dave as peer and writer: allowed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReload: each Authorize sees the file as it is now, however it
// was changed; a file that breaks fails Authorize until it is fixed.
func TestReload(t *testing.T) {
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	tests := []struct {
		name   string
		change func(t *testing.T, path string)
		want   []bool // nil: Authorize fails
	}{
		{
			name:   "unchanged",
			change: func(*testing.T, string) {},
			want:   aliceOnly,
		},
		{
			name:   "rewritten, longer",
			change: func(t *testing.T, path string) { writeFile(t, path, alice.String()+"\n"+bob.String()+"\n") },
			want:   aliceBob,
		},
		{
			name: "rewritten, same size, new time",
			change: func(t *testing.T, path string) {
				writeFile(t, path, bob.String()+"\n")
				chtimes(t, path, past.Add(time.Minute))
			},
			want: []bool{false, false, true, true, false, false, false, false},
		},
		{
			name: "replaced by rename, same size and time",
			change: func(t *testing.T, path string) {
				tmp := path + ".new"
				writeFile(t, tmp, bob.String()+"\n")
				chtimes(t, tmp, past)
				if err := os.Rename(tmp, path); err != nil {
					t.Fatal(err)
				}
			},
			want: []bool{false, false, true, true, false, false, false, false},
		},
		{
			name:   "emptied",
			change: func(t *testing.T, path string) { writeFile(t, path, "") },
			want:   none,
		},
		{
			name:   "removed",
			change: func(t *testing.T, path string) { os.Remove(path) },
		},
		{
			name:   "made malformed",
			change: func(t *testing.T, path string) { writeFile(t, path, alice.String()+"\nnot a key\n") },
		},
		{
			name:   "replaced by a directory",
			change: func(t *testing.T, path string) { os.Remove(path); os.Mkdir(path, 0o700) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "allowed")
			writeFile(t, path, alice.String()+"\n")
			chtimes(t, path, past) // old enough for the stat to be trusted
			p := open(t, path)
			if diff := cmp.Diff(aliceOnly, decisions(t, p)); diff != "" {
				t.Fatalf("before the change: allowed (-want +got):\n%s", diff)
			}
			tt.change(t, path)
			if tt.want == nil {
				_, err := p.Authorize(t.Context(), sdk.AuthRequest{Peer: alice})
				if err == nil || !strings.Contains(err.Error(), path) {
					t.Fatalf("Authorize after the change: got error %v, want one naming %s", err, path)
				}
				// Fixed again: the policy reads it.
				os.Remove(path)
				writeFile(t, path, bob.String()+"\n")
				tt.want = []bool{false, false, true, true, false, false, false, false}
			}
			if diff := cmp.Diff(tt.want, decisions(t, p)); diff != "" {
				t.Errorf("after the change: allowed (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReloadWithinTick: a file rewritten with the same size within one
// tick of the file system's clock has the same stat as before; the
// policy still sees the change, because the first version was fresh.
func TestReloadWithinTick(t *testing.T) {
	path := filepath.Join(t.TempDir(), "allowed")
	writeFile(t, path, alice.String()+"\n")
	before := stat(t, path)
	p := open(t, path)
	if diff := cmp.Diff(aliceOnly, decisions(t, p)); diff != "" {
		t.Fatalf("before the change: allowed (-want +got):\n%s", diff)
	}
	writeFile(t, path, bob.String()+"\n")
	chtimes(t, path, before.ModTime())
	if !os.SameFile(before, stat(t, path)) || stat(t, path).Size() != before.Size() {
		t.Fatal("the rewrite changed the file's identity or size; the test needs them kept")
	}
	if diff := cmp.Diff([]bool{false, false, true, true, false, false, false, false}, decisions(t, p)); diff != "" {
		t.Errorf("after the change: allowed (-want +got):\n%s", diff)
	}
}

func open(t *testing.T, path string) sdk.AuthPolicy {
	t.Helper()
	p, err := allowlist.Open(plugin.Config{"file": path})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func chtimes(t *testing.T, path string, mtime time.Time) {
	t.Helper()
	if err := os.Chtimes(path, mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func stat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}

// TestDenyReason: a denial names the peer by the start of its key.
func TestDenyReason(t *testing.T) {
	path := filepath.Join(t.TempDir(), "allowed")
	writeFile(t, path, alice.String()+"\n")
	d, err := open(t, path).Authorize(t.Context(), sdk.AuthRequest{Peer: carol, Writer: dave})
	if err != nil {
		t.Fatal(err)
	}
	want := sdk.AuthDecision{Reason: "peer " + carol.String()[:8] + "… is not on the allow list"}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
}

// TestOpen: the configuration Open needs.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "allowed")
	writeFile(t, good, alice.String())
	tests := []struct {
		name    string
		cfg     plugin.Config
		wantErr string
	}{
		{"file", plugin.Config{"file": good}, ""},
		{"no file", plugin.Config{}, `the "file" setting is required`},
		{"missing file", plugin.Config{"file": filepath.Join(dir, "missing")}, "no such file"},
		{"directory", plugin.Config{"file": dir}, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := allowlist.Open(tt.cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, sdk.ErrInvalid) {
				t.Errorf("Open: got error %v, want one containing %q and wrapping sdk.ErrInvalid", err, tt.wantErr)
			}
		})
	}
}
