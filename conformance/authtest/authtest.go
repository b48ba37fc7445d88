// Package authtest checks an [sdk.AuthPolicy] implementation against the
// auth-policy contract. A policy's author runs the suite from an ordinary
// test of their own package, giving requests and the decisions expected:
//
//	func TestConformance(t *testing.T) {
//		authtest.Run(t, authtest.Harness{
//			Open: func(_ *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error) {
//				return mypolicy.Open(cfg)
//			},
//			Config: plugin.Config{"secret": "correct horse battery staple"},
//			Cases: []authtest.Case{
//				{Name: "no proof", Request: sdk.AuthRequest{Drive: sdk.FeedKey{1}}, Reason: "no invite code"},
//			},
//			BadConfigs: []plugin.Config{{}},
//		})
//	}
//
// The policy is opened from configuration, through Harness.Open, so
// that the same harness runs a policy compiled in and the same policy
// served by a plugin binary (opened through a host/plugins Loader).
//
// [Run] runs each check as a subtest, so that
//
//	go test -race -run 'TestConformance/Concurrent' ./auth/invite
//
// selects some of them. Each subtest opens its own policy. What the
// suite asks of every policy:
//
//   - Cases: each case gets the decision expected, and no error.
//   - Determinism: asking again gives the same decision, for the cases
//     and for generated requests (random keys, the cases' requests with
//     their proofs cut, lengthened or changed and their keys swapped,
//     empty and 64 KiB proofs); so does a second policy opened with the
//     same configuration, as another writer's host would.
//   - Concurrent: goroutines asking at once get the decisions asked for
//     one at a time (run the suite with -race).
//   - Reasons: every denial carries a non-empty Reason, the requester's
//     only clue; an Authorize that returns an error is not a decision
//     and fails the test, since every request the suite sends can be
//     decided.
//   - ZeroKeys: requests whose keys are unset get a decision (or an
//     error wrapping sdk.ErrInvalid), not a panic.
//   - Cancelled: with a cancelled or expired context Authorize returns
//     within seconds, an error or a decision, and the policy still
//     answers afterwards.
//   - BadConfig: each of Harness.BadConfigs fails to open, with an error
//     wrapping sdk.ErrInvalid.
//
// The suite calls the policy through its interface only, so it runs as
// well against a policy in a plugin process, where a panic shows as the
// plugin crashing.
package authtest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// Harness tells the suite how to open the policy under test and what to
// expect of it.
type Harness struct {
	// Open returns the policy under test configured by cfg. It is called
	// once or more by each subtest, with a copy of Config or with one of
	// BadConfigs.
	Open func(t *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error)
	// Config configures the policy the cases are asked of.
	Config plugin.Config
	// Cases are requests with the decisions expected from a policy opened
	// with Config. At least one is required.
	Cases []Case
	// BadConfigs are configurations the policy must refuse to open.
	BadConfigs []plugin.Config
}

// Case is a request and the decision expected for it.
type Case struct {
	// Name names the case in failure messages.
	Name string
	// Request is what the policy is asked.
	Request sdk.AuthRequest
	// Allow is the decision expected.
	Allow bool
	// Reason, if not empty, is the Reason a denial must give exactly.
	// Leave it empty to accept any non-empty reason.
	Reason string
}

// seed seeds the generated requests: every run sends the same ones.
const seed = 20260901

// Run runs every conformance test against the policy as subtests.
func Run(t *testing.T, h Harness) {
	if h.Open == nil {
		t.Fatal("authtest: Harness.Open is nil")
	}
	if len(h.Cases) == 0 {
		t.Fatal("authtest: Harness.Cases is empty; give at least one request and the decision expected")
	}
	for _, c := range h.Cases {
		if c.Allow && c.Reason != "" {
			t.Fatalf("authtest: case %q expects Allow and a Reason; a Reason is for denials", c.Name)
		}
	}
	tests := []struct {
		name string
		run  func(*env)
	}{
		{"Cases", testCases},
		{"Determinism", testDeterminism},
		{"Reopen", testReopen},
		{"Concurrent", testConcurrent},
		{"Reasons", testReasons},
		{"ZeroKeys", testZeroKeys},
		{"Cancelled", testCancelled},
		{"BadConfig", testBadConfig},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A stream of its own per subtest, so that selecting subtests
			// with -run does not change what they send.
			tt.run(&env{t: t, h: h, rng: rand.New(rand.NewPCG(seed, uint64(i)))})
		})
	}
}

// env is one subtest's harness and random source.
type env struct {
	t       *testing.T
	h       Harness
	rng     *rand.Rand
	reports int // failures reported by ask
}

