package codrive_test

import (
	"context"
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/codrive/codrive/auth/allow"
	"github.com/codrive/codrive/auth/deny"
	"github.com/codrive/codrive/host/codrive"
	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/union"
	"github.com/codrive/codrive/sdk"
)

func writeFile(t *testing.T, c *codrive.CoDrive, p, data string) {
	t.Helper()
	if err := c.View().WriteFile(t.Context(), p, []byte(data), 0o644); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
}

func writerKeys(c *codrive.CoDrive, members bool) []sdk.FeedKey {
	var out []sdk.FeedKey
	for _, w := range c.Writers() {
		if w.Member == members {
			out = append(out, w.Key)
		}
	}
	return out
}

// Seed 000: a clone reads the original's file; an authorized writer's
// file appears at the clone.
func TestCloneAndAuthorize(t *testing.T) {
	a, b := newHost(t, "a"), newHost(t, "b")
	a.connect(b)
	orig := a.create(nil)
	writeFile(t, orig, "/hello.txt", "from the original")
	clone := b.open(orig.Key(), nil)
	waitFile(t, clone, "clone", "/hello.txt", "from the original")

	if clone.IsWriter() {
		t.Fatal("the clone is a writer before anyone authorized it")
	}
	if err := clone.View().WriteFile(t.Context(), "/x", nil, 0); !errors.Is(err, union.ErrReadOnly) {
		t.Errorf("a write before authorization: %v", err)
	}
	if err := clone.Authorize(t.Context(), sdk.FeedKey{1}); !errors.Is(err, codrive.ErrNotWriter) {
		t.Errorf("authorize by a non-writer: %v", err)
	}

	if err := orig.Authorize(t.Context(), clone.LocalWriter()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the clone to become a writer", clone.IsWriter)
	writeFile(t, clone, "/from-clone.txt", "hi")
	waitFile(t, orig, "original", "/from-clone.txt", "hi")
	for _, c := range []*codrive.CoDrive{orig, clone} {
		if got := writerKeys(c, true); len(got) != 2 {
			t.Errorf("writers: %v", got)
		}
		names, err := c.View().ReadDirNames(t.Context(), "/")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(names, []string{"from-clone.txt", "hello.txt"}) {
			t.Errorf("listing %v (the writer set must stay hidden)", names)
		}
	}
}

// A peer asks an online writer whose policy allows it, then writes.
func TestRequestAuthorization(t *testing.T) {
	a, b := newHost(t, "a"), newHost(t, "b")
	a.connect(b)
	orig := a.create(allow.New())
	clone := b.open(orig.Key(), nil)
	if err := clone.RequestAuthorization(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	if !clone.IsWriter() {
		t.Fatal("granted but not a writer")
	}
	writeFile(t, clone, "/mine.txt", "written after the grant")
	waitFile(t, orig, "original", "/mine.txt", "written after the grant")
}

func TestRequestAuthorizationFailures(t *testing.T) {
	t.Run("denied", func(t *testing.T) {
		a, b := newHost(t, "a"), newHost(t, "b")
		a.connect(b)
		orig := a.create(deny.New())
		clone := b.open(orig.Key(), nil)
		if err := clone.RequestAuthorization(t.Context(), nil); !errors.Is(err, codrive.ErrDenied) {
			t.Fatalf("got %v, want ErrDenied", err)
		}
	})
	t.Run("no writer online", func(t *testing.T) {
		a, b, c := newHost(t, "a"), newHost(t, "b"), newHost(t, "c")
		a.connect(b)
		orig := a.create(allow.New())
		reader := b.open(orig.Key(), nil)
		waitUntil(t, "b to load the writer set", func() bool { return len(reader.Writers()) == 1 })
		a.disconnect(b)
		b.connect(c)
		asker := c.open(orig.Key(), nil)
		if err := asker.RequestAuthorization(t.Context(), nil); !errors.Is(err, codrive.ErrNoWriter) {
			t.Fatalf("got %v, want ErrNoWriter", err)
		}
	})
	t.Run("no peers", func(t *testing.T) {
		a := newHost(t, "a")
		orig := a.create(nil)
		b := newHost(t, "b")
		lonely := b.open(orig.Key(), nil)
		if err := lonely.RequestAuthorization(t.Context(), nil); !errors.Is(err, codrive.ErrNoWriter) {
			t.Fatalf("got %v, want ErrNoWriter", err)
		}
	})
	t.Run("timed out", func(t *testing.T) {
		a, b := newHost(t, "a"), newHost(t, "b")
		a.connect(b)
		orig := a.create(stalling{})
		cfg := b.config(nil)
		cfg.AuthTimeout = 200 * time.Millisecond
		clone, err := codrive.Open(t.Context(), cfg, orig.Key())
		if err != nil {
			t.Fatal(err)
		}
		defer clone.Close()
		if err := clone.RequestAuthorization(t.Context(), nil); !errors.Is(err, codrive.ErrAuthTimeout) {
			t.Fatalf("got %v, want ErrAuthTimeout", err)
		}
	})
}

// stalling is a policy that takes until its context ends to decide.
type stalling struct{}

func (stalling) Authorize(ctx context.Context, _ sdk.AuthRequest) (sdk.AuthDecision, error) {
	<-ctx.Done()
	return sdk.AuthDecision{}, ctx.Err()
}

// Deauthorize keeps a removed writer's earlier files, or with discard
// hides them all; either way its later entries are ignored.
func TestDeauthorize(t *testing.T) {
	for _, discard := range []bool{false, true} {
		t.Run(map[bool]string{false: "keep", true: "discard"}[discard], func(t *testing.T) {
			a, b, c := newHost(t, "a"), newHost(t, "b"), newHost(t, "c")
			a.connect(b)
			a.connect(c)
			orig := a.create(nil)
			w := b.open(orig.Key(), nil)
			reader := c.open(orig.Key(), nil)
			if err := orig.Authorize(t.Context(), w.LocalWriter()); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "b to become a writer", w.IsWriter)
			writeFile(t, w, "/by-b.txt", "before the removal")
			waitFile(t, reader, "reader", "/by-b.txt", "before the removal")
			waitFile(t, orig, "original", "/by-b.txt", "before the removal")

			if err := orig.Deauthorize(t.Context(), w.LocalWriter(), discard); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "b to learn it was removed", func() bool { return !w.IsWriter() })
			want := "before the removal"
			if discard {
				want = ""
			}
			waitUntil(t, "the reader to learn of the removal", func() bool {
				return slices.Equal(writerKeys(reader, false), []sdk.FeedKey{w.LocalWriter()})
			})
			waitFile(t, reader, "reader", "/by-b.txt", want)
			// The removed writer's later entries are ignored everywhere,
			// whatever it writes.
			if err := w.View().WriteFile(t.Context(), "/after.txt", []byte("x"), 0); !errors.Is(err, union.ErrReadOnly) {
				t.Errorf("a removed writer wrote: %v", err)
			}
		})
	}
}

