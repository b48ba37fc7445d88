package wire_test

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/host/wire"
)

// Bodies come from peers: decoding must never panic, every error must be
// one of ours, and a body that decodes must encode back to the same bytes.

func FuzzDecode(f *testing.F) {
	for _, s := range samples() {
		body, err := wire.Append(nil, s.channel, s.msg, false)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
	}
	f.Add([]byte{1, 17, 1, 0x80, 0x01, 0})
	f.Fuzz(func(t *testing.T, body []byte) {
		ch, m, err := wire.Decode(body, false)
		if err != nil {
			checkError(t, err)
			return
		}
		again, err := wire.Append(nil, ch, m, false)
		if err != nil {
			t.Fatalf("decoded %#v does not encode: %v", m, err)
		}
		if !bytes.Equal(again, body) {
			t.Fatalf("body %x re-encodes to %x", body, again)
		}
	})
}

func FuzzDecodeCompressed(f *testing.F) {
	for _, s := range samples() {
		if _, ok := s.msg.(*wire.Data); !ok {
			continue
		}
		body, err := wire.Append(nil, s.channel, s.msg, true)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body)
		payload, _ := wire.Append(nil, s.channel, s.msg, false)
		f.Add(append([]byte{payload[0], payload[1] | 0x80}, compress(f, payload[2:])...))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ch, m, err := wire.Decode(body, true)
		if err != nil {
			checkError(t, err)
			return
		}
		// The zstd encoding is not unique; the decoded values must be.
		for _, compress := range []bool{false, true} {
			again, err := wire.Append(nil, ch, m, compress)
			if err != nil {
				t.Fatalf("decoded %#v does not encode: %v", m, err)
			}
			ch2, m2, err := wire.Decode(again, true)
			if err != nil {
				t.Fatalf("re-encoded body %x does not decode: %v", again, err)
			}
			if ch2 != ch {
				t.Fatalf("channel %d became %d", ch, ch2)
			}
			if diff := cmp.Diff(m, m2); diff != "" {
				t.Fatalf("round trip (-first +second):\n%s", diff)
			}
		}
	})
}