// open opens a policy with the harness's configuration, failing the test
// if that fails.
func (e *env) open() sdk.AuthPolicy {
	e.t.Helper()
	p, err := e.h.Open(e.t, maps.Clone(e.h.Config))
	if err != nil {
		e.t.Fatalf("Open(%v): %v", e.h.Config, err)
	}
	if p == nil {
		e.t.Fatalf("Open(%v) returned no policy and no error", e.h.Config)
	}
	return p
}

// ask calls the policy with a live context and checks what every answer
// must satisfy: no error, and a reason for a denial.
func (e *env) ask(p sdk.AuthPolicy, name string, req sdk.AuthRequest) sdk.AuthDecision {
	e.t.Helper()
	d, err := p.Authorize(e.t.Context(), req)
	switch {
	case err != nil:
		e.report("%s: Authorize: %v\nrequest: %s", name, err, describe(req))
	case !d.Allow && d.Reason == "":
		e.report("%s: denied without a reason\nrequest: %s", name, describe(req))
	}
	return d
}

// maxReports is how many failures of one kind a subtest describes.
const maxReports = 5

// report fails the test, describing the first few failures and counting
// the rest, so that a policy wrong about every request is not reported
// a hundred times over.
func (e *env) report(format string, args ...any) {
	e.t.Helper()
	if e.reports == 0 {
		e.t.Cleanup(func() {
			if e.reports > maxReports {
				e.t.Errorf("%d failures in all", e.reports)
			}
		})
	}
	if e.reports++; e.reports <= maxReports {
		e.t.Errorf(format, args...)
	} else {
		e.t.Fail()
	}
}

// named is a request the suite sends, with a name for failure messages.
type named struct {
	name string
	req  sdk.AuthRequest
}

// requests returns the cases' requests followed by generated ones:
// variations of the cases, random keys, and odd proofs.
func (e *env) requests() []named {
	var out []named
	for _, c := range e.h.Cases {
		out = append(out, named{"case " + c.Name, c.Request})
	}
	for _, c := range e.h.Cases {
		r := c.Request
		proof := func(p []byte) sdk.AuthRequest { v := r; v.Proof = p; return v }
		out = append(out,
			named{"case " + c.Name + ", proof lengthened", proof(append(clone(r.Proof), 'x'))},
			named{"case " + c.Name + ", no proof", proof(nil)},
			named{"case " + c.Name + ", empty proof", proof([]byte{})},
			named{"case " + c.Name + ", random proof", proof(e.bytes(1 + e.rng.IntN(64)))},
			named{"case " + c.Name + ", keys swapped", sdk.AuthRequest{Drive: r.Drive, Writer: sdk.FeedKey(r.Peer), Peer: sdk.PeerKey(r.Writer), Proof: r.Proof}},
			named{"case " + c.Name + ", other drive", sdk.AuthRequest{Drive: e.key(), Writer: r.Writer, Peer: r.Peer, Proof: r.Proof}},
		)
		if len(r.Proof) > 0 {
			flipped := clone(r.Proof)
			flipped[e.rng.IntN(len(flipped))] ^= 1 << e.rng.IntN(8)
			out = append(out,
				named{"case " + c.Name + ", proof cut short", proof(clone(r.Proof[:len(r.Proof)-1]))},
				named{"case " + c.Name + ", proof changed", proof(flipped)},
			)
		}
	}
	for i := range 8 {
		out = append(out, named{fmt.Sprintf("random keys %d", i), sdk.AuthRequest{
			Drive: e.key(), Writer: e.key(), Peer: sdk.PeerKey(e.key()), Proof: e.bytes(e.rng.IntN(40)),
		}})
	}
	out = append(out,
		named{"64 KiB proof", sdk.AuthRequest{Drive: e.key(), Writer: e.key(), Peer: sdk.PeerKey(e.key()), Proof: e.bytes(64 << 10)}},
		named{"text proof", sdk.AuthRequest{Drive: e.key(), Writer: e.key(), Peer: sdk.PeerKey(e.key()), Proof: []byte(" 0123456789abcdef\n")}},
	)
	return out
}

// key returns a random key.
func (e *env) key() sdk.FeedKey {
	var k sdk.FeedKey
	for i := range k {
		k[i] = byte(e.rng.Uint32())
	}
	return k
}

// bytes returns n random bytes.
func (e *env) bytes(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(e.rng.Uint32())
	}
	return b
}

// clone copies b, keeping nil as nil.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

// describe prints a request for failure messages.
func describe(r sdk.AuthRequest) string {
	proof := fmt.Sprintf("%q", r.Proof)
	if len(r.Proof) > 48 {
		proof = fmt.Sprintf("%q… (%d bytes)", r.Proof[:48], len(r.Proof))
	}
	return fmt.Sprintf("drive %x… writer %x… peer %x… proof %s", r.Drive[:4], r.Writer[:4], r.Peer[:4], proof)
}

// diff compares decisions with go-cmp.
func diff(want, got sdk.AuthDecision) string {
	return cmp.Diff(want, got)
}
