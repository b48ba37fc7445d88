// Package vclock is the causal conflict resolver: a version of a path
// written with knowledge of another always beats it, and wall clocks
// only decide between versions written without knowledge of each other.
//
// Candidate Y knows candidate X when Y's vector clock says its author
// had seen X's entry: Y.Clock's length for X's writer is above X.Seq (or
// Y is a later entry of the same feed). The causally maximal candidates
// are those no other candidate of the set knows; the winner is the
// largest of them by wall clock, then writer key (compared as bytes),
// then sequence number, the order package
// github.com/codrive/codrive/conflict/mtime uses for all candidates.
//
// So an edit beats what its author had seen even when the author's wall
// clock is an hour behind, and a candidate stamped far in the future
// (the year 2100) never locks a path: any edit made after it was seen
// beats it. Wall clocks matter only between concurrent versions.
//
// Every peer picks the same winner from the same candidates, in any
// order. The drive layer writes hybrid-logical timestamps: a writer's
// wall clock never goes below the newest one it has seen, and stays
// within a bounded skew of real time. Along causality such clocks grow,
// so a candidate that knows another also has the newer clock, and the
// pairwise verdict is then the wall-clock order itself: a strict total
// order, transitive, and consistent with causality. Clocks that break
// that rule (a writer whose clock is behind, without the hybrid bump)
// can make pairwise verdicts cyclic, but each verdict is still
// deterministic and every set still gets a winner. Vector clocks that
// contradict each other (two candidates that each claim to know the
// other, a cycle) leave no causally maximal candidate; the winner is
// then the largest of the whole set.
//
// Concurrent lists the other candidates the winner does not know:
// versions that were not overwritten by the winner and that the union
// view keeps reachable as conflicts.
package vclock

import (
	"context"

	"github.com/codrive/codrive/conflict/internal/order"
	"github.com/codrive/codrive/sdk"
)

// Resolver is the causal resolver. It needs no configuration; the zero
// value is ready to use and safe for concurrent calls.
type Resolver struct{}

// New returns a causal resolver.
func New() sdk.Resolver { return Resolver{} }

// Resolve picks, in each set, the newest of the candidates that no other
// candidate knows. It fails with an error wrapping sdk.ErrInvalid if a
// set is empty, and with the context's error if ctx ends first.
func (Resolver) Resolve(ctx context.Context, sets [][]sdk.Candidate) ([]sdk.Resolution, error) {
	return order.Batch(ctx, "vclock", sets, maximal)
}

// maximal returns the index of the largest candidate that no other
// candidate knows. Rather than finding all maximal candidates first, it
// tries candidates from the largest down and stops at the first that
// nobody knows: with honest clocks that is the largest, so a set of n
// costs n-1 lookups instead of n(n-1).
func maximal(set []sdk.Candidate) int {
	top := largest(set, -1)
	for cur := top; cur >= 0; cur = largest(set, cur) {
		if !known(set, cur) {
			return cur
		}
	}
	// Every candidate is known by another: the clocks form a cycle,
	// which honest writers cannot produce. Fall back to the order alone.
	return top
}

// largest returns the index of the largest candidate below set[below]
// (or of all, if below is -1), or -1 if there is none. Copies of a
// candidate that is known are skipped with it: whoever knows one knows
// the other.
func largest(set []sdk.Candidate, below int) int {
	w := -1
	for j := range set {
		if below >= 0 && (j == below || order.Compare(&set[j], &set[below]) >= 0) {
			continue
		}
		if w < 0 || order.Compare(&set[j], &set[w]) > 0 {
			w = j
		}
	}
	return w
}

// known reports whether another candidate of the set knows set[i].
func known(set []sdk.Candidate, i int) bool {
	for j := range set {
		if j != i && order.Knows(&set[j], &set[i]) {
			return true
		}
	}
	return false
}
