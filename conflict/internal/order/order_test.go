package order

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/sdk"
)

var (
	a = sdk.FeedKey{0xa}
	b = sdk.FeedKey{0xb}
	// aLike shares a's first 8 bytes, so Seen must look past them.
	aLike = sdk.FeedKey{0xa, 8: 1}
)

func TestSeen(t *testing.T) {
	tests := []struct {
		name  string
		clock sdk.VectorClock
		want  uint64
	}{
		{"empty", nil, 0},
		{"absent", sdk.VectorClock{{Writer: b, Length: 9}}, 0},
		{"present", sdk.VectorClock{{Writer: a, Length: 3}, {Writer: b, Length: 9}}, 3},
		{"same first 8 bytes", sdk.VectorClock{{Writer: aLike, Length: 7}}, 0},
		{"unsorted, repeated: the largest", sdk.VectorClock{{Writer: b, Length: 1}, {Writer: a, Length: 5}, {Writer: aLike, Length: 9}, {Writer: a, Length: 2}}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Seen(tt.clock, &a); got != tt.want {
				t.Errorf("Seen = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestKnows(t *testing.T) {
	tests := []struct {
		name string
		y, x sdk.Candidate
		want bool
	}{
		{"clock covers", sdk.Candidate{Writer: b, Clock: sdk.VectorClock{{Writer: a, Length: 3}}}, sdk.Candidate{Writer: a, Seq: 2}, true},
		{"clock stops just before", sdk.Candidate{Writer: b, Clock: sdk.VectorClock{{Writer: a, Length: 3}}}, sdk.Candidate{Writer: a, Seq: 3}, false},
		{"no clock", sdk.Candidate{Writer: b}, sdk.Candidate{Writer: a}, false},
		{"later in the same feed", sdk.Candidate{Writer: a, Seq: 4}, sdk.Candidate{Writer: a, Seq: 3}, true},
		{"earlier in the same feed", sdk.Candidate{Writer: a, Seq: 3}, sdk.Candidate{Writer: a, Seq: 4}, false},
		{"itself", sdk.Candidate{Writer: a, Seq: 3, Clock: sdk.VectorClock{{Writer: a, Length: 3}}}, sdk.Candidate{Writer: a, Seq: 3}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Knows(&tt.y, &tt.x); got != tt.want {
				t.Errorf("Knows = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompare(t *testing.T) {
	base := sdk.Candidate{Writer: a, Seq: 1, WallClock: 100, Clock: sdk.VectorClock{{Writer: b, Length: 2}}}
	with := func(f func(*sdk.Candidate)) sdk.Candidate {
		c := base
		c.Clock = append(sdk.VectorClock(nil), base.Clock...)
		f(&c)
		return c
	}
	// Each candidate is above base.
	above := []struct {
		name string
		c    sdk.Candidate
	}{
		{"newer wall clock, smaller everything else", with(func(c *sdk.Candidate) { c.WallClock, c.Writer, c.Seq = 101, sdk.FeedKey{}, 0 })},
		{"larger writer key", with(func(c *sdk.Candidate) { c.Writer, c.Seq = b, 0 })},
		{"larger writer key past the first byte", with(func(c *sdk.Candidate) { c.Writer = aLike })},
		{"larger sequence number", with(func(c *sdk.Candidate) { c.Seq = 2 })},
		{"same entry, a tombstone", with(func(c *sdk.Candidate) { c.Tombstone = true })},
		{"same entry, a longer clock entry", with(func(c *sdk.Candidate) { c.Clock[0].Length = 3 })},
		{"same entry, more clock entries", with(func(c *sdk.Candidate) { c.Clock = append(c.Clock, sdk.ClockEntry{}) })},
	}
	for _, tt := range above {
		t.Run(tt.name, func(t *testing.T) {
			got := []int{Compare(&tt.c, &base), Compare(&base, &tt.c), Compare(&tt.c, &tt.c)}
			if diff := cmp.Diff([]int{1, -1, 0}, got); diff != "" {
				t.Errorf("Compare(c, base), Compare(base, c), Compare(c, c) (-want +got):\n%s", diff)
			}
		})
	}
	copied := with(func(*sdk.Candidate) {})
	if got := Compare(&copied, &base); got != 0 {
		t.Errorf("Compare of a copy = %d, want 0", got)
	}
}
