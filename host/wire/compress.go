package wire

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// The zstd encoder and decoder are shared: EncodeAll and DecodeAll are safe
// for concurrent use. They are made on first use, so that a host that never
// negotiates zstd never pays for their buffers.
var (
	zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
		// Noise already authenticates every byte, so the frame checksum
		// would only cost four bytes and a hash.
		e, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(false))
		if err != nil {
			panic(err) // unreachable: the options are constant and valid
		}
		return e
	})
	zstdDecoder = sync.OnceValue(func() *zstd.Decoder {
		// The memory limit bounds the declared content size, the window
		// and the bytes actually produced, so that no frame, whatever it
		// declares, makes DecodeAll produce more than MaxBodySize bytes.
		d, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(MaxBodySize))
		if err != nil {
			panic(err) // unreachable: the options are constant and valid
		}
		return d
	})
)

// compressPayload replaces buf[at:], the payload of a DATA body whose type
// byte is buf[at-1], with its zstd compression if that is shorter, and then
// sets the type's compressed bit.
func compressPayload(buf []byte, at int) []byte {
	end := len(buf)
	payload := buf[at:end:end]
	if len(payload) > MaxBodySize {
		return buf // the receiver would refuse to decompress it
	}
	// The compressed frame is appended after the payload, then moved over
	// it. Room for it is made first: growing the buffer as the encoder
	// writes cost as much as the compression.
	enc := zstdEncoder()
	buf = slices.Grow(buf, enc.MaxEncodedSize(len(payload)))
	buf = enc.EncodeAll(payload, buf)
	n := len(buf) - end
	if n >= len(payload) {
		return buf[:end]
	}
	copy(buf[at:], buf[end:])
	buf[at-1] |= compressedBit
	return buf[:at+n]
}

// decompress returns the payload of a compressed DATA body, refusing one
// that would decompress to more than MaxBodySize bytes.
func decompress(payload []byte) ([]byte, error) {
	out, err := zstdDecoder().DecodeAll(payload, nil)
	switch {
	case errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return nil, fmt.Errorf("zstd payload decompresses to more than %d bytes", MaxBodySize)
	case errors.Is(err, zstd.ErrWindowSizeExceeded):
		return nil, fmt.Errorf("zstd window larger than %d bytes", MaxBodySize)
	case err != nil:
		return nil, fmt.Errorf("zstd: %v", err)
	}
	return out, nil
}
