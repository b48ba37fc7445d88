package storagetest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"maps"
	"math/rand/v2"
	"slices"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// feedModel is what a storage must hold for one feed after a sequence of
// batches: the contract, written as plainly as possible.
type feedModel struct {
	header   sdk.FeedHeader
	head     sdk.Head
	evidence []byte
	blocks   map[uint64][]byte
	nodes    map[uint64]sdk.Node
	// written holds every node index ever written, so that checks also ask
	// for nodes that truncation removed.
	written map[uint64]bool
}

func newFeedModel(h sdk.FeedHeader) *feedModel {
	return &feedModel{
		header:  sdk.FeedHeader{Key: h.Key, SecretKey: bytes.Clone(h.SecretKey)},
		blocks:  make(map[uint64][]byte),
		nodes:   make(map[uint64]sdk.Node),
		written: make(map[uint64]bool),
	}
}

// apply applies b as the contract says: truncation, blocks, nodes, head,
// evidence.
func (m *feedModel) apply(b *sdk.Batch) {
	if b.Truncate {
		for i := range m.blocks {
			if i >= b.TruncateTo {
				delete(m.blocks, i)
			}
		}
		for i := range m.nodes {
			if _, end := flattree.Span(i); end > b.TruncateTo {
				delete(m.nodes, i)
			}
		}
	}
	for _, blk := range b.Blocks {
		m.blocks[blk.Index] = bytes.Clone(blk.Data)
	}
	for _, n := range b.Nodes {
		m.nodes[n.Index] = n
		m.written[n.Index] = true
	}
	if b.Head != nil {
		m.head = *b.Head
	}
	if b.Evidence != nil {
		m.evidence = bytes.Clone(b.Evidence)
	}
}

// present returns the stored block indexes as sorted, disjoint,
// non-adjacent ranges.
func (m *feedModel) present() []sdk.Range {
	var rs []sdk.Range
	for _, i := range slices.Sorted(maps.Keys(m.blocks)) {
		if n := len(rs); n > 0 && rs[n-1].End == i {
			rs[n-1].End++
		} else {
			rs = append(rs, sdk.Range{Start: i, End: i + 1})
		}
	}
	return rs
}

// state returns what Load must return.
func (m *feedModel) state() sdk.FeedState {
	return sdk.FeedState{Header: m.header, Head: m.head, Present: m.present(), Evidence: m.evidence}
}

// equateEmpty makes nil and empty slices equal: the contract does not tell
// them apart.
var equateEmpty = cmpopts.EquateEmpty()

// maxHoleRead bounds the reads across a hole that check makes, so that a
// storage which sizes its answer before it finds the hole is not asked for
// terabytes.
const maxHoleRead = 1 << 16

// check compares everything the storage holds for m's feed with m: the
// state Load returns, every present block, reads that reach a missing
// block, and every node index ever written.
func (e *env) check(m *feedModel) {
	e.t.Helper()
	key := m.header.Key
	if diff := cmp.Diff(m.state(), *e.load(key), equateEmpty); diff != "" {
		e.t.Errorf("Load(%s) (-want +got):\n%s", key, diff)
	}
	present := m.present()
	for i, r := range present {
		e.checkBlocks(m, r.Start, r.End)
		e.wantNotFound(key, r.End, r.End+1)
		if r.Start > 0 {
			e.wantNotFound(key, r.Start-1, r.Start)
		}
		if i > 0 && r.End-present[i-1].Start <= maxHoleRead {
			e.wantNotFound(key, present[i-1].Start, r.End)
		}
	}
	if len(present) == 0 {
		e.wantNotFound(key, 0, 1)
	}
	asked := slices.Sorted(maps.Keys(m.written))
	var want []sdk.Node
	for _, i := range asked {
		if n, ok := m.nodes[i]; ok {
			want = append(want, n)
		}
	}
	// Diffing thousands of nodes is slow: diff only when they differ.
	if got := e.readNodes(key, asked); !slices.Equal(want, got) {
		e.t.Errorf("ReadNodes(%s, every node written) (-want +got):\n%s", key, cmp.Diff(want, got, equateEmpty))
	}
}

// checkBlocks reads blocks [start, end), all of which m holds, and
// compares them with m.
func (e *env) checkBlocks(m *feedModel, start, end uint64) {
	e.t.Helper()
	want := make([][]byte, 0, end-start)
	for i := start; i < end; i++ {
		want = append(want, m.blocks[i])
	}
	e.compareBlocks(start, want, e.readBlocks(m.header.Key, start, end))
}

