// Package order holds what the resolvers in conflict/ share: the
// "knows" relation between candidates, the tie-breaking order on them,
// and the batch loop that validates input, honours cancellation and
// reports concurrent candidates.
package order

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"

	"github.com/codrive/codrive/sdk"
)

// Seen returns how much of writer's feed the clock records as seen. The
// contract keeps clocks sorted with one entry per writer, but they come
// from peers: a linear scan that keeps the largest length gives the same
// answer for any order of the entries and for repeated writers. It
// costs O(len(c)), about 1 ns an entry: cheap for drives of tens of
// writers. (A binary search would trust the order the peer sent.)
func Seen(c sdk.VectorClock, writer *sdk.FeedKey) uint64 {
	// Keys are public keys, so their first 8 bytes nearly always tell
	// them apart: one load and compare per entry rather than a call to
	// compare 32 bytes.
	head := binary.LittleEndian.Uint64(writer[:8])
	var n uint64
	for i := range c {
		e := &c[i]
		if binary.LittleEndian.Uint64(e.Writer[:8]) == head && e.Writer == *writer && e.Length > n {
			n = e.Length
		}
	}
	return n
}

// Knows reports whether y was written with knowledge of x: y's author
// had seen x's entry in x's feed. A later entry of the same feed knows
// the earlier ones even if its clock forgot to say so.
func Knows(y, x *sdk.Candidate) bool {
	if y.Seq > x.Seq && y.Writer == x.Writer {
		return true
	}
	return Seen(y.Clock, &x.Writer) > x.Seq
}

// Compare orders candidates by wall clock, then writer key, then
// sequence number, and returns -1, 0 or +1 as a is below, equal to or
// above b. Distinct feed entries differ in writer or sequence number, so
// for them this is a strict total order. Two candidates for the same
// entry that still differ (a peer lying about it) are ordered by the
// tombstone flag and then the clock, so that even then the result does
// not depend on the order of the input.
func Compare(a, b *sdk.Candidate) int {
	// Wall clocks nearly always differ: keep that path short enough to
	// inline.
	if a.WallClock != b.WallClock {
		if a.WallClock < b.WallClock {
			return -1
		}
		return 1
	}
	return compareTie(a, b)
}

func compareTie(a, b *sdk.Candidate) int {
	if a == b {
		return 0
	}
	if c := bytes.Compare(a.Writer[:], b.Writer[:]); c != 0 {
		return c
	}
	switch {
	case a.Seq < b.Seq:
		return -1
	case a.Seq > b.Seq:
		return 1
	case a.Tombstone != b.Tombstone:
		if b.Tombstone {
			return -1
		}
		return 1
	}
	return compareClocks(a.Clock, b.Clock)
}

// compareClocks orders clocks entry by entry, as given.
func compareClocks(a, b sdk.VectorClock) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := bytes.Compare(a[i].Writer[:], b[i].Writer[:]); c != 0 {
			return c
		}
		if a[i].Length != b[i].Length {
			if a[i].Length < b[i].Length {
				return -1
			}
			return 1
		}
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// checkEvery is how many candidates the batch loop resolves between two
// looks at the context: often enough to stop a huge batch within
// microseconds, rarely enough to cost nothing.
const checkEvery = 1024

// Batch resolves every set with winner, which returns the index of the
// winning candidate of a non-empty set, and fills in the candidates the
// winner does not know as concurrent. name prefixes errors. Every
// Concurrent slice shares one allocation, capped so that appending to
// one cannot write into another.
func Batch(ctx context.Context, name string, sets [][]sdk.Candidate, winner func([]sdk.Candidate) int) ([]sdk.Resolution, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%s resolver: %w", name, err)
	}
	// One pass to validate before doing any work, and to size the
	// shared array: at most every candidate but the winner is concurrent.
	others := 0
	for i, set := range sets {
		if len(set) == 0 {
			return nil, fmt.Errorf("%s resolver: candidate set %d is empty: %w", name, i, sdk.ErrInvalid)
		}
		others += len(set) - 1
	}
	out := make([]sdk.Resolution, len(sets))
	var concurrent []int
	if others > 0 {
		concurrent = make([]int, 0, others)
	}
	work := 0
	for i, set := range sets {
		if work += len(set); work >= checkEvery {
			work = 0
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%s resolver: %w", name, err)
			}
		}
		w := winner(set)
		start := len(concurrent)
		for j := range set {
			if j != w && !Knows(&set[w], &set[j]) {
				concurrent = append(concurrent, j)
			}
		}
		out[i].Winner = w
		if end := len(concurrent); end > start {
			out[i].Concurrent = concurrent[start:end:end]
		}
	}
	return out, nil
}
