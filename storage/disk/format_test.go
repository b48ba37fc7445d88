package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// sampleBatches cover every part of the record format; they seed the
// fuzzers.
func sampleBatches() []*sdk.Batch {
	withAll := blocksBatch(1<<40, 1<<40+3, 17, 1)
	withAll.Truncate, withAll.TruncateTo = true, 1<<40
	withAll.Evidence = []byte("two conflicting heads")
	withAll.Nodes = append(withAll.Nodes, sdk.Node{Index: maxNodeIndex, Size: 1<<64 - 1})
	return []*sdk.Batch{
		{},
		blocksBatch(0, 1, 0, 0),
		blocksBatch(0, 5, 100, 0),
		withAll,
		{Truncate: true},
		{Evidence: []byte{}},
		{Head: &sdk.Head{Fork: 1<<64 - 1, Length: 1 << 63, Signature: testSig(9)}},
		{Blocks: []sdk.Block{{Index: maxBlockIndex, Data: []byte("last")}, {Index: 0, Data: []byte("first")}}},
	}
}

func encodePayload(t testing.TB, b *sdk.Batch) []byte {
	t.Helper()
	rec, err := appendRecord(nil, b)
	if err != nil {
		t.Fatalf("appendRecord: %v", err)
	}
	return rec[recordPrefixSize:]
}

// batchOf rebuilds the batch that a decoded record encodes.
func batchOf(rec *record, payload []byte) *sdk.Batch {
	b := &sdk.Batch{Truncate: rec.truncate, TruncateTo: rec.truncateTo, Nodes: rec.nodes, Evidence: rec.evidence}
	for _, e := range rec.blocks {
		b.Blocks = append(b.Blocks, sdk.Block{Index: e.index, Data: payload[e.off : e.off+e.size]})
	}
	if rec.hasHead {
		h := rec.head
		b.Head = &h
	}
	return b
}

func TestRecordRoundTrip(t *testing.T) {
	for i, b := range sampleBatches() {
		buf, err := appendRecord([]byte("prefix"), b)
		if err != nil {
			t.Fatalf("batch %d: appendRecord: %v", i, err)
		}
		if string(buf[:6]) != "prefix" {
			t.Fatalf("batch %d: appendRecord overwrote dst", i)
		}
		rec := buf[6:]
		var prefix [recordPrefixSize]byte
		copy(prefix[:], rec)
		length, sum := parsePrefix(&prefix)
		payload := rec[recordPrefixSize:]
		if int(length) != len(payload) || sum != recordChecksum(rec[:4], payload) {
			t.Errorf("batch %d: prefix says %d bytes, checksum %#x; payload has %d", i, length, sum, len(payload))
		}
		var got record
		if err := decodeRecord(payload, &got); err != nil {
			t.Fatalf("batch %d: decodeRecord: %v", i, err)
		}
		if diff := cmp.Diff(b, batchOf(&got, payload), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("batch %d: round trip mismatch (-want +got):\n%s", i, diff)
		}
		if b.Evidence != nil && got.evidence == nil {
			t.Errorf("batch %d: empty evidence decoded as none", i)
		}
	}
}

func TestDecodeRecordRejects(t *testing.T) {
	valid := encodePayload(t, blocksBatch(0, 2, 3, 0))
	uvarint := func(x uint64) []byte { return binary.AppendUvarint(nil, x) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", nil},
		{"type only", []byte{recordTypeBatch}},
		{"unknown type", []byte{recordTypeBatch + 1, 0, 0, 0}},
		{"unknown flag", []byte{recordTypeBatch, 0x80, 0, 0}},
		{"no node count", []byte{recordTypeBatch, 0, 0}},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"truncated", valid[:len(valid)-1]},
		{"non-minimal uvarint", []byte{recordTypeBatch, 0, 0x80, 0x00, 0}},
		{"overlong uvarint", cat([]byte{recordTypeBatch, 0}, bytes.Repeat([]byte{0xff}, 10), []byte{1})},
		{"block count beyond the payload", cat([]byte{recordTypeBatch, 0}, uvarint(1<<62), []byte{0})},
		{"block data beyond the payload", cat([]byte{recordTypeBatch, 0, 1, 0, 10, 'x'}, []byte{0})},
		{"block too large", cat([]byte{recordTypeBatch, 0, 1, 0}, uvarint(sdk.MaxBlockSize+1), []byte{0})},
		{"block index 2^63", cat([]byte{recordTypeBatch, 0, 1}, uvarint(1<<63), []byte{0, 0})},
		{"node count beyond the payload", []byte{recordTypeBatch, 0, 0, 100, 0, 0}},
		{"node index 2^64-1", cat([]byte{recordTypeBatch, 0, 0, 1}, uvarint(1<<64-1), []byte{0}, make([]byte, 32))},
		{"short head", []byte{recordTypeBatch, batchFlagHead, 0, 0, 0, 0}},
		{"evidence beyond the payload", []byte{recordTypeBatch, batchFlagEvidence, 0, 0, 5, 'x'}},
	}
	for _, tt := range tests {
		var rec record
		if err := decodeRecord(tt.payload, &rec); !errors.Is(err, errBadRecord) {
			t.Errorf("%s: decodeRecord(%x) = %v, want errBadRecord", tt.name, tt.payload, err)
		}
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []sdk.FeedHeader{{Key: testKey(1)}, {Key: testKey(2), SecretKey: testSecret(2)}} {
		b := encodeHeader(h)
		if len(b) != headerSize {
			t.Fatalf("header is %d bytes, want %d", len(b), headerSize)
		}
		got, err := decodeHeader(b)
		if err != nil {
			t.Fatalf("decodeHeader: %v", err)
		}
		if diff := cmp.Diff(h, got); diff != "" {
			t.Errorf("round trip mismatch (-want +got):\n%s", diff)
		}
	}
}

