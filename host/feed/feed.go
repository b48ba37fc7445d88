// Package feed implements codrive's feeds: signed, append-only logs of
// blocks, each authenticated by a Merkle tree.
//
// A feed is named by an ed25519 public key. Its writer appends blocks in
// batches; each batch extends a BLAKE3 Merkle tree laid out in flat-tree
// order (package sdk/flattree) and ends with one signature over the fork
// id, the new length and the hash of the tree's roots. Any block, or any
// range of blocks, can then be proven to a reader with O(log n) nodes and
// that signature ([Feed.Proof], [VerifyProof]), so readers may hold any
// sparse subset of a feed and still check every byte ([Feed.Put]).
//
// If the writer ever signs two different histories under one fork id (for
// example after restoring its key on a second device), the first reader to
// see both keeps self-verifying [ForkEvidence] and stops accepting data for
// that feed. A deliberate [Feed.Truncate] is not a fork: it starts a new
// fork id.
//
// Feeds persist through an sdk.Storage and trust nothing it returns without
// checking: every block read is hashed against its leaf, and Open checks
// the stored head's signature.
package feed

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"slices"
	"sync"

	"github.com/codrive/codrive/host/bitfield"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
)

// Feed is one signed, append-only log. Its methods are safe for concurrent
// use; appends and ingestion are serialized, reads run in parallel.
type Feed struct {
	key    sdk.FeedKey
	dkey   sdk.DiscoveryKey
	secret ed25519.PrivateKey // nil when read-only
	st     sdk.Storage

	mu       sync.RWMutex
	head     sdk.Head
	roots    []sdk.Node // the roots at head.Length, which head signs
	present  bitfield.Bitfield
	evidence *ForkEvidence
	closed   bool
	changed  chan struct{} // closed and replaced whenever head or blocks change
}

// MaxLength bounds a feed's length, so that flat-tree indexes (twice a
// block index, and more for parents) never wrap around 2^64.
const MaxLength = 1 << 62

// Create makes a new, empty writable feed in st from an ed25519 private
// key.
func Create(ctx context.Context, st sdk.Storage, secret ed25519.PrivateKey) (*Feed, error) {
	if len(secret) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("create feed: secret key is %d bytes, want %d", len(secret), ed25519.PrivateKeySize)
	}
	var key sdk.FeedKey
	copy(key[:], secret.Public().(ed25519.PublicKey))
	err := st.Create(ctx, sdk.FeedHeader{Key: key, SecretKey: slices.Clone(secret)})
	if err != nil {
		return nil, fmt.Errorf("create feed %s: %w", key, err)
	}
	return &Feed{key: key, dkey: DiscoveryKey(key), secret: slices.Clone(secret), st: st}, nil
}

// CreateReader makes a new, empty read-only feed in st for a key, to be
// filled from peers with Put.
func CreateReader(ctx context.Context, st sdk.Storage, key sdk.FeedKey) (*Feed, error) {
	if err := st.Create(ctx, sdk.FeedHeader{Key: key}); err != nil {
		return nil, fmt.Errorf("create feed %s: %w", key, err)
	}
	return &Feed{key: key, dkey: DiscoveryKey(key), st: st}, nil
}

