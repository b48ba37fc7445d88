package disk

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
	"github.com/google/go-cmp/cmp"
)

func TestPersistence(t *testing.T) {
	tests := []struct {
		name    string
		secret  []byte
		batches []*sdk.Batch
	}{
		{
			name:    "writer appends",
			secret:  testSecret(1),
			batches: []*sdk.Batch{blocksBatch(0, 10, 100, 0), blocksBatch(10, 25, 7, 0), blocksBatch(25, 26, 1000, 0)},
		},
		{
			name:    "empty feed",
			batches: nil,
		},
		{
			name:    "sparse reader",
			batches: []*sdk.Batch{blocksBatch(5_000_000, 5_000_010, 64, 0), blocksBatch(3, 4, 64, 0), blocksBatch(1<<40, 1<<40+2, 64, 0)},
		},
		{
			name: "overwrite blocks and nodes",
			batches: []*sdk.Batch{
				blocksBatch(0, 8, 32, 0),
				blocksBatch(2, 5, 50, 1),
				{Nodes: []sdk.Node{{Index: 3, Size: 256, Hash: testHash(3, 2)}, {Index: 1, Size: 64, Hash: testHash(1, 3)}}},
			},
		},
		{
			name: "truncate drops blocks and the nodes spanning past the cut",
			batches: []*sdk.Batch{
				blocksBatch(0, 8, 16, 0),
				{Nodes: []sdk.Node{{Index: 1, Size: 32}, {Index: 3, Size: 64}, {Index: 5, Size: 32}, {Index: 7, Size: 128}, {Index: 11, Size: 64}}},
				{Truncate: true, TruncateTo: 5, Head: &sdk.Head{Fork: 1, Length: 5, Signature: testSig(5)}},
				blocksBatch(5, 7, 20, 9),
			},
		},
		{
			name: "truncate to zero and start over",
			batches: []*sdk.Batch{
				blocksBatch(0, 4, 16, 0),
				{Truncate: true, TruncateTo: 0, Head: &sdk.Head{Fork: 1}},
				blocksBatch(0, 2, 16, 1),
			},
		},
		{
			name: "truncate and append in one batch",
			batches: []*sdk.Batch{
				blocksBatch(0, 6, 16, 0),
				func() *sdk.Batch {
					b := blocksBatch(3, 5, 16, 1)
					b.Truncate, b.TruncateTo = true, 3
					return b
				}(),
			},
		},
		{
			name: "evidence replaced, empty evidence kept apart from none",
			batches: []*sdk.Batch{
				{Evidence: []byte("first")},
				{Evidence: []byte("second, longer")},
				blocksBatch(0, 1, 1, 0),
				{Evidence: []byte{}},
			},
		},
		{
			name: "unordered, duplicate and empty blocks in one batch",
			batches: []*sdk.Batch{{Blocks: []sdk.Block{
				{Index: 9, Data: []byte("nine")},
				{Index: 3, Data: []byte("three")},
				{Index: 4, Data: []byte{}},
				{Index: 3, Data: []byte("three again")},
				{Index: 2, Data: nil},
				{Index: 10, Data: []byte("ten")},
			}}},
		},
		{
			name:    "largest block",
			batches: []*sdk.Batch{blocksBatch(0, 1, sdk.MaxBlockSize, 0), blocksBatch(1, 3, 10, 0)},
		},
		{
			name:    "empty batch",
			batches: []*sdk.Batch{{}, blocksBatch(0, 2, 10, 0), {}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			s := open(t, dir)
			m := newModel(sdk.FeedHeader{Key: testKey(1), SecretKey: tt.secret})
			if err := s.Create(ctx, m.header); err != nil {
				t.Fatalf("Create: %v", err)
			}
			for i, b := range tt.batches {
				if err := s.Write(ctx, m.header.Key, b); err != nil {
					t.Fatalf("Write %d: %v", i, err)
				}
				m.apply(b)
				m.check(t, s)
			}
			closeStorage(t, s)

			s = open(t, dir)
			defer closeStorage(t, s)
			m.check(t, s)
			keys, err := s.Feeds(ctx)
			if err != nil {
				t.Fatalf("Feeds: %v", err)
			}
			if diff := cmp.Diff([]sdk.FeedKey{m.header.Key}, keys); diff != "" {
				t.Errorf("Feeds mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestManyFeeds(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	var models []*model
	for n := range byte(20) {
		m := newModel(sdk.FeedHeader{Key: testKey(n * 13)})
		if err := s.Create(ctx, m.header); err != nil {
			t.Fatalf("Create: %v", err)
		}
		b := blocksBatch(uint64(n), uint64(2*n+1), int(n)+1, n)
		if err := s.Write(ctx, m.header.Key, b); err != nil {
			t.Fatalf("Write: %v", err)
		}
		m.apply(b)
		models = append(models, m)
	}
	closeStorage(t, s)
	s = open(t, dir)
	defer closeStorage(t, s)
	keys, err := s.Feeds(ctx)
	if err != nil {
		t.Fatalf("Feeds: %v", err)
	}
	if len(keys) != len(models) {
		t.Errorf("Feeds lists %d keys, want %d", len(keys), len(models))
	}
	for _, m := range models {
		m.check(t, s)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)

	_, err := Open(dir, quiet)
	var inUse *InUseError
	if !errors.As(err, &inUse) {
		t.Fatalf("second Open: err = %v, want an *InUseError", err)
	}
	if inUse.PID != os.Getpid() || !strings.Contains(err.Error(), dir) {
		t.Errorf("second Open: %v (pid %d), want this process's pid %d and the directory", err, inUse.PID, os.Getpid())
	}

	closeStorage(t, s)
	s = open(t, dir)
	closeStorage(t, s)
}

func TestInUseErrorMessage(t *testing.T) {
	tests := []struct {
		err  InUseError
		want string
	}{
		{InUseError{Dir: "/x", PID: 1234}, "storage directory /x is in use by another process (pid 1234)"},
		{InUseError{Dir: "/x"}, "storage directory /x is in use by another process"},
		{InUseError{Dir: "/x", PID: os.Getpid()}, fmt.Sprintf("storage directory /x is already open in this process (pid %d)", os.Getpid())},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}

func TestPermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "store")
	ctx := context.Background()
	s := open(t, dir)
	h := sdk.FeedHeader{Key: testKey(7), SecretKey: testSecret(7)}
	if err := s.Create(ctx, h); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Write(ctx, h.Key, blocksBatch(0, 3, 10, 0)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	closeStorage(t, s)

	seen := 0
	err := filepath.WalkDir(filepath.Dir(dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(filePerm)
		if d.IsDir() {
			want = fs.ModeDir | dirPerm
		}
		if info.Mode() != want {
			t.Errorf("%s has mode %v, want %v", path, info.Mode(), want)
		}
		seen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// nested, store, LOCK, feeds, the prefix directory and the log.
	if seen != 6 {
		t.Errorf("walked %d entries, want 6", seen)
	}
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	defer closeStorage(t, s)
	keep, gone := sdk.FeedHeader{Key: testKey(1)}, sdk.FeedHeader{Key: testKey(2)}
	for _, h := range []sdk.FeedHeader{keep, gone} {
		if err := s.Create(ctx, h); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if err := s.Write(ctx, h.Key, blocksBatch(0, 10, 1000, 0)); err != nil {
			t.Fatalf("Write: %v", err)
		}
	}
	path := s.logPath(gone.Key)
	if err := s.Delete(ctx, gone.Key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("log of a deleted feed: Stat err = %v, want ErrNotExist", err)
	}
	if _, err := s.Load(ctx, gone.Key); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Load of a deleted feed: err = %v, want ErrNotFound", err)
	}
	if err := s.Delete(ctx, gone.Key); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("second Delete: err = %v, want ErrNotFound", err)
	}
	keys, err := s.Feeds(ctx)
	if err != nil {
		t.Fatalf("Feeds: %v", err)
	}
	if diff := cmp.Diff([]sdk.FeedKey{keep.Key}, keys); diff != "" {
		t.Errorf("Feeds mismatch (-want +got):\n%s", diff)
	}

	// The key can be used again, for a new, empty feed.
	if err := s.Create(ctx, gone); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
	newModel(gone).check(t, s)
}

func TestClosed(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	key := testKey(1)
	if err := s.Create(ctx, sdk.FeedHeader{Key: key}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	closeStorage(t, s)

	calls := map[string]func() error{
		"Create": func() error { return s.Create(ctx, sdk.FeedHeader{Key: testKey(2)}) },
		"Feeds":  func() error { _, err := s.Feeds(ctx); return err },
		"Load":   func() error { _, err := s.Load(ctx, key); return err },
		"Write":  func() error { return s.Write(ctx, key, blocksBatch(0, 1, 1, 0)) },
		"ReadBlocks": func() error {
			_, err := s.ReadBlocks(ctx, key, 0, 1)
			return err
		},
		"ReadNodes": func() error { _, err := s.ReadNodes(ctx, key, []uint64{0}); return err },
		"Delete":    func() error { return s.Delete(ctx, key) },
		"Close":     s.Close,
	}
	for name, call := range calls {
		if err := call(); !errors.Is(err, sdk.ErrClosed) {
			t.Errorf("%s after Close: err = %v, want ErrClosed", name, err)
		}
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer closeStorage(t, s)
	key, missing := testKey(1), testKey(2)
	if err := s.Create(ctx, sdk.FeedHeader{Key: key}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Write(ctx, key, blocksBatch(0, 4, 10, 0)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	if err := s.Write(ctx, key, blocksBatch(6, 8, 10, 0)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	canceled, cancel := context.WithCancel(ctx)
	cancel()

	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"Create existing", func() error { return s.Create(ctx, sdk.FeedHeader{Key: key}) }, sdk.ErrExists},
		{"Create with a short secret key", func() error {
			return s.Create(ctx, sdk.FeedHeader{Key: missing, SecretKey: make([]byte, 32)})
		}, sdk.ErrInvalid},
		{"Load missing feed", func() error { _, err := s.Load(ctx, missing); return err }, sdk.ErrNotFound},
		{"Write missing feed", func() error { return s.Write(ctx, missing, &sdk.Batch{}) }, sdk.ErrNotFound},
		{"Write nil batch", func() error { return s.Write(ctx, key, nil) }, sdk.ErrInvalid},
		{"Write oversized block", func() error {
			return s.Write(ctx, key, &sdk.Batch{Blocks: []sdk.Block{{Index: 9, Data: make([]byte, sdk.MaxBlockSize+1)}}})
		}, sdk.ErrInvalid},
		{"Write block index past 2^63", func() error {
			return s.Write(ctx, key, &sdk.Batch{Blocks: []sdk.Block{{Index: 1 << 63}}})
		}, sdk.ErrInvalid},
		{"Write node index 2^64-1", func() error {
			return s.Write(ctx, key, &sdk.Batch{Nodes: []sdk.Node{{Index: 1<<64 - 1}}})
		}, sdk.ErrInvalid},
		{"ReadBlocks end before start", func() error { _, err := s.ReadBlocks(ctx, key, 3, 2); return err }, sdk.ErrInvalid},
		{"ReadBlocks across a hole", func() error { _, err := s.ReadBlocks(ctx, key, 2, 7); return err }, sdk.ErrNotFound},
		{"ReadBlocks of a hole", func() error { _, err := s.ReadBlocks(ctx, key, 4, 5); return err }, sdk.ErrNotFound},
		{"ReadBlocks of a huge range", func() error { _, err := s.ReadBlocks(ctx, key, 0, 1<<64-1); return err }, sdk.ErrNotFound},
		{"ReadBlocks missing feed", func() error { _, err := s.ReadBlocks(ctx, missing, 0, 1); return err }, sdk.ErrNotFound},
		{"ReadNodes missing feed", func() error { _, err := s.ReadNodes(ctx, missing, nil); return err }, sdk.ErrNotFound},
		{"Delete missing feed", func() error { return s.Delete(ctx, missing) }, sdk.ErrNotFound},
		{"Load canceled", func() error { _, err := s.Load(canceled, key); return err }, context.Canceled},
		{"Write canceled", func() error { return s.Write(canceled, key, &sdk.Batch{}) }, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}

	// A rejected batch changes nothing.
	m := newModel(sdk.FeedHeader{Key: key})
	m.apply(blocksBatch(0, 4, 10, 0))
	m.apply(blocksBatch(6, 8, 10, 0))
	m.check(t, s)

	got, err := s.ReadBlocks(ctx, key, 2, 2)
	if err != nil || len(got) != 0 {
		t.Errorf("ReadBlocks of an empty range = %v, %v; want no blocks", got, err)
	}
}

// TestNoAliasing checks that the storage keeps no reference to what it is
// given and hands out nothing it keeps.
func TestNoAliasing(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer closeStorage(t, s)
	h := sdk.FeedHeader{Key: testKey(1), SecretKey: testSecret(1)}
	m := newModel(h)
	m.header.SecretKey = slices.Clone(h.SecretKey)
	if err := s.Create(ctx, h); err != nil {
		t.Fatalf("Create: %v", err)
	}
	h.SecretKey[0]++

	b := blocksBatch(0, 4, 10, 0)
	b.Evidence = []byte("evidence")
	if err := s.Write(ctx, h.Key, b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	m.apply(b)
	b.Blocks[1].Data[0]++
	b.Evidence[0]++
	b.Nodes[0].Size++
	b.Head.Length++

	blocks, err := s.ReadBlocks(ctx, h.Key, 0, 4)
	if err != nil {
		t.Fatalf("ReadBlocks: %v", err)
	}
	blocks[0] = append(blocks[0], "spill"...)
	if !slices.Equal(blocks[1], m.blocks[1]) {
		t.Errorf("appending to a returned block changed the next one")
	}
	blocks[2][0]++
	st, err := s.Load(ctx, h.Key)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	st.Header.SecretKey[0]++
	st.Evidence[0]++
	st.Present[0].End = 100
	m.check(t, s)
}

// TestConcurrent runs writers, readers and deletes at once, for the race
// detector; each goroutine checks what it reads.
func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	const feeds, batches, perBatch = 4, 30, 10
	var wg sync.WaitGroup
	for n := range byte(feeds) {
		key := testKey(n)
		if err := s.Create(ctx, sdk.FeedHeader{Key: key}); err != nil {
			t.Fatalf("Create: %v", err)
		}
		wg.Go(func() {
			for i := range uint64(batches) {
				if err := s.Write(ctx, key, blocksBatch(i*perBatch, (i+1)*perBatch, 100, n)); err != nil {
					t.Errorf("Write: %v", err)
					return
				}
			}
		})
		for range 2 {
			wg.Go(func() {
				for {
					st, err := s.Load(ctx, key)
					if err != nil {
						t.Errorf("Load: %v", err)
						return
					}
					if len(st.Present) == 0 {
						continue
					}
					r := st.Present[0]
					blocks, err := s.ReadBlocks(ctx, key, r.Start, r.End)
					if err != nil {
						t.Errorf("ReadBlocks: %v", err)
						return
					}
					for k, data := range blocks {
						if i := uint64(k); !slices.Equal(data, blockData(i, 100, n)) {
							t.Errorf("block %d of feed %d differs", i, n)
							return
						}
					}
					if _, err := s.ReadNodes(ctx, key, []uint64{0, 2, 4}); err != nil {
						t.Errorf("ReadNodes: %v", err)
						return
					}
					if r.End == batches*perBatch {
						return
					}
				}
			})
		}
	}
	// Delete and close while readers of a doomed feed are running: they may
	// only ever see ErrNotFound or ErrClosed.
	doomed := testKey(100)
	if err := s.Create(ctx, sdk.FeedHeader{Key: doomed}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Write(ctx, doomed, blocksBatch(0, 100, 100, 0)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				_, err := s.ReadBlocks(ctx, doomed, 0, 100)
				if err == nil {
					continue
				}
				if !errors.Is(err, sdk.ErrNotFound) && !errors.Is(err, sdk.ErrClosed) {
					t.Errorf("ReadBlocks of a deleted feed: %v", err)
				}
				return
			}
		})
	}
	if err := s.Delete(ctx, doomed); err != nil {
		t.Errorf("Delete: %v", err)
	}
	readers.Wait()
	wg.Wait()
	closeStorage(t, s)
}

func TestLeftoverTempFileRemoved(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	tmp := s.logPath(testKey(1)) + tmpSuffix
	closeStorage(t, s)
	if err := os.MkdirAll(filepath.Dir(tmp), dirPerm); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, encodeHeader(sdk.FeedHeader{Key: testKey(1)})[:50], filePerm); err != nil {
		t.Fatal(err)
	}
	// Unrelated files are left alone.
	other := filepath.Join(filepath.Dir(tmp), "notes.txt")
	if err := os.WriteFile(other, nil, filePerm); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	defer closeStorage(t, s)
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("leftover temporary file: Stat err = %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("unrelated file: %v", err)
	}
	keys, err := s.Feeds(context.Background())
	if err != nil || len(keys) != 0 {
		t.Errorf("Feeds = %v, %v; want none", keys, err)
	}
}

// TestFailedWriteRefusesWrites makes the log unwritable under the storage
// and checks that the feed then refuses writes but keeps serving reads.
func TestFailedWriteRefusesWrites(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := open(t, dir)
	m := newModel(sdk.FeedHeader{Key: testKey(1)})
	if err := s.Create(ctx, m.header); err != nil {
		t.Fatalf("Create: %v", err)
	}
	b := blocksBatch(0, 5, 10, 0)
	if err := s.Write(ctx, m.header.Key, b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	m.apply(b)

	f := s.feeds[m.header.Key]
	readOnly, err := os.Open(f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.file.Close()
	f.file = readOnly

	if err := s.Write(ctx, m.header.Key, blocksBatch(5, 6, 10, 0)); err == nil {
		t.Fatal("Write to a read-only file succeeded")
	}
	if err := s.Write(ctx, m.header.Key, blocksBatch(5, 6, 10, 0)); err == nil || !strings.Contains(err.Error(), "earlier write failed") {
		t.Fatalf("Write after a failed write: err = %v, want the earlier failure", err)
	}
	m.check(t, s)
	closeStorage(t, s)

	s = open(t, dir)
	defer closeStorage(t, s)
	m.check(t, s)
	b = blocksBatch(5, 6, 10, 0)
	if err := s.Write(ctx, m.header.Key, b); err != nil {
		t.Fatalf("Write after reopening: %v", err)
	}
	m.apply(b)
	m.check(t, s)
}

func TestSparseFeedMemory(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer closeStorage(t, s)
	key := testKey(1)
	if err := s.Create(ctx, sdk.FeedHeader{Key: key}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Write(ctx, key, blocksBatch(5_000_000, 5_000_011, 10, 0)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	f := s.feeds[key]
	// The blocks straddle no page boundary; their leaves (2i) do not either.
	if n, m := len(f.idx.blocks.pages), len(f.idx.nodes.pages); n != 1 || m != 1 {
		t.Errorf("11 blocks far out use %d block pages and %d node pages, want 1 and 1", n, m)
	}
	if _, err := s.ReadNodes(ctx, key, []uint64{flattree.Leaf(5_000_005)}); err != nil {
		t.Errorf("ReadNodes: %v", err)
	}
}

func TestSyncNone(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := Open(dir, Options{Sync: SyncNone, Logger: quiet.Logger})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	m := newModel(sdk.FeedHeader{Key: testKey(1)})
	if err := s.Create(ctx, m.header); err != nil {
		t.Fatalf("Create: %v", err)
	}
	for i := range uint64(5) {
		b := blocksBatch(i*3, i*3+3, 50, 0)
		if err := s.Write(ctx, m.header.Key, b); err != nil {
			t.Fatalf("Write: %v", err)
		}
		m.apply(b)
	}
	closeStorage(t, s)
	s = open(t, dir)
	defer closeStorage(t, s)
	m.check(t, s)

	if _, err := Open(t.TempDir(), Options{Sync: 7}); err == nil {
		t.Error("Open with an unknown sync policy succeeded")
	}
}

func TestReadErrors(t *testing.T) {
	ctx := context.Background()
	s := open(t, t.TempDir())
	defer closeStorage(t, s)
	key := testKey(1)
	if err := s.Create(ctx, sdk.FeedHeader{Key: key}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Write(ctx, key, blocksBatch(0, 10, 100, 0)); err != nil {
		t.Fatalf("Write: %v", err)
	}
	// Someone cuts the log short under the storage.
	if err := os.Truncate(s.logPath(key), headerSize+100); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReadBlocks(ctx, key, 0, 10); !errors.Is(err, sdk.ErrCorrupt) {
		t.Errorf("ReadBlocks of a shortened log: err = %v, want ErrCorrupt", err)
	}

	// A read that finds the file closed reports why it was closed.
	f := s.feeds[key]
	if err := f.readError(os.ErrClosed); !errors.Is(err, os.ErrClosed) {
		t.Errorf("readError(os.ErrClosed) on an open feed = %v, want it passed on", err)
	}
	f.gone = sdk.ErrNotFound
	if err := f.readError(os.ErrClosed); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("readError(os.ErrClosed) on a deleted feed = %v, want ErrNotFound", err)
	}
	f.gone = nil
}
