package codrive

import (
	"math/rand/v2"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codrive/codrive/sdk"
)

var (
	kP = sdk.FeedKey{0x10}
	kA = sdk.FeedKey{0x20}
	kB = sdk.FeedKey{0x30}
	kC = sdk.FeedKey{0x40}
)

func clock(entries ...any) sdk.VectorClock {
	var c sdk.VectorClock
	for i := 0; i < len(entries); i += 2 {
		c = append(c, sdk.ClockEntry{Writer: entries[i].(sdk.FeedKey), Length: uint64(entries[i+1].(int))})
	}
	return c
}

func add(author sdk.FeedKey, seq uint64, w sdk.FeedKey, c sdk.VectorClock) Statement {
	return Statement{Author: author, Seq: seq, Clock: c, Writer: w}
}

func remove(author sdk.FeedKey, seq uint64, w sdk.FeedKey, c sdk.VectorClock, discard bool) Statement {
	return Statement{Author: author, Seq: seq, Clock: c, Writer: w, Remove: true, Discard: discard}
}

func members(set map[sdk.FeedKey]Status) map[sdk.FeedKey]Status { return set }

func TestMembers(t *testing.T) {
	member := Status{Member: true}
	tests := []struct {
		name  string
		stmts []Statement
		want  map[sdk.FeedKey]Status
	}{
		{"the primary alone", nil, map[sdk.FeedKey]Status{kP: member}},
		{"the primary adds a writer", []Statement{add(kP, 1, kA, nil)},
			map[sdk.FeedKey]Status{kP: member, kA: member}},
		{"a writer adds another after seeing its own addition",
			[]Statement{add(kP, 1, kA, nil), add(kA, 1, kB, clock(kP, 2))},
			map[sdk.FeedKey]Status{kP: member, kA: member, kB: member}},
		{"a statement made before its author was added counts for nothing",
			[]Statement{add(kA, 1, kB, nil), add(kP, 1, kA, clock(kA, 2))},
			map[sdk.FeedKey]Status{kP: member, kA: member}},
		{"a stranger's statements count for nothing",
			[]Statement{add(kC, 1, kC, nil), remove(kC, 2, kP, nil, false)},
			map[sdk.FeedKey]Status{kP: member}},
		{"a removal cuts the writer at what the remover had seen",
			[]Statement{add(kP, 1, kA, nil), remove(kP, 2, kA, clock(kA, 5), false)},
			map[sdk.FeedKey]Status{kP: member, kA: {Cut: 5}}},
		{"removal with discard",
			[]Statement{add(kP, 1, kA, nil), remove(kP, 2, kA, clock(kA, 5), true)},
			map[sdk.FeedKey]Status{kP: member, kA: {Cut: 5, Discard: true}}},
		{"a removed writer cannot add itself back",
			[]Statement{add(kP, 1, kA, nil), remove(kP, 2, kA, clock(kA, 5), false), add(kA, 7, kA, clock(kP, 3))},
			map[sdk.FeedKey]Status{kP: member, kA: {Cut: 5}}},
		{"a removed writer's later statements count for nothing",
			[]Statement{add(kP, 1, kA, nil), remove(kP, 2, kA, clock(kA, 5), false), add(kA, 6, kB, clock(kP, 2))},
			map[sdk.FeedKey]Status{kP: member, kA: {Cut: 5}}},
		{"what a removed writer said before its cut still counts",
			[]Statement{add(kP, 1, kA, nil), add(kA, 3, kB, clock(kP, 2)), remove(kP, 2, kA, clock(kA, 5), false)},
			map[sdk.FeedKey]Status{kP: member, kA: {Cut: 5}, kB: member}},
		{"a removed writer can be authorized again",
			[]Statement{add(kP, 1, kA, nil), remove(kP, 2, kA, clock(kA, 5), false), add(kP, 3, kA, clock(kA, 5))},
			map[sdk.FeedKey]Status{kP: member, kA: member}},
		{"a writer can leave",
			[]Statement{add(kP, 1, kA, nil), remove(kA, 4, kA, clock(kP, 2), false)},
			map[sdk.FeedKey]Status{kP: member, kA: {Cut: 5}}},
		{"the primary can be removed by a writer it added",
			[]Statement{add(kP, 1, kA, nil), remove(kA, 1, kP, clock(kP, 2), false)},
			map[sdk.FeedKey]Status{kP: {Cut: 2}, kA: member}},
		{"two writers remove each other concurrently: the senior one wins",
			[]Statement{add(kP, 1, kA, nil), add(kP, 2, kB, nil),
				remove(kA, 1, kB, clock(kP, 3), false), remove(kB, 1, kA, clock(kP, 3), false)},
			map[sdk.FeedKey]Status{kP: member, kA: member, kB: {Cut: 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := members(Members(kP, tt.stmts))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// The same in any order of the statements.
			rng := rand.New(rand.NewPCG(1, uint64(len(tt.stmts))))
			for range 20 {
				shuffled := append([]Statement(nil), tt.stmts...)
				rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if diff := cmp.Diff(got, members(Members(kP, shuffled)), cmpopts.EquateEmpty()); diff != "" {
					t.Fatalf("order matters (-first +shuffled):\n%s", diff)
				}
			}
		})
	}
}

func TestMutualRemovalSeniority(t *testing.T) {
	member := Status{Member: true}
	// A, removed by the primary, claims not to have seen that and removes
	// the primary with a small clock that sorts first: seniority decides.
	got := Members(kP, []Statement{
		add(kP, 1, kA, nil), add(kP, 2, kB, nil),
		remove(kP, 3, kA, clock(kA, 3, kB, 100), false),
		remove(kA, 3, kP, clock(kP, 2), false),
	})
	want := map[sdk.FeedKey]Status{kP: member, kA: {Cut: 3}, kB: member}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
