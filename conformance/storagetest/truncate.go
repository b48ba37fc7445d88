package storagetest

import (
	"fmt"
	"math"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/google/go-cmp/cmp"
)

// The tests in this file cover truncation: a batch with Truncate set first
// removes every block at index TruncateTo or above and every node whose
// span reaches past TruncateTo.

// seq returns the integers [start, end).
func seq(start, end uint64) []uint64 {
	var out []uint64
	for i := start; i < end; i++ {
		out = append(out, i)
	}
	return out
}

// testTruncate truncates a full tree of 16 blocks (flat indexes 0 to 30),
// checks what is left, then appends after the truncation point.
func testTruncate(t *testing.T, h Harness) {
	const length = 16
	tests := []struct {
		to        uint64
		wantNodes []uint64 // the nodes that end at or before block to
	}{
		{0, nil},
		{1, []uint64{0}},
		// 7 spans blocks [0, 8) and 9 spans [4, 6): both reach past 5.
		{5, []uint64{0, 1, 2, 3, 4, 5, 6, 8}},
		{8, seq(0, 15)},
		// 15 spans [0, 16), 23 spans [8, 16) and 25 spans [12, 14).
		{13, append(append(seq(0, 15), seq(16, 23)...), 24)},
		// 27 spans [12, 16) and 29 spans [14, 16).
		{15, append(append(seq(0, 15), seq(16, 23)...), 24, 25, 26, 28)},
		{16, seq(0, 31)},
		{100, seq(0, 31)},
		{math.MaxUint64, seq(0, 31)},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("To%d", tt.to), func(t *testing.T) {
			e := newEnv(t, h)
			m := e.create(header(1, true))
			e.write(m, &sdk.Batch{Blocks: blocks(0, length, 1, 100), Nodes: nodes(0, 2*length-1, 1), Head: head(0, length), Evidence: []byte("evidence")})

			e.write(m, &sdk.Batch{Truncate: true, TruncateTo: tt.to})
			st := e.load(m.header.Key)
			var wantPresent []sdk.Range
			if kept := min(tt.to, length); kept > 0 {
				wantPresent = []sdk.Range{{Start: 0, End: kept}}
			}
			if diff := cmp.Diff(wantPresent, st.Present, equateEmpty); diff != "" {
				t.Errorf("Present after truncating to %d (-want +got):\n%s", tt.to, diff)
			}
			got := e.readNodes(m.header.Key, seq(0, 2*length))
			if diff := cmp.Diff(nodesAt(1, tt.wantNodes...), got, equateEmpty); diff != "" {
				t.Errorf("nodes after truncating to %d (-want +got):\n%s", tt.to, diff)
			}
			e.check(m)

			// The feed grows again from the truncation point.
			end := min(tt.to, length) + 4
			e.write(m, &sdk.Batch{Blocks: blocks(min(tt.to, length), end, 2, 200), Nodes: nodesAt(2, 2*end-2), Head: head(1, end)})
			e.check(m)
		})
	}
}

// testTruncateSparse truncates a feed with holes and far blocks.
func testTruncateSparse(t *testing.T, h Harness) {
	const far = 1 << 40
	tests := []struct {
		to   uint64
		want []sdk.Range
	}{
		{far + 2, []sdk.Range{{Start: 0, End: 10}, {Start: 20, End: 30}, {Start: far, End: far + 2}}},
		{far, []sdk.Range{{Start: 0, End: 10}, {Start: 20, End: 30}}},
		{1000, []sdk.Range{{Start: 0, End: 10}, {Start: 20, End: 30}}},
		{25, []sdk.Range{{Start: 0, End: 10}, {Start: 20, End: 25}}},
		{20, []sdk.Range{{Start: 0, End: 10}}},
		{15, []sdk.Range{{Start: 0, End: 10}}},
		{0, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("To%d", tt.to), func(t *testing.T) {
			e := newEnv(t, h)
			m := e.create(header(1, false))
			e.write(m, &sdk.Batch{Blocks: blocks(0, 10, 1, 50), Nodes: nodes(0, 19, 1)})
			e.write(m, &sdk.Batch{Blocks: blocks(20, 30, 1, 50), Nodes: nodes(40, 59, 1)})
			e.write(m, &sdk.Batch{Blocks: blocks(far, far+5, 1, 50), Nodes: nodes(2*far, 2*far+9, 1)})

			e.write(m, &sdk.Batch{Truncate: true, TruncateTo: tt.to})
			if diff := cmp.Diff(tt.want, e.load(m.header.Key).Present, equateEmpty); diff != "" {
				t.Errorf("Present after truncating to %d (-want +got):\n%s", tt.to, diff)
			}
			e.check(m)
		})
	}
}

// testTruncateWithBlocksAndNodes checks the order within one batch:
// truncation first, then blocks and nodes, which stay even where they lie
// past the truncation point.
func testTruncateWithBlocksAndNodes(t *testing.T, h Harness) {
	e := newEnv(t, h)
	m := e.create(header(1, true))
	e.write(m, &sdk.Batch{Blocks: blocks(0, 16, 1, 100), Nodes: nodes(0, 31, 1), Head: head(0, 16)})

	e.write(m, &sdk.Batch{
		Truncate:   true,
		TruncateTo: 4,
		Blocks:     blocks(2, 6, 2, 150),
		Nodes:      nodesAt(2, 4, 8, 9, 14),
		Head:       head(1, 6),
	})
	if diff := cmp.Diff([]sdk.Range{{Start: 0, End: 6}}, e.load(m.header.Key).Present); diff != "" {
		t.Errorf("Present (-want +got):\n%s", diff)
	}
	// 3 spans [0, 4) and stays; 7 spans [0, 8) and goes; 14 is new.
	want := append(nodesAt(1, 0, 1, 2, 3), nodesAt(2, 4, 8, 9, 14)...)
	if diff := cmp.Diff(want, e.readNodes(m.header.Key, []uint64{0, 1, 2, 3, 4, 7, 8, 9, 10, 14})); diff != "" {
		t.Errorf("ReadNodes (-want +got):\n%s", diff)
	}
	e.check(m)
}

// testTruncateRepeatedly truncates the same feed again and again, each time
// a little shorter, checking it after each truncation.
func testTruncateRepeatedly(t *testing.T, h Harness) {
	e := newEnv(t, h)
	m := e.create(header(1, true))
	e.write(m, &sdk.Batch{Blocks: blocks(0, 200, 1, 20), Nodes: nodes(0, 399, 1), Head: head(0, 200)})
	for fork, to := range []uint64{150, 149, 128, 127, 100, 70, 65, 64, 63, 1, 0} {
		e.write(m, &sdk.Batch{Truncate: true, TruncateTo: to, Head: head(uint64(fork)+1, to)})
		e.check(m)
	}
}
