package secure

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/codrive/codrive/sdk"
)

// Hello is what each side says about itself in the handshake (PROTOCOL.md
// section 3): the protocol versions it speaks, its implementation and the
// optional features it supports.
type Hello struct {
	// MinVersion and MaxVersion bound the protocol versions spoken, both
	// included. MinVersion is at least 1.
	MinVersion, MaxVersion uint64
	// Client names the implementation and its version, such as
	// "codrive/0.1.0".
	Client string
	// Features lists optional features, such as "zstd".
	Features []string
}

// maxHelloSize is the longest encoded Hello that fits in handshake message
// 2 next to the ephemeral key (32 bytes), the encrypted static key (48)
// and the payload's tag (16). Message 3 has 32 bytes more room.
const maxHelloSize = maxFrame - 32 - 48 - tagSize

// hello = min_version max_version string(client) uvarint(n) n*string(feature)
func appendHello(dst []byte, h Hello) []byte {
	dst = binary.AppendUvarint(dst, h.MinVersion)
	dst = binary.AppendUvarint(dst, h.MaxVersion)
	dst = appendString(dst, h.Client)
	dst = binary.AppendUvarint(dst, uint64(len(h.Features)))
	for _, f := range h.Features {
		dst = appendString(dst, f)
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// encodeLocalHello checks a Hello this side is about to send and encodes
// it.
func encodeLocalHello(h Hello) ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, fmt.Errorf("secure: %w: %w", err, sdk.ErrInvalid)
	}
	b := appendHello(nil, h)
	if len(b) > maxHelloSize {
		return nil, fmt.Errorf("secure: hello is %d bytes encoded, more than the %d a handshake message has room for: %w", len(b), maxHelloSize, sdk.ErrInvalid)
	}
	return b, nil
}

// check reports what makes a Hello invalid, whoever made it.
func (h Hello) check() error {
	if h.MinVersion == 0 || h.MinVersion > h.MaxVersion {
		return fmt.Errorf("hello: version range %d-%d is empty or starts at 0", h.MinVersion, h.MaxVersion)
	}
	if !utf8.ValidString(h.Client) {
		return errors.New("hello: client name is not UTF-8")
	}
	for _, f := range h.Features {
		if !utf8.ValidString(f) {
			return errors.New("hello: feature name is not UTF-8")
		}
	}
	return nil
}

// parseHello decodes and checks a peer's Hello. Only the canonical
// encoding is accepted (shortest varints, no trailing bytes), so a Hello
// re-encodes to the bytes it came from. Every length is checked against
// what is left of b before anything is allocated.
func parseHello(b []byte) (Hello, error) {
	d := decoder{b: b}
	h := Hello{
		MinVersion: d.uvarint(),
		MaxVersion: d.uvarint(),
		Client:     d.string(),
	}
	// Each feature takes at least one byte, its length.
	if n := d.uvarint(); n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("%d features in %d bytes", n, len(d.b)))
	} else if n > 0 {
		h.Features = make([]string, n)
		for i := range h.Features {
			h.Features[i] = d.string()
		}
	}
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d bytes after the end", len(d.b)))
	}
	if d.err != nil {
		return Hello{}, fmt.Errorf("hello: %w", d.err)
	}
	if err := h.check(); err != nil {
		return Hello{}, err
	}
	return h, nil
}

// negotiate picks the highest version both Hellos allow.
func negotiate(local, peer Hello) (uint64, error) {
	v := min(local.MaxVersion, peer.MaxVersion)
	if v < max(local.MinVersion, peer.MinVersion) {
		return 0, &VersionError{Local: local, Peer: peer}
	}
	return v, nil
}

// decoder reads the protocol's encodings from a byte slice, keeping the
// first error; after one, every read returns a zero value.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(err error) {
	if d.err == nil {
		d.err = err
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n, err := readUvarint(d.b)
	if err != nil {
		d.fail(err)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(len(d.b)) {
		d.fail(fmt.Errorf("string of %d bytes with %d left", n, len(d.b)))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

// readUvarint decodes the uvarint at the start of b and returns it with
// its length. A varint that is cut short, overflows 64 bits or is not in
// its shortest form is an error.
func readUvarint(b []byte) (uint64, int, error) {
	v, n := binary.Uvarint(b)
	switch {
	case n == 0:
		return 0, 0, errors.New("truncated varint")
	case n < 0:
		return 0, 0, errors.New("varint overflows 64 bits")
	case n > 1 && b[n-1] == 0:
		// A final zero byte adds nothing: a shorter encoding exists.
		return 0, 0, errors.New("varint not in shortest form")
	}
	return v, n, nil
}
