// Package resolvertest checks an [sdk.Resolver] implementation against
// the resolver contract. A resolver's author runs the suite from an
// ordinary test of their own package:
//
//	func TestConformance(t *testing.T) {
//		resolvertest.Run(t, func(*testing.T) sdk.Resolver { return vclock.New() },
//			resolvertest.Options{Causal: true, CausalUnderSkew: true})
//	}
//
// [Run] runs each check as a subtest, so that
//
//	go test -run 'TestConformance/Transitivity' ./conflict/vclock
//
// selects some of them. Each subtest asks for a resolver of its own.
//
// Most checks are properties over generated candidates, drawn from a
// random source with a fixed seed: the same run every time, and a failing
// subtest logs the seed (change it with Options.Seed or the environment
// variable CODRIVE_RESOLVERTEST_SEED). Two kinds of input are generated:
//
//   - Arbitrary sets: wall clocks with ties and extremes (the year 2100,
//     the ends of int64), vector clocks with random lengths, and, where
//     only determinism and totality are checked, clocks that are
//     unsorted or repeat a writer. Nothing an honest writer produces
//     need hold.
//   - Histories: 2 to 10 writers that write entries and sync with each
//     other at random, recording in each entry's vector clock everything
//     its writer has seen. Each writer's wall clock is off by up to an
//     hour. In honest histories a writer also never stamps an entry
//     below the newest wall clock it has seen (plus one), as the drive
//     layer does; in skewed histories it writes its raw clock, so a
//     causally later entry can carry an older time.
//
// Candidate Y knows candidate X when Y.Clock's length for X.Writer is
// above X.Seq, or Y is a later entry of X's own feed. The suite reads
// the contract this way:
//
//   - Every set gets a winner; Concurrent is sorted, without repeats,
//     without the winner, and holds exactly the other candidates the
//     winner does not know (checked on well-formed clocks). A set with
//     no candidates fails with an error wrapping sdk.ErrInvalid.
//   - The same candidates in any order, in a batch in any order, alone
//     or batched, get the same winning candidate and the same concurrent
//     candidates. The tombstone flag changes nothing.
//   - On honest histories, pairwise verdicts are transitive and the
//     winner of three beats each of the other two.
//   - With Options.Causal: on honest histories, no candidate knows the
//     winner. With Options.CausalUnderSkew, also on skewed histories and
//     against a wall clock in the year 2100.
//   - A cancelled context fails the call with its error, or at least
//     does not hang it; a batch of 10,000 sets works.
//
// The suite calls the resolver through its interface only, with few
// calls of large batches, so it runs as well against a resolver served
// from a plugin process.
package resolvertest

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codrive/codrive/sdk"
)

// Options describes what the resolver under test promises beyond the
// common contract.
type Options struct {
	// Causal says the resolver respects causality when wall clocks grow
	// along it (honest histories): the winner is never a candidate that
	// another candidate knows. Every resolver that keeps the consistency
	// promise of sdk.Resolver, including last-writer-wins on the drive
	// layer's timestamps, should set it.
	Causal bool
	// CausalUnderSkew says the resolver respects causality whatever the
	// wall clocks say: a causally later candidate wins even if its
	// author's clock is an hour behind, or the candidate it knows is
	// stamped in the year 2100. It implies Causal.
	CausalUnderSkew bool
	// Seed seeds the generated inputs. Zero means
	// $CODRIVE_RESOLVERTEST_SEED if set, else a fixed seed.
	Seed uint64
}

// defaultSeed is the seed used when none is given: runs are repeatable.
const defaultSeed = 20260817

// Run runs every conformance test against resolvers made by newResolver,
// as subtests.
func Run(t *testing.T, newResolver func(t *testing.T) sdk.Resolver, opts Options) {
	if newResolver == nil {
		t.Fatal("resolvertest: newResolver is nil")
	}
	if opts.CausalUnderSkew {
		opts.Causal = true
	}
	if opts.Seed == 0 {
		opts.Seed = defaultSeed
		if s := os.Getenv("CODRIVE_RESOLVERTEST_SEED"); s != "" {
			seed, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				t.Fatalf("resolvertest: CODRIVE_RESOLVERTEST_SEED=%q: %v", s, err)
			}
			opts.Seed = seed
		}
	}
	type test struct {
		name string
		run  func(*env)
	}
	tests := []test{
		{"Totality", testTotality},
		{"EmptySet", testEmptySet},
		{"Determinism", testDeterminism},
		{"BatchMatchesSingle", testBatchMatchesSingle},
		{"Concurrent", testConcurrent},
		{"Tombstones", testTombstones},
		{"Transitivity", testTransitivity},
		{"Cancelled", testCancelled},
		{"LargeBatch", testLargeBatch},
	}
	if opts.Causal {
		tests = append(tests, test{"Causality", testCausality})
	}
	if opts.CausalUnderSkew {
		tests = append(tests,
			test{"CausalityUnderSkew", testCausalityUnderSkew},
			test{"ClockBehind", testClockBehind},
			test{"FutureWallClock", testFutureWallClock},
		)
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newResolver(t)
			if r == nil {
				t.Fatal("resolvertest: newResolver returned nil")
			}
			// Each subtest draws from a stream of its own, so that
			// selecting subtests with -run does not change their input.
			seed := opts.Seed
			t.Cleanup(func() {
				if t.Failed() {
					t.Logf("resolvertest: seed %d (set Options.Seed or CODRIVE_RESOLVERTEST_SEED to reproduce)", seed)
				}
			})
			tt.run(&env{t: t, r: r, opts: opts, rng: rand.New(rand.NewPCG(seed, uint64(i)))})
		})
	}
}

// env is one subtest's resolver and random source.
type env struct {
	t    *testing.T
	r    sdk.Resolver
	opts Options
	rng  *rand.Rand
}

