package codrive

import (
	"bytes"
	"slices"

	"github.com/codrive/codrive/sdk"
)

// Statement is one entry of the writer set: Author, in the entry at Seq
// of its drive, added or removed Writer.
type Statement struct {
	Author sdk.FeedKey
	Seq    uint64
	// Clock is the entry's vector clock (the author's own component
	// implied by Seq).
	Clock  sdk.VectorClock
	Writer sdk.FeedKey
	Remove bool
	// Discard, on a removal, hides every file entry of the writer, not
	// only those after the cut.
	Discard bool
}

// Status is what the writer set says of one writer.
type Status struct {
	// Member is set for a current writer.
	Member bool
	// Cut is, for a removed writer, the length of its drive that its
	// remover had seen: its entries from Cut on are ignored.
	Cut uint64
	// Discard hides all of a removed writer's file entries.
	Discard bool
}

// standing is a Status while statements are taken: for a member, the
// statement that made it one (its own statements count only if they know
// that one), or that it is the primary.
type standing struct {
	Status
	addedBy sdk.FeedKey
	addedAt uint64
	primary bool
}

// seen returns how much of writer's drive the statement's author had
// seen: its clock's component, or, for its own drive, the entries before
// it.
func (s *Statement) seen(writer sdk.FeedKey) uint64 {
	if writer == s.Author {
		return s.Seq
	}
	for _, c := range s.Clock {
		if c.Writer == writer {
			return c.Length
		}
	}
	return 0
}

// rank is the sum of the statement's full vector clock: a statement that
// knows another has a larger rank (clocks are merged along causality), so
// ordering by rank, then author key and sequence, is a linear extension
// of causal order that every peer computes the same way.
func (s *Statement) rank() uint64 {
	r := s.Seq
	for _, c := range s.Clock {
		r += c.Length
	}
	return r
}

// Members works out the writer set of a co-drive from its primary writer
// and every writer-set statement found in its writers' drives, in any
// order. It is a pure function: every peer holding the same statements
// gets the same set.
//
// Statements are taken in causal order. One counts only if its author was
// a writer when making it: the primary from the start, any other writer
// once the statement knows the one that added it, and never from the cut
// of a removal on. A removal cuts its writer off at what the remover had
// seen of it; an addition makes a removed writer a member again. Of two
// writers that remove each other concurrently, the removal taken first
// (by rank, then key) wins, the same on every peer.
func Members(primary sdk.FeedKey, stmts []Statement) map[sdk.FeedKey]Status {
	order := slices.Clone(stmts)
	slices.SortFunc(order, func(a, b Statement) int {
		if ra, rb := a.rank(), b.rank(); ra != rb {
			if ra < rb {
				return -1
			}
			return 1
		}
		if c := bytes.Compare(a.Author[:], b.Author[:]); c != 0 {
			return c
		}
		switch {
		case a.Seq < b.Seq:
			return -1
		case a.Seq > b.Seq:
			return 1
		}
		return 0
	})
	set := map[sdk.FeedKey]standing{primary: {Status: Status{Member: true}, primary: true}}
	for i := range order {
		s := &order[i]
		if !valid(set, s) {
			continue
		}
		cur := set[s.Writer]
		switch {
		case !s.Remove && !cur.Member:
			set[s.Writer] = standing{Status: Status{Member: true}, addedBy: s.Author, addedAt: s.Seq}
		case s.Remove && cur.Member:
			set[s.Writer] = standing{Status: Status{Cut: s.seen(s.Writer), Discard: s.Discard}}
		case s.Remove && s.Discard:
			cur.Discard = true
			set[s.Writer] = cur
		}
	}
	out := make(map[sdk.FeedKey]Status, len(set))
	for k, st := range set {
		out[k] = st.Status
	}
	return out
}

// valid reports whether s's author was a writer when it made s.
func valid(set map[sdk.FeedKey]standing, s *Statement) bool {
	st, ok := set[s.Author]
	switch {
	case !ok:
		return false
	case !st.Member:
		// Removed. What it wrote before its cut, the remover had seen,
		// so it ranked lower and was taken before the removal; what is
		// left lies past the cut.
		return false
	case st.primary:
		return true
	}
	return st.addedBy == s.Author && st.addedAt < s.Seq || s.seen(st.addedBy) > st.addedAt
}
