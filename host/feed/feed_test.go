package feed

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
)

var ctx = context.Background()

// testKey returns a deterministic key pair so failures reproduce.
func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func block(i int) []byte { return []byte(fmt.Sprintf("block %d", i)) }

// newWriter returns a writable feed holding n blocks appended in batches of
// batch.
func newWriter(t testing.TB, seed byte, n, batch int) *Feed {
	t.Helper()
	f, err := Create(ctx, memory.New(), testKey(seed))
	if err != nil {
		t.Fatal(err)
	}
	appendBlocks(t, f, 0, n, batch)
	return f
}

func appendBlocks(t testing.TB, f *Feed, from, to, batch int) {
	t.Helper()
	for i := from; i < to; i += batch {
		var bs [][]byte
		for j := i; j < min(i+batch, to); j++ {
			bs = append(bs, block(j))
		}
		if _, err := f.Append(ctx, bs...); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendAndGet(t *testing.T) {
	tests := []struct{ n, batch int }{{1, 1}, {3, 1}, {7, 3}, {100, 100}, {257, 16}}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d_by_%d", tt.n, tt.batch), func(t *testing.T) {
			f := newWriter(t, 1, tt.n, tt.batch)
			if f.Length() != uint64(tt.n) {
				t.Fatalf("Length = %d, want %d", f.Length(), tt.n)
			}
			var want [][]byte
			var size uint64
			for i := 0; i < tt.n; i++ {
				want = append(want, block(i))
				size += uint64(len(block(i)))
			}
			got, err := f.GetRange(ctx, 0, uint64(tt.n))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("GetRange (-want +got):\n%s", diff)
			}
			last, err := f.Get(ctx, uint64(tt.n-1))
			if err != nil || !bytes.Equal(last, block(tt.n-1)) {
				t.Errorf("Get(last) = %q, %v", last, err)
			}
			if f.ByteLength() != size {
				t.Errorf("ByteLength = %d, want %d", f.ByteLength(), size)
			}
			if err := f.Verify(ctx); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestAppendErrors(t *testing.T) {
	w := newWriter(t, 1, 3, 3)
	r, err := CreateReader(ctx, memory.New(), w.Key())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"read-only append", func() error { _, err := r.Append(ctx, []byte("x")); return err }(), ErrReadOnly},
		{"read-only truncate", r.Truncate(ctx, 0), ErrReadOnly},
		{"block too large", func() error { _, err := w.Append(ctx, make([]byte, sdk.MaxBlockSize+1)); return err }(), ErrTooLarge},
		{"truncate beyond length", w.Truncate(ctx, 4), sdk.ErrInvalid},
		{"get beyond length", func() error { _, err := w.Get(ctx, 3); return err }(), ErrNotAvailable},
		{"reader get", func() error { _, err := r.Get(ctx, 0); return err }(), ErrNotAvailable},
		{"proof beyond length", func() error { _, err := w.Proof(ctx, ProofRequest{Start: 2, End: 4}); return err }(), sdk.ErrInvalid},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.name, tt.err, tt.want)
		}
	}
	if w.Length() != 3 {
		t.Errorf("failed calls changed the length to %d", w.Length())
	}
}

func TestReopen(t *testing.T) {
	st := memory.New()
	f, err := Create(ctx, st, testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	appendBlocks(t, f, 0, 50, 7)
	g, err := Open(ctx, st, f.Key())
	if err != nil {
		t.Fatal(err)
	}
	if !g.Writable() || g.Head() != f.Head() {
		t.Fatalf("reopened: writable %v head %+v, want true %+v", g.Writable(), g.Head(), f.Head())
	}
	appendBlocks(t, g, 50, 60, 5)
	if err := g.Verify(ctx); err != nil {
		t.Fatal(err)
	}

	// A head whose signature does not cover the stored roots is refused.
	bad := g.Head()
	bad.Signature[0] ^= 1
	if err := st.Write(ctx, f.Key(), &sdk.Batch{Head: &bad}); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, st, f.Key()); !errors.Is(err, sdk.ErrCorrupt) {
		t.Fatalf("Open with a bad head: %v, want ErrCorrupt", err)
	}
}

