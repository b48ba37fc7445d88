package replicate

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/sdk"
)

// TestMerge: answers that continue each other, merged into one proof,
// verify and store exactly when each of them would, so a disk write
// covers several of them without trusting any less.
func TestMerge(t *testing.T) {
	w := writer(t, 50, 1000)
	proof := func(t *testing.T, start, end, from uint64) *feed.Proof {
		p, err := w.Proof(ctx, feed.ProofRequest{Start: start, End: end, UpgradeFrom: from})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		ranges  [][2]uint64
		tamper  func(ps []*feed.Proof)
		wantErr error
		want    []sdk.Range
	}{
		{"two", [][2]uint64{{0, 256}, {256, 512}}, nil, nil, []sdk.Range{{Start: 0, End: 512}}},
		{"three, odd sizes", [][2]uint64{{3, 10}, {10, 11}, {11, 700}}, nil, nil, []sdk.Range{{Start: 3, End: 700}}},
		{"to the end", [][2]uint64{{900, 999}, {999, 1000}}, nil, nil, []sdk.Range{{Start: 900, End: 1000}}},
		{"a forged block in the second", [][2]uint64{{0, 100}, {100, 200}},
			func(ps []*feed.Proof) { ps[1].Blocks[5] = []byte("forged") }, feed.ErrBadProof, nil},
		{"a forged node in the first", [][2]uint64{{0, 100}, {100, 200}},
			func(ps []*feed.Proof) { ps[0].Nodes[0].Hash[0] ^= 1 }, feed.ErrBadProof, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var items []received
			var ps []*feed.Proof
			for _, r := range tt.ranges {
				ps = append(ps, proof(t, r[0], r[1], 0))
			}
			if tt.tamper != nil {
				tt.tamper(ps)
			}
			for i, p := range ps {
				if i > 0 && !continues(ps[i-1], p) {
					t.Fatalf("proof %d does not continue the one before", i)
				}
				items = append(items, received{proof: p})
			}
			rep := replica(t, w.Key())
			err := rep.Put(ctx, merge(items))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Put of the merged proof: %v, want %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, rep.Present()); diff != "" {
				t.Errorf("held (-want +got):\n%s", diff)
			}
		})
	}
	if continues(proof(t, 0, 10, 0), proof(t, 11, 20, 0)) {
		t.Error("a gap continues")
	}
}
