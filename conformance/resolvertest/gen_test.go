package resolvertest

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/codrive/codrive/sdk"
)

// TestHistories checks the generator the properties lean on: clocks are
// well-formed and record the writer's own feed, honest histories stamp
// every entry after what it knows, and skewed ones do produce entries
// that know an entry with a newer wall clock (else the skew tests would
// test nothing).
func TestHistories(t *testing.T) {
	tests := []struct {
		name         string
		hybrid       bool
		behind       bool
		wantInverted bool // some y knows x with y.WallClock <= x.WallClock
	}{
		{"honest", true, false, false},
		{"skewed", false, false, true},
		{"an hour behind", false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			inverted, causal := 0, 0
			for range 200 {
				h := randomHistory(rng, tt.hybrid, tt.behind)
				var all []sdk.Candidate
				for w, f := range h.feeds {
					for seq, c := range f {
						if c.Writer != h.writers[w] || c.Seq != uint64(seq) {
							t.Fatalf("entry %d of writer %d names writer %x seq %d", seq, w, c.Writer[:4], c.Seq)
						}
						if own := ownLength(c.Clock, c.Writer); own != c.Seq {
							t.Fatalf("entry %s: its clock records %d of its own feed, want %d", describeOne(c), own, c.Seq)
						}
						for i := 1; i < len(c.Clock); i++ {
							if bytes.Compare(c.Clock[i-1].Writer[:], c.Clock[i].Writer[:]) >= 0 {
								t.Fatalf("entry %s: clock not sorted", describeOne(c))
							}
						}
					}
					all = append(all, f...)
				}
				for i := range all {
					for j := range all {
						if i == j || !knows(&all[i], &all[j]) {
							continue
						}
						causal++
						if all[i].WallClock <= all[j].WallClock {
							inverted++
						}
					}
				}
			}
			if causal == 0 {
				t.Fatal("no entry knows another")
			}
			if got := inverted > 0; got != tt.wantInverted {
				t.Errorf("%d of %d causal pairs have the later entry stamped no later; want some: %v", inverted, causal, tt.wantInverted)
			}
		})
	}
}

func ownLength(c sdk.VectorClock, w sdk.FeedKey) uint64 {
	for _, e := range c {
		if e.Writer == w {
			return e.Length
		}
	}
	return 0
}

// TestArbitrarySets: generated sets never repeat an entry, the property
// verdicts are compared by.
func TestArbitrarySets(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, malformed := range []bool{false, true} {
		for _, set := range arbitrarySets(rng, 500, 8, malformed) {
			for i := range set {
				for j := range i {
					if set[i].Writer == set[j].Writer && set[i].Seq == set[j].Seq {
						t.Fatalf("entry repeated in a set:\n%s", describe(set))
					}
				}
			}
		}
	}
}
