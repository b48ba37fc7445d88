package disk

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestTruncateNodes checks the index's truncation of nodes against the
// definition: a node goes when its span ends past the cut.
func TestTruncateNodes(t *testing.T) {
	const blocks = 70 // a tree of 128 leaves, cut everywhere in and past it
	for cut := uint64(0); cut <= blocks+2; cut++ {
		var x index
		want := map[uint64]bool{}
		for i := range uint64(2*128 - 1) {
			x.nodes.set(i, nodeValue{size: i})
			if _, end := flattree.Span(i); end <= cut {
				want[i] = true
			}
		}
		x.truncate(cut)
		got := map[uint64]bool{}
		for i := range uint64(2 * 128) {
			if _, ok := x.nodes.get(i); ok {
				got[i] = true
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("truncate(%d) kept the wrong nodes (-want +got):\n%s", cut, diff)
		}
	}
}

func TestTruncateFarOut(t *testing.T) {
	var x index
	for _, i := range []uint64{0, 2, 1, maxNodeIndex, 1<<63 - 1} {
		x.nodes.set(i, nodeValue{})
	}
	x.blocks.set(maxBlockIndex, blockLoc{off: 1})
	x.truncate(1 << 63) // nothing spans past 2^63
	if n := len(x.nodes.pages); n != 3 {
		t.Errorf("truncate(2^63) left %d node pages, want 3", n)
	}
	x.truncate(maxBlockIndex)
	if _, ok := x.blocks.get(maxBlockIndex); ok {
		t.Error("truncate(2^63-1) kept block 2^63-1")
	}
	if _, ok := x.nodes.get(maxNodeIndex); ok {
		t.Error("truncate(2^63-1) kept the leaf of block 2^63-1")
	}
	if _, ok := x.nodes.get(1<<63 - 1); ok {
		t.Error("truncate(2^63-1) kept the node spanning [0, 2^63)")
	}
}

// TestSparseArray runs random operations on a sparse array and on a map,
// and compares them.
func TestSparseArray(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var a sparseArray[uint64]
	want := map[uint64]uint64{}
	index := func() uint64 {
		// Cluster around a few far-apart bases, across page boundaries.
		return []uint64{0, 5_000_000, 1 << 50}[rng.IntN(3)] + rng.Uint64N(3*pageSize)
	}
	for op := range 20000 {
		switch r := rng.IntN(100); {
		case r < 60:
			i := index()
			a.set(i, uint64(op))
			want[i] = uint64(op)
		case r < 90:
			i := index()
			a.delete(i)
			delete(want, i)
		default:
			cut := index()
			a.deleteFrom(cut)
			maps.DeleteFunc(want, func(i, _ uint64) bool { return i >= cut })
		}
	}
	got := map[uint64]uint64{}
	for n, p := range a.pages {
		if p.count == 0 {
			t.Errorf("page %d is empty but kept", n)
		}
		count := 0
		for slot := range uint64(pageSize) {
			if p.has(slot) {
				got[n<<pageBits+slot] = p.vals[slot]
				count++
			}
		}
		if count != p.count {
			t.Errorf("page %d counts %d entries, holds %d", n, p.count, count)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("sparse array mismatch (-want +got):\n%s", diff)
	}
	for i, v := range want {
		if g, ok := a.get(i); !ok || g != v {
			t.Fatalf("get(%d) = %d, %v; want %d", i, g, ok, v)
		}
	}
	// getRange stops at the first hole.
	keys := slices.Sorted(maps.Keys(want))
	dst := make([]uint64, 2*pageSize)
	n := a.getRange(keys[0], dst)
	for k := range n {
		if dst[k] != want[keys[0]+uint64(k)] {
			t.Fatalf("getRange copied %d at %d, want %d", dst[k], keys[0]+uint64(k), want[keys[0]+uint64(k)])
		}
	}
	if _, ok := want[keys[0]+uint64(n)]; ok && n < len(dst) {
		t.Fatalf("getRange stopped at %d, which is present", keys[0]+uint64(n))
	}
}

// TestRanges compares addRange and cutRanges with a set of block indexes.
func TestRanges(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for round := range 200 {
		var rs []sdk.Range
		set := map[uint64]bool{}
		for range 30 {
			start := rng.Uint64N(100)
			end := start + 1 + rng.Uint64N(8)
			if rng.IntN(6) == 0 {
				rs = cutRanges(rs, start)
				maps.DeleteFunc(set, func(i uint64, _ bool) bool { return i >= start })
				continue
			}
			rs = addRange(rs, sdk.Range{Start: start, End: end})
			for i := start; i < end; i++ {
				set[i] = true
			}
		}
		m := &model{blocks: map[uint64][]byte{}}
		for i := range set {
			m.blocks[i] = nil
		}
		if diff := cmp.Diff(m.present(), rs, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round %d: ranges mismatch (-want +got):\n%s", round, diff)
		}
	}
}

func TestCovers(t *testing.T) {
	x := index{present: []sdk.Range{{Start: 2, End: 5}, {Start: 10, End: 11}}}
	tests := []struct {
		start, end, missing uint64
		ok                  bool
	}{
		{2, 5, 0, true},
		{3, 4, 0, true},
		{10, 11, 0, true},
		{0, 3, 0, false},
		{2, 6, 5, false},
		{5, 6, 5, false},
		{9, 11, 9, false},
		{11, 12, 11, false},
		{4, 1 << 63, 5, false},
	}
	for _, tt := range tests {
		missing, ok := x.covers(tt.start, tt.end)
		if missing != tt.missing || ok != tt.ok {
			t.Errorf("covers(%d, %d) = %d, %v; want %d, %v", tt.start, tt.end, missing, ok, tt.missing, tt.ok)
		}
	}
}
