// Package invite is the auth policy that admits whoever presents the
// drive's invite code. It is also the example to follow when writing a
// policy of your own, and this documentation walks through it.
//
// # Using it
//
// The drive's owner configures a secret, either inline or in a file:
//
//	secret       the secret (at least 16 bytes)
//	secret-file  a file holding the secret, instead
//
// and hands out the drive's invite code, [Code](secret, drive): 32 hex
// characters. A peer that wants to write does not send the code itself:
// it sends, as the Proof of its request, the code bound to that request,
// [Proof](code, drive, writer, peer), so that the peers a request passes
// through learn nothing they could use for another writer or peer. There
// is one code per drive; changing the secret revokes every code made with
// it.
//
// # Writing a policy
//
// A policy implements the one method of [sdk.AuthPolicy]:
//
//	Authorize(ctx context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error)
//
// A writer's host calls it when a peer asks to add a writer to a drive.
// The request says which drive (Drive), which feed the peer wants added
// to the writer set (Writer; the host has checked that the peer holds its
// secret key), who asks (Peer, the key the peer authenticated the
// connection with), and what it sent along (Proof: bytes the host does
// not interpret, here the invite code bound to the request).
//
// Step 1, decide. Return AuthDecision{Allow: true}, or a denial with a
// Reason. The reason is shown to the requester: it should help an honest
// one and give nothing away. This policy's decision is a few lines (see
// [Policy.Authorize]):
//
//	proof := bytes.TrimSpace(req.Proof)
//	if len(proof) == 0 {
//		return sdk.AuthDecision{Reason: ReasonNoCode}, nil
//	}
//	if len(proof) != hex.EncodedLen(CodeSize) {
//		return sdk.AuthDecision{Reason: ReasonWrongCode}, nil
//	}
//	got, err := hex.DecodeString(string(proof))
//	want := bind(mac(p.secret, req.Drive), req.Drive, req.Writer, req.Peer)
//	if err != nil || !hmac.Equal(got, want) {
//		return sdk.AuthDecision{Reason: ReasonWrongCode}, nil
//	}
//	return sdk.AuthDecision{Allow: true}, nil
//
// Return an error only when the policy can't decide (a file it needs is
// gone, a service it asks is down); the host reports it and denies. A
// denial is not an error.
//
// Step 2, be safe and quick. The host may call Authorize from many
// goroutines at once. A policy that waits, on the network say, should
// give up when ctx is done. This one only computes, and its state (the
// secret) never changes after Open.
//
// Step 3, take configuration. The host configures a policy with string
// settings, a [plugin.Config]: the same map whether the policy is
// compiled in or runs as a plugin. [Open] turns them into a policy, and
// fails with an error wrapping [sdk.ErrInvalid] that says what is wrong,
// so that a mistake shows when the policy is loaded rather than when the
// first peer asks.
//
// Step 4, serve it as a plugin. A main package hands Open to
// [plugin.ServeAuthPolicy]; plugins/codrive-plugin-auth-invite is just
// that:
//
//	func main() {
//		plugin.ServeAuthPolicy(plugin.Info{Name: "invite", Version: "0.1.0"}, invite.Open)
//	}
//
// Built as codrive-plugin-auth-<name> into a plugin directory (go build
// -o bin/ ./plugins/... does it for the plugins of this repository), it
// is found by name like a builtin.
//
// Step 5, test it. The suite in conformance/authtest checks the
// decisions you expect, and what every policy owes its host: the same
// answer to the same request, from any number of goroutines, a reason
// for every denial, no panic on requests with unset keys, no hang on a
// cancelled context, and bad configurations refused:
//
//	func TestConformance(t *testing.T) {
//		secret, drive := "correct horse battery staple", sdk.FeedKey{1}
//		proof, _ := invite.Proof(invite.Code([]byte(secret), drive), drive, sdk.FeedKey{}, sdk.PeerKey{})
//		authtest.Run(t, authtest.Harness{
//			Open: func(_ *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error) {
//				return invite.Open(cfg)
//			},
//			Config: plugin.Config{"secret": secret},
//			Cases: []authtest.Case{
//				{Name: "right proof", Request: sdk.AuthRequest{Drive: drive, Proof: []byte(proof)}, Allow: true},
//				{Name: "no code", Request: sdk.AuthRequest{Drive: drive}, Reason: invite.ReasonNoCode},
//			},
//			BadConfigs: []plugin.Config{{}, {"secret": "too short"}},
//		})
//	}
//
// # The code
//
// A drive's code is HMAC-SHA256, keyed by the secret, of the string
// "codrive-invite" and a zero byte followed by the 32-byte drive key;
// its first 16 bytes, in hex. Without the secret nobody can compute a
// code, and the code of one drive says nothing about another's. The
// prefix keeps these MACs apart from anything else the same secret might
// be used for. 16 bytes are far beyond guessing, and codes are compared
// with hmac.Equal, in constant time, so that how long a denial takes
// tells nothing of how close a guess came.
//
// The secret must be at least 16 bytes: someone holding one code could
// otherwise try short secrets until one makes it, and then make the codes
// of other drives. White space around it is ignored, so a file written
// by echo works.
//
// A code is a bearer token: it admits anyone who has it, for as long as
// the secret is unchanged. Send it over a channel you trust. A request
// travels to every connected peer of the co-drive, readers too; what it
// carries is the proof, an HMAC keyed by the code over the drive, the
// writer key and the requester's peer key, which admits that writer from
// that peer and nothing else.
package invite

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// CodeSize is the size in bytes of an invite code; written in hex it is
// twice as long.
const CodeSize = 16

