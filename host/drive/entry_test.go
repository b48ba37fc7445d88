package drive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codrive/codrive/sdk"
)

// fkey returns a feed key filled with b.
func fkey(b byte) sdk.FeedKey {
	var k sdk.FeedKey
	for i := range k {
		k[i] = b
	}
	return k
}

// kb is fkey(b) as a slice.
func kb(b byte) []byte { k := fkey(b); return k[:] }

// sampleEntries returns one valid entry of every shape the encoding has,
// by name. Empty slices and maps are nil, as DecodeEntry returns them.
func sampleEntries() map[string]*Entry {
	var h sdk.Hash
	for i := range h {
		h[i] = byte(i + 1)
	}
	return map[string]*Entry{
		"file": {
			Kind: KindFile, Path: "/docs/report.txt", WallClock: 1_700_000_000_123_456_789,
			Mode: 0o644, Size: 3*1024 + 17, Hash: h,
			Extents:  []Extent{{Start: 0, Blocks: 2}, {Start: 9, Blocks: 1}, {Start: 1 << 40, Blocks: 1}},
			Metadata: map[string][]byte{"author": []byte("ann"), "tag": {0, 1, 2}},
		},
		"file compressed": {
			Kind: KindFile, Path: "/z", WallClock: 5, Mode: 0o600, Size: 1,
			Compression: CompressionZstd, Hash: h, Extents: []Extent{{Start: 3, Blocks: 1}},
		},
		"empty file": {Kind: KindFile, Path: "/empty", Mode: 0o644, Hash: HashContent(nil)},
		"dir":        {Kind: KindDir, Path: "/a/b", WallClock: 42, Mode: 0o755},
		"symlink":    {Kind: KindSymlink, Path: "/l", WallClock: 1, Mode: 0o777, Target: "../somewhere/else"},
		"mount": {
			Kind: KindMount, Path: "/m/n", WallClock: 2, MountKey: fkey(0xaa), MountVersion: 300,
		},
		"mount latest": {Kind: KindMount, Path: "/m/latest", MountKey: fkey(0xab)},
		"tombstone":    {Kind: KindTombstone, Path: "/gone", WallClock: 3},
		"negative wall clock": {
			Kind: KindTombstone, Path: "/old", WallClock: -1,
		},
		"clock of several writers": {
			Kind: KindFile, Path: "/c", WallClock: 7, Mode: 0o640, Hash: h, Size: 10,
			Extents: []Extent{{Start: 0, Blocks: 1}},
			Clock: sdk.VectorClock{
				{Writer: fkey(0x01), Length: 0},
				{Writer: fkey(0x02), Length: 1},
				{Writer: fkey(0x7f), Length: 1 << 33},
				{Writer: fkey(0xff), Length: 128},
			},
		},
		"metadata with empty value": {
			Kind: KindDir, Path: "/meta", Metadata: map[string][]byte{"a": []byte("1"), "b": {}, "zz": bytes.Repeat([]byte{7}, 300)},
		},
		"longest path": {Kind: KindDir, Path: "/" + strings.Repeat("p", MaxPathLen-1)},
		"largest metadata": {
			Kind: KindTombstone, Path: "/big", Metadata: map[string][]byte{"k": make([]byte, MaxMetadataSize-1)},
		},
	}
}

// encode encodes e or fails the test.
func encode(t testing.TB, e *Entry) []byte {
	t.Helper()
	b, err := AppendEntry(nil, e)
	if err != nil {
		t.Fatalf("AppendEntry(%+v): %v", e, err)
	}
	return b
}

