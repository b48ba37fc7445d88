package replicate

import (
	"slices"
	"sort"

	"github.com/codrive/codrive/sdk"
)

// rangeSet is a set of block indexes kept as sorted, disjoint,
// non-adjacent ranges. Its size depends on the number of ranges only, not
// on their length, so a peer that announces 2^63 blocks costs one range,
// where a paged bitfield would allocate a page per 32,768 of them.
type rangeSet struct {
	r []sdk.Range
}

// add merges ranges, in any order, into the set. If the set would then
// hold more than limit ranges, the highest ones are forgotten and add
// reports false.
func (s *rangeSet) add(ranges []sdk.Range, limit int) bool {
	if len(ranges) <= 16 {
		// Few ranges, the common announcement of new blocks: merge them
		// one by one in place.
		ok := true
		for _, r := range ranges {
			ok = s.insert(r, limit) && ok
		}
		return ok
	}
	in := slices.Clone(ranges)
	slices.SortFunc(in, func(a, b sdk.Range) int { return cmpUint(a.Start, b.Start) })
	out := make([]sdk.Range, 0, len(s.r)+len(in))
	push := func(r sdk.Range) {
		if n := len(out); n > 0 && r.Start <= out[n-1].End {
			out[n-1].End = max(out[n-1].End, r.End)
			return
		}
		out = append(out, r)
	}
	i, j := 0, 0
	for i < len(s.r) || j < len(in) {
		if j == len(in) || (i < len(s.r) && s.r[i].Start <= in[j].Start) {
			push(s.r[i])
			i++
		} else {
			push(in[j])
			j++
		}
	}
	s.r = out
	if len(s.r) > limit {
		s.r = s.r[:limit]
		return false
	}
	return true
}

// insert merges one range into the set.
func (s *rangeSet) insert(r sdk.Range, limit int) bool {
	if r.End <= r.Start {
		return true
	}
	// The ranges from i to j touch or overlap r and merge with it.
	i := sort.Search(len(s.r), func(k int) bool { return s.r[k].End >= r.Start })
	j := i
	for j < len(s.r) && s.r[j].Start <= r.End {
		r.Start, r.End = min(r.Start, s.r[j].Start), max(r.End, s.r[j].End)
		j++
	}
	if i == j && len(s.r) >= limit {
		if i == len(s.r) {
			return false // r would be the highest: it is the one forgotten
		}
		s.r = slices.Insert(s.r[:len(s.r)-1], i, r)
		return false
	}
	s.r = slices.Replace(s.r, i, j, r)
	return true
}

// has reports whether every index in [start, end) is in the set.
func (s *rangeSet) has(start, end uint64) bool {
	if start >= end {
		return true
	}
	r, ok := s.containing(start)
	return ok && r.End >= end
}

// containing returns the range that holds i.
func (s *rangeSet) containing(i uint64) (sdk.Range, bool) {
	k := sort.Search(len(s.r), func(k int) bool { return s.r[k].End > i })
	if k < len(s.r) && s.r[k].Start <= i {
		return s.r[k], true
	}
	return sdk.Range{}, false
}

// next returns the first range of the set that ends after i, cut to start
// at i at the earliest.
func (s *rangeSet) next(i uint64) (sdk.Range, bool) {
	k := sort.Search(len(s.r), func(k int) bool { return s.r[k].End > i })
	if k == len(s.r) {
		return sdk.Range{}, false
	}
	r := s.r[k]
	r.Start = max(r.Start, i)
	return r, true
}

// startAfter returns the start of the first range that starts after i, or
// 2^64-1 if none does.
func (s *rangeSet) startAfter(i uint64) uint64 {
	k := sort.Search(len(s.r), func(k int) bool { return s.r[k].Start > i })
	if k == len(s.r) {
		return 1<<64 - 1
	}
	return s.r[k].Start
}

func cmpUint(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