// Open loads a stored feed and checks its signed head against the stored
// roots. The feed is writable if the storage holds its secret key.
func Open(ctx context.Context, st sdk.Storage, key sdk.FeedKey) (*Feed, error) {
	state, err := st.Load(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("open feed %s: %w", key, err)
	}
	f := &Feed{key: key, dkey: DiscoveryKey(key), st: st, head: state.Head}
	if state.Header.Key != key {
		return nil, fmt.Errorf("open feed %s: %w: storage returned the header of %s", key, sdk.ErrCorrupt, state.Header.Key)
	}
	if len(state.Header.SecretKey) > 0 {
		secret := ed25519.PrivateKey(slices.Clone(state.Header.SecretKey))
		if len(secret) != ed25519.PrivateKeySize || !secret.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(key[:])) {
			return nil, fmt.Errorf("open feed %s: %w: stored secret key does not match the feed key", key, sdk.ErrCorrupt)
		}
		f.secret = secret
	}
	if f.head.Length > MaxLength {
		return nil, fmt.Errorf("open feed %s: %w: head of length %d", key, sdk.ErrCorrupt, f.head.Length)
	}
	// Blocks past the signed head are not covered by any signature (a
	// storage may keep a batch whose Write it reported as failed): they
	// are not served.
	for _, r := range state.Present {
		f.present.SetRange(r.Start, min(r.End, f.head.Length), true)
	}
	if f.head.Length > 0 {
		f.roots, err = f.readNodes(ctx, flattree.Roots(f.head.Length))
		if err != nil {
			return nil, fmt.Errorf("open feed %s: roots of head %d: %w", key, f.head.Length, err)
		}
		if !verifyHead(key, f.head, f.roots) {
			return nil, fmt.Errorf("open feed %s: %w: stored head of length %d is not signed by the feed key", key, sdk.ErrCorrupt, f.head.Length)
		}
	}
	if state.Evidence != nil {
		ev, err := DecodeEvidence(state.Evidence)
		if err == nil {
			err = ev.Verify(key)
		}
		if err != nil {
			return nil, fmt.Errorf("open feed %s: stored fork evidence: %w", key, err)
		}
		f.evidence = ev
	}
	return f, nil
}

// Key returns the feed's public key.
func (f *Feed) Key() sdk.FeedKey { return f.key }

// DiscoveryKey returns the feed's discovery key.
func (f *Feed) DiscoveryKey() sdk.DiscoveryKey { return f.dkey }

// Writable reports whether this host holds the feed's secret key.
func (f *Feed) Writable() bool { return f.secret != nil }

// Head returns the latest signed head held.
func (f *Feed) Head() sdk.Head {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.head
}

// Length returns the number of blocks the latest signed head covers, held
// locally or not.
func (f *Feed) Length() uint64 { return f.Head().Length }

// ByteLength returns the number of data bytes the latest head covers.
func (f *Feed) ByteLength() uint64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var n uint64
	for _, r := range f.roots {
		n += r.Size
	}
	return n
}

// Has reports whether every block in [start, end) is stored locally.
func (f *Feed) Has(start, end uint64) bool {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.present.HasRange(start, end)
}

// Present returns the locally stored blocks as sorted ranges.
func (f *Feed) Present() []sdk.Range {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.present.Ranges()
}

// Evidence returns the fork evidence recorded for this feed, or nil.
func (f *Feed) Evidence() *ForkEvidence {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.evidence
}

// Changed returns a channel that is closed at the next change of the
// feed's head or held blocks (an append, a truncation, a proof stored).
// To follow every change, take the next channel before reading the state
// that the last one announced:
//
//	ch := f.Changed()
//	for {
//		<-ch
//		ch = f.Changed()
//		use(f.Head(), f.Present())
//	}
//
// Replication uses it to tell peers about new data as soon as it is there.
func (f *Feed) Changed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changed == nil {
		f.changed = make(chan struct{})
	}
	return f.changed
}

// notify wakes everyone waiting on Changed; f.mu is held.
func (f *Feed) notify() {
	if f.changed != nil {
		close(f.changed)
		f.changed = nil
	}
}

// Close makes every later write through this handle (Append, Truncate,
// Put) fail with sdk.ErrClosed. The feed store closes handles it forgets
// or purges, so that two handles never append to one feed.
func (f *Feed) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed = true
	return nil
}

// checkOpen fails once the handle is closed; f.mu is held.
func (f *Feed) checkOpen() error {
	if f.closed {
		return fmt.Errorf("feed %s: handle %w", f.key, sdk.ErrClosed)
	}
	return nil
}

