package disk

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// quiet keeps the recovery warnings that tests provoke on purpose out of
// the test output.
var quiet = Options{Logger: slog.New(slog.DiscardHandler)}

func open(t testing.TB, dir string) *Storage {
	t.Helper()
	s, err := Open(dir, quiet)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func closeStorage(t testing.TB, s *Storage) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func testKey(n byte) sdk.FeedKey {
	var k sdk.FeedKey
	for i := range k {
		k[i] = n + byte(i)
	}
	return k
}

func testSecret(n byte) []byte {
	s := make([]byte, sdk.SecretKeySize)
	for i := range s {
		s[i] = n ^ byte(i)
	}
	return s
}

// blockData is the deterministic content of block i, salted so that
// rewrites of the same index differ.
func blockData(i uint64, size int, salt byte) []byte {
	b := make([]byte, size)
	for k := range b {
		b[k] = byte(i) ^ byte(i>>8) ^ byte(k) ^ salt
	}
	return b
}

func testHash(i uint64, salt byte) sdk.Hash {
	var h sdk.Hash
	binary.LittleEndian.PutUint64(h[:], i)
	h[31] = salt
	return h
}

func testSig(n uint64) sdk.Signature {
	var s sdk.Signature
	binary.LittleEndian.PutUint64(s[:], n)
	s[63] = 0xa5
	return s
}

// blocksBatch returns a batch appending blocks [start, end) of the given
// size, their leaves and a head at end.
func blocksBatch(start, end uint64, size int, salt byte) *sdk.Batch {
	b := &sdk.Batch{Head: &sdk.Head{Length: end, Signature: testSig(end)}}
	for i := start; i < end; i++ {
		b.Blocks = append(b.Blocks, sdk.Block{Index: i, Data: blockData(i, size, salt)})
		b.Nodes = append(b.Nodes, sdk.Node{Index: flattree.Leaf(i), Size: uint64(size), Hash: testHash(i, salt)})
	}
	return b
}

// model is the obviously correct reference that the storage is compared
// with.
type model struct {
	header   sdk.FeedHeader
	blocks   map[uint64][]byte
	nodes    map[uint64]sdk.Node
	head     sdk.Head
	evidence []byte
}

func newModel(h sdk.FeedHeader) *model {
	return &model{header: h, blocks: map[uint64][]byte{}, nodes: map[uint64]sdk.Node{}}
}

func (m *model) apply(b *sdk.Batch) {
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
		m.blocks[blk.Index] = slices.Clone(blk.Data)
	}
	for _, n := range b.Nodes {
		m.nodes[n.Index] = n
	}
	if b.Head != nil {
		m.head = *b.Head
	}
	if b.Evidence != nil {
		m.evidence = slices.Clone(b.Evidence)
	}
}

func (m *model) present() []sdk.Range {
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

// check compares everything the storage holds for the model's feed with
// the model.
func (m *model) check(t testing.TB, s *Storage) {
	t.Helper()
	ctx := context.Background()
	key := m.header.Key
	st, err := s.Load(ctx, key)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &sdk.FeedState{Header: m.header, Head: m.head, Present: m.present(), Evidence: m.evidence}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Fatalf("Load mismatch (-want +got):\n%s", diff)
	}
	for _, r := range st.Present {
		got, err := s.ReadBlocks(ctx, key, r.Start, r.End)
		if err != nil {
			t.Fatalf("ReadBlocks(%d, %d): %v", r.Start, r.End, err)
		}
		for k, data := range got {
			if i := r.Start + uint64(k); !slices.Equal(data, m.blocks[i]) {
				t.Fatalf("block %d = %q, want %q", i, data, m.blocks[i])
			}
		}
		if _, err := s.ReadBlocks(ctx, key, r.Start, r.End+1); !errors.Is(err, sdk.ErrNotFound) {
			t.Fatalf("ReadBlocks(%d, %d) past a present range: err = %v, want ErrNotFound", r.Start, r.End+1, err)
		}
	}
	// Ask for every stored node and, in between, absent ones.
	var indexes []uint64
	var wantNodes []sdk.Node
	for _, i := range slices.Sorted(maps.Keys(m.nodes)) {
		indexes = append(indexes, i, i+1000003)
		wantNodes = append(wantNodes, m.nodes[i])
		if n, ok := m.nodes[i+1000003]; ok {
			wantNodes = append(wantNodes, n)
		}
	}
	nodes, err := s.ReadNodes(ctx, key, indexes)
	if err != nil {
		t.Fatalf("ReadNodes: %v", err)
	}
	if diff := cmp.Diff(wantNodes, nodes, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("ReadNodes mismatch (-want +got):\n%s", diff)
	}
}
