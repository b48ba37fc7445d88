package feed

import (
	"fmt"

	"github.com/codrive/codrive/sdk"
)

// ForkEvidence proves that a feed's writer signed two incompatible
// histories under the same fork id: two proofs, each valid on its own,
// that authenticate different nodes at the same tree index. Anyone holding
// the feed key can check it with Verify, so every peer that sees it reaches
// the same verdict.
type ForkEvidence struct {
	// Index is the flat-tree index at which the two histories differ.
	Index uint64
	A, B  *Proof
}

// Verify checks that both proofs are valid for key, share a fork id and
// authenticate different nodes at e.Index.
func (e *ForkEvidence) Verify(key sdk.FeedKey) error {
	if e.A == nil || e.B == nil {
		return fmt.Errorf("%w: fork evidence needs two proofs", ErrBadProof)
	}
	if e.A.Head.Fork != e.B.Head.Fork {
		return fmt.Errorf("%w: proofs are of forks %d and %d, a legitimate truncation", ErrBadProof, e.A.Head.Fork, e.B.Head.Fork)
	}
	a, err := VerifyProof(key, e.A)
	if err != nil {
		return fmt.Errorf("first proof: %w", err)
	}
	b, err := VerifyProof(key, e.B)
	if err != nil {
		return fmt.Errorf("second proof: %w", err)
	}
	na, okA := findNode(a, e.Index)
	nb, okB := findNode(b, e.Index)
	if !okA || !okB {
		return fmt.Errorf("%w: node %d is not in both proofs", ErrBadProof, e.Index)
	}
	if na.Hash == nb.Hash {
		return fmt.Errorf("%w: both proofs agree on node %d", ErrBadProof, e.Index)
	}
	return nil
}

// findNode looks up index in nodes sorted by index.
func findNode(nodes []sdk.Node, index uint64) (sdk.Node, bool) {
	lo, hi := 0, len(nodes)
	for lo < hi {
		mid := (lo + hi) / 2
		if nodes[mid].Index < index {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(nodes) && nodes[lo].Index == index {
		return nodes[lo], true
	}
	return sdk.Node{}, false
}