// A writer's drive reaches a peer that never meets the writer, through a
// peer in between.
func TestThroughAPeerInBetween(t *testing.T) {
	a, b, c := newHost(t, "a"), newHost(t, "b"), newHost(t, "c")
	a.connect(b)
	b.connect(c)
	orig := a.create(nil)
	middle := b.open(orig.Key(), nil)
	far := c.open(orig.Key(), nil)
	writeFile(t, orig, "/f", "relayed")
	waitFile(t, far, "far", "/f", "relayed")
	// A writer added later, known to far only through b.
	d := newHost(t, "d")
	d.connect(a)
	extra := d.open(orig.Key(), nil)
	if err := orig.Authorize(t.Context(), extra.LocalWriter()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "d to become a writer", extra.IsWriter)
	writeFile(t, extra, "/from-d", "two hops")
	waitFile(t, middle, "middle", "/from-d", "two hops")
	waitFile(t, far, "far", "/from-d", "two hops")
}

// A removed writer that keeps appending to its drive, with any wall
// clock, is ignored by every peer.
func TestRemovedWriterIsIgnored(t *testing.T) {
	a, b, c := newHost(t, "a"), newHost(t, "b"), newHost(t, "c")
	a.connect(b)
	a.connect(c)
	orig := a.create(nil)
	w := b.open(orig.Key(), nil)
	reader := c.open(orig.Key(), nil)
	if err := orig.Authorize(t.Context(), w.LocalWriter()); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "b to become a writer", w.IsWriter)
	writeFile(t, w, "/shared.txt", "b's version")
	waitFile(t, reader, "reader", "/shared.txt", "b's version")
	if err := orig.Deauthorize(t.Context(), w.LocalWriter(), false); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "b to learn it was removed", func() bool { return !w.IsWriter() })

	// Straight into b's drive feed, past the view: a file, an overwrite
	// and an attempt to re-add itself, stamped in the year 2100.
	d, err := drive.Open(t.Context(), b.Store, w.LocalWriter(), drive.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	future := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	late := []*drive.Entry{
		{Kind: drive.KindFile, Path: "/late.txt", WallClock: future},
		{Kind: drive.KindFile, Path: "/shared.txt", WallClock: future},
		{Kind: drive.KindFile, Path: "/.writers/" + w.LocalWriter().String() + "/00.add", WallClock: future},
	}
	// And content, which peers no longer mirror.
	cw, err := d.NewContentWriter(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	cw.Write(make([]byte, 200_000))
	content, err := cw.Finish()
	if err != nil {
		t.Fatal(err)
	}
	late[0].SetContent(content)
	if _, err := d.Append(t.Context(), late...); err != nil {
		t.Fatal(err)
	}
	want := d.Length()
	waitUntil(t, "the reader to receive the late entries", func() bool {
		f, err := c.Store.Get(t.Context(), w.LocalWriter())
		return err == nil && f.Length() >= want
	})
	waitUntil(t, "the reader to learn of the removal", func() bool { return len(writerKeys(reader, false)) == 1 })
	if err := reader.View().Access(t.Context(), "/late.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a removed writer's later file shows: %v", err)
	}
	for _, dr := range reader.View().Drives() {
		if cf := dr.ContentFeed(); dr.Key() == w.LocalWriter() && cf != nil {
			last := content.Extents[len(content.Extents)-1]
			if cf.Has(last.Start, last.Start+last.Blocks) {
				t.Error("the reader mirrored content a removed writer wrote past its cut")
			}
		}
	}
	waitFile(t, reader, "reader", "/shared.txt", "b's version")
	if slices.Contains(writerKeys(reader, true), w.LocalWriter()) {
		t.Error("a removed writer added itself back")
	}
}