func TestEntryRoundTrip(t *testing.T) {
	for name, e := range sampleEntries() {
		t.Run(name, func(t *testing.T) {
			prefix := []byte("prefix")
			b, err := AppendEntry(slices.Clone(prefix), e)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(b, prefix) {
				t.Fatalf("AppendEntry lost the buffer's prefix: %q", b[:len(prefix)])
			}
			enc := b[len(prefix):]
			got, err := DecodeEntry(enc)
			if err != nil {
				t.Fatalf("DecodeEntry: %v", err)
			}
			if diff := cmp.Diff(e, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("round trip (-want +got):\n%s", diff)
			}
			again := encode(t, got)
			if !bytes.Equal(again, enc) {
				t.Errorf("re-encoding differs:\n got %x\nwant %x", again, enc)
			}
			// The entry shares no memory with the input.
			for i := range enc {
				enc[i] ^= 0xff
			}
			if diff := cmp.Diff(e, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decoded entry changed with its input (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEntryMetadataEncodingIsSorted: the encoding of a map does not depend
// on Go's map order.
func TestEntryMetadataEncodingIsSorted(t *testing.T) {
	md := map[string][]byte{}
	for i := range 50 {
		md[string(rune('a'+i%26))+strings.Repeat("x", i)] = []byte{byte(i)}
	}
	e := &Entry{Kind: KindDir, Path: "/d", Metadata: md}
	first := encode(t, e)
	for range 20 {
		e2 := &Entry{Kind: KindDir, Path: "/d", Metadata: maps.Clone(md)}
		if b := encode(t, e2); !bytes.Equal(b, first) {
			t.Fatal("two encodings of one entry differ")
		}
	}
}

func TestAppendEntryRejectsInvalid(t *testing.T) {
	file := func(mod func(e *Entry)) *Entry {
		e := &Entry{Kind: KindFile, Path: "/f", Mode: 0o644, Size: 1, Extents: []Extent{{0, 1}}}
		mod(e)
		return e
	}
	of := func(k Kind, mod func(e *Entry)) *Entry {
		e := &Entry{Kind: k, Path: "/x"}
		if k == KindSymlink {
			e.Target = "t"
		}
		mod(e)
		return e
	}
	nop := func(*Entry) {}
	manyExtents := make([]Extent, 60_000)
	for i := range manyExtents {
		manyExtents[i] = Extent{Start: 1 << 62, Blocks: 1 << 62}
	}
	tooManyWriters := make(sdk.VectorClock, MaxClockWriters+1)
	for i := range tooManyWriters {
		binary.BigEndian.PutUint32(tooManyWriters[i].Writer[:], uint32(i))
	}
	tests := []struct {
		name string
		e    *Entry
	}{
		{"empty path", file(func(e *Entry) { e.Path = "" })},
		{"root", file(func(e *Entry) { e.Path = "/" })},
		{"relative", file(func(e *Entry) { e.Path = "a" })},
		{"relative with slash", file(func(e *Entry) { e.Path = "a/b" })},
		{"trailing slash", file(func(e *Entry) { e.Path = "/a/" })},
		{"double slash", file(func(e *Entry) { e.Path = "//a" })},
		{"dot dot", file(func(e *Entry) { e.Path = "/a/../b" })},
		{"dot", file(func(e *Entry) { e.Path = "/a/./b" })},
		{"trailing dot", file(func(e *Entry) { e.Path = "/a/." })},
		{"NUL", file(func(e *Entry) { e.Path = "/a\x00b" })},
		{"path too long", file(func(e *Entry) { e.Path = "/" + strings.Repeat("a", MaxPathLen) })},
		{"kind 0", of(0, nop)},
		{"kind 6", of(6, nop)},
		{"kind 255", of(255, nop)},
		{"unsorted clock", file(func(e *Entry) {
			e.Clock = sdk.VectorClock{{Writer: fkey(2)}, {Writer: fkey(1)}}
		})},
		{"duplicate writer in clock", file(func(e *Entry) {
			e.Clock = sdk.VectorClock{{Writer: fkey(1), Length: 1}, {Writer: fkey(1), Length: 2}}
		})},
		{"clock of too many writers", file(func(e *Entry) { e.Clock = tooManyWriters })},
		{"mode type bits", file(func(e *Entry) { e.Mode = fs.ModeDir | 0o755 })},
		{"mode setuid", file(func(e *Entry) { e.Mode = fs.ModeSetuid | 0o755 })},
		{"mode sticky", file(func(e *Entry) { e.Mode = fs.ModeSticky })},
		{"unknown compression", file(func(e *Entry) { e.Compression = 2 })},
		{"size on a dir", of(KindDir, func(e *Entry) { e.Size = 1 })},
		{"extents on a dir", of(KindDir, func(e *Entry) { e.Extents = []Extent{{0, 1}} })},
		{"compression on a dir", of(KindDir, func(e *Entry) { e.Compression = CompressionZstd })},
		{"hash on a tombstone", of(KindTombstone, func(e *Entry) { e.Hash[0] = 1 })},
		{"size on a symlink", of(KindSymlink, func(e *Entry) { e.Size = 1 })},
		{"size on a mount", of(KindMount, func(e *Entry) { e.Size = 1 })},
		{"symlink without target", of(KindSymlink, func(e *Entry) { e.Target = "" })},
		{"symlink target too long", of(KindSymlink, func(e *Entry) { e.Target = strings.Repeat("t", MaxPathLen+1) })},
		{"symlink target with NUL", of(KindSymlink, func(e *Entry) { e.Target = "a\x00" })},
		{"target on a file", file(func(e *Entry) { e.Target = "t" })},
		{"target on a dir", of(KindDir, func(e *Entry) { e.Target = "t" })},
		{"target on a tombstone", of(KindTombstone, func(e *Entry) { e.Target = "t" })},
		{"mount key on a file", file(func(e *Entry) { e.MountKey = fkey(1) })},
		{"mount version on a dir", of(KindDir, func(e *Entry) { e.MountVersion = 1 })},
		{"mount key on a tombstone", of(KindTombstone, func(e *Entry) { e.MountKey = fkey(1) })},
		{"empty metadata key", file(func(e *Entry) { e.Metadata = map[string][]byte{"": []byte("v")} })},
		{"metadata too big", file(func(e *Entry) {
			e.Metadata = map[string][]byte{"k": make([]byte, MaxMetadataSize)}
		})},
		{"metadata too big in total", file(func(e *Entry) {
			e.Metadata = map[string][]byte{"a": make([]byte, MaxMetadataSize/2), "b": make([]byte, MaxMetadataSize/2)}
		})},
		{"entry too big", file(func(e *Entry) { e.Extents = manyExtents })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("keep")
			got, err := AppendEntry(slices.Clone(prefix), tt.e)
			if !errors.Is(err, sdk.ErrInvalid) {
				t.Fatalf("AppendEntry = %v, want an error wrapping sdk.ErrInvalid", err)
			}
			if !bytes.Equal(got, prefix) {
				t.Errorf("AppendEntry returned %d bytes on error, want the buffer unchanged", len(got))
			}
		})
	}
}

// Helpers to build raw encodings by hand.

func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

// uvLong is v as a varint one byte longer than its shortest form.
func uvLong(v uint64) []byte {
	b := uv(v)
	b[len(b)-1] |= 0x80
	return append(b, 0)
}

func str(s string) []byte { return append(uv(uint64(len(s))), s...) }

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func rep(b []byte, n int) []byte { return bytes.Repeat(b, n) }

// Raw encodings of a minimal entry of each kind, to splice fields into.
var (
	rawNoClock = uv(0)
	rawNoMeta  = uv(0)
	rawZero32  = make([]byte, 32)
)

func rawDir(path string, mode []byte, meta ...[]byte) []byte {
	if meta == nil {
		meta = [][]byte{rawNoMeta}
	}
	return cat([]byte{byte(KindDir)}, str(path), le64(0), rawNoClock, mode, cat(meta...))
}

func rawFile(size, nExt []byte, extents ...[]byte) []byte {
	return cat([]byte{byte(KindFile)}, str("/f"), le64(0), rawNoClock, uv(0o644),
		size, []byte{0}, rawZero32, nExt, cat(extents...), rawNoMeta)
}

func rawClock(count []byte, entries ...[]byte) []byte {
	return cat([]byte{byte(KindTombstone)}, str("/t"), le64(0), count, cat(entries...), uv(0), rawNoMeta)
}

func clockEntry(b byte, length []byte) []byte { return cat(kb(b), length) }

func TestDecodeEntryStrict(t *testing.T) {
	// Positive controls: the hand-made encodings decode, so each bad case
	// below differs from a good one only by what it tests.
	controls := []struct {
		name string
		b    []byte
		want *Entry
	}{
		{"dir", rawDir("/d", uv(0o755)), &Entry{Kind: KindDir, Path: "/d", Mode: 0o755}},
		{"file", rawFile(uv(300), uv(1), uv(5), uv(200)), &Entry{Kind: KindFile, Path: "/f", Mode: 0o644, Size: 300, Extents: []Extent{{5, 200}}}},
		{"clock", rawClock(uv(2), clockEntry(1, uv(300)), clockEntry(2, uv(0))),
			&Entry{Kind: KindTombstone, Path: "/t", Clock: sdk.VectorClock{{Writer: fkey(1), Length: 300}, {Writer: fkey(2)}}}},
		{"metadata", rawDir("/d", uv(0), uv(2), str("a"), str(""), str("b"), str("v")),
			&Entry{Kind: KindDir, Path: "/d", Metadata: map[string][]byte{"a": {}, "b": []byte("v")}}},
	}
	for _, c := range controls {
		t.Run("control/"+c.name, func(t *testing.T) {
			got, err := DecodeEntry(c.b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if b := encode(t, got); !bytes.Equal(b, c.b) {
				t.Errorf("re-encoded %x, want %x", b, c.b)
			}
		})
	}

	huge := make([]byte, MaxEntrySize+1)
	copy(huge, rawDir("/d", uv(0)))
	bad := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"kind only", []byte{byte(KindDir)}},
		{"over MaxEntrySize", huge},
		{"trailing byte", append(rawDir("/d", uv(0)), 0)},
		{"trailing bytes of a file on a dir", cat(rawDir("/d", uv(0))[:len(rawDir("/d", uv(0)))-1], uv(1), []byte{0}, rawZero32, uv(0), rawNoMeta)},
		{"overlong varint", cat([]byte{byte(KindDir)}, rep([]byte{0xff}, 10), []byte{1})},
		{"varint running off the end", cat([]byte{byte(KindDir)}, []byte{0x80})},

		{"non-shortest path length", cat([]byte{byte(KindDir)}, uvLong(2), []byte("/d"), le64(0), rawNoClock, uv(0), rawNoMeta)},
		{"non-shortest clock count", rawClock(uvLong(1), clockEntry(1, uv(1)))},
		{"non-shortest clock length", rawClock(uv(1), clockEntry(1, uvLong(1)))},
		{"non-shortest mode", rawDir("/d", uvLong(0o755))},
		{"non-shortest zero mode", rawDir("/d", uvLong(0))},
		{"non-shortest size", rawFile(uvLong(300), uv(1), uv(5), uv(200))},
		{"non-shortest extent count", rawFile(uv(300), uvLong(1), uv(5), uv(200))},
		{"non-shortest extent start", rawFile(uv(300), uv(1), uvLong(5), uv(200))},
		{"non-shortest extent blocks", rawFile(uv(300), uv(1), uv(5), uvLong(200))},
		{"non-shortest mount version", cat([]byte{byte(KindMount)}, str("/m"), le64(0), rawNoClock, uv(0), kb(1), uvLong(3), rawNoMeta)},
		{"non-shortest metadata count", rawDir("/d", uv(0), uvLong(1), str("a"), str("b"))},
		{"non-shortest metadata key length", rawDir("/d", uv(0), uv(1), uvLong(1), []byte("a"), str("b"))},
		{"non-shortest metadata value length", rawDir("/d", uv(0), uv(1), str("a"), uvLong(1), []byte("b"))},
		{"non-shortest symlink target length", cat([]byte{byte(KindSymlink)}, str("/s"), le64(0), rawNoClock, uv(0), uvLong(1), []byte("t"), rawNoMeta)},

		// FileMode is 32 bits: a mode above that must not wrap onto a
		// valid one, or one entry would have two encodings.
		{"mode above 32 bits", rawDir("/d", uv(1<<32|0o755))},
		{"mode of exactly 2^32", rawDir("/d", uv(1<<32))},
		{"mode with type bits", rawDir("/d", uv(uint64(fs.ModeDir|0o755)))},
		{"mode with setgid", rawDir("/d", uv(uint64(fs.ModeSetgid)))},

		{"unsorted metadata keys", rawDir("/d", uv(0), uv(2), str("b"), str("1"), str("a"), str("2"))},
		{"duplicate metadata keys", rawDir("/d", uv(0), uv(2), str("a"), str("1"), str("a"), str("2"))},
		{"empty metadata key", rawDir("/d", uv(0), uv(1), str(""), str("v"))},
		{"metadata too big", rawDir("/d", uv(0), uv(1), str("k"), str(string(make([]byte, MaxMetadataSize))))},
		{"metadata value over its limit", rawDir("/d", uv(0), uv(1), str("k"), uv(MaxMetadataSize+1), make([]byte, MaxMetadataSize+1))},
		{"metadata count larger than the buffer", rawDir("/d", uv(0), uv(1000))},
		{"metadata count of 2^63", rawDir("/d", uv(0), uv(1<<63))},
		{"metadata string past the end", rawDir("/d", uv(0), uv(1), uv(100), []byte("ab"))},

		{"clock count larger than the buffer", rawClock(uv(5), clockEntry(1, uv(1)))},
		{"clock count of 2^63", rawClock(uv(1 << 63))},
		{"clock over MaxClockWriters", func() []byte {
			var es [][]byte
			for i := range MaxClockWriters + 1 {
				var k sdk.FeedKey
				binary.BigEndian.PutUint32(k[:], uint32(i))
				es = append(es, cat(k[:], uv(0)))
			}
			return rawClock(uv(MaxClockWriters+1), es...)
		}()},
		{"unsorted clock", rawClock(uv(2), clockEntry(2, uv(1)), clockEntry(1, uv(1)))},
		{"duplicate clock writer", rawClock(uv(2), clockEntry(1, uv(1)), clockEntry(1, uv(2)))},

		{"extent count larger than the buffer", rawFile(uv(300), uv(3), uv(5), uv(200))},
		{"extent count of 2^63", rawFile(uv(300), uv(1<<63))},

		{"path length larger than the buffer", cat([]byte{byte(KindDir)}, uv(50), []byte("/d"))},
		{"path over MaxPathLen", rawDir("/"+strings.Repeat("a", MaxPathLen), uv(0))},
		{"relative path", rawDir("d", uv(0))},
		{"root path", rawDir("/", uv(0))},
		{"unclean path", rawDir("/a/../b", uv(0))},
		{"NUL in path", rawDir("/a\x00", uv(0))},

		{"kind 0", cat([]byte{0}, rawDir("/d", uv(0))[1:])},
		{"kind 6", cat([]byte{6}, rawDir("/d", uv(0))[1:])},
		{"unknown compression", cat([]byte{byte(KindFile)}, str("/f"), le64(0), rawNoClock, uv(0), uv(1), []byte{2}, rawZero32, uv(1), uv(0), uv(1), rawNoMeta)},
		{"symlink without target", cat([]byte{byte(KindSymlink)}, str("/s"), le64(0), rawNoClock, uv(0), str(""), rawNoMeta)},
		{"symlink target over MaxPathLen", cat([]byte{byte(KindSymlink)}, str("/s"), le64(0), rawNoClock, uv(0), str(strings.Repeat("t", MaxPathLen+1)), rawNoMeta)},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			e, err := DecodeEntry(tt.b)
			if !errors.Is(err, sdk.ErrCorrupt) {
				t.Fatalf("DecodeEntry = %+v, %v; want an error wrapping sdk.ErrCorrupt", e, err)
			}
			if e != nil {
				t.Errorf("DecodeEntry returned an entry with its error: %+v", e)
			}
		})
	}
}

// TestDecodeEntryValidateErrors: an entry that breaks a rule of
// AppendEntry fails to decode with both ErrCorrupt (the bytes are bad) and
// the ErrInvalid of the rule.
func TestDecodeEntryValidateErrors(t *testing.T) {
	_, err := DecodeEntry(rawDir("/a/../b", uv(0)))
	if !errors.Is(err, sdk.ErrCorrupt) || !errors.Is(err, sdk.ErrInvalid) {
		t.Fatalf("DecodeEntry of an unclean path = %v, want ErrCorrupt and ErrInvalid", err)
	}
}

func TestDecodeEntryTruncated(t *testing.T) {
	for name, e := range sampleEntries() {
		t.Run(name, func(t *testing.T) {
			b := encode(t, e)
			for n := range len(b) {
				got, err := DecodeEntry(b[:n:n])
				if !errors.Is(err, sdk.ErrCorrupt) {
					t.Fatalf("DecodeEntry of the first %d of %d bytes = %+v, %v; want ErrCorrupt", n, len(b), got, err)
				}
			}
			for _, extra := range [][]byte{{0}, {1}, {0xff, 0xff}} {
				if got, err := DecodeEntry(cat(b, extra)); !errors.Is(err, sdk.ErrCorrupt) {
					t.Fatalf("DecodeEntry with %x after it = %+v, %v; want ErrCorrupt", extra, got, err)
				}
			}
		})
	}
}

func TestKindString(t *testing.T) {
	got := map[Kind]string{}
	for _, k := range []Kind{0, KindFile, KindDir, KindSymlink, KindMount, KindTombstone, 6, 255} {
		got[k] = k.String()
	}
	want := map[Kind]string{0: "kind(0)", KindFile: "file", KindDir: "dir", KindSymlink: "symlink",
		KindMount: "mount", KindTombstone: "tombstone", 6: "kind(6)", 255: "kind(255)"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestValidPath(t *testing.T) {
	tests := map[string]bool{
		"/a": true, "/a/b": true, "/a b/c.d": true, "/.hidden": true, "/...": true, "/a..b": true,
		"/" + strings.Repeat("x", MaxPathLen-1): true,
		"":                                      false, "/": false, "a": false, "/a/": false, "//a": false, "/a//b": false, "/.": false,
		"/..": false, "/a/..": false, "/a/./b": false, "/a\x00": false, "./a": false,
		"/" + strings.Repeat("x", MaxPathLen): false,
	}
	for p, want := range tests {
		if got := ValidPath(p); got != want {
			t.Errorf("ValidPath(%.40q) = %v, want %v", p, got, want)
		}
	}
}

func TestHeaderRoundTrip(t *testing.T) {
	for _, h := range []header{
		{content: fkey(1), chunkSize: MinChunkSize},
		{content: fkey(0xfe), chunkSize: DefaultChunkSize},
		{content: fkey(0), chunkSize: MaxChunkSize},
		{content: fkey(9), chunkSize: 1000 + MinChunkSize},
	} {
		b := appendHeader(nil, h)
		got, err := decodeHeader(b)
		if err != nil {
			t.Fatalf("decodeHeader(appendHeader(%+v)): %v", h, err)
		}
		if diff := cmp.Diff(h, got, cmp.AllowUnexported(header{})); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if !bytes.HasPrefix(b, []byte(headerMagic)) {
			t.Errorf("header %x does not start with the magic", b)
		}
	}
}

func TestDecodeHeaderRejects(t *testing.T) {
	good := appendHeader(nil, header{content: fkey(3), chunkSize: 4096})
	hdr := func(version byte, cs []byte) []byte {
		return cat([]byte(headerMagic), []byte{version}, kb(3), cs)
	}
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, sdk.ErrCorrupt},
		{"wrong magic", cat([]byte("codrive-drivX\x00"), good[len(headerMagic):]), sdk.ErrCorrupt},
		{"magic without NUL", cat([]byte("codrive-drive"), good[len(headerMagic):]), sdk.ErrCorrupt},
		{"an entry", rawDir("/d", uv(0)), sdk.ErrCorrupt},
		{"version 0", hdr(0, uv(4096)), sdk.ErrInvalid},
		{"version 2", hdr(2, uv(4096)), sdk.ErrInvalid},
		{"trailing byte", cat(good, []byte{0}), sdk.ErrCorrupt},
		{"non-shortest chunk size", hdr(formatVersion, uvLong(4096)), sdk.ErrCorrupt},
		{"chunk size below min", hdr(formatVersion, uv(MinChunkSize-1)), sdk.ErrCorrupt},
		{"chunk size 0", hdr(formatVersion, uv(0)), sdk.ErrCorrupt},
		{"chunk size above max", hdr(formatVersion, uv(MaxChunkSize+1)), sdk.ErrCorrupt},
		{"chunk size wrapping 32 bits", hdr(formatVersion, uv(1<<32+4096)), sdk.ErrCorrupt},
		{"overlong chunk size varint", hdr(formatVersion, rep([]byte{0xff}, 11)), sdk.ErrCorrupt},
	}
	for n := range len(good) {
		tests = append(tests, struct {
			name string
			b    []byte
			want error
		}{fmt.Sprintf("truncated to %d", n), good[:n:n], sdk.ErrCorrupt})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := decodeHeader(tt.b)
			if !errors.Is(err, tt.want) {
				t.Fatalf("decodeHeader = %+v, %v; want an error wrapping %v", h, err, tt.want)
			}
		})
	}
}
