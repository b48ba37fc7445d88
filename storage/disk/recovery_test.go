package disk

import (
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/google/go-cmp/cmp"
)

// damageFixture is a storage directory holding one feed whose log ends
// with a known last record.
type damageFixture struct {
	dir, path string
	// before is the model without the last batch, after with it.
	before, after *model
	// log is the whole file; the last record is log[lastStart:].
	log       []byte
	lastStart int
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
	write := func(b *sdk.Batch) {
		t.Helper()
		if err := s.Write(ctx, h.Key, b); err != nil {
			t.Fatalf("Write: %v", err)
		}
		m.apply(b)
	}
	write(blocksBatch(0, 4, 30, 0))
	write(&sdk.Batch{Evidence: []byte("old evidence")})
	write(blocksBatch(4, 6, 20, 0))
	fx.before = cloneModel(m)
	fx.lastStart = int(s.feeds[h.Key].end)
	last := blocksBatch(6, 9, 12, 0)
	last.Truncate, last.TruncateTo = true, 5
	last.Evidence = []byte("new evidence")
	write(last)
	fx.after = m
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

// reopenWith writes log as the feed's file, opens the storage and checks
// that it holds want and that the file was cut to wantSize.
func (fx *damageFixture) reopenWith(t *testing.T, log []byte, want *model, wantSize int) {
	t.Helper()
	if err := os.WriteFile(fx.path, log, filePerm); err != nil {
		t.Fatal(err)
	}
	s := open(t, fx.dir)
	defer closeStorage(t, s)
	want.check(t, s)
	info, err := os.Stat(fx.path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != int64(wantSize) {
		t.Fatalf("log is %d bytes after Open, want %d", info.Size(), wantSize)
	}
}

func TestTornTail(t *testing.T) {
	fx := newDamageFixture(t)
	for cut := fx.lastStart; cut < len(fx.log); cut++ {
		fx.reopenWith(t, fx.log[:cut], fx.before, fx.lastStart)
	}
	fx.reopenWith(t, fx.log, fx.after, len(fx.log))
}

func TestTornTailThenWrite(t *testing.T) {
	fx := newDamageFixture(t)
	if err := os.WriteFile(fx.path, fx.log[:len(fx.log)-1], filePerm); err != nil {
		t.Fatal(err)
	}
	s := open(t, fx.dir)
	defer closeStorage(t, s)
	b := blocksBatch(6, 7, 5, 9)
	if err := s.Write(context.Background(), fx.before.header.Key, b); err != nil {
		t.Fatalf("Write: %v", err)
	}
	fx.before.apply(b)
	fx.before.check(t, s)
}

func TestCorruptTail(t *testing.T) {
	fx := newDamageFixture(t)
	for pos := fx.lastStart; pos < len(fx.log); pos++ {
		for _, flip := range []byte{0x01, 0x80} {
			log := append([]byte(nil), fx.log...)
			log[pos] ^= flip
			fx.reopenWith(t, log, fx.before, fx.lastStart)
		}
	}
}

func TestGarbageAfterLastRecord(t *testing.T) {
	tests := []struct {
		name string
		tail []byte
	}{
		{"zeros", make([]byte, 4096)},
		{"a few bytes", []byte{1, 2, 3}},
		{"a record prefix claiming more than there is", binary.LittleEndian.AppendUint32(make([]byte, 0, 8), 1<<20)},
		{"a record prefix claiming more than the limit", binary.LittleEndian.AppendUint32(make([]byte, 0, 8), maxRecordSize+1)},
		{"a well-checksummed record that does not decode", func() []byte {
			payload := []byte{recordTypeBatch + 1, 0, 0, 0}
			length := binary.LittleEndian.AppendUint32(nil, uint32(len(payload)))
			rec := binary.LittleEndian.AppendUint32(length, recordChecksum(length, payload))
			return append(rec, payload...)
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newDamageFixture(t)
			fx.reopenWith(t, append(fx.log, tt.tail...), fx.after, len(fx.log))
		})
	}
}

// TestCorruptMiddle shows the recovery policy: the log ends at the first
// bad record, even if good ones follow, so that the state is always that
// of a prefix of the batches.
func TestCorruptMiddle(t *testing.T) {
	fx := newDamageFixture(t)
	log := append([]byte(nil), fx.log...)
	log[headerSize+recordPrefixSize+3] ^= 0xff
	fx.reopenWith(t, log, newModel(fx.before.header), headerSize)
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
			key := fx.after.header.Key
			s := open(t, fx.dir)
			defer closeStorage(t, s)

			keys, err := s.Feeds(ctx)
			if err != nil {
				t.Fatalf("Feeds: %v", err)
			}
			if diff := cmp.Diff([]sdk.FeedKey{key}, keys); diff != "" {
				t.Errorf("a feed that fails to load must stay listed (-want +got):\n%s", diff)
			}
			_, err = s.Load(ctx, key)
			if errors.Is(err, sdk.ErrCorrupt) != tt.corrupt || err == nil || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("Load: err = %v, want one saying %q (wrapping ErrCorrupt: %v)", err, tt.msg, tt.corrupt)
			}
			if err := s.Write(ctx, key, blocksBatch(0, 1, 1, 0)); err == nil {
				t.Error("Write to a feed that failed to load succeeded")
			}
			if err := s.Create(ctx, fx.after.header); !errors.Is(err, sdk.ErrExists) {
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
