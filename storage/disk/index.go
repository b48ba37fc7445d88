package disk

import (
	"bytes"
	"math/bits"
	"slices"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
)

// index is the in-memory state of one feed, rebuilt by replaying its log:
// where each block's data lies in the file, every tree node, the head, the
// present ranges and the evidence.
type index struct {
	blocks   sparseArray[blockLoc]
	nodes    sparseArray[nodeValue]
	present  []sdk.Range
	head     sdk.Head
	evidence []byte
}

// blockLoc is where a block's data lies in the feed log.
type blockLoc struct {
	off  int64
	size uint32
}

// nodeValue is a stored node without its index.
type nodeValue struct {
	size uint64
	hash sdk.Hash
}

// apply replays a decoded record whose payload starts at file offset base.
func (x *index) apply(rec *record, base int64) {
	if rec.truncate {
		x.truncate(rec.truncateTo)
	}
	for i := 0; i < len(rec.blocks); {
		// Each run of consecutive indexes is one range to merge.
		j := i + 1
		for j < len(rec.blocks) && rec.blocks[j].index == rec.blocks[j-1].index+1 {
			j++
		}
		for _, b := range rec.blocks[i:j] {
			x.blocks.set(b.index, blockLoc{off: base + int64(b.off), size: b.size})
		}
		x.present = addRange(x.present, sdk.Range{Start: rec.blocks[i].index, End: rec.blocks[j-1].index + 1})
		i = j
	}
	for _, n := range rec.nodes {
		x.nodes.set(n.Index, nodeValue{size: n.Size, hash: n.Hash})
	}
	if rec.hasHead {
		x.head = rec.head
	}
	if rec.evidence != nil {
		x.evidence = bytes.Clone(rec.evidence)
	}
}

// truncate removes the blocks at t and above and the nodes whose span
// reaches past t.
func (x *index) truncate(t uint64) {
	x.blocks.deleteFrom(t)
	x.present = cutRanges(x.present, t)
	// No node spans past block 2^63 (see maxBlockIndex).
	if t >= 1<<63 {
		return
	}
	// A node's flat index is start+end-1 for its span [start, end), so
	// every node at index 2t or above ends past t...
	x.nodes.deleteFrom(2 * t)
	if t == 0 {
		return
	}
	// ...and the others that do cover both block t-1 and block t: they are
	// ancestors of leaf t-1, at most one per depth.
	for d := uint64(1); d < 64; d++ {
		i := flattree.Index(d, (t-1)>>d)
		if _, end := flattree.Span(i); end > t {
			x.nodes.delete(i)
		}
	}
}

// covers reports whether every block in [start, end) is stored; if not, it
// returns the first missing index.
func (x *index) covers(start, end uint64) (missing uint64, ok bool) {
	i, found := slices.BinarySearchFunc(x.present, start, func(r sdk.Range, b uint64) int {
		switch {
		case r.End <= b:
			return -1
		case r.Start > b:
			return 1
		}
		return 0
	})
	if !found {
		return start, false
	}
	if r := x.present[i]; r.End < end {
		return r.End, false
	}
	return 0, true
}

// addRange merges r into rs, which stays sorted, disjoint and non-adjacent.
func addRange(rs []sdk.Range, r sdk.Range) []sdk.Range {
	// Appending past the last range is the common case.
	if n := len(rs); n == 0 || rs[n-1].End < r.Start {
		return append(rs, r)
	}
	// rs[i:j] are the ranges that overlap or touch r.
	i, _ := slices.BinarySearchFunc(rs, r.Start, func(x sdk.Range, start uint64) int {
		if x.End < start {
			return -1
		}
		return 1
	})
	j, _ := slices.BinarySearchFunc(rs, r.End, func(x sdk.Range, end uint64) int {
		if x.Start <= end {
			return -1
		}
		return 1
	})
	if i < j {
		r.Start = min(r.Start, rs[i].Start)
		r.End = max(r.End, rs[j-1].End)
	}
	return slices.Replace(rs, i, j, r)
}

// cutRanges removes everything at t and above from rs.
func cutRanges(rs []sdk.Range, t uint64) []sdk.Range {
	for i := len(rs) - 1; i >= 0 && rs[i].End > t; i-- {
		if rs[i].Start >= t {
			rs = rs[:i]
		} else {
			rs[i].End = t
		}
	}
	return rs
}

// Pages of the sparse arrays hold 512 entries: a page of block locations
// is 8 KiB, a page of nodes 20 KiB.
const (
	pageBits = 9
	pageSize = 1 << pageBits
	pageMask = pageSize - 1
)

// sparseArray maps uint64 indexes to values in fixed-size pages, so that
// dense runs cost little more than a slice and a few entries far apart cost
// a page each, whatever their indexes.
type sparseArray[T any] struct {
	pages map[uint64]*page[T]
}

type page[T any] struct {
	count int
	used  [pageSize / 64]uint64
	vals  [pageSize]T
}

func (p *page[T]) has(slot uint64) bool {
	return p.used[slot/64]&(1<<(slot%64)) != 0
}

func (a *sparseArray[T]) get(i uint64) (T, bool) {
	p := a.pages[i>>pageBits]
	if p == nil || !p.has(i&pageMask) {
		var zero T
		return zero, false
	}
	return p.vals[i&pageMask], true
}

// getRange copies the values at start, start+1, ... into dst, stopping at
// the first missing one. It returns how many it copied.
func (a *sparseArray[T]) getRange(start uint64, dst []T) int {
	var p *page[T]
	for k := range dst {
		i := start + uint64(k)
		if k == 0 || i&pageMask == 0 {
			p = a.pages[i>>pageBits]
		}
		if p == nil || !p.has(i&pageMask) {
			return k
		}
		dst[k] = p.vals[i&pageMask]
	}
	return len(dst)
}

func (a *sparseArray[T]) set(i uint64, v T) {
	if a.pages == nil {
		a.pages = make(map[uint64]*page[T])
	}
	p := a.pages[i>>pageBits]
	if p == nil {
		p = new(page[T])
		a.pages[i>>pageBits] = p
	}
	slot := i & pageMask
	if !p.has(slot) {
		p.used[slot/64] |= 1 << (slot % 64)
		p.count++
	}
	p.vals[slot] = v
}

func (a *sparseArray[T]) delete(i uint64) {
	p := a.pages[i>>pageBits]
	slot := i & pageMask
	if p == nil || !p.has(slot) {
		return
	}
	p.used[slot/64] &^= 1 << (slot % 64)
	p.count--
	if p.count == 0 {
		delete(a.pages, i>>pageBits)
	}
}

// deleteFrom removes every entry at index t or above.
func (a *sparseArray[T]) deleteFrom(t uint64) {
	for n, p := range a.pages {
		first := n << pageBits
		switch {
		case first >= t:
			delete(a.pages, n)
		case t-first < pageSize:
			// Clear the bits of slots t-first and above.
			w := (t - first) / 64
			mask := ^uint64(0) << ((t - first) % 64)
			p.count -= bits.OnesCount64(p.used[w] & mask)
			p.used[w] &^= mask
			for w++; w < uint64(len(p.used)); w++ {
				p.count -= bits.OnesCount64(p.used[w])
				p.used[w] = 0
			}
			if p.count == 0 {
				delete(a.pages, n)
			}
		}
	}
}
