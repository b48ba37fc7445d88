package sdk

import "context"

// MaxBlockSize is the largest block a feed accepts. It bounds what a
// decoder reading from a disk or a peer will allocate for one block.
const MaxBlockSize = 8 << 20

// Block is one entry of a feed's log.
type Block struct {
	Index uint64
	Data  []byte
}

// Node is one node of a feed's Merkle tree. Index is a flat-tree index (see
// package sdk/flattree): leaves sit at even indexes, 2*blockIndex, and
// parents at odd ones. Size is the number of data bytes under the node.
type Node struct {
	Index uint64
	Size  uint64
	Hash  Hash
}

// Head is a feed's signed state: the writer's signature over the fork id,
// the length and the hash of the tree's roots at that length. A feed with no
// signed data has the zero Head.
type Head struct {
	// Fork counts the truncations of the feed. Two heads with the same fork
	// id must describe the same history.
	Fork uint64
	// Length is the number of blocks the signature covers.
	Length uint64
	// Signature is made with the feed's secret key.
	Signature Signature
}

// Range is the half-open interval of block indexes [Start, End).
type Range struct {
	Start, End uint64
}

// Len returns End-Start.
func (r Range) Len() uint64 { return r.End - r.Start }

// FeedHeader is what a feed is created with. It never changes.
type FeedHeader struct {
	// Key is the feed's ed25519 public key.
	Key FeedKey
	// SecretKey is the ed25519 private key for a writable feed, nil for a
	// feed this host only reads. Implementations that persist it must keep
	// it readable by its owner only.
	SecretKey []byte
}

// FeedState is everything about a stored feed that is not blocks or nodes.
type FeedState struct {
	Header FeedHeader
	// Head is the latest signed head written with a Batch.
	Head Head
	// Present lists the stored blocks as sorted, disjoint, non-adjacent
	// ranges.
	Present []Range
	// Evidence is the last fork evidence written with a Batch, nil if none.
	// It is opaque to storage.
	Evidence []byte
}

// Batch is one atomic change to a feed. Its parts apply in this order:
// truncation, blocks, nodes, head, evidence. After a crash a storage holds
// either all of a batch or none of it.
type Batch struct {
	// Truncate, when set, first removes every block at index TruncateTo or
	// above and every node whose span reaches past TruncateTo (see
	// flattree.Span).
	Truncate   bool
	TruncateTo uint64
	// Blocks are stored, replacing any block at the same index.
	Blocks []Block
	// Nodes are stored, replacing any node at the same index.
	Nodes []Node
	// Head, if not nil, replaces the stored head.
	Head *Head
	// Evidence, if not nil, replaces the stored fork evidence.
	Evidence []byte
}

// Storage keeps many feeds. It stores what it is given: the host verifies
// every block, node and signature before writing it, and again when reading
// it back.
//
// Implementations must be safe for concurrent use. Writes to one feed are
// applied in the order they are called; the host never issues two
// concurrent writes to the same feed. A storage must not retain or modify
// slices passed to it after a call returns, and the slices it returns
// belong to the caller.
//
// Errors wrap ErrNotFound for a missing feed, block or node, ErrExists for
// a duplicate Create, ErrClosed after Close, ErrInvalid for arguments that
// break this contract and ErrCorrupt for stored data that fails its checks.
//
// The package conformance/storagetest checks an implementation against
// this contract.
type Storage interface {
	// Create stores a new, empty feed.
	Create(ctx context.Context, header FeedHeader) error
	// Feeds lists the keys of every stored feed, in no particular order.
	Feeds(ctx context.Context) ([]FeedKey, error)
	// Load returns a feed's header, head, present blocks and evidence.
	Load(ctx context.Context, key FeedKey) (*FeedState, error)
	// Write applies a batch atomically. It returns once the batch is as
	// durable as the storage's durability policy promises.
	Write(ctx context.Context, key FeedKey, batch *Batch) error
	// ReadBlocks returns the blocks at indexes [start, end), in order. If
	// any of them is not stored it fails with ErrNotFound.
	ReadBlocks(ctx context.Context, key FeedKey, start, end uint64) ([][]byte, error)
	// ReadNodes returns the stored nodes among the given flat-tree indexes,
	// in the order asked. Indexes with no stored node are skipped.
	ReadNodes(ctx context.Context, key FeedKey, indexes []uint64) ([]Node, error)
	// Delete removes a feed and frees the space it used.
	Delete(ctx context.Context, key FeedKey) error
	// Close releases the storage. Calls after Close fail with ErrClosed.
	Close() error
}

// BlockStreamer is implemented by storages that can deliver a range of
// blocks in pieces as they are read, such as a storage in another
// process. The host then hashes the first pieces while later ones are
// still on their way, instead of waiting for the whole range.
type BlockStreamer interface {
	// StreamBlocks calls fn with consecutive pieces of the blocks
	// [start, end), in order, each piece starting at index first. The
	// blocks belong to the caller. If fn returns an error, streaming stops
	// and StreamBlocks returns it. It fails like ReadBlocks if a block is
	// missing, possibly after some pieces were delivered.
	StreamBlocks(ctx context.Context, key FeedKey, start, end uint64, fn func(first uint64, blocks [][]byte) error) error
}
