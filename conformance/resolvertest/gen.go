package resolvertest

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/codrive/codrive/sdk"
)

// baseTime is when generated histories start: 2026-01-01 UTC.
const baseTime = int64(1767225600) * int64(time.Second)

// year2100 is a wall clock far in the future: 2100-01-01 UTC.
const year2100 = int64(4102444800) * int64(time.Second)

// newKeys returns n random writer keys, sorted as vector clocks are.
func newKeys(rng *rand.Rand, n int) []sdk.FeedKey {
	keys := make([]sdk.FeedKey, n)
	for i := range keys {
		for j := 0; j < len(keys[i]); j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8; k++ {
				keys[i][j+k] = byte(v >> (8 * k))
			}
		}
		// A shared first byte now and then makes sure the order looks
		// past it.
		if i > 0 && rng.IntN(4) == 0 {
			keys[i][0] = keys[i-1][0]
		}
	}
	slices.SortFunc(keys, func(a, b sdk.FeedKey) int { return bytes.Compare(a[:], b[:]) })
	return slices.CompactFunc(keys, func(a, b sdk.FeedKey) bool { return a == b })
}

// arbitrarySet returns n candidates with distinct (writer, seq) drawn
// from writers, with wall clocks that tie often and vector clocks that
// need not describe any history. A malformed set also has clocks that
// are unsorted or name a writer twice.
func arbitrarySet(rng *rand.Rand, writers []sdk.FeedKey, n int, malformed bool) []sdk.Candidate {
	const maxSeq = 6
	if n > len(writers)*maxSeq {
		n = len(writers) * maxSeq
	}
	set := make([]sdk.Candidate, 0, n)
	for len(set) < n {
		c := sdk.Candidate{Writer: writers[rng.IntN(len(writers))], Seq: rng.Uint64N(maxSeq)}
		if slices.ContainsFunc(set, func(o sdk.Candidate) bool { return o.Writer == c.Writer && o.Seq == c.Seq }) {
			continue
		}
		c.WallClock = arbitraryWallClock(rng)
		c.Tombstone = rng.IntN(5) == 0
		for _, w := range writers {
			if rng.IntN(2) == 0 {
				c.Clock = append(c.Clock, sdk.ClockEntry{Writer: w, Length: rng.Uint64N(maxSeq + 2)})
			}
		}
		if malformed && len(c.Clock) > 0 {
			if rng.IntN(2) == 0 {
				e := c.Clock[rng.IntN(len(c.Clock))]
				e.Length = rng.Uint64N(maxSeq + 2)
				c.Clock = append(c.Clock, e)
			}
			rng.Shuffle(len(c.Clock), func(i, j int) { c.Clock[i], c.Clock[j] = c.Clock[j], c.Clock[i] })
		}
		set = append(set, c)
	}
	return set
}

// arbitraryWallClock returns a wall clock from a few that tie, a spread
// of an hour, or an extreme.
func arbitraryWallClock(rng *rand.Rand) int64 {
	switch rng.IntN(4) {
	case 0:
		return baseTime + rng.Int64N(3)
	case 1:
		return []int64{math.MinInt64, -1, 0, year2100, math.MaxInt64}[rng.IntN(5)]
	default:
		return baseTime + rng.Int64N(int64(2*time.Hour)) - int64(time.Hour)
	}
}

// arbitrarySets returns count sets of 1 to maxSize arbitrary candidates,
// each set over a writer pool of its own.
func arbitrarySets(rng *rand.Rand, count, maxSize int, malformed bool) [][]sdk.Candidate {
	sets := make([][]sdk.Candidate, count)
	for i := range sets {
		writers := newKeys(rng, 1+rng.IntN(5))
		sets[i] = arbitrarySet(rng, writers, 1+rng.IntN(maxSize), malformed)
	}
	return sets
}

// history is a simulated run of writers: every entry each wrote.
type history struct {
	writers []sdk.FeedKey
	feeds   [][]sdk.Candidate // feeds[w][seq]
}

// historyOpts shapes a simulated history.
type historyOpts struct {
	writers int
	events  int
	// hybrid: a writer never stamps an entry at or below the newest wall
	// clock it has seen. Without it, entries carry the raw skewed clock.
	hybrid bool
	// behind: writer 0's clock is an hour behind (and the others' within
	// a minute of real time), rather than every clock off by up to an
	// hour either way.
	behind bool
}