func TestProofsVerify(t *testing.T) {
	const n = 37
	w := newWriter(t, 3, 0, 1)
	for length := 1; length <= n; length++ {
		appendBlocks(t, w, length-1, length, 1)
		for start := 0; start < length; start++ {
			for end := start; end <= length; end++ {
				for _, from := range []uint64{0, uint64(start), uint64(length - 1)} {
					req := ProofRequest{Start: uint64(start), End: uint64(end), UpgradeFrom: from}
					p, err := w.Proof(ctx, req)
					if err != nil {
						t.Fatalf("length %d %+v: %v", length, req, err)
					}
					if _, err := VerifyProof(w.Key(), p); err != nil {
						t.Fatalf("length %d %+v: %v", length, req, err)
					}
				}
			}
		}
	}
}

func TestSingleBlockProofIsLogarithmic(t *testing.T) {
	w := newWriter(t, 4, 10_000, 500)
	limit := 2 * bits.Len64(w.Length()) // uncles plus roots
	for _, i := range []uint64{0, 1, 4095, 4096, 5000, 9999} {
		p, err := w.Proof(ctx, ProofRequest{Start: i, End: i + 1})
		if err != nil {
			t.Fatal(err)
		}
		if got := len(p.Nodes) + len(p.Roots); got > limit {
			t.Errorf("proof of block %d carries %d nodes, want at most %d", i, got, limit)
		}
	}
}

func TestTamperedProofsFail(t *testing.T) {
	w := newWriter(t, 5, 20, 4)
	other := newWriter(t, 6, 20, 4)
	fresh := func() *Proof {
		p, err := w.Proof(ctx, ProofRequest{Start: 5, End: 9, UpgradeFrom: 3})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		key    sdk.FeedKey
		tamper func(p *Proof)
		want   error
	}{
		{"wrong key", other.Key(), func(*Proof) {}, ErrBadSignature},
		{"signature", w.Key(), func(p *Proof) { p.Head.Signature[3] ^= 1 }, ErrBadSignature},
		{"length", w.Key(), func(p *Proof) { p.Head.Length = 16 }, ErrBadProof},
		{"fork", w.Key(), func(p *Proof) { p.Head.Fork++ }, ErrBadSignature},
		{"root hash", w.Key(), func(p *Proof) { p.Roots[0].Hash[0] ^= 1 }, ErrBadSignature},
		{"block byte", w.Key(), func(p *Proof) { p.Blocks[1] = []byte("forged") }, ErrBadProof},
		{"node hash", w.Key(), func(p *Proof) { p.Nodes[0].Hash[5] ^= 1 }, ErrBadProof},
		{"node size", w.Key(), func(p *Proof) { p.Nodes[0].Size++ }, ErrBadProof},
		{"missing node", w.Key(), func(p *Proof) { p.Nodes = p.Nodes[1:] }, ErrBadProof},
		{"unrelated node", w.Key(), func(p *Proof) { p.Nodes = append(p.Nodes, sdk.Node{Index: 30, Size: 7}) }, ErrBadProof},
		{"node past length", w.Key(), func(p *Proof) { p.Nodes = append(p.Nodes, sdk.Node{Index: 40}) }, ErrBadProof},
		{"blocks past length", w.Key(), func(p *Proof) { p.Start = 18 }, ErrBadProof},
		{"shifted start", w.Key(), func(p *Proof) { p.Start = 6 }, ErrBadProof},
		{"missing root", w.Key(), func(p *Proof) { p.Roots = p.Roots[1:] }, ErrBadProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := fresh()
			tt.tamper(p)
			if _, err := VerifyProof(tt.key, p); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			r, err := CreateReader(ctx, memory.New(), tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Put(ctx, p); err == nil {
				t.Fatal("Put accepted a tampered proof")
			}
			if r.Length() != 0 || len(r.Present()) != 0 {
				t.Fatalf("a rejected proof left length %d, present %v", r.Length(), r.Present())
			}
		})
	}
}

