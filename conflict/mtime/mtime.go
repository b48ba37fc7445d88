// Package mtime is the last-writer-wins conflict resolver: of the
// versions of a path, the one with the newest wall clock wins.
//
// Candidates are ordered by wall clock, then by writer key (compared as
// bytes), then by sequence number; the largest wins. That is a strict
// total order on distinct feed entries whatever their clocks say, so
// every peer picks the same winner from the same candidates, in any
// order, and the pairwise verdicts are transitive.
//
// The wall clock is the author's word. The drive layer writes
// timestamps that never go below what the writer has already seen, and
// with them a later edit always has the newer clock; but a candidate
// stamped in the future (a clock set to the year 2100, or a malicious
// writer) wins against everything written before that time, including
// edits made with knowledge of it. Package
// github.com/codrive/codrive/conflict/vclock puts causality first and
// has no such failure.
//
// Concurrent lists the other candidates the winner had not seen (its
// vector clock does not cover them): versions that were not overwritten
// by the winner and that the union view keeps reachable as conflicts.
package mtime

import (
	"context"

	"github.com/codrive/codrive/conflict/internal/order"
	"github.com/codrive/codrive/sdk"
)

// Resolver is the last-writer-wins resolver. It needs no configuration;
// the zero value is ready to use and safe for concurrent calls.
type Resolver struct{}

// New returns a last-writer-wins resolver.
func New() sdk.Resolver { return Resolver{} }

// Resolve picks the candidate with the newest wall clock in each set.
// It fails with an error wrapping sdk.ErrInvalid if a set is empty, and
// with the context's error if ctx ends first.
func (Resolver) Resolve(ctx context.Context, sets [][]sdk.Candidate) ([]sdk.Resolution, error) {
	return order.Batch(ctx, "mtime", sets, newest)
}

// newest returns the index of the largest candidate. On a tie (copies
// of one entry) the first is kept: the same candidate by value.
func newest(set []sdk.Candidate) int {
	w := 0
	for j := 1; j < len(set); j++ {
		if order.Compare(&set[j], &set[w]) > 0 {
			w = j
		}
	}
	return w
}