// MinSecretSize is the smallest secret the policy accepts, in bytes.
const MinSecretSize = 16

// The reasons the policy gives for a denial.
const (
	ReasonNoCode    = "no invite code"
	ReasonWrongCode = "wrong invite code"
)

// domain starts every MAC the policy computes, so that they can't be
// mistaken for MACs the same secret makes for other purposes.
const domain = "codrive-invite\x00"

// Policy allows requests whose Proof is the drive's invite code. It is
// safe for concurrent calls.
type Policy struct {
	secret []byte // never modified after New
}

// New returns a policy that admits holders of the codes made with
// secret. It fails with an error wrapping sdk.ErrInvalid if the secret is
// shorter than MinSecretSize.
func New(secret []byte) (*Policy, error) {
	if len(secret) < MinSecretSize {
		return nil, fmt.Errorf("invite: the secret is %d bytes, want at least %d: %w", len(secret), MinSecretSize, sdk.ErrInvalid)
	}
	return &Policy{secret: bytes.Clone(secret)}, nil
}

// Open returns a policy configured by cfg:
//
//	secret       the secret
//	secret-file  a file holding the secret
//
// Exactly one of the two is required; see [Secret].
func Open(cfg plugin.Config) (sdk.AuthPolicy, error) {
	secret, err := Secret(cfg)
	if err != nil {
		return nil, err
	}
	p, err := New(secret)
	if err != nil {
		return nil, err // not p: a nil *Policy would make a non-nil interface
	}
	return p, nil
}

// Secret returns the secret that cfg configures, from its "secret"
// setting or read from the file its "secret-file" setting names, without
// surrounding white space. A command that prints invite codes should
// read the secret with it, so that its codes match the policy's. It fails
// with an error wrapping sdk.ErrInvalid if neither or both are set, or
// the file can't be read.
func Secret(cfg plugin.Config) ([]byte, error) {
	inline, file := cfg["secret"], cfg["secret-file"]
	switch {
	case inline != "" && file != "":
		return nil, fmt.Errorf("invite: set either \"secret\" or \"secret-file\", not both: %w", sdk.ErrInvalid)
	case inline != "":
		return []byte(strings.TrimSpace(inline)), nil
	case file != "":
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("invite: secret file: %w: %w", err, sdk.ErrInvalid)
		}
		return bytes.TrimSpace(data), nil
	}
	return nil, fmt.Errorf("invite: the \"secret\" or \"secret-file\" setting is required: %w", sdk.ErrInvalid)
}

// Code returns the invite code of drive under secret: what a peer must
// send as its request's Proof.
func Code(secret []byte, drive sdk.FeedKey) string {
	return hex.EncodeToString(mac(secret, drive))
}

// mac is the invite code of drive, as bytes.
func mac(secret []byte, drive sdk.FeedKey) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(domain))
	h.Write(drive[:])
	return h.Sum(nil)[:CodeSize]
}

// Authorize allows req if its Proof is the invite code of req.Drive bound
// to the request (see Proof), in upper or lower case, with or without
// white space around it.
func (p *Policy) Authorize(_ context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
	proof := bytes.TrimSpace(req.Proof)
	if len(proof) == 0 {
		return sdk.AuthDecision{Reason: ReasonNoCode}, nil
	}
	// Checked first so that a long proof is not decoded for nothing.
	if len(proof) != hex.EncodedLen(CodeSize) {
		return sdk.AuthDecision{Reason: ReasonWrongCode}, nil
	}
	got, err := hex.DecodeString(string(proof))
	want := bind(mac(p.secret, req.Drive), req.Drive, req.Writer, req.Peer)
	if err != nil || !hmac.Equal(got, want) {
		return sdk.AuthDecision{Reason: ReasonWrongCode}, nil
	}
	return sdk.AuthDecision{Allow: true}, nil
}

// proofDomain separates proofs from every other use of a code.
const proofDomain = "codrive invite proof v1\x00"

// Proof binds an invite code to one request: what a peer sends as the
// Proof of its request to add writer to drive, over the connection it
// authenticated with peer. It fails with an error wrapping sdk.ErrInvalid
// if code is not an invite code (32 hex characters).
func Proof(code string, drive, writer sdk.FeedKey, peer sdk.PeerKey) (string, error) {
	c, err := hex.DecodeString(strings.TrimSpace(code))
	if err != nil || len(c) != CodeSize {
		return "", fmt.Errorf("invite code %q: want %d hex characters: %w", code, hex.EncodedLen(CodeSize), sdk.ErrInvalid)
	}
	return hex.EncodeToString(bind(c, drive, writer, peer)), nil
}

// bind is the proof of a request, as bytes.
func bind(code []byte, drive, writer sdk.FeedKey, peer sdk.PeerKey) []byte {
	h := hmac.New(sha256.New, code)
	h.Write([]byte(proofDomain))
	h.Write(drive[:])
	h.Write(writer[:])
	h.Write(peer[:])
	return h.Sum(nil)[:CodeSize]
}