// TestSparseReplica fills a reader from random verified ranges, as
// replication would, and checks it serves exactly what the writer wrote.
func TestSparseReplica(t *testing.T) {
	w := newWriter(t, 7, 0, 1)
	r, err := CreateReader(ctx, memory.New(), w.Key())
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	written := 0
	for round := 0; round < 60; round++ {
		grow := rng.IntN(40)
		appendBlocks(t, w, written, written+grow, 1+rng.IntN(8))
		written += grow
		if written == 0 {
			continue
		}
		start := rng.Uint64N(uint64(written))
		end := start + 1 + rng.Uint64N(min(20, uint64(written)-start))
		p, err := w.Proof(ctx, ProofRequest{Start: start, End: end, UpgradeFrom: r.Length()})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Put(ctx, p); err != nil {
			t.Fatalf("round %d: Put [%d,%d): %v", round, start, end, err)
		}
		if r.Head() != w.Head() {
			t.Fatalf("round %d: reader head %+v, writer %+v", round, r.Head(), w.Head())
		}
	}
	for _, rg := range r.Present() {
		got, err := r.GetRange(ctx, rg.Start, rg.End)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := w.GetRange(ctx, rg.Start, rg.End)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("range %v (-want +got):\n%s", rg, diff)
		}
		// What a reader holds it can prove to others.
		p, err := r.Proof(ctx, ProofRequest{Start: rg.Start, End: rg.End})
		if err != nil {
			t.Fatalf("reader proof of %v: %v", rg, err)
		}
		if _, err := VerifyProof(w.Key(), p); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Verify(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestUpgradeMustShowOldRoots(t *testing.T) {
	w := newWriter(t, 8, 3, 3)
	r, err := CreateReader(ctx, memory.New(), w.Key())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := w.Proof(ctx, ProofRequest{Start: 2, End: 3})
	if err := r.Put(ctx, p); err != nil {
		t.Fatal(err)
	}
	appendBlocks(t, w, 3, 16, 13)
	p, _ = w.Proof(ctx, ProofRequest{Start: 15, End: 16})
	if err := r.Put(ctx, p); !errors.Is(err, ErrStale) {
		t.Fatalf("upgrade without old roots: %v, want ErrStale", err)
	}
	if r.Length() != 3 {
		t.Fatalf("reader length %d after a refused upgrade", r.Length())
	}
	p, _ = w.Proof(ctx, ProofRequest{Start: 15, End: 16, UpgradeFrom: r.Length()})
	if err := r.Put(ctx, p); err != nil {
		t.Fatal(err)
	}
	if r.Length() != 16 {
		t.Fatalf("reader length %d, want 16", r.Length())
	}
}

// TestForkDetected: the writer's key signs two histories under fork 0. The
// reader that sees both keeps evidence anyone can check, survives restart
// with it, and takes nothing more.
func TestForkDetected(t *testing.T) {
	tests := []struct {
		name        string
		honest, bad []string
		ask         uint64 // block the reader asks the forked copy for
	}{
		{"same length, other last block", []string{"a", "b", "c"}, []string{"a", "b", "X"}, 2},
		{"longer fork", []string{"a", "b", "c"}, []string{"a", "X", "c", "d", "e"}, 4},
		{"shorter fork", []string{"a", "b", "c", "d"}, []string{"a", "X"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			honest, _ := Create(ctx, memory.New(), testKey(9))
			clone, _ := Create(ctx, memory.New(), testKey(9))
			for _, b := range tt.honest {
				honest.Append(ctx, []byte(b))
			}
			for _, b := range tt.bad {
				clone.Append(ctx, []byte(b))
			}
			st := memory.New()
			r, _ := CreateReader(ctx, st, honest.Key())
			p, _ := honest.Proof(ctx, ProofRequest{Start: 0, End: honest.Length()})
			if err := r.Put(ctx, p); err != nil {
				t.Fatal(err)
			}
			q, err := clone.Proof(ctx, ProofRequest{Start: tt.ask, End: tt.ask + 1, UpgradeFrom: r.Length()})
			if err != nil {
				t.Fatal(err)
			}
			err = r.Put(ctx, q)
			var fe *ForkError
			if !errors.As(err, &fe) || !errors.Is(err, ErrForked) {
				t.Fatalf("Put from the fork: %v, want a ForkError", err)
			}
			if err := fe.Evidence.Verify(honest.Key()); err != nil {
				t.Fatalf("evidence does not verify: %v", err)
			}
			// The evidence is kept, also across a restart, and the feed
			// refuses even honest data afterwards.
			r2, err := Open(ctx, st, honest.Key())
			if err != nil {
				t.Fatal(err)
			}
			if r2.Evidence() == nil {
				t.Fatal("evidence lost on reopen")
			}
			p, _ = honest.Proof(ctx, ProofRequest{Start: 0, End: 1})
			if err := r2.Put(ctx, p); !errors.Is(err, ErrForked) {
				t.Fatalf("Put after fork: %v, want ErrForked", err)
			}
			enc := AppendEvidence(nil, fe.Evidence)
			dec, err := DecodeEvidence(enc)
			if err != nil || dec.Verify(honest.Key()) != nil {
				t.Fatalf("evidence round trip: %v", err)
			}
		})
	}
}

func TestEvidenceRejectsNonForks(t *testing.T) {
	w := newWriter(t, 10, 8, 2)
	a, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 2})
	b, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 2})
	if err := (&ForkEvidence{Index: 0, A: a, B: b}).Verify(w.Key()); err == nil {
		t.Error("two agreeing proofs accepted as a fork")
	}
	old := w.Head()
	c, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 1})
	if err := w.Truncate(ctx, 0); err != nil {
		t.Fatal(err)
	}
	w.Append(ctx, []byte("new"))
	d, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 1})
	if err := (&ForkEvidence{Index: 0, A: c, B: d}).Verify(w.Key()); err == nil {
		t.Errorf("a truncation (fork %d to %d) accepted as a fork", old.Fork, w.Head().Fork)
	}
}

