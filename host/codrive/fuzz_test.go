package codrive

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/sdk"
)

func TestMessagesRoundTrip(t *testing.T) {
	sig := bytes.Repeat([]byte{7}, 64)
	for _, proof := range [][]byte{nil, []byte("invite-code"), bytes.Repeat([]byte{1}, MaxProof)} {
		w, s, p, err := decodeRequest(encodeRequest(kA, sig, proof))
		if err != nil || w != kA || !bytes.Equal(s, sig) || !bytes.Equal(p, proof) {
			t.Errorf("request with a %d-byte proof: %v %v %x %x", len(proof), err, w, s, p)
		}
	}
	for _, tt := range []struct {
		status byte
		reason string
		want   string
	}{
		{replyGranted, "", ""},
		{replyDenied, "no", "no"},
		{replyDenied, strings.Repeat("é", maxReason), strings.Repeat("é", maxReason/2)},
	} {
		in := replyMsg{writer: kB, status: tt.status, signer: kA, sig: bytes.Repeat([]byte{3}, 64), reason: cutReason(tt.reason)}
		r, err := decodeReply(in.encode())
		if err != nil || r.writer != kB || r.status != tt.status || r.signer != kA || !bytes.Equal(r.sig, in.sig) {
			t.Fatalf("reply: %v %+v", err, r)
		}
		if diff := cmp.Diff(tt.want, r.reason); diff != "" {
			t.Errorf("reason (-want +got):\n%s", diff)
		}
	}
	bad := []struct {
		name string
		msg  []byte
	}{
		{"short request", make([]byte, 10)},
		{"request of another version", append([]byte{9}, make([]byte, 96)...)},
		{"request with a huge proof", append(encodeRequest(kA, sig, nil), make([]byte, MaxProof+1)...)},
	}
	for _, b := range bad {
		if _, _, _, err := decodeRequest(b.msg); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("%s: %v", b.name, err)
		}
	}
	for _, b := range []struct {
		name string
		msg  []byte
	}{
		{"short reply", make([]byte, 5)},
		{"unknown status", (&replyMsg{writer: kA, status: 99}).encode()},
		{"reason not UTF-8", append((&replyMsg{writer: kA, status: replyDenied}).encode(), 0xff)},
	} {
		if _, err := decodeReply(b.msg); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("%s: %v", b.name, err)
		}
	}
}

// FuzzDecodeRequest: requests come from any peer. Whatever decodes
// encodes back to the same bytes; nothing panics.
func FuzzDecodeRequest(f *testing.F) {
	f.Add(encodeRequest(kA, make([]byte, 64), []byte("code")))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, msg []byte) {
		w, sig, proof, err := decodeRequest(msg)
		if err != nil {
			return
		}
		if back := encodeRequest(w, sig, proof); !bytes.Equal(back, msg) {
			t.Fatalf("%x decodes and encodes to %x", msg, back)
		}
	})
}

// FuzzDecodeReply: replies come from any peer. Whatever decodes with a
// decisive status encodes back to the same bytes; nothing panics.
func FuzzDecodeReply(f *testing.F) {
	f.Add((&replyMsg{writer: kA, status: replyDenied, signer: kB, sig: make([]byte, 64), reason: "not on the list"}).encode())
	f.Add([]byte{1, 2})
	f.Fuzz(func(t *testing.T, msg []byte) {
		r, err := decodeReply(msg)
		if err != nil || !decisive(r.status) {
			return
		}
		if back := r.encode(); !bytes.Equal(back, msg) {
			t.Fatalf("%x decodes and encodes to %x", msg, back)
		}
	})
}