// Two writers that remove each other while apart end in the same state
// on every peer.
func TestMutualRemoval(t *testing.T) {
	a, b, c := newHost(t, "a"), newHost(t, "b"), newHost(t, "c")
	a.connect(b)
	a.connect(c)
	b.connect(c)
	orig := a.create(nil)
	x := b.open(orig.Key(), nil)
	y := c.open(orig.Key(), nil)
	for _, k := range []sdk.FeedKey{x.LocalWriter(), y.LocalWriter()} {
		if err := orig.Authorize(t.Context(), k); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, "both to become writers", func() bool { return x.IsWriter() && y.IsWriter() })
	waitUntil(t, "both to see each other", func() bool {
		return len(writerKeys(x, true)) == 3 && len(writerKeys(y, true)) == 3
	})
	b.disconnect(c)
	a.disconnect(b)
	a.disconnect(c)
	if err := x.Deauthorize(t.Context(), y.LocalWriter(), false); err != nil {
		t.Fatal(err)
	}
	if err := y.Deauthorize(t.Context(), x.LocalWriter(), false); err != nil {
		t.Fatal(err)
	}
	a.connect(b)
	a.connect(c)
	b.connect(c)
	same := func() bool {
		w0 := orig.Writers()
		return len(w0) == 3 && slices.EqualFunc(w0, x.Writers(), eqWriter) && slices.EqualFunc(w0, y.Writers(), eqWriter) &&
			len(writerKeys(orig, true)) == 2
	}
	waitUntil(t, "every peer to agree on the writer set", same)
}

func eqWriter(a, b codrive.Writer) bool { return a == b }
