package resolvertest

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/codrive/codrive/sdk"
)

// mixedSets returns count sets of every kind the suite generates:
// arbitrary (malformed clocks only if malformed), honest, and skewed.
func (e *env) mixedSets(count, maxSize int, malformed bool) [][]sdk.Candidate {
	quarter := count / 4
	sets := arbitrarySets(e.rng, quarter, maxSize, false)
	sets = append(sets, arbitrarySets(e.rng, quarter, maxSize, malformed)...)
	sets = append(sets, historySets(e.rng, quarter, maxSize, true, false)...)
	sets = append(sets, historySets(e.rng, count-len(sets), maxSize, false, e.rng.IntN(2) == 0)...)
	return sets
}

// testTotality: every set gets a well-formed resolution, including sets
// of one candidate and sets with malformed clocks; no sets, no answers.
func testTotality(e *env) {
	sets := e.mixedSets(2000, 8, true)
	sets = append(sets, []sdk.Candidate{{}}, []sdk.Candidate{{WallClock: -1, Seq: 1 << 63}})
	res := e.resolve(sets) // checks the shape of every answer
	for i, set := range sets {
		if len(set) == 1 && (res[i].Winner != 0 || len(res[i].Concurrent) != 0) {
			e.t.Errorf("set %d, one candidate: got %+v, want winner 0 and nothing concurrent", i, res[i])
		}
	}
	for _, sets := range [][][]sdk.Candidate{nil, {}} {
		res, err := e.r.Resolve(e.t.Context(), sets)
		if err != nil || len(res) != 0 {
			e.t.Errorf("Resolve(%#v) = %v, %v; want no resolutions and no error", sets, res, err)
		}
	}
}

// testEmptySet: a set without candidates is invalid, wherever it is.
func testEmptySet(e *env) {
	c := sdk.Candidate{Writer: sdk.FeedKey{1}, WallClock: baseTime}
	for _, sets := range [][][]sdk.Candidate{
		{{}},
		{nil},
		{{c}, {}},
		{{c}, {c}, nil, {c}},
	} {
		_, err := e.r.Resolve(e.t.Context(), sets)
		if !errors.Is(err, sdk.ErrInvalid) {
			e.t.Errorf("Resolve of %d sets, one empty: got error %v, want one wrapping sdk.ErrInvalid", len(sets), err)
		}
	}
	// The resolver is still usable.
	e.resolve([][]sdk.Candidate{{c}})
}

// testDeterminism: permuting the candidates of every set and the sets of
// the batch changes neither the winning candidates nor the concurrent
// ones.
func testDeterminism(e *env) {
	sets := e.mixedSets(2000, 8, true)
	res := e.resolve(sets)
	for round := range 3 {
		order := e.rng.Perm(len(sets))
		perm := make([][]sdk.Candidate, len(sets))
		for i, o := range order {
			perm[i], _ = shuffled(e.rng, sets[o])
		}
		pres := e.resolve(perm)
		bad := 0
		for i, o := range order {
			want, got := verdictOf(sets[o], res[o]), verdictOf(perm[i], pres[i])
			if sameVerdict(want, got) {
				continue
			}
			if bad++; bad <= 3 {
				e.t.Errorf("round %d: set %d: the verdict changed with the order of the input\nfirst:\n%spermuted:\n%sset:\n%s", round, o, want.text(), got.text(), describe(sets[o]))
			}
		}
		if bad > 0 {
			e.t.Fatalf("round %d: %d of %d verdicts changed with the order of the input", round, bad, len(sets))
		}
	}
	// The same batch again gives the same indexes.
	if d := diff(res, e.resolve(sets)); d != "" {
		e.t.Errorf("the same batch twice (-first +second):\n%s", d)
	}
}

// testBatchMatchesSingle: a batch gives the same answers as one call per
// set, and as the same sets in other batches.
func testBatchMatchesSingle(e *env) {
	sets := e.mixedSets(60, 6, true)
	res := e.resolve(sets)
	for i, set := range sets {
		one := e.resolve([][]sdk.Candidate{set})
		if d := diff(res[i], one[0]); d != "" {
			e.t.Errorf("set %d alone and in a batch differ (-batch +alone):\n%s\nset:\n%s", i, d, describe(set))
		}
	}
	half := e.resolve(sets[len(sets)/2:])
	if d := diff(res[len(res)/2:], half); d != "" {
		e.t.Errorf("the second half of a batch alone (-whole +half):\n%s", d)
	}
}

