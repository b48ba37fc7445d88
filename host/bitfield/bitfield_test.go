package bitfield

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/sdk"
)

func TestRanges(t *testing.T) {
	tests := []struct {
		name string
		ops  []op
		want []sdk.Range
	}{
		{"empty", nil, nil},
		{"one", []op{{5, 6, true}}, []sdk.Range{{Start: 5, End: 6}}},
		{"adjacent merge", []op{{0, 10, true}, {10, 20, true}}, []sdk.Range{{Start: 0, End: 20}}},
		{"hole", []op{{0, 100, true}, {40, 60, false}}, []sdk.Range{{Start: 0, End: 40}, {Start: 60, End: 100}}},
		{"across pages", []op{{bitsPerPage - 3, bitsPerPage + 3, true}}, []sdk.Range{{Start: bitsPerPage - 3, End: bitsPerPage + 3}}},
		{"far apart", []op{{1 << 40, 1<<40 + 10, true}, {3, 4, true}}, []sdk.Range{{Start: 3, End: 4}, {Start: 1 << 40, End: 1<<40 + 10}}},
		{"top of space", []op{{^uint64(0) - 2, ^uint64(0), true}}, []sdk.Range{{Start: ^uint64(0) - 2, End: ^uint64(0)}}},
		{"clear all", []op{{0, 70000, true}, {0, 70000, false}}, nil},
		{"clear to the top", []op{{0, 100, true}, {50, ^uint64(0), false}}, []sdk.Range{{Start: 0, End: 50}}},
		{"word edges", []op{{63, 65, true}, {127, 129, true}}, []sdk.Range{{Start: 63, End: 65}, {Start: 127, End: 129}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Bitfield
			for _, o := range tt.ops {
				b.SetRange(o.start, o.end, o.v)
			}
			if diff := cmp.Diff(tt.want, b.Ranges()); diff != "" {
				t.Errorf("Ranges (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, FromRanges(tt.want).Ranges()); diff != "" {
				t.Errorf("FromRanges round trip (-want +got):\n%s", diff)
			}
		})
	}
}

type op struct {
	start, end uint64
	v          bool
}

// TestAgainstModel checks every query against a plain map after random
// range updates, including ones that span pages.
func TestAgainstModel(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const space = 3 * bitsPerPage
	var b Bitfield
	model := make(map[uint64]bool)
	for step := 0; step < 400; step++ {
		start := rng.Uint64N(space)
		end := start + rng.Uint64N(2*bitsPerPage/3)
		v := rng.IntN(3) > 0
		b.SetRange(start, end, v)
		for i := start; i < end; i++ {
			if v {
				model[i] = true
			} else {
				delete(model, i)
			}
		}
		for probe := 0; probe < 20; probe++ {
			i := rng.Uint64N(space + 100)
			if b.Get(i) != model[i] {
				t.Fatalf("step %d: Get(%d) = %v, want %v", step, i, b.Get(i), model[i])
			}
			wantSet, wantClear := i, i
			for wantSet < space+bitsPerPage && !model[wantSet] {
				wantSet++
			}
			for model[wantClear] {
				wantClear++
			}
			if got, ok := b.NextSet(i); wantSet < space+bitsPerPage && (!ok || got != wantSet) {
				t.Fatalf("step %d: NextSet(%d) = %d,%v, want %d", step, i, got, ok, wantSet)
			}
			if got, _ := b.NextClear(i); got != wantClear {
				t.Fatalf("step %d: NextClear(%d) = %d, want %d", step, i, got, wantClear)
			}
		}
	}
	var covered int
	for _, r := range b.Ranges() {
		for i := r.Start; i < r.End; i++ {
			if !model[i] {
				t.Fatalf("range %v holds %d, which is not set", r, i)
			}
			covered++
		}
	}
	if covered != len(model) {
		t.Fatalf("ranges cover %d indexes, model has %d", covered, len(model))
	}
}

func TestHasRange(t *testing.T) {
	var b Bitfield
	b.SetRange(10, 20, true)
	tests := []struct {
		start, end uint64
		want       bool
	}{{10, 20, true}, {12, 13, true}, {9, 12, false}, {15, 21, false}, {30, 30, true}}
	for _, tt := range tests {
		if got := b.HasRange(tt.start, tt.end); got != tt.want {
			t.Errorf("HasRange(%d,%d) = %v, want %v", tt.start, tt.end, got, tt.want)
		}
	}
}
