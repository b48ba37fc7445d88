package wire

import (
	"errors"
	"fmt"
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

// Payloads up to sampleAbove bytes are compressed whole to see whether
// that pays. A larger one is first sampled: sampleCount windows of
// sampleSize bytes spread over it are compressed, and the payload is
// compressed only if they shrink by at least 1/sampleGain. Trying, and
// failing, to compress megabytes of random or encrypted blocks cost
// about a tenth of a sender's time.
const (
	sampleAbove = 256 << 10
	sampleSize  = 4 << 10
	sampleCount = 3
	sampleGain  = 32
)

// scratchPool holds buffers the encoder writes into; a compressed payload
// is copied back over the uncompressed one, so the message buffer never
// grows (growing it cost as much as the compression).
var scratchPool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledScratch is the largest scratch buffer kept for reuse.
const maxPooledScratch = MaxBodySize + MaxBodySize/64

// compressPayload replaces buf[at:], the payload of a DATA body whose type
// byte is buf[at-1], with its zstd compression if that is shorter, and then
// sets the type's compressed bit. The result is buf[:at+n], with the same
// backing array.
func compressPayload(buf []byte, at int) []byte {
	payload := buf[at:]
	if len(payload) > MaxBodySize || !worthCompressing(payload) {
		return buf // the receiver would refuse to decompress it, or it won't shrink
	}
	sp := scratchPool.Get().(*[]byte)
	out := zstdEncoder().EncodeAll(payload, (*sp)[:0])
	if n := len(out); n < len(payload) {
		copy(buf[at:], out)
		buf = buf[:at+n]
		buf[at-1] |= compressedBit
	}
	if cap(out) <= maxPooledScratch {
		*sp = out
		scratchPool.Put(sp)
	}
	return buf
}

// worthCompressing reports whether a sample of payload compresses enough
// for compressing all of it to be worth trying.
func worthCompressing(payload []byte) bool {
	if len(payload) <= sampleAbove {
		return true
	}
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	enc := zstdEncoder()
	in, out := 0, 0
	step := (len(payload) - sampleSize) / (sampleCount - 1)
	for i := range sampleCount {
		window := payload[i*step : i*step+sampleSize]
		*sp = enc.EncodeAll(window, (*sp)[:0])
		in += len(window)
		out += len(*sp)
	}
	return out < in-in/sampleGain
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
