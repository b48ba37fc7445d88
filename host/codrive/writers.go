package codrive

import (
	"bytes"
	"math"
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
	// since is the position in causal order of the statement that first
	// added the writer (-1 for the primary): its seniority.
	since int
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

// rank is the sum of the statement's full vector clock, saturating: a
// statement that knows another has a larger rank (clocks are merged along
// causality), so ordering by rank, then author key and sequence, is a
// linear extension of causal order that every peer computes the same way.
func (s *Statement) rank() uint64 {
	r := s.Seq
	for _, c := range s.Clock {
		if r+c.Length < r {
			return math.MaxUint64
		}
		r += c.Length
	}
	return r
}

// knows reports whether s was made after seeing t.
func (s *Statement) knows(t *Statement) bool { return s.seen(t.Author) > t.Seq }

// Members works out the writer set of a co-drive from its primary writer
// and every writer-set statement found in its writers' drives, in any
// order. It is a pure function: every peer holding the same statements
// gets the same set.
//
// Statements are taken in causal order. One counts only if its author was
// a writer when making it: the primary from the start, any other writer
// once the statement knows the one that added it, and never from the cut
// of a removal on, whatever the statement's clock claims: a statement of
// a removed writer at or past its cut is struck out and the set worked out
// again. A removal cuts its writer off at what the remover had seen of it;
// an addition makes a removed writer a member again. Of two writers that
// remove each other concurrently, the senior one wins (the primary, then
// the one added first), so a writer cannot escape its removal by claiming
// it had not seen it.
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
	struck := make([]bool, len(order))
	for {
		set, counted := evaluate(primary, order, struck)
		if !strike(order, set, counted, struck) {
			out := make(map[sdk.FeedKey]Status, len(set))
			for k, st := range set {
				out[k] = st.Status
			}
			return out
		}
	}
}

// evaluate takes the statements not struck out, in order, and returns the
// resulting set and which statements counted.
func evaluate(primary sdk.FeedKey, order []Statement, struck []bool) (map[sdk.FeedKey]standing, []bool) {
	set := map[sdk.FeedKey]standing{primary: {Status: Status{Member: true}, primary: true, since: -1}}
	counted := make([]bool, len(order))
	for i := range order {
		s := &order[i]
		if struck[i] || !valid(set, s) {
			continue
		}
		counted[i] = true
		cur, known := set[s.Writer]
		switch {
		case !s.Remove && !cur.Member:
			since := i
			if known {
				since = cur.since
			}
			set[s.Writer] = standing{Status: Status{Member: true}, addedBy: s.Author, addedAt: s.Seq, since: since}
		case s.Remove && cur.Member:
			cut := s.seen(s.Writer)
			if s.Writer == s.Author {
				cut = s.Seq + 1 // leaving: the statement itself still counts
			}
			set[s.Writer] = standing{Status: Status{Cut: cut, Discard: s.Discard}, since: cur.since}
		case s.Remove && s.Discard:
			cur.Discard = true
			set[s.Writer] = cur
		}
	}
	return set, counted
}

// strike marks statements that must not count and reports whether it
// marked any: first the junior side of a concurrent mutual removal (which
// decides who is removed at all), then a removed writer's statements at
// or past its cut.
func strike(order []Statement, set map[sdk.FeedKey]standing, counted, struck []bool) bool {
	for i := range order {
		s := &order[i]
		if !counted[i] || !s.Remove {
			continue
		}
		for j := range order {
			t := &order[j]
			if struck[j] || counted[j] || !t.Remove || t.Author != s.Writer || t.Writer != s.Author || s.knows(t) || t.knows(s) {
				continue
			}
			// s's author removed t's author while t's author removed it:
			// seniority decides, not which came first.
			if senior(set, t.Author, s.Author) {
				struck[i] = true
				return true
			}
		}
	}
	changed := false
	for i := range order {
		s := &order[i]
		if st := set[s.Author]; counted[i] && !st.Member && s.Seq >= st.Cut {
			struck[i], changed = true, true
		}
	}
	return changed
}

// senior reports whether writer a joined before writer b: the primary
// first, then by the position of the statement that first added them.
func senior(set map[sdk.FeedKey]standing, a, b sdk.FeedKey) bool {
	sa, sb := set[a], set[b]
	if sa.since != sb.since {
		return sa.since < sb.since
	}
	return bytes.Compare(a[:], b[:]) < 0
}

// valid reports whether s's author was a writer when it made s.
func valid(set map[sdk.FeedKey]standing, s *Statement) bool {
	st, ok := set[s.Author]
	switch {
	case !ok:
		return false
	case !st.Member:
		// Removed: what it said before its cut was taken before the
		// removal (the remover had seen it); what comes after does not
		// count.
		return false
	case st.primary:
		return true
	}
	return st.addedBy == s.Author && st.addedAt < s.Seq || s.seen(st.addedBy) > st.addedAt
}