// testConcurrent: Concurrent is exactly the candidates the winner does
// not know, on well-formed clocks.
func testConcurrent(e *env) {
	sets := e.mixedSets(2000, 8, false)
	// Sets where the winner is bound to know some candidates and not
	// others: two concurrent edits, each after a common one.
	a, b, c := sdk.FeedKey{1}, sdk.FeedKey{2}, sdk.FeedKey{3}
	base := sdk.Candidate{Writer: a, WallClock: baseTime}
	left := sdk.Candidate{Writer: b, WallClock: baseTime + 1, Clock: sdk.VectorClock{{Writer: a, Length: 1}}}
	right := sdk.Candidate{Writer: c, WallClock: baseTime + 2, Clock: sdk.VectorClock{{Writer: a, Length: 1}}}
	sets = append(sets, []sdk.Candidate{base, left, right}, []sdk.Candidate{right, base, left})
	res := e.resolve(sets)
	bad := 0
	for i, set := range sets {
		want := wantConcurrent(set, res[i].Winner)
		if !slices.Equal(want, res[i].Concurrent) {
			if bad++; bad <= 5 {
				e.t.Errorf("set %d, winner %d: concurrent candidates (-want +got):\n%s\nset:\n%s", i, res[i].Winner, diff(want, res[i].Concurrent), describe(set))
			}
		}
	}
	if bad > 0 {
		e.t.Errorf("%d of %d sets with the wrong concurrent candidates", bad, len(sets))
	}
}

// testTombstones: a deletion is a candidate like any other; flipping
// tombstone flags changes no verdict.
func testTombstones(e *env) {
	sets := e.mixedSets(1000, 6, false)
	flipped := make([][]sdk.Candidate, len(sets))
	for i, set := range sets {
		flipped[i] = slices.Clone(set)
		for j := range flipped[i] {
			if e.rng.IntN(2) == 0 {
				flipped[i][j].Tombstone = !flipped[i][j].Tombstone
			}
		}
	}
	all := append(slices.Clone(sets), flipped...)
	res := e.resolve(all)
	for i := range sets {
		if !sameResolution(res[i], res[len(sets)+i]) {
			e.t.Errorf("set %d: tombstone flags changed the verdict (-as is +flipped):\n%s\nset:\n%s", i, diff(res[i], res[len(sets)+i]), describe(sets[i]))
		}
	}
}

// testTransitivity: on honest histories, pairwise verdicts among three
// candidates from distinct writers never form a cycle, and the winner of
// the three beats each other one.
func testTransitivity(e *env) {
	var triples [][3]sdk.Candidate
	for len(triples) < 600 {
		h := simulate(e.rng, historyOpts{writers: 3 + e.rng.IntN(4), events: 20 + e.rng.IntN(60), hybrid: true})
		for range 10 {
			if set := h.set(e.rng, 3); len(set) == 3 {
				triples = append(triples, [3]sdk.Candidate(set))
			}
		}
	}
	// Per triple: the pairs (0,1), (1,2), (2,0), in random order inside
	// each pair, then the three together, shuffled.
	pairs := [3][2]int{{0, 1}, {1, 2}, {2, 0}}
	var sets [][]sdk.Candidate
	var perms [][]int
	for _, tr := range triples {
		for _, p := range pairs {
			set, perm := shuffled(e.rng, []sdk.Candidate{tr[p[0]], tr[p[1]]})
			sets, perms = append(sets, set), append(perms, perm)
		}
		set, perm := shuffled(e.rng, tr[:])
		sets, perms = append(sets, set), append(perms, perm)
	}
	res := e.resolve(sets)
	bad := 0
	for k, tr := range triples {
		// beats[i][j]: tr.c[i] won against tr.c[j].
		var beats [3][3]bool
		for n, p := range pairs {
			s := 4*k + n
			w := p[perms[s][res[s].Winner]] // perm maps back to the pair
			l := p[0] + p[1] - w
			beats[w][l] = true
		}
		cyclic := beats[0][1] && beats[1][2] && beats[2][0] || beats[1][0] && beats[2][1] && beats[0][2]
		s := 4*k + 3
		w := perms[s][res[s].Winner]
		lost := false
		for j := range 3 {
			if j != w && !beats[w][j] {
				lost = true
			}
		}
		if cyclic || lost {
			if bad++; bad <= 3 {
				e.t.Errorf("triple %d: pairwise verdicts %v (cycle: %v); winner of all three: %d\ncandidates:\n%s", k, beats, cyclic, w, describe(tr[:]))
			}
		}
	}
	if bad > 0 {
		e.t.Errorf("%d of %d triples not transitive", bad, len(triples))
	}
}

