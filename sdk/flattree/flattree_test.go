package flattree

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIndexArithmetic(t *testing.T) {
	tests := []struct {
		index, depth, offset, parent, sibling uint64
		start, end                            uint64
	}{
		{index: 0, depth: 0, offset: 0, parent: 1, sibling: 2, start: 0, end: 1},
		{index: 2, depth: 0, offset: 1, parent: 1, sibling: 0, start: 1, end: 2},
		{index: 1, depth: 1, offset: 0, parent: 3, sibling: 5, start: 0, end: 2},
		{index: 5, depth: 1, offset: 1, parent: 3, sibling: 1, start: 2, end: 4},
		{index: 3, depth: 2, offset: 0, parent: 7, sibling: 11, start: 0, end: 4},
		{index: 11, depth: 2, offset: 1, parent: 7, sibling: 3, start: 4, end: 8},
		{index: 12, depth: 0, offset: 6, parent: 13, sibling: 14, start: 6, end: 7},
		{index: 23, depth: 3, offset: 1, parent: 15, sibling: 7, start: 8, end: 16},
	}
	for _, tt := range tests {
		got := []uint64{Depth(tt.index), Offset(tt.index), Parent(tt.index), Sibling(tt.index)}
		want := []uint64{tt.depth, tt.offset, tt.parent, tt.sibling}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("node %d: depth, offset, parent, sibling (-want +got):\n%s", tt.index, diff)
		}
		if s, e := Span(tt.index); s != tt.start || e != tt.end {
			t.Errorf("Span(%d) = [%d,%d), want [%d,%d)", tt.index, s, e, tt.start, tt.end)
		}
		if got := Index(tt.depth, tt.offset); got != tt.index {
			t.Errorf("Index(%d,%d) = %d, want %d", tt.depth, tt.offset, got, tt.index)
		}
	}
}

func TestChildrenInvertParent(t *testing.T) {
	for i := uint64(1); i < 1<<12; i += 2 {
		l, r := Children(i)
		if Parent(l) != i || Parent(r) != i || Sibling(l) != r || !IsLeft(l) || IsLeft(r) {
			t.Fatalf("children of %d = %d,%d do not invert Parent/Sibling", i, l, r)
		}
	}
}

func TestRoots(t *testing.T) {
	tests := []struct {
		n    uint64
		want []uint64
	}{
		{0, []uint64{}},
		{1, []uint64{0}},
		{2, []uint64{1}},
		{3, []uint64{1, 4}},
		{4, []uint64{3}},
		{5, []uint64{3, 8}},
		{7, []uint64{3, 9, 12}},
		{11, []uint64{7, 17, 20}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Roots(tt.n)); diff != "" {
			t.Errorf("Roots(%d) (-want +got):\n%s", tt.n, diff)
		}
	}
}

func TestRootsCoverTree(t *testing.T) {
	for n := uint64(0); n < 300; n++ {
		var next uint64
		for _, r := range Roots(n) {
			s, e := Span(r)
			if s != next {
				t.Fatalf("n=%d: root %d starts at %d, want %d", n, r, s, next)
			}
			next = e
		}
		if next != n {
			t.Fatalf("n=%d: roots cover %d blocks", n, next)
		}
		var count uint64
		for i := uint64(0); i < 2*n; i++ {
			if _, e := Span(i); e <= n {
				count++
			}
		}
		if count != Count(n) {
			t.Fatalf("Count(%d) = %d, want %d", n, Count(n), count)
		}
	}
}
