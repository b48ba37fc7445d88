package secure

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Everything below comes from the peer: parsing must never panic, and
// whatever parses must encode back to the bytes it came from.

// FuzzReadStream feeds a decrypted stream, cut into pieces every piece
// bytes, to the message parser.
func FuzzReadStream(f *testing.F) {
	f.Add([]byte("\x01a\x02bc"), uint16(1))
	f.Add([]byte("\x80\x01"+strings.Repeat("x", 128)), uint16(1))
	f.Add([]byte("\x81\x00"), uint16(7))
	f.Add([]byte("\x00"), uint16(0))
	f.Add([]byte(strings.Repeat("\xff", 11)), uint16(3))
	f.Add([]byte("\x81\x80\x80\x08"), uint16(2))
	f.Fuzz(func(t *testing.T, data []byte, piece uint16) {
		size := int(piece)%(len(data)+1) + 1
		var pieces []string
		for rest := data; len(rest) > 0; {
			n := min(size, len(rest))
			pieces = append(pieces, "", string(rest[:n])) // empty pieces are allowed too
			rest = rest[n:]
		}
		r := messageReader{next: sliceSource(pieces, nil)}
		var again []byte
		for {
			m, err := r.readMessage()
			if err != nil {
				if err == io.EOF && len(again) != len(data) {
					t.Fatalf("clean end after %d of %d bytes", len(again), len(data))
				}
				if err != io.EOF && !errors.Is(err, ErrProtocol) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(m) == 0 || len(m) > MaxMessage {
				t.Fatalf("message of %d bytes", len(m))
			}
			again = binary.AppendUvarint(again, uint64(len(m)))
			again = append(again, m...)
		}
		if !bytes.HasPrefix(data, again) {
			t.Fatalf("messages re-encode to %q, not a prefix of the stream %q", again, data)
		}
	})
}

func FuzzHello(f *testing.F) {
	f.Add(appendHello(nil, testHello))
	f.Add(appendHello(nil, Hello{MinVersion: 1, MaxVersion: 1 << 63, Client: "codrive/0.1.0", Features: []string{"zstd", "", "é"}}))
	f.Add([]byte{1, 1, 0, 0})
	f.Add([]byte{1, 1, 0, 0x80, 0})
	f.Add([]byte{1, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := parseHello(data)
		if err != nil {
			return
		}
		if got := appendHello(nil, h); !bytes.Equal(got, data) {
			t.Fatalf("hello %+v re-encodes to %x, not %x", h, got, data)
		}
		if _, err := encodeLocalHello(h); len(data) <= maxHelloSize && err != nil {
			t.Fatalf("a hello we accept is one we can't send: %v", err)
		}
		again, err := parseHello(appendHello(nil, h))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(h, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		if strings.Contains((&VersionError{Local: testHello, Peer: h}).Error(), "\n") {
			t.Fatalf("VersionError for %+v is more than one line", h)
		}
	})
}

func FuzzPreamble(f *testing.F) {
	f.Add([]byte("codrive\x01"))
	f.Add([]byte("codrive\x00"))
	f.Add([]byte("codr"))
	f.Add([]byte("GET / HTTP/1.1\r\n"))
	f.Add([]byte("\x16\x03\x01\x02\x00\x01\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := readPreamble(bytes.NewReader(data))
		var nc *NotCodriveError
		switch {
		case err == nil:
			if len(p) != preambleSize || !bytes.Equal(p, data[:preambleSize]) || string(p[:len(magic)]) != magic || p[len(magic)] == 0 {
				t.Fatalf("accepted preamble %q from %q", p, data)
			}
		case errors.As(err, &nc):
			if !bytes.Equal(nc.Received, data[:min(len(data), preambleSize)]) {
				t.Fatalf("Received %q from %q", nc.Received, data)
			}
			if strings.HasPrefix(string(data), magic) {
				t.Fatalf("%q starts with the magic but is not codrive: %v", data, err)
			}
			if msg := err.Error(); strings.ContainsFunc(msg, func(r rune) bool { return r < ' ' || r > '~' }) {
				t.Fatalf("error %q is not printable ASCII", msg)
			}
		case !errors.Is(err, ErrHandshake):
			t.Fatalf("unexpected error %v", err)
		}
	})
}
