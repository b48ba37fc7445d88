package invite_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/auth/invite"
	"github.com/codrive/codrive/conformance/authtest"
	"github.com/codrive/codrive/conformance/authtest/shipped"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// TestConformance runs the auth suite on the builtin policy.
func TestConformance(t *testing.T) {
	h := shipped.Harness(t, "invite")
	h.Open = func(_ *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error) { return invite.Open(cfg) }
	authtest.Run(t, h)
}

// TestCode: codes are fixed by the secret and the drive alone. The
// expected values were computed apart from this package, with Python's
// hmac module, so that a change to the construction (which would revoke
// every code handed out) shows here.
func TestCode(t *testing.T) {
	var counting sdk.FeedKey
	for i := range counting {
		counting[i] = byte(i)
	}
	tests := []struct {
		name   string
		secret string
		drive  sdk.FeedKey
		want   string
	}{
		{"counting drive key", "correct horse battery staple", counting, "c9049ad182655e0ba82c9f491022324a"},
		{"zero drive key", "0123456789abcdef", sdk.FeedKey{}, "d931e538c5e0e158f56f44d5fd2a3336"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, invite.Code([]byte(tt.secret), tt.drive)); diff != "" {
				t.Errorf("Code (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSecret: where the secret comes from, and what is refused.
func TestSecret(t *testing.T) {
	dir := t.TempDir()
	file := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const secret = "correct horse battery staple"
	tests := []struct {
		name    string
		cfg     plugin.Config
		want    string // the secret
		wantErr string // in the error of Secret or Open
	}{
		{name: "inline", cfg: plugin.Config{"secret": secret}, want: secret},
		{name: "inline with spaces", cfg: plugin.Config{"secret": "  " + secret + "\n"}, want: secret},
		{name: "file", cfg: plugin.Config{"secret-file": file("echoed", secret+"\n")}, want: secret},
		{name: "file with CRLF", cfg: plugin.Config{"secret-file": file("crlf", secret+"\r\n")}, want: secret},
		{name: "other settings ignored", cfg: plugin.Config{"secret": secret, "file": "x"}, want: secret},
		{name: "neither", cfg: plugin.Config{}, wantErr: `"secret" or "secret-file" setting is required`},
		{name: "both", cfg: plugin.Config{"secret": secret, "secret-file": file("both", secret)}, wantErr: "not both"},
		{name: "missing file", cfg: plugin.Config{"secret-file": filepath.Join(dir, "missing")}, wantErr: "no such file"},
		{name: "short", cfg: plugin.Config{"secret": "fifteen bytes!!"}, want: "fifteen bytes!!", wantErr: "15 bytes, want at least 16"},
		{name: "short once trimmed", cfg: plugin.Config{"secret-file": file("padded", "  short  \n\n\n\n\n\n\n\n")}, want: "short", wantErr: "5 bytes"},
		{name: "empty file", cfg: plugin.Config{"secret-file": file("empty", "")}, want: "", wantErr: "0 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := invite.Secret(tt.cfg)
			if err == nil {
				if diff := cmp.Diff(tt.want, string(got)); diff != "" {
					t.Errorf("Secret (-want +got):\n%s", diff)
				}
				_, err = invite.Open(tt.cfg)
			}
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("got error %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, sdk.ErrInvalid)):
				t.Errorf("got error %v, want one containing %q and wrapping sdk.ErrInvalid", err, tt.wantErr)
			}
		})
	}
}

// TestAuthorize: the decisions, for a secret given as bytes to New.
func TestAuthorize(t *testing.T) {
	secret := []byte("\x00\x01 binary secret, 16+ bytes \xff")
	drive := shipped.DriveA
	code := invite.Code(secret, drive)
	p, err := invite.New(secret)
	if err != nil {
		t.Fatal(err)
	}
	secret[0] = 'x' // New keeps its own copy
	proof, err := invite.Proof(code, drive, sdk.FeedKey{}, sdk.PeerKey{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		drive sdk.FeedKey
		proof string
		want  sdk.AuthDecision
	}{
		{"right proof", drive, proof, sdk.AuthDecision{Allow: true}},
		{"tab around it", drive, "\t" + proof + "\t", sdk.AuthDecision{Allow: true}},
		{"the code itself", drive, code, sdk.AuthDecision{Reason: invite.ReasonWrongCode}},
		{"other drive", shipped.DriveB, proof, sdk.AuthDecision{Reason: invite.ReasonWrongCode}},
		{"no code", drive, "", sdk.AuthDecision{Reason: invite.ReasonNoCode}},
		{"space inside", drive, proof[:16] + " " + proof[16:], sdk.AuthDecision{Reason: invite.ReasonWrongCode}},
		{"the proof twice", drive, proof + proof, sdk.AuthDecision{Reason: invite.ReasonWrongCode}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := p.Authorize(t.Context(), sdk.AuthRequest{Drive: tt.drive, Proof: []byte(tt.proof)})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, d); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCodeSize: a code is CodeSize bytes in hex.
func TestCodeSize(t *testing.T) {
	if diff := cmp.Diff(2*invite.CodeSize, len(invite.Code([]byte("any"), sdk.FeedKey{}))); diff != "" {
		t.Errorf("code length (-want +got):\n%s", diff)
	}
}

func TestProofRejectsBadCodes(t *testing.T) {
	for _, code := range []string{"", "zz", strings.Repeat("a", 30), strings.Repeat("a", 34)} {
		if _, err := invite.Proof(code, sdk.FeedKey{}, sdk.FeedKey{}, sdk.PeerKey{}); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("Proof(%q): %v", code, err)
		}
	}
}
