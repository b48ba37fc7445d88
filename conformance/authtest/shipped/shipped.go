// Package shipped holds what the auth suite expects of the policies that
// ship with codrive (package github.com/codrive/codrive/auth), so that
// each policy's own test, host/builtin's test and the plugin tests in
// host/plugins check the same things:
//
//	h := shipped.Harness(t, "invite")
//	h.Open = func(t *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error) {
//		return loader.AuthPolicy(t.Context(), "invite", cfg)
//	}
//	authtest.Run(t, h)
package shipped

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codrive/codrive/auth/deny"
	"github.com/codrive/codrive/auth/invite"
	"github.com/codrive/codrive/conformance/authtest"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// Names lists the shipped policies, the default first.
var Names = []string{"deny", "allow", "allowlist", "invite"}

// Secret is the invite secret the invite harness configures.
const Secret = "correct horse battery staple"

// Keys the harnesses use, made from labels so that they look like real
// keys and failure messages can be traced back to them.
var (
	DriveA       = sdk.FeedKey(key("drive A"))
	DriveB       = sdk.FeedKey(key("drive B"))
	ListedPeer   = sdk.PeerKey(key("listed peer"))
	ListedWriter = sdk.FeedKey(key("listed writer"))
	OtherPeer    = sdk.PeerKey(key("other peer"))
	OtherWriter  = sdk.FeedKey(key("other writer"))
)

func key(label string) [sdk.KeySize]byte { return sha256.Sum256([]byte(label)) }

// Harness returns the suite's expectations of the shipped policy called
// name, with Open left for the caller to set. Files the configuration
// names are written in t.TempDir(). It fails the test if no policy goes
// by that name.
func Harness(t *testing.T, name string) authtest.Harness {
	t.Helper()
	switch name {
	case "deny":
		return denyHarness()
	case "allow":
		return allowHarness()
	case "allowlist":
		return allowlistHarness(t)
	case "invite":
		return inviteHarness(t)
	}
	t.Fatalf("shipped: no auth policy named %q", name)
	return authtest.Harness{}
}

func denyHarness() authtest.Harness {
	return authtest.Harness{Cases: []authtest.Case{
		{Name: "a peer asking for its own writer", Request: sdk.AuthRequest{Drive: DriveA, Writer: OtherWriter, Peer: OtherPeer}, Reason: deny.Reason},
		{Name: "with an invite code", Request: sdk.AuthRequest{Drive: DriveA, Writer: ListedWriter, Peer: ListedPeer, Proof: []byte(invite.Code([]byte(Secret), DriveA))}, Reason: deny.Reason},
	}}
}

func allowHarness() authtest.Harness {
	return authtest.Harness{Cases: []authtest.Case{
		{Name: "any peer", Request: sdk.AuthRequest{Drive: DriveA, Writer: OtherWriter, Peer: OtherPeer}, Allow: true},
		{Name: "with a proof", Request: sdk.AuthRequest{Drive: DriveB, Writer: ListedWriter, Peer: ListedPeer, Proof: []byte("anything")}, Allow: true},
	}}
}

// allowlistHarness lists ListedPeer and ListedWriter, the second with the
// URI prefix and a comment after it.
func allowlistHarness(t *testing.T) authtest.Harness {
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	file := write("allowed", "# Peers and writers allowed in.\n\n"+
		ListedPeer.String()+"\n"+
		"  "+sdk.URIScheme+ListedWriter.String()+"  # a writer feed\n")
	notOnList := "peer " + OtherPeer.String()[:8] + "… is not on the allow list"
	return authtest.Harness{
		Config: plugin.Config{"file": file},
		Cases: []authtest.Case{
			{Name: "listed peer", Request: sdk.AuthRequest{Drive: DriveA, Writer: OtherWriter, Peer: ListedPeer}, Allow: true},
			{Name: "listed writer", Request: sdk.AuthRequest{Drive: DriveA, Writer: ListedWriter, Peer: OtherPeer}, Allow: true},
			{Name: "listed writer key as the peer", Request: sdk.AuthRequest{Drive: DriveB, Writer: OtherWriter, Peer: sdk.PeerKey(ListedWriter)}, Allow: true},
			{Name: "neither listed", Request: sdk.AuthRequest{Drive: DriveA, Writer: OtherWriter, Peer: OtherPeer}, Reason: notOnList},
			{Name: "a listed drive key does not count", Request: sdk.AuthRequest{Drive: sdk.FeedKey(ListedPeer), Writer: OtherWriter, Peer: OtherPeer}, Reason: notOnList},
			{Name: "a proof does not count", Request: sdk.AuthRequest{Drive: DriveA, Writer: OtherWriter, Peer: OtherPeer, Proof: []byte(ListedPeer.String())}, Reason: notOnList},
		},
		BadConfigs: []plugin.Config{
			{},
			{"file": ""},
			{"file": filepath.Join(dir, "missing")},
			{"file": dir},
			{"file": write("upper", strings.ToUpper(ListedPeer.String())+"\n")},
			{"file": write("short", "# ok\n"+ListedPeer.String()+"\n"+ListedPeer.String()[:62]+"\n")},
			{"file": write("zero", strings.Repeat("0", 64)+"\n")},
			{"file": write("two-per-line", ListedPeer.String()+" "+ListedWriter.String()+"\n")},
		},
	}
}

