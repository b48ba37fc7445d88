package sdk

import "context"

// ClockEntry is one component of a vector clock: the length of a writer's
// feed that the author of an entry had seen.
type ClockEntry struct {
	Writer FeedKey
	Length uint64
}

// VectorClock lists, for every writer an entry's author had seen, how much
// of that writer's feed it had seen. Entries are sorted by writer key and a
// writer that is absent counts as length 0.
//
// A candidate's clock need not name its own writer: a writer has always
// seen its own earlier entries, which its sequence numbers order.
type VectorClock []ClockEntry

// Candidate is one writer's version of a path, as the union view sees it.
type Candidate struct {
	// Writer is the feed the version was written to, and Seq its index
	// there.
	Writer FeedKey
	Seq    uint64
	// WallClock is the writer's clock when it wrote the version, in
	// nanoseconds since the Unix epoch. It can be wrong or malicious.
	WallClock int64
	// Clock is the writer's vector clock when it wrote the version.
	Clock VectorClock
	// Tombstone marks a deletion.
	Tombstone bool
}

// Resolution is a resolver's verdict on one set of candidates.
type Resolution struct {
	// Winner is the index of the winning candidate.
	Winner int
	// Concurrent lists the indexes of the other candidates that were
	// concurrent with the winner, rather than overwritten by it: versions
	// that the union view keeps reachable as conflicts.
	Concurrent []int
}

// Resolver picks the winning version of a path among candidates from
// several writers.
//
// It must be deterministic (every peer gets the same answer from the same
// candidates, in any order), total (every non-empty set has a winner) and
// consistent (it never prefers a version over one written with knowledge
// of it). The package conformance/resolvertest checks these properties.
type Resolver interface {
	// Resolve decides many paths in one call: result i is the verdict on
	// sets[i]. Every set holds at least one candidate.
	Resolve(ctx context.Context, sets [][]Candidate) ([]Resolution, error)
}
