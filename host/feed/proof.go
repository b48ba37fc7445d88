package feed

import (
	"fmt"
	"slices"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
)

// Proof shows that some blocks and tree nodes belong to a feed at a signed
// head. It is self-contained: anyone holding only the feed key can check it
// with [VerifyProof].
type Proof struct {
	// Head is the signed state the proof is made against.
	Head sdk.Head
	// Roots are the tree's roots at Head.Length, left to right. The
	// signature covers them.
	Roots []sdk.Node
	// Start is the index of Blocks[0].
	Start uint64
	// Blocks are consecutive blocks from Start; there may be none.
	Blocks [][]byte
	// Nodes are the further tree nodes needed to hash the blocks up to the
	// roots, and any node the proof is asked to show (for example the
	// reader's old roots, so that it can check a longer head extends its
	// own).
	Nodes []sdk.Node
}

// VerifyProof checks a proof against a feed key and returns every node it
// authenticates (leaves of the blocks, the given nodes, the parents computed
// from them and the roots), sorted by index.
//
// A proof is valid when the signature covers the roots, every block and
// node lies inside the signed length, and hashing upward from the blocks
// and nodes reproduces the signed roots using only nodes of the proof.
// A node that does not take part in that hashing makes the proof invalid,
// so nothing unauthenticated is ever returned.
func VerifyProof(key sdk.FeedKey, p *Proof) ([]sdk.Node, error) {
	if p.Head.Length > MaxLength {
		return nil, fmt.Errorf("%w: length %d exceeds the limit of %d", ErrBadProof, p.Head.Length, uint64(MaxLength))
	}
	want := flattree.Roots(p.Head.Length)
	if len(p.Roots) != len(want) {
		return nil, fmt.Errorf("%w: %d roots for length %d, want %d", ErrBadProof, len(p.Roots), p.Head.Length, len(want))
	}
	roots := make(map[uint64]sdk.Node, len(want))
	for i, r := range p.Roots {
		if r.Index != want[i] {
			return nil, fmt.Errorf("%w: root %d has index %d, want %d", ErrBadProof, i, r.Index, want[i])
		}
		roots[r.Index] = r
	}
	if !verifyHead(key, p.Head, p.Roots) {
		return nil, fmt.Errorf("%w: head of length %d, fork %d", ErrBadSignature, p.Head.Length, p.Head.Fork)
	}
	if uint64(len(p.Blocks)) > p.Head.Length || p.Start > p.Head.Length-uint64(len(p.Blocks)) {
		return nil, fmt.Errorf("%w: blocks [%d, %d) outside signed length %d", ErrBadProof, p.Start, p.Start+uint64(len(p.Blocks)), p.Head.Length)
	}

	known := make(map[uint64]sdk.Node, 2*len(p.Blocks)+len(p.Nodes))
	var levels [64][]uint64
	add := func(n sdk.Node) error {
		if _, end := flattree.Span(n.Index); end > p.Head.Length || end == 0 {
			return fmt.Errorf("%w: node %d lies outside signed length %d", ErrBadProof, n.Index, p.Head.Length)
		}
		if old, ok := known[n.Index]; ok {
			if old != n {
				return fmt.Errorf("%w: two different nodes at index %d", ErrBadProof, n.Index)
			}
			return nil
		}
		known[n.Index] = n
		d := flattree.Depth(n.Index)
		levels[d] = append(levels[d], n.Index)
		return nil
	}
	h := hasherPool.Get().(*hasher)
	defer hasherPool.Put(h)
	for k, data := range p.Blocks {
		if len(data) > sdk.MaxBlockSize {
			return nil, fmt.Errorf("%w: block %d is %d bytes, over the %d limit", ErrBadProof, p.Start+uint64(k), len(data), sdk.MaxBlockSize)
		}
		if err := add(h.leafNode(p.Start+uint64(k), data)); err != nil {
			return nil, err
		}
	}
	for _, n := range p.Nodes {
		if err := add(n); err != nil {
			return nil, err
		}
	}

	// Hash upward one depth at a time. Each node must meet its sibling,
	// and the parent they make must agree with any node given at that
	// index, until the climb reaches a signed root.
	for d := range levels {
		for _, i := range levels[d] {
			n := known[i]
			if r, ok := roots[i]; ok {
				if r != n {
					return nil, fmt.Errorf("%w: node %d does not match the signed root", ErrBadProof, i)
				}
				continue
			}
			sib, ok := known[flattree.Sibling(i)]
			if !ok {
				return nil, fmt.Errorf("%w: node %d has no sibling to hash with", ErrBadProof, i)
			}
			if !flattree.IsLeft(i) {
				continue // the left sibling computes the parent
			}
			parent := h.parentNode(flattree.Parent(i), n, sib)
			if err := add(parent); err != nil {
				return nil, err
			}
		}
	}

	out := make([]sdk.Node, 0, len(known)+len(roots))
	for _, n := range known {
		out = append(out, n)
	}
	for _, r := range p.Roots {
		if _, ok := known[r.Index]; !ok {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b sdk.Node) int { return cmpUint(a.Index, b.Index) })
	return out, nil
}

// proofNodes returns the indexes of the nodes a proof must carry to hash
// the leaves of blocks [start, end) and the nodes in show up to the roots of
// a tree of the given length: the shown nodes themselves and every sibling
// that the climb needs but does not compute.
func proofNodes(length, start, end uint64, show []uint64) []uint64 {
	roots := make(map[uint64]bool)
	for _, r := range flattree.Roots(length) {
		roots[r] = true
	}
	have := make(map[uint64]bool)
	var levels [64][]uint64
	push := func(i uint64) {
		if !have[i] {
			have[i] = true
			d := flattree.Depth(i)
			levels[d] = append(levels[d], i)
		}
	}
	for b := start; b < end; b++ {
		push(flattree.Leaf(b))
	}
	need := slices.Clone(show)
	for _, i := range show {
		push(i)
	}
	for d := range levels {
		// Siblings found at this depth are only hashed with, never climbed
		// from, so they are marked without being queued.
		for _, i := range levels[d] {
			if roots[i] {
				continue
			}
			if s := flattree.Sibling(i); !have[s] {
				have[s] = true
				need = append(need, s)
			}
			push(flattree.Parent(i))
		}
	}
	slices.Sort(need)
	return slices.Compact(need)
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