// simulate runs writers that append entries and sync with each other at
// random, and returns every entry. Each entry's vector clock records,
// for every writer, how much of its feed the author had (its own feed
// up to the entry); syncing from a peer brings everything the peer has.
func simulate(rng *rand.Rand, o historyOpts) *history {
	n := o.writers
	h := &history{writers: newKeys(rng, n), feeds: make([][]sdk.Candidate, n)}
	n = len(h.writers) // keys are distinct, but be sure
	skew := make([]int64, n)
	for w := range skew {
		if o.behind {
			skew[w] = rng.Int64N(int64(2*time.Minute)) - int64(time.Minute)
		} else {
			skew[w] = rng.Int64N(int64(2*time.Hour)+1) - int64(time.Hour)
		}
	}
	if o.behind {
		skew[0] = -int64(time.Hour)
	}
	known := make([][]uint64, n) // known[w][v]: how much of v's feed w has
	for w := range known {
		known[w] = make([]uint64, n)
	}
	maxSeen := make([]int64, n) // newest wall clock among what w has
	for w := range maxSeen {
		maxSeen[w] = math.MinInt64
	}
	now := baseTime
	for range o.events {
		now += 1 + rng.Int64N(int64(2*time.Second))
		w := rng.IntN(n)
		if rng.IntN(5) < 3 {
			c := sdk.Candidate{
				Writer:    h.writers[w],
				Seq:       uint64(len(h.feeds[w])),
				WallClock: now + skew[w],
				Tombstone: rng.IntN(10) == 0,
			}
			if o.hybrid && c.WallClock <= maxSeen[w] {
				c.WallClock = maxSeen[w] + 1
			}
			for v, l := range known[w] {
				if l > 0 {
					c.Clock = append(c.Clock, sdk.ClockEntry{Writer: h.writers[v], Length: l})
				}
			}
			h.feeds[w] = append(h.feeds[w], c)
			known[w][w]++
			maxSeen[w] = max(maxSeen[w], c.WallClock)
			continue
		}
		v := rng.IntN(n)
		for u := range known[w] {
			known[w][u] = max(known[w][u], known[v][u])
		}
		maxSeen[w] = max(maxSeen[w], maxSeen[v])
	}
	return h
}

// randomHistory returns an honest or skewed history of 2 to 6 writers.
func randomHistory(rng *rand.Rand, hybrid, behind bool) *history {
	return simulate(rng, historyOpts{writers: 2 + rng.IntN(5), events: 10 + rng.IntN(60), hybrid: hybrid, behind: behind})
}

// active returns the writers with at least one entry.
func (h *history) active() []int {
	var ws []int
	for w, f := range h.feeds {
		if len(f) > 0 {
			ws = append(ws, w)
		}
	}
	return ws
}

// entry returns a random entry of writer w, the latest more often than
// not, as the union view sees them.
func (h *history) entry(rng *rand.Rand, w int) sdk.Candidate {
	f := h.feeds[w]
	if rng.IntN(2) == 0 {
		return f[len(f)-1]
	}
	return f[rng.IntN(len(f))]
}

// set returns candidates from up to size distinct writers, or nil if
// the history has no entries.
func (h *history) set(rng *rand.Rand, size int) []sdk.Candidate {
	ws := h.active()
	rng.Shuffle(len(ws), func(i, j int) { ws[i], ws[j] = ws[j], ws[i] })
	if size < len(ws) {
		ws = ws[:size]
	}
	var set []sdk.Candidate
	for _, w := range ws {
		set = append(set, h.entry(rng, w))
	}
	return set
}

// historySets returns count sets of 1 to maxSize candidates from distinct
// writers, each from a new history.
func historySets(rng *rand.Rand, count, maxSize int, hybrid, behind bool) [][]sdk.Candidate {
	var sets [][]sdk.Candidate
	for len(sets) < count {
		h := randomHistory(rng, hybrid, behind)
		for range 4 {
			if set := h.set(rng, 1+rng.IntN(maxSize)); set != nil && len(sets) < count {
				sets = append(sets, set)
			}
		}
	}
	return sets
}

// causalPairs returns up to count pairs {x, y} or {y, x} of entries of h
// where y knows x, from any writers.
func (h *history) causalPairs(rng *rand.Rand, count int) [][]sdk.Candidate {
	var all []sdk.Candidate
	for _, f := range h.feeds {
		all = append(all, f...)
	}
	var pairs [][]sdk.Candidate
	for range 20 * count {
		if len(pairs) == count || len(all) < 2 {
			break
		}
		x, y := all[rng.IntN(len(all))], all[rng.IntN(len(all))]
		if !knows(&y, &x) {
			continue
		}
		if rng.IntN(2) == 0 {
			pairs = append(pairs, []sdk.Candidate{x, y})
		} else {
			pairs = append(pairs, []sdk.Candidate{y, x})
		}
	}
	return pairs
}

// shuffled returns a copy of set in a random order, and perm such that
// the result's element i is set[perm[i]].
func shuffled(rng *rand.Rand, set []sdk.Candidate) ([]sdk.Candidate, []int) {
	perm := rng.Perm(len(set))
	out := make([]sdk.Candidate, len(set))
	for i, p := range perm {
		out[i] = set[p]
	}
	return out, perm
}
