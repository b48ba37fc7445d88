package sdk

import "errors"

// Errors that implementations return (wrapped, with context) so that the
// host can tell the cases apart with errors.Is, in-process or across a
// plugin boundary.
var (
	// ErrNotFound: the feed, block or node asked for is not stored.
	ErrNotFound = errors.New("not found")
	// ErrExists: a feed with that key is already stored.
	ErrExists = errors.New("already exists")
	// ErrClosed: the storage, transport or listener has been closed.
	ErrClosed = errors.New("closed")
	// ErrInvalid: the call's arguments break the contract (a nil batch, a
	// block over MaxBlockSize, a range with end < start, ...).
	ErrInvalid = errors.New("invalid argument")
	// ErrCorrupt: stored data failed its integrity check.
	ErrCorrupt = errors.New("corrupt data")
)
