package storagetest

import (
	"errors"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/google/go-cmp/cmp"
)

// The tests in this file cover what a batch writes and how it reads back:
// blocks, present ranges, nodes, head and evidence.

func testWriteRead(t *testing.T, h Harness) {
	e := newEnv(t, h)
	hd := header(1, true)
	e.create(hd)
	batch := &sdk.Batch{
		Blocks:   blocks(0, 4, 1, 1000),
		Nodes:    nodes(0, 7, 1),
		Head:     head(0, 4),
		Evidence: []byte("fork evidence"),
	}
	if err := e.s.Write(e.ctx, hd.Key, batch); err != nil {
		t.Fatalf("Write: %v", err)
	}

	// Once Write returns, all of the batch shows.
	want := sdk.FeedState{
		Header:   hd,
		Head:     *head(0, 4),
		Present:  []sdk.Range{{Start: 0, End: 4}},
		Evidence: []byte("fork evidence"),
	}
	if diff := cmp.Diff(want, *e.load(hd.Key), equateEmpty); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
	var wantBlocks [][]byte
	for _, b := range batch.Blocks {
		wantBlocks = append(wantBlocks, b.Data)
	}
	e.compareBlocks(0, wantBlocks, e.readBlocks(hd.Key, 0, 4))
	if diff := cmp.Diff(batch.Nodes, e.readNodes(hd.Key, []uint64{0, 1, 2, 3, 4, 5, 6})); diff != "" {
		t.Errorf("ReadNodes (-want +got):\n%s", diff)
	}
}

func testReadBlocksRanges(t *testing.T, h Harness) {
	e := newEnv(t, h)
	m := e.create(header(1, true))
	e.write(m, &sdk.Batch{Blocks: blocks(0, 10, 1, 100)})
	e.write(m, &sdk.Batch{Blocks: blocks(20, 25, 1, 100)})

	tests := []struct {
		name       string
		start, end uint64
		wantErr    error // nil: blocks [start, end) of the model
	}{
		{"Full", 0, 10, nil},
		{"SubRange", 3, 7, nil},
		{"Single", 9, 10, nil},
		{"SecondRange", 20, 25, nil},
		{"EmptyAtStart", 0, 0, nil},
		{"EmptyAtEnd", 10, 10, nil},
		{"EmptyInHole", 15, 15, nil},
		{"EmptyFarAway", 1 << 40, 1 << 40, nil},
		{"EndBeforeStart", 7, 3, sdk.ErrInvalid},
		{"EndBeforeStartAtZero", 1, 0, sdk.ErrInvalid},
		{"PastEnd", 5, 11, sdk.ErrNotFound},
		{"AcrossHole", 8, 22, sdk.ErrNotFound},
		{"InHole", 10, 20, sdk.ErrNotFound},
		{"FromHole", 19, 21, sdk.ErrNotFound},
		{"AfterLast", 25, 26, sdk.ErrNotFound},
		{"FarAway", 1 << 40, 1<<40 + 1, sdk.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.s.ReadBlocks(e.ctx, m.header.Key, tt.start, tt.end)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Errorf("ReadBlocks(%d, %d) error = %v, want %v", tt.start, tt.end, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadBlocks(%d, %d): %v", tt.start, tt.end, err)
			}
			var want [][]byte
			for i := tt.start; i < tt.end; i++ {
				want = append(want, m.blocks[i])
			}
			e.compareBlocks(tt.start, want, got)
		})
	}
}

func testZeroLengthBlocks(t *testing.T, h Harness) {
	e := newEnv(t, h)
	m := e.create(header(1, true))
	e.write(m, &sdk.Batch{Blocks: []sdk.Block{
		{Index: 0, Data: nil},
		{Index: 1, Data: []byte{}},
		{Index: 2, Data: []byte("x")},
		{Index: 3, Data: []byte{}},
	}})
	if diff := cmp.Diff([]sdk.Range{{Start: 0, End: 4}}, e.load(m.header.Key).Present); diff != "" {
		t.Errorf("Present (-want +got):\n%s", diff)
	}
	e.check(m)
}

func testMaxBlockSize(t *testing.T, h Harness) {
	e := newEnv(t, h)
	m := e.create(header(1, true))
	e.write(m, &sdk.Batch{Blocks: []sdk.Block{{Index: 0, Data: blockData(0, 1, sdk.MaxBlockSize)}}, Head: head(0, 1)})
	e.check(m)
}

