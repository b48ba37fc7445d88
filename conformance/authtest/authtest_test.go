package authtest_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/codrive/codrive/conformance/authtest"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// policy adapts a function to sdk.AuthPolicy.
type policy func(context.Context, sdk.AuthRequest) (sdk.AuthDecision, error)

func (f policy) Authorize(ctx context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
	return f(ctx, req)
}

// proofPolicy allows requests whose Proof is "open sesame": a correct
// policy for the cases below.
func proofPolicy(_ context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
	if string(req.Proof) == "open sesame" {
		return sdk.AuthDecision{Allow: true}, nil
	}
	return sdk.AuthDecision{Reason: "say the word"}, nil
}

var cases = []authtest.Case{
	{Name: "the word", Request: sdk.AuthRequest{Drive: sdk.FeedKey{1}, Writer: sdk.FeedKey{2}, Peer: sdk.PeerKey{3}, Proof: []byte("open sesame")}, Allow: true},
	{Name: "another word", Request: sdk.AuthRequest{Drive: sdk.FeedKey{1}, Writer: sdk.FeedKey{2}, Peer: sdk.PeerKey{3}, Proof: []byte("please")}, Reason: "say the word"},
}

// harness opens fn from any configuration but {"bad": "yes"}.
func harness(fn func() sdk.AuthPolicy) authtest.Harness {
	return authtest.Harness{
		Open: func(_ *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error) {
			if cfg["bad"] == "yes" {
				return nil, sdk.ErrInvalid
			}
			return fn(), nil
		},
		Cases:      cases,
		BadConfigs: []plugin.Config{{"bad": "yes"}},
	}
}

// TestGoodPolicy: a correct policy passes.
func TestGoodPolicy(t *testing.T) {
	authtest.Run(t, harness(func() sdk.AuthPolicy { return policy(proofPolicy) }))
}

// broken are policies each with one fault, and the subtest of the suite
// that must catch it.
var broken = []struct {
	name    string
	catches string
	h       func() authtest.Harness
}{
	{"WrongDecision", "Cases", func() authtest.Harness {
		return harness(func() sdk.AuthPolicy {
			return policy(func(context.Context, sdk.AuthRequest) (sdk.AuthDecision, error) {
				return sdk.AuthDecision{Allow: true}, nil
			})
		})
	}},
	{"NoReason", "Reasons", func() authtest.Harness {
		return harness(func() sdk.AuthPolicy {
			return policy(func(ctx context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
				d, err := proofPolicy(ctx, req)
				if len(req.Proof) > 20 {
					d.Reason = ""
				}
				return d, err
			})
		})
	}},
	{"Error", "Reasons", func() authtest.Harness {
		return harness(func() sdk.AuthPolicy {
			return policy(func(ctx context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
				if len(req.Proof) == 0 {
					return sdk.AuthDecision{}, errors.New("no proof")
				}
				return proofPolicy(ctx, req)
			})
		})
	}},
	{"Flaky", "Determinism", func() authtest.Harness {
		return harness(func() sdk.AuthPolicy {
			var mu sync.Mutex
			asked := map[string]int{}
			return policy(func(ctx context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
				// Every other time a request is asked, the reason
				// changes.
				k := string(req.Drive[:]) + string(req.Writer[:]) + string(req.Peer[:]) + string(req.Proof)
				mu.Lock()
				asked[k]++
				second := asked[k]%2 == 0
				mu.Unlock()
				d, err := proofPolicy(ctx, req)
				if second && !d.Allow {
					d.Reason += "!"
				}
				return d, err
			})
		})
	}},
	{"DiffersPerInstance", "Reopen", func() authtest.Harness {
		var opened atomic.Int64
		return harness(func() sdk.AuthPolicy {
			even := opened.Add(1)%2 == 0
			return policy(func(ctx context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
				if even && req.Drive != (sdk.FeedKey{1}) {
					return sdk.AuthDecision{Allow: true}, nil
				}
				return proofPolicy(ctx, req)
			})
		})
	}},
	{"OrderDependent", "Concurrent", func() authtest.Harness {
		return harness(func() sdk.AuthPolicy {
			var last atomic.Value
			last.Store("")
			return policy(func(ctx context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
				// Allows a proof the same as the one before, so that
				// concurrent calls change each other's answers. (No
				// data race: that would stop the child process.)
				if last.Swap(string(req.Proof)) == string(req.Proof) {
					return sdk.AuthDecision{Allow: true}, nil
				}
				return proofPolicy(ctx, req)
			})
		})
	}},
	{"FailsOnZeroKeys", "ZeroKeys", func() authtest.Harness {
		return harness(func() sdk.AuthPolicy {
			return policy(func(ctx context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
				if req.Peer == (sdk.PeerKey{}) {
					return sdk.AuthDecision{}, errors.New("no peer key")
				}
				return proofPolicy(ctx, req)
			})
		})
	}},
	{"OpensAnything", "BadConfig", func() authtest.Harness {
		h := harness(func() sdk.AuthPolicy { return policy(proofPolicy) })
		h.Open = func(*testing.T, plugin.Config) (sdk.AuthPolicy, error) { return policy(proofPolicy), nil }
		return h
	}},
	{"WrongError", "BadConfig", func() authtest.Harness {
		h := harness(func() sdk.AuthPolicy { return policy(proofPolicy) })
		open := h.Open
		h.Open = func(t *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error) {
			if cfg["bad"] == "yes" {
				return nil, errors.New("bad")
			}
			return open(t, cfg)
		}
		return h
	}},
}

// brokenEnv makes TestBroken run the suite on the broken policies, in a
// child process started by TestSuiteCatches.
const brokenEnv = "AUTHTEST_RUN_BROKEN"

// TestBroken runs the suite on each broken policy; it is meant to fail,
// so it only runs in the child process of TestSuiteCatches.
func TestBroken(t *testing.T) {
	if os.Getenv(brokenEnv) == "" {
		t.Skip("run by TestSuiteCatches")
	}
	for _, b := range broken {
		t.Run(b.name, func(t *testing.T) { authtest.Run(t, b.h()) })
	}
}

// TestSuiteCatches: the suite fails each broken policy, in the subtest
// meant to catch its fault. The failures are expected, so the suite runs
// in a child process and its output is read.
func TestSuiteCatches(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBroken$", "-test.v")
	cmd.Env = append(os.Environ(), brokenEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed every broken policy:\n%s", out)
	}
	for _, b := range broken {
		fail := "--- FAIL: TestBroken/" + b.name + "/" + b.catches + " "
		if !strings.Contains(string(out), fail) {
			t.Errorf("policy %s: no %q in the output", b.name, strings.TrimSpace(fail))
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", out)
	}
}
