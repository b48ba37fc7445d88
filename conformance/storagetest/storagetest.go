// Package storagetest checks an [sdk.Storage] implementation against the
// storage contract. A storage author runs the suite from an ordinary test
// of their own package:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, storagetest.Harness{
//			Open: func(t *testing.T, dir string) (sdk.Storage, error) {
//				return disk.Open(dir, disk.Options{})
//			},
//			Persistent: true,
//		})
//	}
//
// [Run] runs each check as a subtest, so that
//
//	go test -race -run 'TestConformance/Truncate' ./storage/disk
//
// selects some of them. Every subtest opens its own storage on a fresh
// directory and closes it when it ends.
//
// The suite tests only what the contract in package sdk promises, through
// the [sdk.Storage] methods and errors.Is on the sdk sentinel errors, so
// that it also runs against storages served from another process. Where
// the contract is terse, the suite reads it this way:
//
//   - A Write that fails with ErrInvalid (a nil batch, a block larger than
//     sdk.MaxBlockSize) applies none of its batch.
//   - A Load running alongside a Write sees all of the batch or none of it.
//   - ReadBlocks of an empty range, start == end, returns no blocks and no
//     error, wherever the range lies.
//
// Where the contract leaves a choice, the suite leaves it too: it never
// asks for the same node twice in one ReadNodes call, never writes two
// blocks or nodes with the same index in one batch, does not tell a nil
// slice from an empty one (and so never writes an empty, non-nil
// Evidence, which reads as "keep" across a plugin boundary), and does not
// call Close twice.
//
// Run the suite with -race: some subtests call the storage from several
// goroutines at once.
//
// Most checks compare the storage with a reference model, the contract
// written as plainly as possible, after applying the same batches to both.
package storagetest

import (
	"context"
	"testing"

	"github.com/codrive/codrive/sdk"
)

// Harness tells the suite how to open the storage under test.
type Harness struct {
	// Open opens the storage kept in dir (a fresh t.TempDir() per test). A persistent
	// storage opened again on the same dir must see what was written before Close.
	Open func(t *testing.T, dir string) (sdk.Storage, error)
	// Persistent says whether data survives Close and a new Open on the same dir.
	Persistent bool
}

// Run runs every conformance test against the storage as subtests.
func Run(t *testing.T, h Harness) {
	if h.Open == nil {
		t.Fatal("storagetest: Harness.Open is nil")
	}
	type test struct {
		name string
		run  func(*testing.T, Harness)
	}
	tests := []test{
		{"CreateLoad", testCreateLoad},
		{"CreateDuplicate", testCreateDuplicate},
		{"MissingFeed", testMissingFeed},
		{"Feeds", testFeeds},
		{"Delete", testDelete},
		{"DeleteThenCreate", testDeleteThenCreate},
		{"Closed", testClosed},
		{"WriteRead", testWriteRead},
		{"ReadBlocksRanges", testReadBlocksRanges},
		{"ZeroLengthBlocks", testZeroLengthBlocks},
		{"MaxBlockSize", testMaxBlockSize},
		{"InvalidArguments", testInvalidArguments},
		{"SparsePresent", testSparsePresent},
		{"OverwriteBlock", testOverwriteBlock},
		{"ReadNodes", testReadNodes},
		{"Head", testHead},
		{"Evidence", testEvidence},
		{"Truncate", testTruncate},
		{"TruncateSparse", testTruncateSparse},
		{"TruncateWithBlocksAndNodes", testTruncateWithBlocksAndNodes},
		{"TruncateRepeatedly", testTruncateRepeatedly},
		{"NoAliasing", testNoAliasing},
		{"Concurrent", testConcurrent},
		{"LargeWorkload", testLargeWorkload},
		{"RandomizedAgainstModel", testRandomized},
	}
	if h.Persistent {
		tests = append(tests, test{"Persistence", testPersistence})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, h) })
	}
}

// env is one test's storage, opened on a directory of its own.
type env struct {
	t   *testing.T
	ctx context.Context
	h   Harness
	dir string
	s   sdk.Storage // nil while closed
}

// newEnv opens a storage on a fresh directory and closes it when the test
// ends, unless the test has closed it.
func newEnv(t *testing.T, h Harness) *env {
	t.Helper()
	e := &env{t: t, ctx: t.Context(), h: h, dir: t.TempDir()}
	e.open()
	t.Cleanup(func() {
		if e.s != nil {
			if err := e.s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		}
	})
	return e
}

func (e *env) open() {
	e.t.Helper()
	s, err := e.h.Open(e.t, e.dir)
	if err != nil {
		e.t.Fatalf("Open(%s): %v", e.dir, err)
	}
	e.s = s
}

// close closes the storage and returns it, so that a test can call the
// closed storage.
func (e *env) close() sdk.Storage {
	e.t.Helper()
	s := e.s
	e.s = nil
	if err := s.Close(); err != nil {
		e.t.Fatalf("Close: %v", err)
	}
	return s
}

// reopen closes the storage and opens it again on the same directory.
func (e *env) reopen() {
	e.t.Helper()
	e.close()
	e.open()
}

// create creates a feed and returns its model.
func (e *env) create(h sdk.FeedHeader) *feedModel {
	e.t.Helper()
	if err := e.s.Create(e.ctx, h); err != nil {
		e.t.Fatalf("Create(%s): %v", h.Key, err)
	}
	return newFeedModel(h)
}

// write writes b to the storage and applies it to m.
func (e *env) write(m *feedModel, b *sdk.Batch) {
	e.t.Helper()
	if err := e.s.Write(e.ctx, m.header.Key, b); err != nil {
		e.t.Fatalf("Write(%s): %v", m.header.Key, err)
	}
	m.apply(b)
}

func (e *env) load(key sdk.FeedKey) *sdk.FeedState {
	e.t.Helper()
	st, err := e.s.Load(e.ctx, key)
	if err != nil {
		e.t.Fatalf("Load(%s): %v", key, err)
	}
	return st
}

func (e *env) readBlocks(key sdk.FeedKey, start, end uint64) [][]byte {
	e.t.Helper()
	got, err := e.s.ReadBlocks(e.ctx, key, start, end)
	if err != nil {
		e.t.Fatalf("ReadBlocks(%d, %d): %v", start, end, err)
	}
	return got
}

func (e *env) readNodes(key sdk.FeedKey, indexes []uint64) []sdk.Node {
	e.t.Helper()
	got, err := e.s.ReadNodes(e.ctx, key, indexes)
	if err != nil {
		e.t.Fatalf("ReadNodes(%v): %v", indexes, err)
	}
	return got
}

func (e *env) delete(key sdk.FeedKey) {
	e.t.Helper()
	if err := e.s.Delete(e.ctx, key); err != nil {
		e.t.Fatalf("Delete(%s): %v", key, err)
	}
}
