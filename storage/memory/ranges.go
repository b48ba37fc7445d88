package memory

import (
	"slices"
	"sort"

	"github.com/codrive/codrive/sdk"
)

// The functions below keep a feed's present blocks as the contract reports
// them: sorted, disjoint, non-adjacent ranges.

// addRange adds r to rs, merging it with every range it overlaps or touches.
func addRange(rs []sdk.Range, r sdk.Range) []sdk.Range {
	// rs[i:j] are the ranges that overlap or touch r.
	i := sort.Search(len(rs), func(k int) bool { return rs[k].End >= r.Start })
	j := sort.Search(len(rs), func(k int) bool { return rs[k].Start > r.End })
	if i < j {
		r.Start = min(r.Start, rs[i].Start)
		r.End = max(r.End, rs[j-1].End)
	}
	return slices.Replace(rs, i, j, r)
}

// addBlocks adds the indexes of blocks to rs. Batches usually hold runs of
// consecutive indexes, so it adds a range per run rather than per block.
func addBlocks(rs []sdk.Range, blocks []sdk.Block) []sdk.Range {
	for i := 0; i < len(blocks); {
		r := sdk.Range{Start: blocks[i].Index, End: blocks[i].Index + 1}
		for i++; i < len(blocks) && blocks[i].Index == r.End; i++ {
			r.End++
		}
		rs = addRange(rs, r)
	}
	return rs
}

// cutRanges removes every index at n or above from rs.
func cutRanges(rs []sdk.Range, n uint64) []sdk.Range {
	i := sort.Search(len(rs), func(k int) bool { return rs[k].End > n })
	if i < len(rs) && rs[i].Start < n {
		rs[i].End = n
		i++
	}
	return rs[:i]
}

// covers reports whether rs holds every index in [start, end). Since the
// ranges are non-adjacent, a non-empty [start, end) must lie within one.
func covers(rs []sdk.Range, start, end uint64) bool {
	if start == end {
		return true
	}
	i := sort.Search(len(rs), func(k int) bool { return rs[k].End > start })
	return i < len(rs) && rs[i].Start <= start && end <= rs[i].End
}
