package drive

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzDecodeEntry: DecodeEntry never panics, and whatever it accepts
// encodes back to the same bytes, so every entry has exactly one encoding
// (peers that hash or compare entries agree).
func FuzzDecodeEntry(f *testing.F) {
	for _, e := range sampleEntries() {
		b, err := AppendEntry(nil, e)
		if err != nil {
			f.Fatal(err)
		}
		if len(b) <= 1024 { // big seeds slow the fuzzer down
			f.Add(b)
		}
	}
	f.Add([]byte{})
	f.Add(rawDir("/d", uv(0o755), uv(2), str("a"), str(""), str("b"), str("v")))
	f.Add(rawFile(uv(300), uv(1), uv(5), uv(200)))
	f.Add(rawClock(uv(2), clockEntry(1, uv(300)), clockEntry(2, uv(0))))
	f.Add(rawDir("/d", uvLong(0o755)))
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		e, err := DecodeEntry(b)
		if !bytes.Equal(in, b) {
			t.Fatal("DecodeEntry modified its input")
		}
		if err != nil {
			if e != nil {
				t.Fatalf("DecodeEntry returned an entry with error %v", err)
			}
			return
		}
		again, err := AppendEntry(nil, e)
		if err != nil {
			t.Fatalf("decoded entry %+v does not encode: %v", e, err)
		}
		if !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, which encodes as %x: not canonical", b, again)
		}
		e2, err := DecodeEntry(again)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(e, e2, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("second decode differs (-first +second):\n%s", diff)
		}
	})
}

// FuzzDecodeHeader: decodeHeader never panics and is canonical too.
func FuzzDecodeHeader(f *testing.F) {
	f.Add(appendHeader(nil, header{content: fkey(1), chunkSize: MinChunkSize}))
	f.Add(appendHeader(nil, header{content: fkey(2), chunkSize: DefaultChunkSize}))
	f.Add(appendHeader(nil, header{content: fkey(3), chunkSize: MaxChunkSize}))
	f.Add([]byte(headerMagic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := decodeHeader(b)
		if err != nil {
			return
		}
		if h.chunkSize < MinChunkSize || h.chunkSize > MaxChunkSize {
			t.Fatalf("accepted chunk size %d", h.chunkSize)
		}
		if again := appendHeader(nil, h); !bytes.Equal(again, b) {
			t.Fatalf("decoded %x, which encodes as %x: not canonical", b, again)
		}
	})
}
