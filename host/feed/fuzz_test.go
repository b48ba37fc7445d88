package feed

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Proofs and evidence are read from disk and from peers: decoding must
// never panic, and whatever decodes must encode back to the same value.

func FuzzDecodeProof(f *testing.F) {
	w := newWriter(f, 20, 21, 5)
	for _, req := range []ProofRequest{{0, 0, 0}, {3, 9, 2}, {20, 21, 20}} {
		p, _ := w.Proof(ctx, req)
		f.Add(AppendProof(nil, p))
	}
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodeProof(data)
		if err != nil {
			return
		}
		again, err := DecodeProof(AppendProof(nil, p))
		if err != nil {
			t.Fatalf("re-encoded proof does not decode: %v", err)
		}
		if diff := cmp.Diff(p, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		VerifyProof(w.Key(), p) // must not panic on any decoded proof
	})
}

func FuzzDecodeEvidence(f *testing.F) {
	w := newWriter(f, 21, 4, 2)
	a, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 1})
	b, _ := w.Proof(ctx, ProofRequest{Start: 1, End: 2})
	f.Add(AppendEvidence(nil, &ForkEvidence{Index: 0, A: a, B: b}))
	f.Add([]byte{1, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := DecodeEvidence(data)
		if err != nil {
			return
		}
		again, err := DecodeEvidence(AppendEvidence(nil, e))
		if err != nil {
			t.Fatalf("re-encoded evidence does not decode: %v", err)
		}
		if diff := cmp.Diff(e, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
		e.Verify(w.Key())
	})
}