func TestTruncate(t *testing.T) {
	w := newWriter(t, 11, 10, 10)
	r, _ := CreateReader(ctx, memory.New(), w.Key())
	p, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 10})
	if err := r.Put(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := w.Truncate(ctx, 5); err != nil {
		t.Fatal(err)
	}
	if h := w.Head(); h.Length != 5 || h.Fork != 1 {
		t.Fatalf("head after truncate: %+v", h)
	}
	if _, err := w.Get(ctx, 7); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("Get(7) after truncate: %v", err)
	}
	w.Append(ctx, []byte("five"), []byte("six"))
	if err := w.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	// A reader of the old fork moves to the new one without calling it a
	// fork, and old data past the cut is gone.
	p, _ = w.Proof(ctx, ProofRequest{Start: 5, End: 7})
	if err := r.Put(ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := r.GetRange(ctx, 5, 7)
	if err != nil || string(got[0]) != "five" || string(got[1]) != "six" {
		t.Fatalf("reader after truncate: %q, %v", got, err)
	}
	if _, err := r.Get(ctx, 8); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("old block 8 still served: %v", err)
	}
	// Proofs of the old fork are now stale.
	if err := r.Put(ctx, mustProofAtFork0(t)); !errors.Is(err, ErrStale) {
		t.Fatalf("Put of an old-fork proof: %v, want ErrStale", err)
	}
}