// checkCausal fails the test for each set whose winner another candidate
// knows, or which lists a candidate the winner knows as concurrent.
func (e *env) checkCausal(what string, sets [][]sdk.Candidate) {
	e.t.Helper()
	res := e.resolve(sets)
	bad := 0
	for i, set := range sets {
		w := res[i].Winner
		for j := range set {
			var problem string
			switch {
			case j != w && knows(&set[j], &set[w]):
				problem = "knows the winner"
			case slices.Contains(res[i].Concurrent, j) && knows(&set[w], &set[j]):
				problem = "is known by the winner but listed as concurrent"
			default:
				continue
			}
			if bad++; bad <= 5 {
				e.t.Errorf("%s, set %d, winner %d: candidate %d %s\nset:\n%s", what, i, w, j, problem, describe(set))
			}
		}
	}
	if bad > 0 {
		e.t.Errorf("%s: %d causality violations in %d sets", what, bad, len(sets))
	}
}

// historyPairs returns pairs of entries where one knows the other, from
// fresh histories.
func (e *env) historyPairs(count int, hybrid, behind bool) [][]sdk.Candidate {
	var pairs [][]sdk.Candidate
	for len(pairs) < count {
		h := randomHistory(e.rng, hybrid, behind)
		pairs = append(pairs, h.causalPairs(e.rng, min(20, count-len(pairs)))...)
	}
	return pairs
}

// testCausality: on honest histories, no candidate knows the winner, and
// an entry beats every entry its writer had seen.
func testCausality(e *env) {
	e.checkCausal("honest sets", historySets(e.rng, 2000, 6, true, false))
	e.checkCausal("honest pairs", e.historyPairs(1000, true, false))
}

// testCausalityUnderSkew: the same with raw clocks, off by up to an hour
// or with one writer an hour behind.
func testCausalityUnderSkew(e *env) {
	for _, behind := range []bool{false, true} {
		name := "skewed"
		if behind {
			name = "an hour behind"
		}
		e.checkCausal(name+": sets", historySets(e.rng, 1500, 6, false, behind))
		e.checkCausal(name+": pairs", e.historyPairs(1000, false, behind))
	}
}

// testClockBehind: an edit made after seeing another wins, though its
// author's clock is an hour behind.
func testClockBehind(e *env) {
	a, b, c := sdk.FeedKey{0xa}, sdk.FeedKey{0xb}, sdk.FeedKey{0xc}
	first := sdk.Candidate{Writer: a, WallClock: baseTime}
	later := sdk.Candidate{Writer: b, WallClock: baseTime + int64(time.Second) - int64(time.Hour), Clock: sdk.VectorClock{{Writer: a, Length: 1}}}
	// An edit of a's feed after first, made on the same slow machine.
	again := sdk.Candidate{Writer: a, Seq: 1, WallClock: baseTime - int64(time.Hour), Clock: sdk.VectorClock{{Writer: a, Length: 1}}}
	// A concurrent edit, older than later even by later's slow clock.
	other := sdk.Candidate{Writer: c, WallClock: baseTime - 2*int64(time.Hour)}
	for _, tc := range []struct {
		name       string
		set        []sdk.Candidate
		winner     sdk.Candidate
		concurrent []sdk.Candidate
	}{
		{"later second", []sdk.Candidate{first, later}, later, nil},
		{"later first", []sdk.Candidate{later, first}, later, nil},
		{"same feed", []sdk.Candidate{first, again}, again, nil},
		{"with a concurrent edit", []sdk.Candidate{first, later, other}, later, []sdk.Candidate{other}},
	} {
		res := e.resolve([][]sdk.Candidate{tc.set})
		if want, got := (verdict{tc.winner, tc.concurrent}), verdictOf(tc.set, res[0]); !sameVerdict(want, got) {
			e.t.Errorf("%s:\nwant:\n%sgot:\n%s", tc.name, want.text(), got.text())
		}
	}
}

