package vclock_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codrive/codrive/conflict/internal/benchsets"
	"github.com/codrive/codrive/conflict/vclock"
	"github.com/codrive/codrive/conformance/resolvertest"
	"github.com/codrive/codrive/sdk"
)

// TestConformance runs the resolver suite, causality under any clocks
// included.
func TestConformance(t *testing.T) {
	resolvertest.Run(t, func(*testing.T) sdk.Resolver { return vclock.New() },
		resolvertest.Options{Causal: true, CausalUnderSkew: true})
}

var (
	a, b, c = sdk.FeedKey{0xa}, sdk.FeedKey{0xb}, sdk.FeedKey{0xc}
	now     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	hour    = int64(time.Hour)
	y2100   = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
)

// saw is a clock that has seen the first n entries of writer w.
func saw(w sdk.FeedKey, n uint64) sdk.VectorClock {
	return sdk.VectorClock{{Writer: w, Length: n}}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name string
		set  []sdk.Candidate
		want sdk.Resolution
	}{
		{
			name: "one candidate",
			set:  []sdk.Candidate{{Writer: a, WallClock: y2100}},
			want: sdk.Resolution{Winner: 0},
		},
		{
			name: "concurrent: newest wins",
			set:  []sdk.Candidate{{Writer: a, WallClock: now + 1}, {Writer: b, WallClock: now}},
			want: sdk.Resolution{Winner: 0, Concurrent: []int{1}},
		},
		{
			name: "concurrent tie: larger writer key",
			set:  []sdk.Candidate{{Writer: b, WallClock: now}, {Writer: c, WallClock: now}, {Writer: a, WallClock: now}},
			want: sdk.Resolution{Winner: 1, Concurrent: []int{0, 2}},
		},
		{
			name: "a later edit an hour behind wins",
			set:  []sdk.Candidate{{Writer: a, WallClock: now}, {Writer: b, WallClock: now - hour, Clock: saw(a, 1)}},
			want: sdk.Resolution{Winner: 1},
		},
		{
			name: "a later entry of the same feed wins, even if its clock forgot",
			set:  []sdk.Candidate{{Writer: a, Seq: 5, WallClock: now - hour}, {Writer: a, Seq: 2, WallClock: now}},
			want: sdk.Resolution{Winner: 0},
		},
		{
			name: "2100 loses to an edit that saw it",
			set:  []sdk.Candidate{{Writer: a, WallClock: y2100}, {Writer: b, WallClock: now, Clock: saw(a, 1)}},
			want: sdk.Resolution{Winner: 1},
		},
		{
			name: "2100 wins over edits that did not see it",
			set:  []sdk.Candidate{{Writer: b, WallClock: now}, {Writer: a, WallClock: y2100}},
			want: sdk.Resolution{Winner: 1, Concurrent: []int{0}},
		},
		{
			name: "2100 seen, and an older concurrent edit",
			set: []sdk.Candidate{
				{Writer: a, WallClock: y2100},
				{Writer: c, WallClock: now - 1},
				{Writer: b, WallClock: now, Clock: saw(a, 1)},
			},
			want: sdk.Resolution{Winner: 2, Concurrent: []int{1}},
		},
		{
			name: "the newest maximal candidate wins, not the newest overall",
			set: []sdk.Candidate{
				{Writer: a, WallClock: now + 3*hour},
				{Writer: b, WallClock: now + hour, Clock: saw(a, 1)},
				{Writer: c, WallClock: now + 2*hour},
			},
			want: sdk.Resolution{Winner: 2, Concurrent: []int{0, 1}},
		},
		{
			name: "a clock that saw too little does not cover",
			set:  []sdk.Candidate{{Writer: a, Seq: 3, WallClock: now + 1}, {Writer: b, WallClock: now, Clock: saw(a, 3)}},
			want: sdk.Resolution{Winner: 0, Concurrent: []int{1}},
		},
		{
			name: "only what the winner saw is overwritten",
			set: []sdk.Candidate{
				{Writer: a, WallClock: now},
				{Writer: b, WallClock: now + 1},
				{Writer: c, WallClock: now - hour, Clock: saw(b, 1)},
				{Writer: a, Seq: 1, WallClock: now + 2, Clock: saw(c, 1)},
			},
			want: sdk.Resolution{Winner: 3, Concurrent: []int{1}},
		},
		{
			// Concurrent is about the winner's knowledge alone: b was
			// overwritten by c, but not by the winner.
			name: "what a loser saw is still concurrent with the winner",
			set: []sdk.Candidate{
				{Writer: a, WallClock: now},
				{Writer: b, WallClock: now + 1},
				{Writer: c, WallClock: now - hour, Clock: saw(b, 1)},
			},
			want: sdk.Resolution{Winner: 0, Concurrent: []int{1, 2}},
		},
		{
			name: "a tombstone is a candidate like any other",
			set:  []sdk.Candidate{{Writer: a, WallClock: now}, {Writer: b, WallClock: now - 1, Tombstone: true, Clock: saw(a, 1)}},
			want: sdk.Resolution{Winner: 1},
		},
		{
			name: "clocks in a cycle: the newest of all",
			set: []sdk.Candidate{
				{Writer: a, WallClock: now, Clock: saw(b, 1)},
				{Writer: b, WallClock: now + 1, Clock: saw(a, 1)},
			},
			want: sdk.Resolution{Winner: 1},
		},
		{
			name: "a cycle beside a maximal candidate",
			set: []sdk.Candidate{
				{Writer: a, WallClock: now + 2, Clock: saw(b, 1)},
				{Writer: b, WallClock: now + 1, Clock: saw(a, 1)},
				{Writer: c, WallClock: math.MinInt64},
			},
			want: sdk.Resolution{Winner: 2, Concurrent: []int{0, 1}},
		},
		{
			name: "unsorted clock with a writer twice: the largest length counts",
			set: []sdk.Candidate{
				{Writer: a, Seq: 1, WallClock: now},
				{Writer: c, WallClock: now - 1, Clock: sdk.VectorClock{{Writer: a, Length: 2}, {Writer: b, Length: 1}, {Writer: a, Length: 1}}},
			},
			want: sdk.Resolution{Winner: 1},
		},
		{
			name: "copies of one entry",
			set: []sdk.Candidate{
				{Writer: a, WallClock: now},
				{Writer: a, WallClock: now},
			},
			want: sdk.Resolution{Winner: 0, Concurrent: []int{1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := vclock.New().Resolve(t.Context(), [][]sdk.Candidate{tt.set})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]sdk.Resolution{tt.want}, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestSameEntryDiffering: two candidates for one entry that differ in
// their other fields (a lying peer) still get a verdict that does not
// depend on their order.
func TestSameEntryDiffering(t *testing.T) {
	x := sdk.Candidate{Writer: a, Seq: 1, WallClock: now, Clock: saw(b, 1)}
	y := sdk.Candidate{Writer: a, Seq: 1, WallClock: now, Clock: saw(b, 2)}
	z := sdk.Candidate{Writer: a, Seq: 1, WallClock: now, Clock: saw(b, 2), Tombstone: true}
	for _, pair := range [][2]sdk.Candidate{{x, y}, {y, z}, {x, z}} {
		res, err := vclock.New().Resolve(t.Context(), [][]sdk.Candidate{pair[:], {pair[1], pair[0]}})
		if err != nil {
			t.Fatal(err)
		}
		first, second := pair[res[0].Winner], []sdk.Candidate{pair[1], pair[0]}[res[1].Winner]
		if diff := cmp.Diff(first, second); diff != "" {
			t.Errorf("winner changed with the order (-first +reversed):\n%s", diff)
		}
	}
}

func TestErrors(t *testing.T) {
	one := []sdk.Candidate{{Writer: a}}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		sets [][]sdk.Candidate
		want error
	}{
		{"empty set", t.Context(), [][]sdk.Candidate{one, {}}, sdk.ErrInvalid},
		{"nil set", t.Context(), [][]sdk.Candidate{nil}, sdk.ErrInvalid},
		{"cancelled", cancelled, [][]sdk.Candidate{one}, context.Canceled},
		{"cancelled during the batch", &cancelLater{Context: t.Context(), after: 1}, benchsets.Sets(5000), context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := vclock.New().Resolve(tt.ctx, tt.sets)
			if !errors.Is(err, tt.want) || res != nil {
				t.Errorf("got %v, %v; want no resolutions and an error wrapping %v", res, err, tt.want)
			}
		})
	}
}

// cancelLater is a context that is cancelled once Err has been asked
// after times: a cancellation in the middle of a batch, without timing.
type cancelLater struct {
	context.Context
	after int
}

func (c *cancelLater) Err() error {
	if c.after == 0 {
		return context.Canceled
	}
	c.after--
	return nil
}

// BenchmarkResolve resolves a batch of 10,000 sets of 1 to 3 candidates
// with 10-writer clocks per op.
func BenchmarkResolve(b *testing.B) {
	sets := benchsets.Sets(10000)
	r := vclock.New()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, sets); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(sets)), "ns/set")
}