// FuzzRecord checks that the record decoder never panics and that what it
// accepts encodes back to the same bytes.
func FuzzRecord(f *testing.F) {
	for _, b := range sampleBatches() {
		f.Add(encodePayload(f, b))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		var rec record
		if err := decodeRecord(payload, &rec); err != nil {
			return
		}
		if got := encodePayload(t, batchOf(&rec, payload)); !bytes.Equal(got, payload) {
			t.Fatalf("decoded %x, which encodes back to %x", payload, got)
		}
	})
}

// FuzzHeader checks that the header decoder never panics and that what it
// accepts encodes back to the same bytes.
func FuzzHeader(f *testing.F) {
	f.Add(encodeHeader(sdk.FeedHeader{Key: testKey(1)}))
	f.Add(encodeHeader(sdk.FeedHeader{Key: testKey(2), SecretKey: testSecret(2)}))
	f.Add([]byte(headerMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHeader(b)
		if err != nil {
			return
		}
		if got := encodeHeader(h); !bytes.Equal(got, b) {
			t.Fatalf("decoded %x, which encodes back to %x", b, got)
		}
	})
}

// FuzzLog feeds arbitrary bytes after a header to the log scan: it must not
// panic, the prefix it accepts must scan again to the same end with no bad
// record, and whether a bad record is a torn tail must follow from the
// bytes as doc.go says.
func FuzzLog(f *testing.F) {
	header := encodeHeader(sdk.FeedHeader{Key: testKey(1)})
	var log []byte
	for _, b := range sampleBatches() {
		rec, err := appendRecord(nil, b)
		if err != nil {
			f.Fatal(err)
		}
		log = append(log, rec...)
		f.Add(bytes.Clone(log))
	}
	f.Add(log[:len(log)-1])
	f.Add(append(bytes.Clone(log), make([]byte, 100)...))
	damaged := bytes.Clone(log)
	damaged[recordPrefixSize] ^= 1
	f.Add(damaged)
	f.Fuzz(func(t *testing.T, records []byte) {
		file := append(bytes.Clone(header), records...)
		size := int64(len(file))
		var idx index
		end, bad, err := scanLog(bytes.NewReader(file), size, &idx)
		if err != nil {
			t.Fatalf("scanLog: %v", err)
		}
		var again index
		end2, bad2, err := scanLog(bytes.NewReader(file[:end]), end, &again)
		if err != nil || bad2 != nil || end2 != end {
			t.Fatalf("rescanning the accepted %d bytes: end %d, bad record %+v, err %v", end, end2, bad2, err)
		}
		if (bad == nil) != (end == size) {
			t.Fatalf("scan of %d bytes stopped at %d with bad record %+v", size, end, bad)
		}
		if bad == nil {
			return
		}
		rest := file[end:]
		wantTorn, wantAfter := true, int64(0)
		if len(rest) >= recordPrefixSize {
			recordEnd := end + recordPrefixSize + int64(binary.LittleEndian.Uint32(rest))
			if recordEnd < size {
				wantTorn, wantAfter = allZero(rest), size-recordEnd
			}
		}
		if bad.torn != wantTorn || bad.after != wantAfter {
			t.Fatalf("bad record at %d (%v): torn %v with %d bytes after it, want torn %v with %d",
				end, bad.reason, bad.torn, bad.after, wantTorn, wantAfter)
		}
	})
}
