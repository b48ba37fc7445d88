package feed

import (
	"errors"
	"fmt"

	"github.com/codrive/codrive/sdk"
)

var (
	// ErrReadOnly: the feed's secret key is not held here, so it can't be
	// appended to or truncated.
	ErrReadOnly = errors.New("feed is read-only: this host does not hold its secret key")
	// ErrNotAvailable: a block is not stored locally.
	ErrNotAvailable = errors.New("not available")
	// ErrBadProof: a proof is malformed or does not hash up to its roots.
	ErrBadProof = errors.New("bad proof")
	// ErrBadSignature: a head's signature does not verify under the key.
	ErrBadSignature = errors.New("bad signature")
	// ErrStale: a proof is made against an older state than the one held
	// here and can't be checked against it.
	ErrStale = errors.New("stale proof")
	// ErrForked: the writer signed two different histories under one fork
	// id. The feed keeps the evidence and accepts nothing more from peers.
	ErrForked = errors.New("feed forked by its writer")
	// ErrTooLarge: a block is larger than sdk.MaxBlockSize.
	ErrTooLarge = errors.New("block too large")
)

// ForkError reports a detected fork with its evidence. It matches ErrForked
// with errors.Is.
type ForkError struct {
	Key      sdk.FeedKey
	Evidence *ForkEvidence
}

func (e *ForkError) Error() string {
	return fmt.Sprintf("feed %s forked by its writer: two signed versions of tree node %d at fork %d",
		e.Key, e.Evidence.Index, e.Evidence.A.Head.Fork)
}

// Is makes errors.Is(err, ErrForked) true for a ForkError.
func (e *ForkError) Is(target error) bool { return target == ErrForked }
