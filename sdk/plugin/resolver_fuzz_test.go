package plugin

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin/internal/pb"
)

// sampleSets share clocks and writers the way the union view's do.
func sampleSets() [][]sdk.Candidate {
	shared := sdk.VectorClock{{Writer: sdk.FeedKey{1}, Length: 7}, {Writer: sdk.FeedKey{9}, Length: 1 << 63}}
	return [][]sdk.Candidate{
		{{Writer: sdk.FeedKey{1}, Seq: 3, WallClock: -5, Clock: shared}},
		{
			{Writer: sdk.FeedKey{2}, Seq: 1 << 40, WallClock: 1 << 62, Clock: shared, Tombstone: true},
			{Writer: sdk.FeedKey{3}, Seq: 0, WallClock: 0},
			{Writer: sdk.FeedKey{1}, Seq: 4, Clock: sdk.VectorClock{{Writer: sdk.FeedKey{4}, Length: 1}}},
		},
	}
}

func TestResolveRequestRoundTrip(t *testing.T) {
	sets := sampleSets()
	req := encodeSets(sets)
	if got := len(req.Clocks); got != 3 {
		t.Errorf("%d clocks sent, want 3 (the empty one, the shared one, one more)", got)
	}
	if got := len(req.Writers) / sdk.KeySize; got != 5 {
		t.Errorf("%d writer keys sent, want 5", got)
	}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.ResolveRequest
	if err := proto.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	got, err := decodeSets(&back)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sets, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestDecodeSetsRejects(t *testing.T) {
	valid := func() *pb.ResolveRequest { return encodeSets(sampleSets()) }
	tests := []struct {
		name   string
		mangle func(*pb.ResolveRequest)
	}{
		{"partial writer key", func(r *pb.ResolveRequest) { r.Writers = r.Writers[:len(r.Writers)-1] }},
		{"clock names an unknown writer", func(r *pb.ResolveRequest) { r.Clocks[1] = []byte{200, 1, 1} }},
		{"clock cut in the middle", func(r *pb.ResolveRequest) { r.Clocks[1] = []byte{0} }},
		{"empty set", func(r *pb.ResolveRequest) { r.SetSizes = append(r.SetSizes, 0) }},
		{"sets larger than the columns", func(r *pb.ResolveRequest) { r.SetSizes[1]++ }},
		{"columns of different lengths", func(r *pb.ResolveRequest) { r.Seq = r.Seq[1:] }},
		{"writer index out of range", func(r *pb.ResolveRequest) { r.Writer[0] = 99 }},
		{"clock index out of range", func(r *pb.ResolveRequest) { r.Clock[0] = 99 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := valid()
			tt.mangle(r)
			if _, err := decodeSets(r); !errors.Is(err, sdk.ErrInvalid) {
				t.Errorf("decodeSets: %v, want ErrInvalid", err)
			}
		})
	}
}

// FuzzDecodeSets: a resolve request comes from another process. Any bytes
// either fail to parse, fail with ErrInvalid, or give sets that encode
// and decode to the same sets; none panic.
func FuzzDecodeSets(f *testing.F) {
	seed, _ := proto.Marshal(encodeSets(sampleSets()))
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var req pb.ResolveRequest
		if proto.Unmarshal(b, &req) != nil {
			return
		}
		sets, err := decodeSets(&req)
		if err != nil {
			if !errors.Is(err, sdk.ErrInvalid) {
				t.Fatalf("error %v does not wrap ErrInvalid", err)
			}
			return
		}
		again, err := decodeSets(encodeSets(sets))
		if err != nil {
			t.Fatalf("re-encoded sets do not decode: %v", err)
		}
		if diff := cmp.Diff(sets, again, cmp.Comparer(func(a, b sdk.VectorClock) bool {
			return len(a) == len(b) && (len(a) == 0 || cmp.Equal([]sdk.ClockEntry(a), []sdk.ClockEntry(b)))
		})); diff != "" {
			t.Fatalf("sets change through a round trip:\n%s", diff)
		}
	})
}