// Append adds blocks at the end of the feed, signs the new head once for
// the whole batch and writes everything to storage in one atomic batch. It
// returns the index of the first appended block.
func (f *Feed) Append(ctx context.Context, blocks ...[]byte) (uint64, error) {
	if f.secret == nil {
		return 0, fmt.Errorf("append to %s: %w", f.key, ErrReadOnly)
	}
	for i, b := range blocks {
		if len(b) > sdk.MaxBlockSize {
			return 0, fmt.Errorf("append to %s: block %d of the batch is %d bytes: %w (limit %d)", f.key, i, len(b), ErrTooLarge, sdk.MaxBlockSize)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkOpen(); err != nil {
		return 0, err
	}
	start := f.head.Length
	if len(blocks) == 0 {
		return start, nil
	}
	if uint64(len(blocks)) > MaxLength-start {
		return 0, fmt.Errorf("append to %s: %w: the feed would exceed %d blocks", f.key, sdk.ErrInvalid, uint64(MaxLength))
	}

	batch := &sdk.Batch{
		Blocks: make([]sdk.Block, len(blocks)),
		Nodes:  make([]sdk.Node, 0, 2*len(blocks)),
	}
	roots := slices.Grow(slices.Clone(f.roots), 2)
	h := hasherPool.Get().(*hasher)
	for k, leaf := range hashLeaves(start, blocks) {
		batch.Blocks[k] = sdk.Block{Index: start + uint64(k), Data: blocks[k]}
		roots, batch.Nodes = h.addLeaf(roots, leaf, batch.Nodes)
	}
	hasherPool.Put(h)
	length := start + uint64(len(blocks))
	head := signHead(f.secret, f.head.Fork, length, roots)
	batch.Head = &head

	if err := f.st.Write(ctx, f.key, batch); err != nil {
		return 0, fmt.Errorf("append to %s: %w", f.key, err)
	}
	f.head, f.roots = head, roots
	f.present.SetRange(start, length, true)
	f.notify()
	return start, nil
}

// Truncate cuts the feed to length blocks and signs the result under a new
// fork id, so readers can tell a truncation from a fork.
func (f *Feed) Truncate(ctx context.Context, length uint64) error {
	if f.secret == nil {
		return fmt.Errorf("truncate %s: %w", f.key, ErrReadOnly)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkOpen(); err != nil {
		return err
	}
	if length > f.head.Length {
		return fmt.Errorf("truncate %s to %d: %w: the feed has only %d blocks", f.key, length, sdk.ErrInvalid, f.head.Length)
	}
	// The new head signs the roots at length, read from storage: prove
	// them against the current head first, so a damaged node is never
	// signed.
	p, err := f.proof(ctx, 0, 0, flattree.Roots(length))
	if err != nil {
		return fmt.Errorf("truncate %s: %w", f.key, err)
	}
	nodes, err := VerifyProof(f.key, p)
	if err != nil {
		return fmt.Errorf("truncate %s: %w: stored nodes do not match the signed head: %v", f.key, sdk.ErrCorrupt, err)
	}
	var roots []sdk.Node
	for _, i := range flattree.Roots(length) {
		n, _ := findNode(nodes, i)
		roots = append(roots, n)
	}
	head := signHead(f.secret, f.head.Fork+1, length, roots)
	batch := &sdk.Batch{Truncate: true, TruncateTo: length, Head: &head}
	if err := f.st.Write(ctx, f.key, batch); err != nil {
		return fmt.Errorf("truncate %s: %w", f.key, err)
	}
	f.head, f.roots = head, roots
	f.present.SetRange(length, ^uint64(0), false)
	f.notify()
	return nil
}

// Get returns block i after checking it against its tree leaf.
func (f *Feed) Get(ctx context.Context, i uint64) ([]byte, error) {
	blocks, err := f.GetRange(ctx, i, i+1)
	if err != nil {
		return nil, err
	}
	return blocks[0], nil
}

// GetRange returns blocks [start, end), each checked against its tree
// leaf. It fails with ErrNotAvailable if any of them is not stored locally.
func (f *Feed) GetRange(ctx context.Context, start, end uint64) ([][]byte, error) {
	if end < start {
		return nil, fmt.Errorf("read %s [%d, %d): %w", f.key, start, end, sdk.ErrInvalid)
	}
	f.mu.RLock()
	defer f.mu.RUnlock()
	if missing, ok := f.present.NextClear(start); (ok && missing < end) || end > f.head.Length {
		if !ok || missing >= end {
			missing = f.head.Length
		}
		return nil, fmt.Errorf("read %s block %d: %w locally (length %d)", f.key, missing, ErrNotAvailable, f.head.Length)
	}
	if _, remote := f.st.(sdk.BlockStreamer); remote {
		return f.getStreamed(ctx, start, end)
	}
	blocks, err := f.st.ReadBlocks(ctx, f.key, start, end)
	if err != nil {
		return nil, fmt.Errorf("read %s [%d, %d): %w", f.key, start, end, err)
	}
	if err := f.checkLeaves(ctx, start, blocks); err != nil {
		return nil, err
	}
	return blocks, nil
}

// getStreamed reads from a storage that streams, overlapping the three
// parts of a checked read: the leaves are fetched while the blocks
// arrive, and each piece of blocks is hashed as soon as it is in. f.mu is
// held for reading.
func (f *Feed) getStreamed(ctx context.Context, start, end uint64) ([][]byte, error) {
	type nodesResult struct {
		nodes []sdk.Node
		err   error
	}
	stored := make(chan nodesResult, 1)
	go func() {
		nodes, err := f.readNodes(ctx, leafIndexes(start, end))
		stored <- nodesResult{nodes, err}
	}()
	blocks := make([][]byte, 0, end-start)
	leaves := make([]sdk.Node, 0, end-start)
	err := f.streamBlocks(ctx, start, end, func(first uint64, got [][]byte) error {
		blocks = append(blocks, got...)
		leaves = append(leaves, hashLeaves(first, got)...)
		return nil
	})
	want := <-stored
	if err != nil {
		return nil, fmt.Errorf("read %s [%d, %d): %w", f.key, start, end, err)
	}
	if want.err != nil {
		return nil, fmt.Errorf("read %s: leaves of [%d, %d): %w", f.key, start, end, want.err)
	}
	for k := range leaves {
		if leaves[k] != want.nodes[k] {
			return nil, fmt.Errorf("read %s block %d: %w: block does not match its tree leaf", f.key, start+uint64(k), sdk.ErrCorrupt)
		}
	}
	return blocks, nil
}

// streamChunk is how many blocks a storage that does not stream is asked
// for at a time, bounding memory on long reads.
const streamChunk = 4096

// streamBlocks delivers blocks [start, end) to fn in pieces: as the
// storage streams them if it can, else in reads of streamChunk blocks.
func (f *Feed) streamBlocks(ctx context.Context, start, end uint64, fn func(first uint64, blocks [][]byte) error) error {
	if bs, ok := f.st.(sdk.BlockStreamer); ok {
		return bs.StreamBlocks(ctx, f.key, start, end, fn)
	}
	for s := start; s < end; s += streamChunk {
		e := min(s+streamChunk, end)
		blocks, err := f.st.ReadBlocks(ctx, f.key, s, e)
		if err != nil {
			return err
		}
		if err := fn(s, blocks); err != nil {
			return err
		}
	}
	return nil
}

func leafIndexes(start, end uint64) []uint64 {
	idx := make([]uint64, end-start)
	for k := range idx {
		idx[k] = flattree.Leaf(start + uint64(k))
	}
	return idx
}

// checkLeaves hashes blocks from start and compares them with the stored
// leaves, which were authenticated when they were written.
func (f *Feed) checkLeaves(ctx context.Context, start uint64, blocks [][]byte) error {
	leaves, err := f.readNodes(ctx, leafIndexes(start, start+uint64(len(blocks))))
	if err != nil {
		return fmt.Errorf("read %s: leaves of [%d, %d): %w", f.key, start, start+uint64(len(blocks)), err)
	}
	h := hasherPool.Get().(*hasher)
	defer hasherPool.Put(h)
	for k, data := range blocks {
		if got := h.leafNode(start+uint64(k), data); got != leaves[k] {
			return fmt.Errorf("read %s block %d: %w: block does not match its tree leaf", f.key, start+uint64(k), sdk.ErrCorrupt)
		}
	}
	return nil
}

// readNodes reads exactly the nodes at idx, in order, failing with
// ErrNotAvailable if any is missing.
func (f *Feed) readNodes(ctx context.Context, idx []uint64) ([]sdk.Node, error) {
	if len(idx) == 0 {
		return nil, nil
	}
	nodes, err := f.st.ReadNodes(ctx, f.key, idx)
	if err != nil {
		return nil, err
	}
	if len(nodes) != len(idx) {
		for k := range idx {
			if k >= len(nodes) || nodes[k].Index != idx[k] {
				return nil, fmt.Errorf("tree node %d: %w", idx[k], ErrNotAvailable)
			}
		}
	}
	for k := range idx {
		if nodes[k].Index != idx[k] {
			return nil, fmt.Errorf("%w: storage returned node %d for %d", sdk.ErrCorrupt, nodes[k].Index, idx[k])
		}
	}
	return nodes, nil
}

// ProofRequest says what a proof must show.
type ProofRequest struct {
	// Start and End bound the blocks to include, [Start, End); equal
	// values ask for no blocks.
	Start, End uint64
	// UpgradeFrom is the length of the head the reader holds, if any and
	// shorter than ours. The proof then also shows the reader's roots, so
	// it can check that our head extends its own.
	UpgradeFrom uint64
}

// Proof returns a proof of the requested blocks against the latest head.
// It fails with ErrNotAvailable if a needed block or node is not stored
// locally.
func (f *Feed) Proof(ctx context.Context, req ProofRequest) (*Proof, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if req.End < req.Start || req.End > f.head.Length || req.End-req.Start > maxProofBlocks {
		return nil, fmt.Errorf("prove %s [%d, %d): %w: length is %d, at most %d blocks a proof", f.key, req.Start, req.End, sdk.ErrInvalid, f.head.Length, maxProofBlocks)
	}
	var show []uint64
	if req.UpgradeFrom > 0 && req.UpgradeFrom < f.head.Length {
		show = flattree.Roots(req.UpgradeFrom)
	}
	return f.proof(ctx, req.Start, req.End, show)
}

// proof builds a proof against the current head; f.mu must be held.
func (f *Feed) proof(ctx context.Context, start, end uint64, show []uint64) (*Proof, error) {
	p := &Proof{Head: f.head, Roots: slices.Clone(f.roots), Start: start}
	if end > start {
		if missing, ok := f.present.NextClear(start); ok && missing < end {
			return nil, fmt.Errorf("prove %s block %d: %w locally", f.key, missing, ErrNotAvailable)
		}
		blocks, err := f.st.ReadBlocks(ctx, f.key, start, end)
		if err != nil {
			return nil, fmt.Errorf("prove %s [%d, %d): %w", f.key, start, end, err)
		}
		p.Blocks = blocks
	}
	nodes, err := f.readNodes(ctx, proofNodes(f.head.Length, start, end, show))
	if err != nil {
		return nil, fmt.Errorf("prove %s [%d, %d): %w", f.key, start, end, err)
	}
	p.Nodes = nodes
	return p, nil
}

// Put verifies a proof from a peer and stores what it brings: its blocks,
// its nodes and, if longer, its head. Nothing is stored unless the whole
// proof verifies and agrees with everything already held.
//
// A proof of a later fork id (the writer truncated) replaces the local
// copy. A proof that contradicts local data under the same fork id is a
// fork: Put records the evidence and returns a *ForkError; from then on
// the feed refuses every proof. A proof against a head that can't be
// related to ours yet (an older one, or a longer one raced by another
// upgrade) fails with ErrStale: ask again.
//
// On a writable feed Put only checks the proof against local data, to
// detect a fork made with a copy of our key, and stores nothing.
func (f *Feed) Put(ctx context.Context, p *Proof) error {
	nodes, err := VerifyProof(f.key, p)
	if err != nil {
		return fmt.Errorf("put %s: %w", f.key, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.checkOpen(); err != nil {
		return err
	}
	if f.evidence != nil {
		return &ForkError{Key: f.key, Evidence: f.evidence}
	}
	if p.Head.Fork < f.head.Fork {
		return fmt.Errorf("put %s: %w: proof of fork %d, feed is at fork %d", f.key, ErrStale, p.Head.Fork, f.head.Fork)
	}
	if p.Head.Fork > f.head.Fork {
		if f.secret != nil {
			// Only a copy of our key could have signed a later fork. There
			// is no same-fork evidence to keep, but the data must not be
			// taken.
			return fmt.Errorf("put %s: %w: a peer holds fork %d signed with our key, we are at fork %d", f.key, ErrForked, p.Head.Fork, f.head.Fork)
		}
		return f.store(ctx, p, nodes, nil, true)
	}

	// Same fork: every authenticated node must agree with what we hold at
	// its index, our signed roots first.
	for _, r := range f.roots {
		if n, ok := findNode(nodes, r.Index); ok && n.Hash != r.Hash {
			return f.recordFork(ctx, p, r.Index)
		}
	}
	idx := make([]uint64, len(nodes))
	for k, n := range nodes {
		idx[k] = n.Index
	}
	have, err := f.st.ReadNodes(ctx, f.key, idx)
	if err != nil {
		return fmt.Errorf("put %s: %w", f.key, err)
	}
	stored := make(map[uint64]sdk.Node, len(have))
	for _, n := range have {
		stored[n.Index] = n
	}
	for _, n := range nodes {
		if s, ok := stored[n.Index]; ok && s.Hash != n.Hash {
			return f.recordFork(ctx, p, n.Index)
		}
	}

	switch {
	case p.Head.Length > f.head.Length:
		// The longer head must show our roots, or it could be of another
		// history that happens to agree on the blocks in the proof.
		for _, r := range f.roots {
			if _, ok := findNode(nodes, r.Index); !ok {
				return fmt.Errorf("put %s: %w: head %d does not show our roots at length %d; ask again with UpgradeFrom %d", f.key, ErrStale, p.Head.Length, f.head.Length, f.head.Length)
			}
		}
		if f.secret != nil {
			// A longer head under our fork id that we did not sign here:
			// another device appends with our key, and our next append
			// would fork the feed.
			return fmt.Errorf("put %s: %w: a peer holds length %d signed with our key, we are at %d", f.key, ErrForked, p.Head.Length, f.head.Length)
		}
	case p.Head.Length < f.head.Length:
		// An older head is only trusted if its roots are part of our tree.
		for _, r := range p.Roots {
			if _, ok := stored[r.Index]; !ok {
				return fmt.Errorf("put %s: %w: proof is against length %d, we hold %d", f.key, ErrStale, p.Head.Length, f.head.Length)
			}
		}
	}
	if f.secret != nil {
		return nil
	}
	return f.store(ctx, p, nodes, stored, p.Head.Length > f.head.Length)
}

// store writes what a checked proof brings that is not held yet; stored
// holds the nodes already in storage. A new fork starts from nothing,
// since data of the old fork may not belong to the new one. f.mu is held.
func (f *Feed) store(ctx context.Context, p *Proof, nodes []sdk.Node, stored map[uint64]sdk.Node, upgrade bool) error {
	newFork := p.Head.Fork > f.head.Fork
	batch := &sdk.Batch{}
	if newFork {
		batch.Truncate, batch.TruncateTo = true, 0
	}
	for k, data := range p.Blocks {
		i := p.Start + uint64(k)
		if newFork || !f.present.Get(i) {
			batch.Blocks = append(batch.Blocks, sdk.Block{Index: i, Data: data})
		}
	}
	for _, n := range nodes {
		if _, ok := stored[n.Index]; !ok {
			batch.Nodes = append(batch.Nodes, n)
		}
	}
	if upgrade || newFork {
		head := p.Head
		batch.Head = &head
	}
	if len(batch.Blocks) == 0 && len(batch.Nodes) == 0 && batch.Head == nil {
		return nil
	}
	if err := f.st.Write(ctx, f.key, batch); err != nil {
		return fmt.Errorf("put %s: %w", f.key, err)
	}
	if newFork {
		f.present = bitfield.Bitfield{}
	}
	for _, b := range batch.Blocks {
		f.present.Set(b.Index, true)
	}
	if batch.Head != nil {
		f.head, f.roots = p.Head, slices.Clone(p.Roots)
	}
	f.notify()
	return nil
}

// recordFork stores evidence that p and local data disagree at node index,
// and returns the ForkError. f.mu must be held.
func (f *Feed) recordFork(ctx context.Context, p *Proof, index uint64) error {
	local, err := f.proof(ctx, 0, 0, []uint64{index})
	if err != nil {
		return fmt.Errorf("put %s: the proof contradicts local node %d, but the local proof of it failed: %w", f.key, index, err)
	}
	ev := &ForkEvidence{Index: index, A: local, B: p}
	if err := ev.Verify(f.key); err != nil {
		// Only a bug can get here: both proofs verified and they differ.
		return fmt.Errorf("put %s: fork evidence does not verify: %w", f.key, err)
	}
	if err := f.st.Write(ctx, f.key, &sdk.Batch{Evidence: AppendEvidence(nil, ev)}); err != nil {
		return fmt.Errorf("put %s: record fork evidence: %w", f.key, err)
	}
	f.evidence = ev
	return &ForkError{Key: f.key, Evidence: ev}
}

// Verify checks everything stored for the feed: the head's signature over
// the roots, every stored block against its leaf and, where the feed is
// held whole, every stored node against the nodes rebuilt from the blocks.
// It reads the whole feed; on error it names the first bad block or node.
func (f *Feed) Verify(ctx context.Context) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.head.Length > 0 && !verifyHead(f.key, f.head, f.roots) {
		return fmt.Errorf("verify %s: %w: head is not signed by the feed key", f.key, sdk.ErrCorrupt)
	}
	if f.present.HasRange(0, f.head.Length) {
		return f.verifyWhole(ctx)
	}
	// A sparse replica: prove every held range from storage against the
	// signed head, which checks the blocks, their paths and the roots.
	const chunk = 4096
	for _, r := range f.present.Ranges() {
		for s := r.Start; s < r.End; s += chunk {
			e := min(s+chunk, r.End)
			p, err := f.proof(ctx, s, e, nil)
			if err == nil {
				_, err = VerifyProof(f.key, p)
			}
			if err != nil {
				return fmt.Errorf("verify %s [%d, %d): %w: %v", f.key, s, e, sdk.ErrCorrupt, err)
			}
		}
	}
	return nil
}

// verifyWhole rebuilds the whole tree from the blocks, compares every node
// with the stored one and the final roots with the signed ones. Blocks
// are hashed as they arrive while a second goroutine reads back and
// compares the nodes built so far, so reading, hashing and checking
// overlap.
func (f *Feed) verifyWhole(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	batches := make(chan []sdk.Node, 2)
	checked := make(chan error, 1)
	go func() { checked <- f.checkNodes(ctx, batches, cancel) }()

	const batchNodes = 2 * streamChunk
	var roots []sdk.Node
	built := make([]sdk.Node, 0, batchNodes+64)
	h := hasherPool.Get().(*hasher)
	defer hasherPool.Put(h)
	err := f.streamBlocks(ctx, 0, f.head.Length, func(first uint64, blocks [][]byte) error {
		for _, leaf := range hashLeaves(first, blocks) {
			roots, built = h.addLeaf(roots, leaf, built)
		}
		if len(built) >= batchNodes {
			batches <- built
			built = make([]sdk.Node, 0, batchNodes+64)
		}
		return nil
	})
	if err == nil && len(built) > 0 {
		batches <- built
	}
	close(batches)
	if cerr := <-checked; cerr != nil {
		return cerr // the first mismatch, which also stopped the reading
	}
	if err != nil {
		return fmt.Errorf("verify %s: %w", f.key, err)
	}
	if !slices.Equal(roots, f.roots) {
		return fmt.Errorf("verify %s: %w: blocks do not hash to the signed roots", f.key, sdk.ErrCorrupt)
	}
	return nil
}

// checkNodes compares each batch of rebuilt nodes with the stored ones.
// On the first difference it cancels the reading and keeps draining
// batches, so the sender never blocks.
func (f *Feed) checkNodes(ctx context.Context, batches <-chan []sdk.Node, cancel func()) error {
	var failed error
	for built := range batches {
		if failed != nil {
			continue
		}
		idx := make([]uint64, len(built))
		for k, n := range built {
			idx[k] = n.Index
		}
		stored, err := f.st.ReadNodes(ctx, f.key, idx)
		if err != nil {
			failed = fmt.Errorf("verify %s: %w", f.key, err)
		} else {
			failed = compareBuilt(f.key, built, stored)
		}
		if failed != nil {
			cancel()
		}
	}
	return failed
}

// compareBuilt names the first rebuilt node that is missing from, or
// differs from, what storage holds.
func compareBuilt(key sdk.FeedKey, built, stored []sdk.Node) error {
	for k := range built {
		if k >= len(stored) || stored[k].Index != built[k].Index {
			return fmt.Errorf("verify %s: %w: tree node %d is missing", key, sdk.ErrCorrupt, built[k].Index)
		}
		if stored[k] != built[k] {
			if built[k].Index%2 == 0 {
				return fmt.Errorf("verify %s: %w: block %d does not match its tree leaf", key, sdk.ErrCorrupt, built[k].Index/2)
			}
			return fmt.Errorf("verify %s: %w: tree node %d does not match its children", key, sdk.ErrCorrupt, built[k].Index)
		}
	}
	return nil
}
