// Package flattree numbers the nodes of a binary Merkle tree laid out flat,
// in the order of an in-order walk: leaves at even indexes (block i is at
// 2i) and each parent at the odd index between its children.
//
//	depth 2:              3
//	depth 1:      1               5
//	depth 0:  0       2       4       6
//
// The node at depth d and offset o (counting nodes of that depth from the
// left) has index (2o+1)·2^d − 1. Every function here is pure arithmetic.
package flattree

import "math/bits"

// Index returns the flat index of the node at the given depth and offset.
func Index(depth, offset uint64) uint64 {
	return (offset<<(depth+1) | (1 << depth)) - 1
}

// Depth returns the depth of a node: 0 for leaves.
func Depth(i uint64) uint64 {
	return uint64(bits.TrailingZeros64(^i))
}

// Offset returns the position of a node among the nodes of its depth.
func Offset(i uint64) uint64 {
	return i >> (Depth(i) + 1)
}

// Parent returns the index of a node's parent.
func Parent(i uint64) uint64 {
	d := Depth(i)
	return Index(d+1, Offset(i)>>1)
}

// Sibling returns the index of the other child of a node's parent.
func Sibling(i uint64) uint64 {
	d := Depth(i)
	return Index(d, Offset(i)^1)
}

// IsLeft reports whether a node is the left child of its parent.
func IsLeft(i uint64) bool {
	return Offset(i)&1 == 0
}

// Children returns the left and right children of a parent node. It must
// not be called on a leaf.
func Children(i uint64) (left, right uint64) {
	d := Depth(i)
	o := Offset(i)
	return Index(d-1, 2*o), Index(d-1, 2*o+1)
}

// Span returns the half-open range of block indexes [start, end) that a
// node covers.
func Span(i uint64) (start, end uint64) {
	d := Depth(i)
	o := Offset(i)
	return o << d, (o + 1) << d
}

// Leaf returns the flat index of block b.
func Leaf(b uint64) uint64 { return 2 * b }

// Block returns the block index of a leaf node.
func Block(i uint64) uint64 { return i / 2 }

// Roots returns the roots of a tree of n blocks, left to right: one full
// subtree for each set bit of n, largest first.
func Roots(n uint64) []uint64 {
	roots := make([]uint64, 0, bits.OnesCount64(n))
	var start uint64
	for d := 63; d >= 0; d-- {
		size := uint64(1) << d
		if n&size == 0 {
			continue
		}
		roots = append(roots, Index(uint64(d), start>>d))
		start += size
	}
	return roots
}

// Count returns the number of nodes a tree of n blocks holds, roots
// included: 2n minus the number of roots.
func Count(n uint64) uint64 {
	return 2*n - uint64(bits.OnesCount64(n))
}