// testInvalidArguments checks that calls breaking the contract fail with
// ErrInvalid, and that a rejected batch leaves nothing behind.
func testInvalidArguments(t *testing.T, h Harness) {
	e := newEnv(t, h)
	m := e.create(header(1, true))
	e.write(m, &sdk.Batch{Blocks: blocks(0, 10, 1, 100), Nodes: nodes(0, 19, 1), Head: head(0, 10)})
	key := m.header.Key

	tests := []struct {
		name string
		call func() error
	}{
		{"NilBatch", func() error { return e.s.Write(e.ctx, key, nil) }},
		{"OversizedBlock", func() error {
			return e.s.Write(e.ctx, key, &sdk.Batch{
				Truncate:   true,
				TruncateTo: 5,
				Blocks: []sdk.Block{
					{Index: 5, Data: blockData(5, 2, 100)},
					{Index: 6, Data: make([]byte, sdk.MaxBlockSize+1)},
				},
				Nodes:    nodesAt(2, 10),
				Head:     head(1, 7),
				Evidence: []byte("evidence"),
			})
		}},
		{"ReadBlocksEndBeforeStart", func() error {
			_, err := e.s.ReadBlocks(e.ctx, key, 5, 4)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, sdk.ErrInvalid) {
				t.Errorf("error = %v, want ErrInvalid", err)
			}
			e.check(m)
		})
	}
}

func testSparsePresent(t *testing.T, h Harness) {
	// span returns the indexes [start, end).
	span := func(start, end uint64) []uint64 {
		var out []uint64
		for i := start; i < end; i++ {
			out = append(out, i)
		}
		return out
	}
	cat := func(parts ...[]uint64) []uint64 {
		var out []uint64
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	const far = 1 << 40
	tests := []struct {
		name    string
		batches [][]uint64 // the block indexes each batch writes, in order
		want    []sdk.Range
	}{
		{"FarBlock", [][]uint64{{far}}, []sdk.Range{{Start: far, End: far + 1}}},
		{"ReaderWindow", [][]uint64{span(5_000_000, 5_000_011)}, []sdk.Range{{Start: 5_000_000, End: 5_000_011}}},
		{"AdjacentAfter", [][]uint64{span(10, 20), span(20, 30)}, []sdk.Range{{Start: 10, End: 30}}},
		{"AdjacentBefore", [][]uint64{span(20, 30), span(10, 20)}, []sdk.Range{{Start: 10, End: 30}}},
		{"Overlapping", [][]uint64{span(10, 20), span(15, 25)}, []sdk.Range{{Start: 10, End: 25}}},
		{"Contained", [][]uint64{span(10, 30), span(15, 20)}, []sdk.Range{{Start: 10, End: 30}}},
		{"HolesKept", [][]uint64{span(0, 5), span(10, 15), {far}}, []sdk.Range{{Start: 0, End: 5}, {Start: 10, End: 15}, {Start: far, End: far + 1}}},
		{"HoleFilled", [][]uint64{span(0, 5), span(10, 15), span(5, 10)}, []sdk.Range{{Start: 0, End: 15}}},
		{"BridgeSeveral", [][]uint64{span(0, 2), span(4, 6), span(8, 10), span(1, 9)}, []sdk.Range{{Start: 0, End: 10}}},
		{"UnorderedBatch", [][]uint64{{3, 1, 7, 2}}, []sdk.Range{{Start: 1, End: 4}, {Start: 7, End: 8}}},
		{"OneBatchManyRanges", [][]uint64{cat(span(0, 3), span(far, far+2), span(1<<50, 1<<50+1), span(5, 6))}, []sdk.Range{{Start: 0, End: 3}, {Start: 5, End: 6}, {Start: far, End: far + 2}, {Start: 1 << 50, End: 1<<50 + 1}}},
		{"FarMerges", [][]uint64{{far + 1}, {far - 1}, {far}}, []sdk.Range{{Start: far - 1, End: far + 2}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, h)
			m := e.create(header(1, false))
			for gen, indexes := range tt.batches {
				b := &sdk.Batch{}
				for _, i := range indexes {
					b.Blocks = append(b.Blocks, sdk.Block{Index: i, Data: blockData(i, uint64(gen), 32)})
					b.Nodes = append(b.Nodes, node(2*i, uint64(gen)))
				}
				e.write(m, b)
			}
			if diff := cmp.Diff(tt.want, e.load(m.header.Key).Present); diff != "" {
				t.Errorf("Present (-want +got):\n%s", diff)
			}
			e.check(m)
		})
	}
}

func testOverwriteBlock(t *testing.T, h Harness) {
	e := newEnv(t, h)
	m := e.create(header(1, true))
	e.write(m, &sdk.Batch{Blocks: blocks(0, 3, 1, 100)})
	e.write(m, &sdk.Batch{Blocks: []sdk.Block{{Index: 1, Data: blockData(1, 2, 300)}}})
	e.write(m, &sdk.Batch{Blocks: []sdk.Block{{Index: 2, Data: nil}}})
	e.check(m)
}

