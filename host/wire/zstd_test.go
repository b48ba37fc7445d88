package wire_test

import (
	"bytes"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// compress returns payload as one zstd frame that declares its size, as
// EncodeAll writes it.
func compress(t testing.TB, payload []byte) []byte {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	return enc.EncodeAll(payload, nil)
}

// compressStream returns payload as one zstd frame that does not declare
// its size, as a streaming encoder writes it, so that only decoding tells
// how large it is.
func compressStream(t testing.TB, payload []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := enc.Write(payload); err != nil {
		t.Fatal(err)
	}
	if err := enc.Close(); err != nil {
		t.Fatal(err)
	}
	var h zstd.Header
	if err := h.Decode(buf.Bytes()); err != nil || h.HasFCS {
		t.Fatalf("streamed frame header: %+v, %v; want no content size", h, err)
	}
	return buf.Bytes()
}

// zstdFrame returns a zstd frame holding payload (at most 8 KiB) in one raw
// block, declaring a window of 2^windowLog bytes and no content size.
func zstdFrame(windowLog int, payload []byte) []byte {
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0, byte(windowLog-10) << 3}
	// Block header, 3 bytes little-endian: size, raw block type, last.
	h := len(payload)<<3 | 1
	frame = append(frame, byte(h), byte(h>>8), byte(h>>16))
	return append(frame, payload...)
}