// resolve calls the resolver and checks what every answer must satisfy:
// one resolution per set, a winner in range and a well-formed Concurrent.
func (e *env) resolve(sets [][]sdk.Candidate) []sdk.Resolution {
	e.t.Helper()
	return e.resolveCtx(e.t.Context(), sets)
}

func (e *env) resolveCtx(ctx context.Context, sets [][]sdk.Candidate) []sdk.Resolution {
	e.t.Helper()
	res, err := e.r.Resolve(ctx, sets)
	if err != nil {
		e.t.Fatalf("Resolve(%d sets): %v", len(sets), err)
	}
	e.checkShape(sets, res)
	return res
}

// checkShape fails the test unless res is a well-formed answer to sets.
func (e *env) checkShape(sets [][]sdk.Candidate, res []sdk.Resolution) {
	e.t.Helper()
	if len(res) != len(sets) {
		e.t.Fatalf("Resolve(%d sets) returned %d resolutions", len(sets), len(res))
	}
	bad := 0
	for i, r := range res {
		if err := shapeError(len(sets[i]), r); err != nil {
			if bad++; bad <= 5 {
				e.t.Errorf("set %d of %d candidates: %v\nresolution: %+v\nset:\n%s", i, len(sets[i]), err, r, describe(sets[i]))
			}
		}
	}
	if bad > 0 {
		e.t.Fatalf("%d malformed resolutions of %d", bad, len(res))
	}
}

// shapeError says what is wrong with r as the resolution of a set of n.
func shapeError(n int, r sdk.Resolution) error {
	if r.Winner < 0 || r.Winner >= n {
		return fmt.Errorf("winner %d out of range", r.Winner)
	}
	for k, c := range r.Concurrent {
		switch {
		case c < 0 || c >= n:
			return fmt.Errorf("concurrent index %d out of range", c)
		case c == r.Winner:
			return fmt.Errorf("the winner %d is listed as concurrent", c)
		case k > 0 && c <= r.Concurrent[k-1]:
			return fmt.Errorf("concurrent indexes %v are not strictly increasing", r.Concurrent)
		}
	}
	return nil
}

// knows is the suite's reading of causality: y was written with
// knowledge of x.
func knows(y, x *sdk.Candidate) bool {
	if y.Writer == x.Writer && y.Seq > x.Seq {
		return true
	}
	for _, e := range y.Clock {
		if e.Writer == x.Writer && e.Length > x.Seq {
			return true
		}
	}
	return false
}

// wantConcurrent returns the candidates of set other than the winner w
// that w does not know, in index order.
func wantConcurrent(set []sdk.Candidate, w int) []int {
	var out []int
	for j := range set {
		if j != w && !knows(&set[w], &set[j]) {
			out = append(out, j)
		}
	}
	return out
}

// verdict is a resolution told in candidates rather than indexes, so
// that it can be compared across permutations of a set.
type verdict struct {
	Winner     sdk.Candidate
	Concurrent []sdk.Candidate
}

func verdictOf(set []sdk.Candidate, r sdk.Resolution) verdict {
	v := verdict{Winner: set[r.Winner]}
	for _, c := range r.Concurrent {
		v.Concurrent = append(v.Concurrent, set[c])
	}
	slices.SortFunc(v.Concurrent, compareEntries)
	return v
}

// sameVerdict is diff(a, b) == "", fast: go-cmp takes a millisecond
// per comparison, too slow for thousands of them through reflection.
func sameVerdict(a, b verdict) bool {
	return sameCandidate(a.Winner, b.Winner) && slices.EqualFunc(a.Concurrent, b.Concurrent, sameCandidate)
}

// sameResolution is diff(a, b) == "" for resolutions.
func sameResolution(a, b sdk.Resolution) bool {
	return a.Winner == b.Winner && slices.Equal(a.Concurrent, b.Concurrent)
}

func sameCandidate(a, b sdk.Candidate) bool {
	return a.Writer == b.Writer && a.Seq == b.Seq && a.WallClock == b.WallClock &&
		a.Tombstone == b.Tombstone && slices.Equal(a.Clock, b.Clock)
}

// compareEntries orders candidates by writer and sequence number, which
// the generated sets never repeat.
func compareEntries(a, b sdk.Candidate) int {
	if c := bytes.Compare(a.Writer[:], b.Writer[:]); c != 0 {
		return c
	}
	return cmp.Compare(a.Seq, b.Seq)
}

// text prints a verdict for failure messages, one candidate a line.
func (v verdict) text() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "winner:     %s\n", describeOne(v.Winner))
	for _, c := range v.Concurrent {
		fmt.Fprintf(&b, "concurrent: %s\n", describeOne(c))
	}
	return b.String()
}

// describe prints a set for failure messages.
func describe(set []sdk.Candidate) string {
	var b bytes.Buffer
	for i, c := range set {
		fmt.Fprintf(&b, "  [%d] %s\n", i, describeOne(c))
	}
	return b.String()
}

func describeOne(c sdk.Candidate) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "writer %x seq %d wall %d", c.Writer[:4], c.Seq, c.WallClock)
	if c.Tombstone {
		b.WriteString(" tombstone")
	}
	b.WriteString(" clock {")
	for i, e := range c.Clock {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%x:%d", e.Writer[:4], e.Length)
	}
	b.WriteString("}")
	return b.String()
}

// diff compares answers with go-cmp, a nil slice equal to an empty one
// (a plugin boundary does not keep the difference).
func diff(want, got any) string {
	return gocmp.Diff(want, got, cmpopts.EquateEmpty())
}

// isCancel reports whether err says the context was cancelled.
func isCancel(err error) bool {
	return errors.Is(err, context.Canceled)
}
