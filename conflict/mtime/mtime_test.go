package mtime_test

import (
	"context"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codrive/codrive/conflict/internal/benchsets"
	"github.com/codrive/codrive/conflict/mtime"
	"github.com/codrive/codrive/conformance/resolvertest"
	"github.com/codrive/codrive/sdk"
)

// TestConformance runs the resolver suite. Last-writer-wins respects
// causality only while wall clocks grow along it.
func TestConformance(t *testing.T) {
	resolvertest.Run(t, func(*testing.T) sdk.Resolver { return mtime.New() }, resolvertest.Options{Causal: true})
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
			set:  []sdk.Candidate{{Writer: a, WallClock: now}},
			want: sdk.Resolution{Winner: 0},
		},
		{
			name: "newest wins, concurrent",
			set:  []sdk.Candidate{{Writer: a, WallClock: now}, {Writer: b, WallClock: now + 1}},
			want: sdk.Resolution{Winner: 1, Concurrent: []int{0}},
		},
		{
			name: "newest wins, overwritten",
			set:  []sdk.Candidate{{Writer: a, WallClock: now}, {Writer: b, WallClock: now + 1, Clock: saw(a, 1)}},
			want: sdk.Resolution{Winner: 1},
		},
		{
			name: "a clock that saw too little does not cover",
			set:  []sdk.Candidate{{Writer: a, Seq: 3, WallClock: now}, {Writer: b, WallClock: now + 1, Clock: saw(a, 3)}},
			want: sdk.Resolution{Winner: 1, Concurrent: []int{0}},
		},
		{
			name: "tie broken by the larger writer key",
			set:  []sdk.Candidate{{Writer: c, WallClock: now}, {Writer: a, WallClock: now}, {Writer: b, WallClock: now}},
			want: sdk.Resolution{Winner: 0, Concurrent: []int{1, 2}},
		},
		{
			name: "writer keys compared as bytes, past a common prefix",
			set:  []sdk.Candidate{{Writer: sdk.FeedKey{1, 0xff}, WallClock: now}, {Writer: sdk.FeedKey{2}, WallClock: now}},
			want: sdk.Resolution{Winner: 1, Concurrent: []int{0}},
		},
		{
			name: "then by the larger sequence number",
			set:  []sdk.Candidate{{Writer: a, Seq: 4, WallClock: now}, {Writer: a, Seq: 2, WallClock: now}},
			want: sdk.Resolution{Winner: 0}, // a later entry knows its own feed
		},
		{
			name: "a later edit an hour behind loses",
			set:  []sdk.Candidate{{Writer: a, WallClock: now}, {Writer: b, WallClock: now - hour, Clock: saw(a, 1)}},
			want: sdk.Resolution{Winner: 0, Concurrent: []int{1}},
		},
		{
			name: "a clock in 2100 wins over an edit that saw it",
			set:  []sdk.Candidate{{Writer: b, WallClock: now, Clock: saw(a, 1)}, {Writer: a, WallClock: y2100}},
			want: sdk.Resolution{Winner: 1, Concurrent: []int{0}},
		},
		{
			name: "extremes",
			set:  []sdk.Candidate{{Writer: c, WallClock: math.MinInt64}, {Writer: a, WallClock: math.MaxInt64}, {Writer: b, WallClock: 0}},
			want: sdk.Resolution{Winner: 1, Concurrent: []int{0, 2}},
		},
		{
			name: "a tombstone is a candidate like any other",
			set:  []sdk.Candidate{{Writer: a, WallClock: now}, {Writer: b, WallClock: now + 1, Tombstone: true, Clock: saw(a, 1)}},
			want: sdk.Resolution{Winner: 1},
		},
		{
			name: "only what the winner saw is overwritten",
			set: []sdk.Candidate{
				{Writer: a, WallClock: now},
				{Writer: b, WallClock: now + 1},
				{Writer: c, WallClock: now + 2, Clock: sdk.VectorClock{{Writer: b, Length: 1}}},
			},
			want: sdk.Resolution{Winner: 2, Concurrent: []int{0}},
		},
		{
			name: "unsorted clock with a writer twice: the largest length counts",
			set: []sdk.Candidate{
				{Writer: a, Seq: 1, WallClock: now},
				{Writer: c, WallClock: now + 1, Clock: sdk.VectorClock{{Writer: a, Length: 2}, {Writer: b, Length: 1}, {Writer: a, Length: 1}}},
			},
			want: sdk.Resolution{Winner: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mtime.New().Resolve(t.Context(), [][]sdk.Candidate{tt.set})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]sdk.Resolution{tt.want}, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
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
			res, err := mtime.New().Resolve(tt.ctx, tt.sets)
			if !errors.Is(err, tt.want) || res != nil {
				t.Errorf("got %v, %v; want no resolutions and an error wrapping %v", res, err, tt.want)
			}
		})
	}
}

// TestConcurrentNotShared: the Concurrent slices of one answer share an
// array, but appending to one must not change the next.
func TestConcurrentNotShared(t *testing.T) {
	set := []sdk.Candidate{{Writer: a, WallClock: now}, {Writer: b, WallClock: now + 1}}
	res, err := mtime.New().Resolve(t.Context(), [][]sdk.Candidate{set, set})
	if err != nil {
		t.Fatal(err)
	}
	_ = append(res[0].Concurrent, 99)
	if diff := cmp.Diff([]int{0}, res[1].Concurrent); diff != "" {
		t.Errorf("second set's Concurrent after appending to the first's (-want +got):\n%s", diff)
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
	r := mtime.New()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Resolve(ctx, sets); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(sets)), "ns/set")
}
