package replicate

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/wire"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
)

func TestRangeSetAdd(t *testing.T) {
	many := func(n int, from uint64) []sdk.Range {
		var rs []sdk.Range
		for i := range uint64(n) {
			rs = append(rs, sdk.Range{Start: from + 10*i, End: from + 10*i + 1})
		}
		return rs
	}
	tests := []struct {
		name   string
		start  []sdk.Range
		add    []sdk.Range
		limit  int
		want   []sdk.Range
		wantOK bool
	}{
		{"into empty", nil, []sdk.Range{{Start: 5, End: 9}}, 10, []sdk.Range{{Start: 5, End: 9}}, true},
		{"touching merge", []sdk.Range{{Start: 0, End: 5}}, []sdk.Range{{Start: 5, End: 7}}, 10, []sdk.Range{{Start: 0, End: 7}}, true},
		{"bridge", []sdk.Range{{Start: 0, End: 2}, {Start: 4, End: 6}, {Start: 8, End: 9}}, []sdk.Range{{Start: 1, End: 8}}, 10, []sdk.Range{{Start: 0, End: 9}}, true},
		{"unsorted overlapping", nil, []sdk.Range{{Start: 9, End: 20}, {Start: 0, End: 3}, {Start: 2, End: 10}}, 10, []sdk.Range{{Start: 0, End: 20}}, true},
		{"everything", []sdk.Range{{Start: 3, End: 4}}, []sdk.Range{{Start: 0, End: 1<<64 - 1}}, 10, []sdk.Range{{Start: 0, End: 1<<64 - 1}}, true},
		{"full, higher one dropped", []sdk.Range{{Start: 0, End: 1}, {Start: 2, End: 3}}, []sdk.Range{{Start: 4, End: 5}}, 2, []sdk.Range{{Start: 0, End: 1}, {Start: 2, End: 3}}, false},
		{"full, lower one kept", []sdk.Range{{Start: 2, End: 3}, {Start: 4, End: 5}}, []sdk.Range{{Start: 0, End: 1}}, 2, []sdk.Range{{Start: 0, End: 1}, {Start: 2, End: 3}}, false},
		{"full, merging still works", []sdk.Range{{Start: 0, End: 1}, {Start: 2, End: 3}}, []sdk.Range{{Start: 1, End: 2}}, 2, []sdk.Range{{Start: 0, End: 3}}, true},
		{"many at once, over the limit", nil, many(100, 0), 50, many(50, 0), false},
		{"many at once, merged with what is there", many(20, 5), many(20, 0), 100, func() []sdk.Range {
			var rs []sdk.Range
			for i := range uint64(20) {
				rs = append(rs, sdk.Range{Start: 10 * i, End: 10*i + 1}, sdk.Range{Start: 10*i + 5, End: 10*i + 6})
			}
			return rs
		}(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rangeSet{r: append([]sdk.Range(nil), tt.start...)}
			ok := s.add(tt.add, tt.limit)
			if diff := cmp.Diff(tt.want, s.r); diff != "" {
				t.Errorf("ranges (-want +got):\n%s", diff)
			}
			if ok != tt.wantOK {
				t.Errorf("add = %v, want %v", ok, tt.wantOK)
			}
		})
	}
}

func TestRangeSetQueries(t *testing.T) {
	s := rangeSet{r: []sdk.Range{{Start: 2, End: 5}, {Start: 10, End: 1<<64 - 1}}}
	type result struct {
		R  sdk.Range
		OK bool
	}
	tests := []struct {
		i                uint64
		containing, next result
		after            uint64
	}{
		{0, result{}, result{sdk.Range{Start: 2, End: 5}, true}, 2},
		{2, result{sdk.Range{Start: 2, End: 5}, true}, result{sdk.Range{Start: 2, End: 5}, true}, 10},
		{4, result{sdk.Range{Start: 2, End: 5}, true}, result{sdk.Range{Start: 4, End: 5}, true}, 10},
		{5, result{}, result{sdk.Range{Start: 10, End: 1<<64 - 1}, true}, 10},
		{1 << 63, result{sdk.Range{Start: 10, End: 1<<64 - 1}, true}, result{sdk.Range{Start: 1 << 63, End: 1<<64 - 1}, true}, 1<<64 - 1},
		{1<<64 - 1, result{}, result{}, 1<<64 - 1},
	}
	for _, tt := range tests {
		var got result
		got.R, got.OK = s.containing(tt.i)
		if got != tt.containing {
			t.Errorf("containing(%d) = %v, want %v", tt.i, got, tt.containing)
		}
		got.R, got.OK = s.next(tt.i)
		if got != tt.next {
			t.Errorf("next(%d) = %v, want %v", tt.i, got, tt.next)
		}
		if got := s.startAfter(tt.i); got != tt.after {
			t.Errorf("startAfter(%d) = %d, want %d", tt.i, got, tt.after)
		}
	}
	if !s.has(2, 5) || s.has(2, 6) || !s.has(7, 7) || !s.has(11, 1<<64-1) {
		t.Error("has is wrong")
	}
}

// TestAnswerEnd: an answer covers the longest prefix of the request whose
// blocks fit in answerBytes, and at least one block, whatever the sizes.
func TestAnswerEnd(t *testing.T) {
	w, err := feed.Create(ctx, memory.New(), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{40}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{1 << 10, 1 << 10, answerBytes - 4<<10, 1 << 10, 1 << 10, 3 << 20, 3 << 20, 8 << 20, 10, 10}
	for _, n := range sizes {
		if _, err := w.Append(ctx, bytes.Repeat([]byte{'b'}, n)); err != nil {
			t.Fatal(err)
		}
	}
	want := func(start, end uint64) uint64 {
		if end-start <= 1 {
			return end
		}
		total := 0
		for i := start; i < end; i++ {
			total += sizes[i]
			if total > answerBytes {
				return max(i, start+1)
			}
		}
		return end
	}
	for start := uint64(0); start < uint64(len(sizes)); start++ {
		for end := start; end <= uint64(len(sizes)); end++ {
			if got, want := answerEnd(w, wire.Request{Start: start, End: end}), want(start, end); got != want {
				t.Errorf("answerEnd [%d, %d) = %d, want %d", start, end, got, want)
			}
		}
	}
	if got := answerEnd(w, wire.Request{Start: 5, End: 20}); got != 20 {
		t.Errorf("answerEnd of a request past the length = %d, want its end (the proof fails: NODATA)", got)
	}
}