func inviteHarness(t *testing.T) authtest.Harness {
	dir := t.TempDir()
	shortFile := filepath.Join(dir, "short-secret")
	if err := os.WriteFile(shortFile, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	codeA := invite.Code([]byte(Secret), DriveA)
	req := func(proof string) sdk.AuthRequest {
		return sdk.AuthRequest{Drive: DriveA, Writer: OtherWriter, Peer: OtherPeer, Proof: []byte(proof)}
	}
	// bound is code's proof for a request like req's, with the keys
	// given (zero ones mean req's).
	bound := func(code string, drive, writer sdk.FeedKey, peer sdk.PeerKey) string {
		if drive == (sdk.FeedKey{}) {
			drive = DriveA
		}
		if writer == (sdk.FeedKey{}) {
			writer = OtherWriter
		}
		if peer == (sdk.PeerKey{}) {
			peer = OtherPeer
		}
		p, err := invite.Proof(code, drive, writer, peer)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	proofA := bound(codeA, sdk.FeedKey{}, sdk.FeedKey{}, sdk.PeerKey{})
	return authtest.Harness{
		Config: plugin.Config{"secret": Secret},
		Cases: []authtest.Case{
			{Name: "the code's proof for the request", Request: req(proofA), Allow: true},
			{Name: "proof with a newline", Request: req(proofA + "\n"), Allow: true},
			{Name: "proof in upper case", Request: req(strings.ToUpper(proofA)), Allow: true},
			{Name: "no proof", Request: req(""), Reason: invite.ReasonNoCode},
			{Name: "only white space", Request: req(" \n"), Reason: invite.ReasonNoCode},
			{Name: "the code itself", Request: req(codeA), Reason: invite.ReasonWrongCode},
			{Name: "proof for another writer", Request: req(bound(codeA, sdk.FeedKey{}, ListedWriter, sdk.PeerKey{})), Reason: invite.ReasonWrongCode},
			{Name: "proof for another peer", Request: req(bound(codeA, sdk.FeedKey{}, sdk.FeedKey{}, ListedPeer)), Reason: invite.ReasonWrongCode},
			{Name: "proof for another drive", Request: req(bound(codeA, DriveB, sdk.FeedKey{}, sdk.PeerKey{})), Reason: invite.ReasonWrongCode},
			{Name: "code of another drive", Request: req(bound(invite.Code([]byte(Secret), DriveB), sdk.FeedKey{}, sdk.FeedKey{}, sdk.PeerKey{})), Reason: invite.ReasonWrongCode},
			{Name: "code made with another secret", Request: req(bound(invite.Code([]byte(Secret+"!"), DriveA), sdk.FeedKey{}, sdk.FeedKey{}, sdk.PeerKey{})), Reason: invite.ReasonWrongCode},
			{Name: "proof cut short", Request: req(proofA[:len(proofA)-2]), Reason: invite.ReasonWrongCode},
			{Name: "proof with more after it", Request: req(proofA + "00"), Reason: invite.ReasonWrongCode},
			{Name: "not hex", Request: req("zz" + proofA[2:]), Reason: invite.ReasonWrongCode},
			{Name: "the secret itself", Request: req(Secret), Reason: invite.ReasonWrongCode},
		},
		BadConfigs: []plugin.Config{
			{},
			{"secret": ""},
			{"secret": "too short"},
			{"secret": "   padded short   "},
			{"secret": Secret, "secret-file": shortFile},
			{"secret-file": filepath.Join(dir, "missing")},
			{"secret-file": shortFile},
		},
	}
}
