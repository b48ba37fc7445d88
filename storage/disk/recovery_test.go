package disk

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/google/go-cmp/cmp"
)

// damageFixture is a storage directory holding a feed whose log a test
// damages, and another feed that the damage must not affect.
type damageFixture struct {
	dir, path string
	log       []byte // the feed's whole log, undamaged
	// ends[i] is where the first i records end, so that record i is
	// log[ends[i]:ends[i+1]]; ends[0] is the end of the header.
	ends []int
	// states[i] is the feed after its first i batches.
	states []*model
	other  *model
}

func newDamageFixture(t *testing.T) *damageFixture {
	t.Helper()
	ctx := context.Background()
	fx := &damageFixture{dir: t.TempDir()}
	s := open(t, fx.dir)
	h := sdk.FeedHeader{Key: testKey(3), SecretKey: testSecret(3)}
	fx.path = s.logPath(h.Key)
	m := newModel(h)
	if err := s.Create(ctx, h); err != nil {
		t.Fatalf("Create: %v", err)
	}
	fx.ends = []int{headerSize}
	fx.states = []*model{cloneModel(m)}
	last := blocksBatch(6, 9, 12, 0)
	last.Truncate, last.TruncateTo = true, 5
	last.Evidence = []byte("new evidence")
	batches := []*sdk.Batch{blocksBatch(0, 4, 30, 0), {Evidence: []byte("old evidence")}, blocksBatch(4, 6, 20, 0), last}
	for _, b := range batches {
		if err := s.Write(ctx, h.Key, b); err != nil {
			t.Fatalf("Write: %v", err)
		}
		m.apply(b)
		fx.ends = append(fx.ends, int(s.feeds[h.Key].end))
		fx.states = append(fx.states, cloneModel(m))
	}

	fx.other = newModel(sdk.FeedHeader{Key: testKey(4)})
	b := blocksBatch(0, 3, 10, 4)
	if err := s.Create(ctx, fx.other.header); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Write(ctx, fx.other.header.Key, b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	fx.other.apply(b)
	closeStorage(t, s)

	var err error
	if fx.log, err = os.ReadFile(fx.path); err != nil {
		t.Fatal(err)
	}
	return fx
}

func cloneModel(m *model) *model {
	c := newModel(m.header)
	for i, b := range m.blocks {
		c.blocks[i] = b
	}
	for i, n := range m.nodes {
		c.nodes[i] = n
	}
	c.head, c.evidence = m.head, m.evidence
	return c
}

// batches is the number of batches in the undamaged log.
func (fx *damageFixture) batches() int { return len(fx.ends) - 1 }

// lastStart is where the last record of the undamaged log starts.
func (fx *damageFixture) lastStart() int { return fx.ends[len(fx.ends)-2] }

// openWith writes log as the feed's file and opens the storage with the
// given policy. It returns what Open logged.
func (fx *damageFixture) openWith(t *testing.T, policy SyncPolicy, log []byte) (*Storage, string) {
	t.Helper()
	if err := os.WriteFile(fx.path, log, filePerm); err != nil {
		t.Fatal(err)
	}
	// Open's log calls are done when it returns.
	var logged bytes.Buffer
	s, err := Open(fx.dir, Options{Sync: policy, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, logged.String()
}

// checkCutBack checks that s holds the first keep batches of the feed, and
// the other feed whole, and that the log was cut to the end of those
// batches.
func (fx *damageFixture) checkCutBack(t *testing.T, s *Storage, keep int) {
	t.Helper()
	fx.states[keep].check(t, s)
	fx.other.check(t, s)
	info, err := os.Stat(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != int64(fx.ends[keep]) {
		t.Fatalf("log is %d bytes after Open, want %d", info.Size(), fx.ends[keep])
	}
}

// checkWritable writes a batch to the feed, which s holds with its first
// keep batches, and checks that it is kept, also across a reopen. It
// closes s.
func (fx *damageFixture) checkWritable(t *testing.T, s *Storage, policy SyncPolicy, keep int) {
	t.Helper()
	m := cloneModel(fx.states[keep])
	b := blocksBatch(20, 23, 9, 5)
	if err := s.Write(context.Background(), m.header.Key, b); err != nil {
		t.Fatalf("Write after recovery: %v", err)
	}
	m.apply(b)
	m.check(t, s)
	closeStorage(t, s)

	s, err := Open(fx.dir, Options{Sync: policy, Logger: quiet.Logger})
	if err != nil {
		t.Fatalf("reopen after recovery: %v", err)
	}
	defer closeStorage(t, s)
	m.check(t, s)
	fx.other.check(t, s)
}

// setLength overwrites the length field of the record at off.
func setLength(log []byte, off int, n uint32) {
	binary.LittleEndian.PutUint32(log[off:], n)
}

// recordLength returns the length field of the record at off.
func recordLength(log []byte, off int) uint32 {
	return binary.LittleEndian.Uint32(log[off:])
}

// encodeRecord returns a record with the given payload and a correct
// checksum, whether or not the payload decodes.
func encodeRecord(payload []byte) []byte {
	length := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
	rec := binary.LittleEndian.AppendUint32(length, recordChecksum(length, payload))
	return append(rec, payload...)
}

// TestTornTail cuts the log at every byte of its last record, as a crash
// during its write can.
func TestTornTail(t *testing.T) {
	fx := newDamageFixture(t)
	for cut := fx.lastStart(); cut < len(fx.log); cut++ {
		s, _ := fx.openWith(t, SyncEveryBatch, fx.log[:cut])
		fx.checkCutBack(t, s, fx.batches()-1)
		closeStorage(t, s)
	}
	s, _ := fx.openWith(t, SyncEveryBatch, fx.log)
	defer closeStorage(t, s)
	fx.checkCutBack(t, s, fx.batches())
}

// TestCorruptTail flips bits in the checksum and payload of the last
// record: the record still ends at the end of the file, so it may be a
// torn write and is cut off.
func TestCorruptTail(t *testing.T) {
	fx := newDamageFixture(t)
	for pos := fx.lastStart() + 4; pos < len(fx.log); pos++ {
		for _, flip := range []byte{0x01, 0x80} {
			log := bytes.Clone(fx.log)
			log[pos] ^= flip
			s, _ := fx.openWith(t, SyncEveryBatch, log)
			fx.checkCutBack(t, s, fx.batches()-1)
			closeStorage(t, s)
		}
	}
}

// TestTornTailShapes checks that every shape of torn tail is cut off,
// under either policy, and that the feed takes writes afterwards.
func TestTornTailShapes(t *testing.T) {
	tests := []struct {
		name   string
		damage func(fx *damageFixture, log []byte) []byte
		// lost is the number of batches the cut loses.
		lost int
	}{
		{"last record cut inside its prefix", func(fx *damageFixture, log []byte) []byte {
			return log[:fx.lastStart()+5]
		}, 1},
		{"last record cut inside its payload", func(fx *damageFixture, log []byte) []byte {
			return log[:len(log)-1]
		}, 1},
		{"last record's length running past the end", func(fx *damageFixture, log []byte) []byte {
			setLength(log, fx.lastStart(), recordLength(log, fx.lastStart())+1)
			return log
		}, 1},
		{"last record's checksum wrong", func(fx *damageFixture, log []byte) []byte {
			log[fx.lastStart()+4] ^= 1
			return log
		}, 1},
		{"last record's end lost to zeros", func(fx *damageFixture, log []byte) []byte {
			clear(log[fx.lastStart()+20:])
			return log
		}, 1},
		{"last record lost to zeros", func(fx *damageFixture, log []byte) []byte {
			clear(log[fx.lastStart():])
			return log
		}, 1},
		{"zeros after the last record", func(_ *damageFixture, log []byte) []byte {
			return append(log, make([]byte, 4096)...)
		}, 0},
		{"a zero record prefix after the last record", func(_ *damageFixture, log []byte) []byte {
			return append(log, make([]byte, recordPrefixSize)...)
		}, 0},
		{"a few bytes after the last record", func(_ *damageFixture, log []byte) []byte {
			return append(log, 1, 2, 3)
		}, 0},
		{"a record prefix claiming more than there is", func(_ *damageFixture, log []byte) []byte {
			return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(log, 1<<20), 7)
		}, 0},
		{"a record prefix claiming more than the limit", func(_ *damageFixture, log []byte) []byte {
			return binary.LittleEndian.AppendUint32(binary.LittleEndian.AppendUint32(log, maxRecordSize+1), 7)
		}, 0},
		{"a record that fails its checksum", func(_ *damageFixture, log []byte) []byte {
			rec := encodeRecord([]byte{recordTypeBatch, 0, 0, 0})
			rec[4] ^= 1
			return append(log, rec...)
		}, 0},
		{"a well-checksummed record that does not decode", func(_ *damageFixture, log []byte) []byte {
			return append(log, encodeRecord([]byte{recordTypeBatch + 1, 0, 0, 0})...)
		}, 0},
	}
	for _, tt := range tests {
		for _, policy := range []SyncPolicy{SyncEveryBatch, SyncNone} {
			t.Run(tt.name+"/"+policy.String(), func(t *testing.T) {
				fx := newDamageFixture(t)
				keep := fx.batches() - tt.lost
				s, logged := fx.openWith(t, policy, tt.damage(fx, bytes.Clone(fx.log)))
				fx.checkCutBack(t, s, keep)
				if !strings.Contains(logged, "level=WARN msg=\"disk storage: discarding torn log tail\"") {
					t.Errorf("Open did not warn of the torn tail; it logged:\n%s", logged)
				}
				fx.checkWritable(t, s, policy, keep)
			})
		}
	}
}

// TestCorruptBeforeEnd damages a record that more data follows, which no
// crash does under SyncEveryBatch: the feed must fail to load, and lose
// nothing. Under SyncNone the log is cut at the damage.
func TestCorruptBeforeEnd(t *testing.T) {
	tests := []struct {
		name   string
		bad    int // the damaged record
		damage func(fx *damageFixture, log []byte) []byte
		reason string
	}{
		{"payload byte of the first record flipped", 0, func(fx *damageFixture, log []byte) []byte {
			log[fx.ends[0]+recordPrefixSize+3] ^= 0xff
			return log
		}, "record checksum mismatch"},
		{"checksum of the second record flipped", 1, func(fx *damageFixture, log []byte) []byte {
			log[fx.ends[1]+4] ^= 0x80
			return log
		}, "record checksum mismatch"},
		{"length of the second record shortened", 1, func(fx *damageFixture, log []byte) []byte {
			setLength(log, fx.ends[1], recordLength(log, fx.ends[1])-1)
			return log
		}, "record checksum mismatch"},
		{"start of the third record zeroed", 2, func(fx *damageFixture, log []byte) []byte {
			clear(log[fx.ends[2] : fx.ends[2]+16])
			return log
		}, "record checksum mismatch"},
		{"second record well-checksummed but undecodable", 1, func(fx *damageFixture, log []byte) []byte {
			payload := bytes.Clone(log[fx.ends[1]+recordPrefixSize : fx.ends[2]])
			payload[0] = recordTypeBatch + 1
			copy(log[fx.ends[1]:], encodeRecord(payload))
			return log
		}, "undecodable record: unknown record type 2"},
		{"length of the last record shortened", 3, func(fx *damageFixture, log []byte) []byte {
			setLength(log, fx.lastStart(), recordLength(log, fx.lastStart())-1)
			return log
		}, "record checksum mismatch"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/SyncEveryBatch", func(t *testing.T) {
			fx := newDamageFixture(t)
			damaged := tt.damage(fx, bytes.Clone(fx.log))
			off := fx.ends[tt.bad]
			after := len(damaged) - off - recordPrefixSize - int(recordLength(damaged, off))
			key := fx.states[0].header.Key
			wantErr := fmt.Sprintf("load feed %s: log %s is corrupt at byte %d (%s) with %d more bytes after it; the file was left untouched",
				key, fx.path, off, tt.reason, after)
			ctx := context.Background()

			s, logged := fx.openWith(t, SyncEveryBatch, damaged)
			if !strings.Contains(logged, "level=ERROR msg=\"disk storage: cannot load feed\"") {
				t.Errorf("Open did not log an error; it logged:\n%s", logged)
			}
			keys, err := s.Feeds(ctx)
			if err != nil {
				t.Fatalf("Feeds: %v", err)
			}
			if diff := cmp.Diff([]sdk.FeedKey{key, fx.other.header.Key}, keys); diff != "" {
				t.Errorf("Feeds mismatch (-want +got):\n%s", diff)
			}
			_, err = s.Load(ctx, key)
			if !errors.Is(err, sdk.ErrCorrupt) || err.Error() != wantErr {
				t.Errorf("Load: err = %v, want %q wrapping ErrCorrupt", err, wantErr)
			}
			calls := map[string]func() error{
				"Write":      func() error { return s.Write(ctx, key, blocksBatch(20, 21, 1, 0)) },
				"ReadBlocks": func() error { _, err := s.ReadBlocks(ctx, key, 0, 1); return err },
				"ReadNodes":  func() error { _, err := s.ReadNodes(ctx, key, []uint64{0}); return err },
			}
			for name, call := range calls {
				if err := call(); !errors.Is(err, sdk.ErrCorrupt) {
					t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
				}
			}
			if err := s.Create(ctx, fx.states[0].header); !errors.Is(err, sdk.ErrExists) {
				t.Errorf("Create over the feed: err = %v, want ErrExists", err)
			}
			fx.other.check(t, s)
			closeStorage(t, s)
			if got, err := os.ReadFile(fx.path); err != nil || !bytes.Equal(got, damaged) {
				t.Fatalf("the damaged log was modified: %d bytes, want the %d it had (err %v)", len(got), len(damaged), err)
			}

			// The operator's remedy that keeps the batches before the
			// damage: truncate the file at the reported offset.
			if err := os.Truncate(fx.path, int64(off)); err != nil {
				t.Fatal(err)
			}
			s = open(t, fx.dir)
			fx.checkCutBack(t, s, tt.bad)
			closeStorage(t, s)

			// The other remedy: Delete works on a feed that failed to load.
			s, _ = fx.openWith(t, SyncEveryBatch, damaged)
			defer closeStorage(t, s)
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := os.Stat(fx.path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Delete left the log: Stat err = %v", err)
			}
			if keys, err := s.Feeds(ctx); err != nil || !cmp.Equal(keys, []sdk.FeedKey{fx.other.header.Key}) {
				t.Errorf("Feeds after Delete = %v, %v; want only the other feed", keys, err)
			}
			fx.other.check(t, s)
		})
		t.Run(tt.name+"/SyncNone", func(t *testing.T) {
			fx := newDamageFixture(t)
			s, logged := fx.openWith(t, SyncNone, tt.damage(fx, bytes.Clone(fx.log)))
			fx.checkCutBack(t, s, tt.bad)
			if !strings.Contains(logged, "level=WARN msg=\"disk storage: discarding a damaged log record and every record after it\"") {
				t.Errorf("Open did not warn of the discarded records; it logged:\n%s", logged)
			}
			fx.checkWritable(t, s, SyncNone, tt.bad)
		})
	}
}

func TestCorruptHeader(t *testing.T) {
	wrongKey := encodeHeader(sdk.FeedHeader{Key: testKey(99)})
	newVersion := encodeHeader(sdk.FeedHeader{Key: testKey(3)})
	binary.LittleEndian.PutUint32(newVersion[8:], formatVersion+1)
	binary.LittleEndian.PutUint32(newVersion[headerSize-4:], crc32.Checksum(newVersion[:headerSize-4], castagnoli))

	tests := []struct {
		name    string
		damage  func(log []byte) []byte
		corrupt bool   // the error wraps sdk.ErrCorrupt
		msg     string // the error says this
	}{
		{"empty file", func(log []byte) []byte { return nil }, true, "no room for its header"},
		{"short header", func(log []byte) []byte { return log[:headerSize-1] }, true, "no room for its header"},
		{"bad magic", func(log []byte) []byte { log[0] = 'X'; return log }, true, "bad magic"},
		{"flipped key bit", func(log []byte) []byte { log[20] ^= 1; return log }, true, "checksum"},
		{"flipped secret key bit", func(log []byte) []byte { log[100] ^= 1; return log }, true, "checksum"},
		{"flipped checksum bit", func(log []byte) []byte { log[headerSize-1] ^= 1; return log }, true, "checksum"},
		{"header of another feed", func(log []byte) []byte { copy(log, wrongKey); return log }, true, "names feed"},
		{"newer format version", func(log []byte) []byte { copy(log, newVersion); return log }, false, "version 2 is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newDamageFixture(t)
			damaged := tt.damage(append([]byte(nil), fx.log...))
			if err := os.WriteFile(fx.path, damaged, filePerm); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			key := fx.states[0].header.Key
			s := open(t, fx.dir)
			defer closeStorage(t, s)

			keys, err := s.Feeds(ctx)
			if err != nil {
				t.Fatalf("Feeds: %v", err)
			}
			if diff := cmp.Diff([]sdk.FeedKey{key, fx.other.header.Key}, keys); diff != "" {
				t.Errorf("a feed that fails to load must stay listed (-want +got):\n%s", diff)
			}
			fx.other.check(t, s)
			_, err = s.Load(ctx, key)
			if errors.Is(err, sdk.ErrCorrupt) != tt.corrupt || err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Load: err = %v, want one saying %q (wrapping ErrCorrupt: %v)", err, tt.msg, tt.corrupt)
			}
			if err := s.Write(ctx, key, blocksBatch(0, 1, 1, 0)); err == nil {
				t.Error("Write to a feed that failed to load succeeded")
			}
			if err := s.Create(ctx, fx.states[0].header); !errors.Is(err, sdk.ErrExists) {
				t.Errorf("Create over a feed that failed to load: err = %v, want ErrExists", err)
			}
			// The file is left as it was, for inspection...
			if got, err := os.ReadFile(fx.path); err != nil || string(got) != string(damaged) {
				t.Errorf("the log of a feed that failed to load was modified (err %v)", err)
			}
			// ...until the feed is deleted.
			if err := s.Delete(ctx, key); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if _, err := os.Stat(fx.path); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Delete left the log: Stat err = %v", err)
			}
		})
	}
}

func TestUnknownFilesIgnored(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	closeStorage(t, s)
	key := testKey(5)
	name := key.String()
	for _, path := range []string{
		filepath.Join(dir, feedsName, name[:2], strings.ToUpper(name)+logSuffix), // not lowercase
		filepath.Join(dir, feedsName, "zz", name+logSuffix),                      // not a prefix directory
		filepath.Join(dir, feedsName, "00", name+logSuffix),                      // in the wrong one
		filepath.Join(dir, feedsName, name[:2], name[:10]+logSuffix),             // not a key
	} {
		if err := os.MkdirAll(filepath.Dir(path), dirPerm); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, encodeHeader(sdk.FeedHeader{Key: key}), filePerm); err != nil {
			t.Fatal(err)
		}
	}
	s = open(t, dir)
	defer closeStorage(t, s)
	if keys, err := s.Feeds(context.Background()); err != nil || len(keys) != 0 {
		t.Errorf("Feeds = %v, %v; want none", keys, err)
	}
}
