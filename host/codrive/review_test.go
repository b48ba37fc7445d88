package codrive

// Review tests: each demonstrates a bug in the co-drive's writer set and
// passes once it is fixed. They run against one in-memory store, with the
// other writers' drives created in the same store so the test can append
// arbitrary entries (any clock) to them, as a hostile writer would.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/codrive/codrive/conflict/vclock"
	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
)

// reviewSetup returns a store and a co-drive created in it (no
// replicator: every drive is local).
func reviewSetup(t *testing.T) (*feedstore.Store, *CoDrive) {
	t.Helper()
	store, err := feedstore.New(memory.New(), feedstore.NewSeed())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Create(t.Context(), Config{Store: store, Resolver: vclock.New()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		store.Close()
	})
	return store, c
}

// reviewDrive makes another writable drive in store: a writer the test
// controls completely.
func reviewDrive(t *testing.T, store *feedstore.Store, name string) *drive.Drive {
	t.Helper()
	d, err := drive.Create(t.Context(), store, "review/"+name, drive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func reviewAppend(t *testing.T, d *drive.Drive, entries ...*drive.Entry) {
	t.Helper()
	if _, err := d.Append(t.Context(), entries...); err != nil {
		t.Fatal(err)
	}
}

// reviewApplied waits until the co-drive's own handle on d has applied
// all of d.
func reviewApplied(t *testing.T, c *CoDrive, d *drive.Drive) {
	t.Helper()
	reviewWait(t, "the co-drive to apply "+d.Key().String()[:8], func() bool {
		c.mu.Lock()
		l := c.drives[d.Key()]
		c.mu.Unlock()
		return l != nil && l.d.Length() == d.Length()
	})
}

func reviewWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func reviewStatus(c *CoDrive, k sdk.FeedKey) (Status, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.members[k]
	return st, ok
}

func stmtPath(w sdk.FeedKey, name string) string {
	return WritersDir + "/" + w.String() + "/" + name
}

// A statement its author made at or past the cut of its removal must not
// count (Members' doc: "never from the cut of a removal on"), whatever its
// rank. Here A, apart from P, adds C at seq 5 after P removed A having
// seen only 3 blocks of A's drive; P's removal ranks higher only because P
// had seen much of B. Honest concurrency, no forged clock; a removed
// writer can do the same on purpose (backdate a statement it writes after
// learning of its removal). Second case: the rank sum overflows, so any
// clock can be made to rank just after the author's addition.
func TestReviewMembersPastCutStatementCounts(t *testing.T) {
	tests := []struct {
		name  string
		stmts []Statement
	}{
		{"concurrent add past the cut, lower rank", []Statement{
			add(kP, 1, kA, nil), add(kP, 2, kB, nil),
			remove(kP, 3, kA, clock(kA, 3, kB, 100), false), // rank 106, cuts A at 3
			add(kA, 5, kC, clock(kP, 2)),                    // rank 7, past the cut
		}},
		{"rank overflow", []Statement{
			add(kP, 1, kA, nil),
			remove(kP, 2, kA, clock(kA, 3), false), // rank 5, cuts A at 3
			{Author: kA, Seq: 3, Writer: kC, Clock: sdk.VectorClock{{Writer: kP, Length: 2}, {Writer: kB, Length: 1<<64 - 4}}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Members(kP, tt.stmts)
			if got[kA].Member || got[kA].Cut != 3 {
				t.Errorf("A: %+v, want removed at cut 3", got[kA])
			}
			if got[kC].Member {
				t.Errorf("C, added by A at or past A's cut, is a member: %+v", got)
			}
		})
	}
}

// End to end: a removed writer writes, after its removal, a statement
// adding a key of its choosing, with a clock that claims it never saw the
// removal. It counts on every peer.
func TestReviewRemovedWriterAddsAccomplice(t *testing.T) {
	store, c := reviewSetup(t)
	ctx := t.Context()
	a, b := reviewDrive(t, store, "a"), reviewDrive(t, store, "b")
	if err := c.Authorize(ctx, a.Key()); err != nil { // P seq 1
		t.Fatal(err)
	}
	if err := c.Authorize(ctx, b.Key()); err != nil { // P seq 2
		t.Fatal(err)
	}
	// B is busy: P sees 20 of its entries, so P's later statements rank
	// high.
	for range 20 {
		reviewAppend(t, b, &drive.Entry{Kind: drive.KindFile, Path: "/b.txt", WallClock: 1})
	}
	reviewApplied(t, c, b)
	reviewAppend(t, a, &drive.Entry{Kind: drive.KindFile, Path: "/a.txt", WallClock: 1})
	reviewApplied(t, c, a)
	if err := c.Deauthorize(ctx, a.Key(), false); err != nil { // P seq 3
		t.Fatal(err)
	}
	if st, _ := reviewStatus(c, a.Key()); st.Member {
		t.Fatalf("A still a member: %+v", st)
	}
	cut := a.Length()
	// A, removed, adds its accomplice X, claiming to have seen P only up
	// to its own addition.
	x := sdk.FeedKey{0x77, 0x77}
	reviewAppend(t, a, &drive.Entry{Kind: drive.KindFile, Path: stmtPath(x, "00.add"), WallClock: 1,
		Clock: sdk.VectorClock{{Writer: c.Key(), Length: 2}}})
	if a.Length()-1 < cut {
		t.Fatalf("the statement at seq %d is not past the cut %d", a.Length()-1, cut)
	}
	reviewApplied(t, c, a)
	if err := c.update(ctx); err != nil {
		t.Fatal(err)
	}
	if st, ok := reviewStatus(c, x); ok && st.Member {
		t.Errorf("a removed writer's statement past its cut added %s", x)
	}
	if st, _ := reviewStatus(c, a.Key()); st.Member {
		t.Errorf("A is a member again: %+v", st)
	}
}

// Statements are read from the latest entry of each path, so a removed
// writer can take back what it said before its cut by writing a
// tombstone (or a new file) over it: here the writer it added loses its
// membership on every peer.
func TestReviewRemovedWriterRetractsStatement(t *testing.T) {
	store, c := reviewSetup(t)
	ctx := t.Context()
	a := reviewDrive(t, store, "a")
	if err := c.Authorize(ctx, a.Key()); err != nil {
		t.Fatal(err)
	}
	reviewApplied(t, c, a)
	// A, a writer, adds X (knowing its own addition).
	x := sdk.FeedKey{0x55, 0x55}
	reviewAppend(t, a, &drive.Entry{Kind: drive.KindFile, Path: stmtPath(x, "00.add"), WallClock: 1,
		Clock: sdk.VectorClock{{Writer: c.Key(), Length: c.local.Length()}}})
	reviewApplied(t, c, a)
	if err := c.update(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := reviewStatus(c, x); !st.Member {
		t.Fatalf("X not added: %+v", st)
	}
	if err := c.Deauthorize(ctx, a.Key(), false); err != nil {
		t.Fatal(err)
	}
	if st, _ := reviewStatus(c, x); !st.Member {
		t.Fatalf("X lost its membership with A's removal: %+v", st)
	}
	// Removed, A deletes its old statement.
	reviewAppend(t, a, &drive.Entry{Kind: drive.KindTombstone, Path: stmtPath(x, "00.add"), WallClock: 1,
		Clock: sdk.VectorClock{{Writer: c.Key(), Length: c.local.Length()}}})
	reviewApplied(t, c, a)
	if err := c.update(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := reviewStatus(c, x); !st.Member {
		t.Errorf("a removed writer retracted its statement from before its cut: X is now %+v", st)
	}
}

// The remover's clock merges what every drive in the view claims, so a
// writer that stamps one entry with a huge component for its own drive
// poisons every later statement of the others: its removal is cut at the
// claimed length (so the removal hides nothing), or, when the rank sum
// wraps, sorts before the writer's addition and does nothing at all.
func TestReviewClockPoisonDefeatsRemoval(t *testing.T) {
	for _, tt := range []struct {
		name  string
		claim uint64
	}{
		{"huge cut", 1 << 62},
		{"rank wraps", 1<<64 - 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			store, c := reviewSetup(t)
			ctx := t.Context()
			a := reviewDrive(t, store, "a")
			if err := c.Authorize(ctx, a.Key()); err != nil { // P seq 1, rank 1
				t.Fatal(err)
			}
			reviewAppend(t, a, &drive.Entry{Kind: drive.KindFile, Path: "/poison", WallClock: 1,
				Clock: sdk.VectorClock{{Writer: a.Key(), Length: tt.claim}}})
			reviewApplied(t, c, a)
			real := a.Length()
			if err := c.Deauthorize(ctx, a.Key(), false); err != nil {
				t.Fatal(err)
			}
			st, _ := reviewStatus(c, a.Key())
			if st.Member {
				t.Fatalf("Deauthorize returned nil but A is still a member: %+v", st)
			}
			if st.Cut > real {
				t.Errorf("A cut at %d, but its drive had only %d blocks: everything it writes later still shows", st.Cut, real)
			}
		})
	}
}

// A writer can make itself impossible to remove through the API: it
// deletes (in the union) the statement that added it and puts a file at
// /.writers/<its key>, so every writer's Deauthorize fails with "not a
// directory" when the view checks the statement's parent.
func TestReviewWriterBlocksItsRemoval(t *testing.T) {
	store, c := reviewSetup(t)
	ctx := t.Context()
	a := reviewDrive(t, store, "a")
	if err := c.Authorize(ctx, a.Key()); err != nil {
		t.Fatal(err)
	}
	var addPath string
	c.local.Read(func(x *drive.Index) {
		x.Walk(WritersDir+"/"+a.Key().String(), func(n drive.Node) bool {
			if strings.HasSuffix(n.Path, ".add") {
				addPath = n.Path
			}
			return true
		})
	})
	if addPath == "" {
		t.Fatal("no add statement found")
	}
	seen := sdk.VectorClock{{Writer: c.Key(), Length: c.local.Length()}}
	reviewAppend(t, a,
		&drive.Entry{Kind: drive.KindTombstone, Path: addPath, WallClock: 1, Clock: seen},
		&drive.Entry{Kind: drive.KindFile, Path: WritersDir + "/" + a.Key().String(), WallClock: 1, Clock: seen})
	reviewApplied(t, c, a)
	reviewWait(t, "the view to show the blocking file", func() bool {
		_, err := c.View().ReadFile(ctx, WritersDir+"/"+a.Key().String())
		return err == nil
	})
	if err := c.Deauthorize(ctx, a.Key(), false); err != nil {
		t.Fatalf("Deauthorize: %v", err)
	}
	if st, _ := reviewStatus(c, a.Key()); st.Member {
		t.Errorf("A still a member: %+v", st)
	}
}

// After Close, a writer-set change (Authorize from the user, or a
// decision on an authorization request, which Close neither waits for
// nor stops, and whose extension handler stays registered) runs update,
// which on a peer that is not the primary loads the primary's drive into
// the nil drive map and panics: in a daemon, a remote request can crash
// the process after the co-drive is forgotten.
func TestReviewAuthorizeAfterClose(t *testing.T) {
	store, c := reviewSetup(t)
	ctx := t.Context()
	store2, err := feedstore.New(memory.New(), feedstore.NewSeed())
	if err != nil {
		t.Fatal(err)
	}
	defer store2.Close()
	reviewCopy(t, store, store2, c.Key())
	clone, err := Open(ctx, Config{Store: store2, Resolver: vclock.New()}, c.Key())
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			clone.Close()
		}
	}()
	if err := c.Authorize(ctx, clone.LocalWriter()); err != nil {
		t.Fatal(err)
	}
	reviewCopy(t, store, store2, c.Key())
	reviewWait(t, "the clone to become a writer", clone.IsWriter)

	clone.Close()
	closed = true
	func() {
		defer func() {
			// The panic leaves clone.mu locked: nothing may touch the
			// clone after it.
			if p := recover(); p != nil {
				t.Fatalf("Authorize after Close panicked: %v", p)
			}
		}()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		err = clone.Authorize(ctx, sdk.FeedKey{0x99})
	}()
	if err == nil {
		t.Error("Authorize after Close succeeded (it wrote a statement into a closed co-drive)")
	}
}

// reviewCopy replicates the feed key from one store to the other, as a
// peer would.
func reviewCopy(t *testing.T, from, to *feedstore.Store, key sdk.FeedKey) {
	t.Helper()
	src, err := from.Open(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	dst, err := to.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	p, err := src.Proof(t.Context(), feed.ProofRequest{Start: 0, End: src.Length(), UpgradeFrom: dst.Length()})
	if err != nil {
		t.Fatal(err)
	}
	if err := dst.Put(t.Context(), p); err != nil {
		t.Fatal(err)
	}
}
