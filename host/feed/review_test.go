package feed

import (
	"errors"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
)

// Regression tests for attacks and misuse found in review.

// TestSizesAreSigned: moving size between two siblings given as nodes
// must break the proof, or anyone could forge fork evidence.
func TestSizesAreSigned(t *testing.T) {
	w := newWriter(t, 40, 4, 4)
	honest, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 1})
	forged, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 1})
	leaf := LeafHash(0, forged.Blocks[0])
	forged.Blocks = nil
	forged.Nodes = append(forged.Nodes, leaf)
	for k := range forged.Nodes {
		switch forged.Nodes[k].Index {
		case 0:
			forged.Nodes[k].Size += 1000
		case 2:
			forged.Nodes[k].Size -= 1000
		}
	}
	if _, err := VerifyProof(w.Key(), forged); !errors.Is(err, ErrBadProof) {
		t.Fatalf("proof with shifted sizes: %v, want ErrBadProof", err)
	}
	if err := (&ForkEvidence{Index: 0, A: honest, B: forged}).Verify(w.Key()); err == nil {
		t.Fatal("forged fork evidence verifies")
	}
}

// TestWriterSeesKeyCopy: a longer head under our fork id that we did not
// sign means another device appends with our key.
func TestWriterSeesKeyCopy(t *testing.T) {
	w, _ := Create(ctx, memory.New(), testKey(41))
	clone, _ := Create(ctx, memory.New(), testKey(41))
	w.Append(ctx, []byte("a"))
	clone.Append(ctx, []byte("a"), []byte("b"))
	p, _ := clone.Proof(ctx, ProofRequest{Start: 1, End: 2, UpgradeFrom: 1})
	if err := w.Put(ctx, p); !errors.Is(err, ErrForked) {
		t.Fatalf("writer Put of a longer head from a key copy: %v, want ErrForked", err)
	}
}

func TestClosedHandleRefusesWrites(t *testing.T) {
	f := newWriter(t, 42, 2, 2)
	f.Close()
	if _, err := f.Append(ctx, []byte("x")); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
	if err := f.Truncate(ctx, 0); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Truncate after Close: %v", err)
	}
	if _, err := f.Get(ctx, 1); err != nil {
		t.Errorf("reads still work after Close: %v", err)
	}
}

// TestTruncateChecksStoredRoots: Truncate signs roots read from storage,
// so it must refuse damaged ones rather than sign them.
func TestTruncateChecksStoredRoots(t *testing.T) {
	st := memory.New()
	w, _ := Create(ctx, st, testKey(43))
	appendBlocks(t, w, 0, 8, 8)
	bad := sdk.Node{Index: 1, Size: 99}
	st.Write(ctx, w.Key(), &sdk.Batch{Nodes: []sdk.Node{bad}})
	if err := w.Truncate(ctx, 2); !errors.Is(err, sdk.ErrCorrupt) {
		t.Fatalf("Truncate over a damaged root: %v, want ErrCorrupt", err)
	}
	if w.Head().Fork != 0 {
		t.Fatal("a failed truncate changed the head")
	}
}

// TestSparseVerifyChecksNodes: Verify on a partial replica checks the
// nodes it would serve in proofs, not only the blocks.
func TestSparseVerifyChecksNodes(t *testing.T) {
	w := newWriter(t, 44, 8, 8)
	st := memory.New()
	r, _ := CreateReader(ctx, st, w.Key())
	p, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 2})
	if err := r.Put(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	st.Write(ctx, w.Key(), &sdk.Batch{Nodes: []sdk.Node{{Index: 5, Size: 3}}})
	if err := r.Verify(ctx); !errors.Is(err, sdk.ErrCorrupt) {
		t.Fatalf("Verify with a damaged node: %v, want ErrCorrupt", err)
	}
}

// TestRacingUpgradesAreStale: two honest proofs asked from the same old
// length; the second to arrive is stale, not bad.
func TestRacingUpgradesAreStale(t *testing.T) {
	w := newWriter(t, 45, 3, 3)
	r, _ := CreateReader(ctx, memory.New(), w.Key())
	p, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 3})
	r.Put(ctx, p)
	appendBlocks(t, w, 3, 10, 7)
	first, _ := w.Proof(ctx, ProofRequest{Start: 9, End: 10, UpgradeFrom: 3})
	appendBlocks(t, w, 10, 16, 6)
	second, _ := w.Proof(ctx, ProofRequest{Start: 15, End: 16, UpgradeFrom: 3})
	if err := r.Put(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := r.Put(ctx, second); err != nil && !errors.Is(err, ErrStale) {
		t.Fatalf("raced upgrade: %v, want nil or ErrStale", err)
	}
}

// TestBlocksPastHeadNotServed: a storage may hold a batch whose Write it
// reported as failed; blocks past the signed head are not served.
func TestBlocksPastHeadNotServed(t *testing.T) {
	st := memory.New()
	w, _ := Create(ctx, st, testKey(47))
	appendBlocks(t, w, 0, 2, 2)
	leaf := LeafHash(2, []byte("unsigned"))
	st.Write(ctx, w.Key(), &sdk.Batch{Blocks: []sdk.Block{{Index: 2, Data: []byte("unsigned")}}, Nodes: []sdk.Node{leaf}})
	g, err := Open(ctx, st, w.Key())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Get(ctx, 2); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("Get past the head: %v, want ErrNotAvailable", err)
	}
}

func TestNonCanonicalVarintRejected(t *testing.T) {
	w := newWriter(t, 48, 1, 1)
	p, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 1})
	enc := AppendProof(nil, p)
	// Fork 0 is the byte after the version; write it as 0x80 0x00.
	long := append([]byte{enc[0], 0x80, 0x00}, enc[2:]...)
	if _, err := DecodeProof(long); err == nil {
		t.Fatal("an overlong varint decodes")
	}
}