// testReadNodes checks that ReadNodes returns the stored nodes in the order
// asked and skips the others. It never asks for an index twice in a call:
// the contract does not say whether that returns the node once or twice.
func testReadNodes(t *testing.T, h Harness) {
	e := newEnv(t, h)
	m := e.create(header(1, true))
	const far = 2 << 40 // the leaf of block 1<<40
	e.write(m, &sdk.Batch{Nodes: nodesAt(1, 0, 1, 2, 3, 4, 6, far)})

	tests := []struct {
		name    string
		indexes []uint64
		want    []sdk.Node
	}{
		{"InOrderAsked", []uint64{3, 0, 6, 2}, nodesAt(1, 3, 0, 6, 2)},
		{"MissingSkipped", []uint64{5, 1, 99, 4, far + 2}, nodesAt(1, 1, 4)},
		{"NoneStored", []uint64{5, 7, 1 << 50}, nil},
		{"EmptyRequest", []uint64{}, nil},
		{"NilRequest", nil, nil},
		{"FarIndex", []uint64{far, 0}, nodesAt(1, far, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, e.readNodes(m.header.Key, tt.indexes), equateEmpty); diff != "" {
				t.Errorf("ReadNodes(%v) (-want +got):\n%s", tt.indexes, diff)
			}
		})
	}

	t.Run("Replaced", func(t *testing.T) {
		e.write(m, &sdk.Batch{Nodes: nodesAt(2, 2, far)})
		if diff := cmp.Diff(nodesAt(2, 2, far), e.readNodes(m.header.Key, []uint64{2, far})); diff != "" {
			t.Errorf("ReadNodes after replacing (-want +got):\n%s", diff)
		}
		e.check(m)
	})
}

// testHead checks that a batch's head replaces the stored one and that a
// batch without one keeps it.
func testHead(t *testing.T, h Harness) {
	e := newEnv(t, h)
	m := e.create(header(1, true))
	steps := []struct {
		batch *sdk.Batch
		want  sdk.Head
	}{
		{&sdk.Batch{Blocks: blocks(0, 2, 1, 10)}, sdk.Head{}},
		{&sdk.Batch{Blocks: blocks(2, 4, 1, 10), Head: head(0, 4)}, *head(0, 4)},
		{&sdk.Batch{Blocks: blocks(4, 6, 1, 10)}, *head(0, 4)},
		{&sdk.Batch{Nodes: nodes(0, 3, 1)}, *head(0, 4)},
		{&sdk.Batch{Head: head(0, 6)}, *head(0, 6)},
		{&sdk.Batch{Truncate: true, TruncateTo: 3}, *head(0, 6)},
		{&sdk.Batch{Truncate: true, TruncateTo: 3, Head: head(1, 3)}, *head(1, 3)},
		{&sdk.Batch{}, *head(1, 3)},
	}
	for i, step := range steps {
		e.write(m, step.batch)
		if diff := cmp.Diff(step.want, e.load(m.header.Key).Head); diff != "" {
			t.Errorf("step %d: Head (-want +got):\n%s", i, diff)
		}
	}
	e.check(m)
}

// testEvidence checks that a batch's evidence replaces the stored one and
// that a batch without any keeps it.
func testEvidence(t *testing.T, h Harness) {
	e := newEnv(t, h)
	m := e.create(header(1, true))
	steps := []struct {
		batch *sdk.Batch
		want  []byte
	}{
		{&sdk.Batch{Blocks: blocks(0, 2, 1, 10)}, nil},
		{&sdk.Batch{Evidence: []byte("first")}, []byte("first")},
		{&sdk.Batch{Blocks: blocks(2, 4, 1, 10), Head: head(0, 4)}, []byte("first")},
		{&sdk.Batch{Truncate: true, TruncateTo: 1}, []byte("first")},
		{&sdk.Batch{Evidence: []byte("second, longer evidence")}, []byte("second, longer evidence")},
		{&sdk.Batch{Evidence: []byte("3")}, []byte("3")},
		{&sdk.Batch{}, []byte("3")},
	}
	for i, step := range steps {
		e.write(m, step.batch)
		if diff := cmp.Diff(step.want, e.load(m.header.Key).Evidence, equateEmpty); diff != "" {
			t.Errorf("step %d: Evidence (-want +got):\n%s", i, diff)
		}
	}
	e.check(m)
}

// testNoAliasing changes every slice it passed to the storage or got back
// from it, then checks that the storage still holds what was written.
func testNoAliasing(t *testing.T, h Harness) {
	e := newEnv(t, h)
	hd := header(1, true)
	m := e.create(hd)
	flip(hd.SecretKey)

	batch := &sdk.Batch{
		Blocks:   blocks(0, 4, 1, 64),
		Nodes:    nodes(0, 7, 1),
		Head:     head(0, 4),
		Evidence: []byte("evidence"),
	}
	e.write(m, batch)
	for _, b := range batch.Blocks {
		flip(b.Data)
	}
	batch.Blocks[0].Index = 10
	for i := range batch.Nodes {
		batch.Nodes[i].Hash[0] ^= 0xFF
	}
	batch.Head.Length = 99
	flip(batch.Evidence)
	e.check(m)

	st := e.load(hd.Key)
	flip(st.Header.SecretKey)
	st.Present[0].End = 99
	flip(st.Evidence)
	for _, b := range e.readBlocks(hd.Key, 0, 4) {
		flip(b)
	}
	got := e.readNodes(hd.Key, []uint64{0, 1, 2})
	for i := range got {
		got[i].Hash[0] ^= 0xFF
	}
	e.check(m)
}

// flip inverts every bit of b.
func flip(b []byte) {
	for i := range b {
		b[i] ^= 0xFF
	}
}
