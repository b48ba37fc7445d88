package authtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/codrive/codrive/sdk"
)

// hangTimeout is how long a call with a cancelled context may take
// before the suite calls it hung: generous, for a plugin under -race on
// a loaded machine.
const hangTimeout = 10 * time.Second

// expect fails the test unless d is the decision c expects.
func (e *env) expect(c Case, d sdk.AuthDecision) {
	e.t.Helper()
	want := sdk.AuthDecision{Allow: c.Allow, Reason: c.Reason}
	if !c.Allow && c.Reason == "" {
		want.Reason = d.Reason // any reason will do; ask checked there is one
	}
	if diff := diff(want, d); diff != "" {
		e.t.Errorf("case %q: decision (-want +got):\n%s\nrequest: %s", c.Name, diff, describe(c.Request))
	}
}

// decide asks p about every request, one at a time.
func (e *env) decide(p sdk.AuthPolicy, reqs []named) []sdk.AuthDecision {
	e.t.Helper()
	out := make([]sdk.AuthDecision, len(reqs))
	for i, r := range reqs {
		out[i] = e.ask(p, r.name, r.req)
	}
	return out
}

// sameDecisions fails the test where got differs from want.
func (e *env) sameDecisions(what string, reqs []named, want, got []sdk.AuthDecision) {
	e.t.Helper()
	bad := 0
	for i := range reqs {
		if got[i] != want[i] {
			if bad++; bad <= 5 {
				e.t.Errorf("%s: %s: decision changed (-first +then):\n%s\nrequest: %s", what, reqs[i].name, diff(want[i], got[i]), describe(reqs[i].req))
			}
		}
	}
	if bad > 5 {
		e.t.Errorf("%s: %d decisions changed in all", what, bad)
	}
}

// testCases: each case gets its decision, and the policy leaves the
// request's Proof as it was.
func testCases(e *env) {
	p := e.open()
	for _, c := range e.h.Cases {
		e.t.Run(c.Name, func(t *testing.T) {
			se := &env{t: t, h: e.h, rng: e.rng}
			req := c.Request
			req.Proof = clone(c.Request.Proof)
			se.expect(c, se.ask(p, "case "+c.Name, req))
			if !bytes.Equal(req.Proof, c.Request.Proof) {
				t.Errorf("Authorize changed the request's Proof from %q to %q", c.Request.Proof, req.Proof)
			}
		})
	}
}

// testDeterminism: asking again gives the same decisions.
func testDeterminism(e *env) {
	p := e.open()
	reqs := e.requests()
	first := e.decide(p, reqs)
	for round := range 2 {
		e.sameDecisions(fmt.Sprintf("round %d", round+2), reqs, first, e.decide(p, reqs))
	}
}

// testReopen: a second policy opened with the same configuration, as on
// another writer's host, decides the same way.
func testReopen(e *env) {
	reqs := e.requests()
	first := e.decide(e.open(), reqs)
	e.sameDecisions("second policy", reqs, first, e.decide(e.open(), reqs))
}

// testConcurrent: goroutines asking at once, in different orders, get the
// decisions asked for one at a time.
func testConcurrent(e *env) {
	const goroutines, rounds = 8, 3
	p := e.open()
	reqs := e.requests()
	want := e.decide(p, reqs)
	var bad atomic.Int32
	var wg sync.WaitGroup
	for g := range goroutines {
		order := e.rng.Perm(len(reqs)) // drawn here: rng is not safe for concurrent use
		wg.Go(func() {
			for range rounds {
				for _, i := range order {
					d, err := p.Authorize(e.t.Context(), reqs[i].req)
					if err == nil && d == want[i] {
						continue
					}
					if bad.Add(1) <= 5 {
						e.t.Errorf("goroutine %d: %s: got %+v, %v; alone it was %+v\nrequest: %s", g, reqs[i].name, d, err, want[i], describe(reqs[i].req))
					}
				}
			}
		})
	}
	wg.Wait()
	if n := bad.Load(); n > 5 {
		e.t.Errorf("%d concurrent calls in all disagreed with the sequential answer", n)
	}
}

// testReasons: every request gets a decision, and every denial a
// reason (ask checks both).
func testReasons(e *env) {
	p := e.open()
	e.decide(p, e.requests())
}

// testZeroKeys: requests with unset keys get a decision or an
// ErrInvalid, never a panic; the policy answers normally afterwards.
func testZeroKeys(e *env) {
	p := e.open()
	some := sdk.FeedKey{0: 1, 31: 1}
	reqs := []named{
		{"all zero", sdk.AuthRequest{}},
		{"only a proof", sdk.AuthRequest{Proof: []byte("proof")}},
		{"only a drive", sdk.AuthRequest{Drive: some}},
		{"only a writer", sdk.AuthRequest{Writer: some}},
		{"only a peer", sdk.AuthRequest{Peer: sdk.PeerKey(some)}},
	}
	for _, c := range e.h.Cases {
		reqs = append(reqs, named{"zero keys, proof of case " + c.Name, sdk.AuthRequest{Proof: c.Request.Proof}})
	}
	for _, r := range reqs {
		d, err := p.Authorize(e.t.Context(), r.req)
		switch {
		case err != nil && !errors.Is(err, sdk.ErrInvalid):
			e.t.Errorf("%s: Authorize: %v; want a decision or an error wrapping sdk.ErrInvalid", r.name, err)
		case err == nil && !d.Allow && d.Reason == "":
			e.t.Errorf("%s: denied without a reason", r.name)
		}
	}
	c := e.h.Cases[0]
	e.expect(c, e.ask(p, "case "+c.Name+" after requests with zero keys", c.Request))
}

// testCancelled: a call whose context is cancelled or past its deadline
// returns promptly, with an error or a decision, and leaves the policy
// working.
func testCancelled(e *env) {
	p := e.open()
	c := e.h.Cases[0]
	cancelled, cancel := context.WithCancel(e.t.Context())
	cancel()
	expired, cancel := context.WithDeadline(e.t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	for name, ctx := range map[string]context.Context{"cancelled": cancelled, "expired": expired} {
		type result struct {
			d   sdk.AuthDecision
			err error
		}
		done := make(chan result, 1)
		go func() {
			d, err := p.Authorize(ctx, c.Request)
			done <- result{d, err}
		}()
		select {
		case r := <-done:
			if r.err == nil && !r.d.Allow && r.d.Reason == "" {
				e.t.Errorf("%s context: denied without a reason", name)
			}
		case <-time.After(hangTimeout):
			e.t.Fatalf("%s context: Authorize did not return within %v", name, hangTimeout)
		}
	}
	e.expect(c, e.ask(p, "case "+c.Name+" after cancelled calls", c.Request))
}

// testBadConfig: every bad configuration fails to open, with an error
// wrapping sdk.ErrInvalid.
func testBadConfig(e *env) {
	if len(e.h.BadConfigs) == 0 {
		e.t.Skip("no Harness.BadConfigs given")
	}
	for i, cfg := range e.h.BadConfigs {
		e.t.Run(fmt.Sprint(i), func(t *testing.T) {
			p, err := e.h.Open(t, maps.Clone(cfg))
			switch {
			case err == nil:
				t.Errorf("Open(%v) = %T, no error; want an error wrapping sdk.ErrInvalid", cfg, p)
			case !errors.Is(err, sdk.ErrInvalid):
				t.Errorf("Open(%v): %v; want an error wrapping sdk.ErrInvalid", cfg, err)
			default:
				t.Logf("Open(%v): %v", cfg, err)
			}
		})
	}
}