// compareBlocks reports where got, read from index start, differs from
// want. It compares bytes rather than diffing, since blocks can be large.
func (e *env) compareBlocks(start uint64, want, got [][]byte) {
	e.t.Helper()
	if len(got) != len(want) {
		e.t.Errorf("ReadBlocks(%d, %d) returned %d blocks, want %d", start, start+uint64(len(want)), len(got), len(want))
		return
	}
	const maxReports = 5
	reports := 0
	for k := range want {
		if bytes.Equal(got[k], want[k]) {
			continue
		}
		e.t.Errorf("block %d: got %d bytes %.16x..., want %d bytes %.16x...", start+uint64(k), len(got[k]), got[k], len(want[k]), want[k])
		if reports++; reports == maxReports {
			e.t.Errorf("more blocks may differ")
			return
		}
	}
}

// wantNotFound checks that reading [start, end) fails with ErrNotFound.
func (e *env) wantNotFound(key sdk.FeedKey, start, end uint64) {
	e.t.Helper()
	if _, err := e.s.ReadBlocks(e.ctx, key, start, end); !errors.Is(err, sdk.ErrNotFound) {
		e.t.Errorf("ReadBlocks(%d, %d) error = %v, want ErrNotFound", start, end, err)
	}
}

// checkFeeds checks that the storage lists exactly the feeds in models and
// holds what each model says.
func (e *env) checkFeeds(models map[sdk.FeedKey]*feedModel) {
	e.t.Helper()
	e.checkKeys(slices.Collect(maps.Keys(models)))
	for _, key := range slices.SortedFunc(maps.Keys(models), compareKeys) {
		e.check(models[key])
	}
}

// checkKeys checks that Feeds lists want, in any order.
func (e *env) checkKeys(want []sdk.FeedKey) {
	e.t.Helper()
	got, err := e.s.Feeds(e.ctx)
	if err != nil {
		e.t.Fatalf("Feeds: %v", err)
	}
	sortKeys := cmpopts.SortSlices(func(a, b sdk.FeedKey) bool { return compareKeys(a, b) < 0 })
	if diff := cmp.Diff(want, got, sortKeys, equateEmpty); diff != "" {
		e.t.Errorf("Feeds (-want +got):\n%s", diff)
	}
}

func compareKeys(a, b sdk.FeedKey) int { return bytes.Compare(a[:], b[:]) }

// The functions below make test data. Everything is derived from small
// numbers, so that a value read from the wrong place or the wrong
// generation shows.

// header returns the header of test feed n, with an ed25519 key pair
// derived from n. A writable feed carries its secret key.
func header(n uint64, writable bool) sdk.FeedHeader {
	seed := make([]byte, ed25519.SeedSize)
	binary.LittleEndian.PutUint64(seed, n)
	secret := ed25519.NewKeyFromSeed(seed)
	h := sdk.FeedHeader{Key: sdk.FeedKey(secret.Public().(ed25519.PublicKey))}
	if writable {
		h.SecretKey = secret
	}
	return h
}

// blockData returns size pseudo-random bytes drawn from the block's index
// and generation.
func blockData(index, gen uint64, size int) []byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], index)
	binary.LittleEndian.PutUint64(seed[8:], gen)
	d := make([]byte, size)
	rand.NewChaCha8(seed).Read(d)
	return d
}

// blocks returns blocks [start, end) of generation gen, size bytes each.
func blocks(start, end, gen uint64, size int) []sdk.Block {
	out := make([]sdk.Block, 0, end-start)
	for i := start; i < end; i++ {
		out = append(out, sdk.Block{Index: i, Data: blockData(i, gen, size)})
	}
	return out
}

// node returns the node at flat index i in generation gen.
func node(i, gen uint64) sdk.Node {
	n := sdk.Node{Index: i, Size: i<<8 | gen}
	binary.LittleEndian.PutUint64(n.Hash[:], i)
	binary.LittleEndian.PutUint64(n.Hash[8:], gen)
	n.Hash[31] = 0xAA
	return n
}

// nodes returns the nodes at flat indexes [start, end) in generation gen.
func nodes(start, end, gen uint64) []sdk.Node {
	out := make([]sdk.Node, 0, end-start)
	for i := start; i < end; i++ {
		out = append(out, node(i, gen))
	}
	return out
}

// nodesAt returns the nodes at the given flat indexes in generation gen.
func nodesAt(gen uint64, indexes ...uint64) []sdk.Node {
	out := make([]sdk.Node, 0, len(indexes))
	for _, i := range indexes {
		out = append(out, node(i, gen))
	}
	return out
}

// head returns a head whose signature differs with fork and length.
func head(fork, length uint64) *sdk.Head {
	h := &sdk.Head{Fork: fork, Length: length}
	binary.LittleEndian.PutUint64(h.Signature[:], fork)
	binary.LittleEndian.PutUint64(h.Signature[8:], length)
	h.Signature[63] = 0x55
	return h
}