func mustProofAtFork0(t *testing.T) *Proof {
	w := newWriter(t, 11, 10, 10)
	p, err := w.Proof(ctx, ProofRequest{Start: 0, End: 1})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCorruptionDetected(t *testing.T) {
	st := memory.New()
	w, _ := Create(ctx, st, testKey(12))
	appendBlocks(t, w, 0, 20, 5)
	// Rot one block behind the feed's back.
	if err := st.Write(ctx, w.Key(), &sdk.Batch{Blocks: []sdk.Block{{Index: 13, Data: []byte("rotten")}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Get(ctx, 13); !errors.Is(err, sdk.ErrCorrupt) {
		t.Errorf("Get of a rotten block: %v, want ErrCorrupt", err)
	}
	if err := w.Verify(ctx); !errors.Is(err, sdk.ErrCorrupt) {
		t.Errorf("Verify: %v, want ErrCorrupt", err)
	}
	if _, err := w.Get(ctx, 12); err != nil {
		t.Errorf("Get of a sound block: %v", err)
	}
}

func TestDiscoveryKey(t *testing.T) {
	a, b := newWriter(t, 13, 0, 1), newWriter(t, 14, 0, 1)
	if DiscoveryKey(a.Key()) != a.DiscoveryKey() || a.DiscoveryKey() == b.DiscoveryKey() {
		t.Fatal("discovery keys are not a function of the key")
	}
	if sdk.FeedKey(a.DiscoveryKey()) == a.Key() {
		t.Fatal("discovery key equals the feed key")
	}
}

func TestProofEncodingRoundTrip(t *testing.T) {
	w := newWriter(t, 15, 33, 4)
	for _, req := range []ProofRequest{{0, 0, 0}, {0, 33, 0}, {7, 12, 5}, {32, 33, 31}} {
		p, _ := w.Proof(ctx, req)
		got, err := DecodeProof(AppendProof(nil, p))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(p, got); diff != "" {
			t.Errorf("%+v (-want +got):\n%s", req, diff)
		}
	}
}

// streamingStorage streams block ranges in pieces of 7, as a storage in
// another process does in larger pieces, so the feed's streaming paths run.
type streamingStorage struct {
	sdk.Storage
	pieces int
}

func (s *streamingStorage) StreamBlocks(ctx context.Context, key sdk.FeedKey, start, end uint64, fn func(uint64, [][]byte) error) error {
	for i := start; i < end; i += 7 {
		blocks, err := s.ReadBlocks(ctx, key, i, min(i+7, end))
		if err != nil {
			return err
		}
		s.pieces++
		if err := fn(i, blocks); err != nil {
			return err
		}
	}
	return nil
}

func TestStreamingReads(t *testing.T) {
	mem := memory.New()
	st := &streamingStorage{Storage: mem}
	f, err := Create(ctx, st, testKey(50))
	if err != nil {
		t.Fatal(err)
	}
	appendBlocks(t, f, 0, 300, 30)
	got, err := f.GetRange(ctx, 3, 250)
	if err != nil {
		t.Fatal(err)
	}
	for k, b := range got {
		if !bytes.Equal(b, block(3+k)) {
			t.Fatalf("block %d: %q", 3+k, b)
		}
	}
	if err := f.Verify(ctx); err != nil {
		t.Fatal(err)
	}
	if st.pieces < 2 {
		t.Fatalf("the feed did not stream: %d pieces", st.pieces)
	}

	mem.Write(ctx, f.Key(), &sdk.Batch{Blocks: []sdk.Block{{Index: 100, Data: []byte("rot")}}})
	if _, err := f.GetRange(ctx, 90, 110); !errors.Is(err, sdk.ErrCorrupt) {
		t.Errorf("streamed read of a rotten block: %v, want ErrCorrupt", err)
	}
	if err := f.Verify(ctx); !errors.Is(err, sdk.ErrCorrupt) {
		t.Errorf("streamed verify of a rotten block: %v, want ErrCorrupt", err)
	}
	mem.Write(ctx, f.Key(), &sdk.Batch{Blocks: []sdk.Block{{Index: 100, Data: block(100)}}, Nodes: []sdk.Node{{Index: 401, Size: 1}}})
	if err := f.Verify(ctx); err == nil || !strings.Contains(err.Error(), "tree node 401") {
		t.Errorf("streamed verify of a damaged parent: %v, want it named", err)
	}
}

func TestChangedFires(t *testing.T) {
	w := newWriter(t, 51, 1, 1)
	r, _ := CreateReader(ctx, memory.New(), w.Key())
	changed := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		default:
			return false
		}
	}
	wc, rc := w.Changed(), r.Changed()
	if changed(wc) || changed(rc) {
		t.Fatal("Changed fired before any change")
	}
	w.Append(ctx, []byte("x"))
	if !changed(wc) {
		t.Error("Append did not fire Changed")
	}
	p, _ := w.Proof(ctx, ProofRequest{Start: 0, End: 2})
	r.Put(ctx, p)
	if !changed(rc) {
		t.Error("Put did not fire Changed")
	}
	wc = w.Changed()
	w.Truncate(ctx, 1)
	if !changed(wc) {
		t.Error("Truncate did not fire Changed")
	}
}