// testFutureWallClock: a version stamped in the year 2100 does not lock
// the path; any edit made after seeing it wins.
func testFutureWallClock(e *env) {
	a, b, c := sdk.FeedKey{0xa}, sdk.FeedKey{0xb}, sdk.FeedKey{0xc}
	future := sdk.Candidate{Writer: a, WallClock: year2100}
	fix := sdk.Candidate{Writer: b, WallClock: baseTime, Clock: sdk.VectorClock{{Writer: a, Length: 1}}}
	// A concurrent edit, made before fix.
	unaware := sdk.Candidate{Writer: c, WallClock: baseTime - 1}
	for _, tc := range []struct {
		name       string
		set        []sdk.Candidate
		winner     sdk.Candidate
		concurrent []sdk.Candidate
	}{
		{"fix wins", []sdk.Candidate{future, fix}, fix, nil},
		{"fix wins, reversed", []sdk.Candidate{fix, future}, fix, nil},
		{"future wins unseen", []sdk.Candidate{future, unaware}, future, []sdk.Candidate{unaware}},
		{"fix and an unaware edit", []sdk.Candidate{unaware, future, fix}, fix, []sdk.Candidate{unaware}},
	} {
		res := e.resolve([][]sdk.Candidate{tc.set})
		if want, got := (verdict{tc.winner, tc.concurrent}), verdictOf(tc.set, res[0]); !sameVerdict(want, got) {
			e.t.Errorf("%s:\nwant:\n%sgot:\n%s", tc.name, want.text(), got.text())
		}
	}
}

// largeBatch returns n sets of 1 to 3 candidates from 10-writer
// histories.
func (e *env) largeBatch(n int) [][]sdk.Candidate {
	var sets [][]sdk.Candidate
	for len(sets) < n {
		h := simulate(e.rng, historyOpts{writers: 10, events: 400, hybrid: true})
		for range 500 {
			if set := h.set(e.rng, 1+e.rng.IntN(3)); set != nil && len(sets) < n {
				sets = append(sets, set)
			}
		}
	}
	return sets
}

// testCancelled: a cancelled context ends the call with its error, or at
// least the call returns a well-formed answer; the resolver still works.
func testCancelled(e *env) {
	sets := e.largeBatch(10000)
	ctx, cancel := context.WithCancel(e.t.Context())
	cancel()
	// A resolver that blocks on a dead context would hang the test
	// binary until go test's timeout; say what hung instead.
	type answer struct {
		res []sdk.Resolution
		err error
	}
	done := make(chan answer, 1)
	go func() {
		res, err := e.r.Resolve(ctx, sets)
		done <- answer{res, err}
	}()
	var res []sdk.Resolution
	var err error
	select {
	case a := <-done:
		res, err = a.res, a.err
	case <-time.After(time.Minute):
		e.t.Fatal("Resolve with a cancelled context did not return within a minute")
	}
	switch {
	case err != nil && !isCancel(err):
		e.t.Errorf("Resolve with a cancelled context: got error %v, want one wrapping context.Canceled", err)
	case err == nil:
		e.t.Logf("Resolve with a cancelled context answered anyway")
		e.checkShape(sets, res)
	}
	ctx, cancel = context.WithTimeout(e.t.Context(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	if _, err := e.r.Resolve(ctx, sets); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		e.t.Errorf("Resolve past its deadline: got error %v, want one wrapping context.DeadlineExceeded", err)
	}
	e.resolve(sets[:10])
}

// testLargeBatch: a batch of 10,000 sets (1 to 3 candidates with clocks
// of 10 writers) is answered, the same as its sets alone.
func testLargeBatch(e *env) {
	sets := e.largeBatch(10000)
	res := e.resolve(sets)
	bad := 0
	for i, set := range sets {
		if want := wantConcurrent(set, res[i].Winner); !slices.Equal(want, res[i].Concurrent) {
			if bad++; bad <= 3 {
				e.t.Errorf("set %d: concurrent candidates (-want +got):\n%s", i, diff(want, res[i].Concurrent))
			}
		}
	}
	for range 20 {
		i := e.rng.IntN(len(sets))
		if d := diff(res[i], e.resolve(sets[i : i+1])[0]); d != "" {
			e.t.Errorf("set %d alone and in the large batch differ (-batch +alone):\n%s", i, d)
		}
	}
}
