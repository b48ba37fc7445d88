package feedstore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
)

var ctx = context.Background()

func newStore(t *testing.T, seed byte) *Store {
	t.Helper()
	s, err := New(memory.New(), bytes.Repeat([]byte{seed}, SeedSize))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDerivedKeys(t *testing.T) {
	a, b, other := newStore(t, 1), newStore(t, 1), newStore(t, 2)
	keys := map[string]sdk.FeedKey{
		"root/x":   a.WriterKey("x"),
		"root/y":   a.WriterKey("y"),
		"ns1/x":    a.Namespace("ns1").WriterKey("x"),
		"ns2/x":    a.Namespace("ns2").WriterKey("x"),
		"ns1/ns2x": a.Namespace("ns1").Namespace("ns2").WriterKey("x"),
		"ns1ns2/x": a.Namespace("ns1ns2").WriterKey("x"),
		"seed2/x":  other.WriterKey("x"),
	}
	seen := map[sdk.FeedKey]string{}
	for name, k := range keys {
		if prev, ok := seen[k]; ok {
			t.Errorf("%s and %s derive the same key", name, prev)
		}
		seen[k] = name
	}
	if a.WriterKey("x") != b.WriterKey("x") {
		t.Error("the same seed and name derive different keys")
	}
	f, err := a.Writer(ctx, "x")
	if err != nil {
		t.Fatal(err)
	}
	if f.Key() != a.WriterKey("x") || !f.Writable() {
		t.Errorf("Writer(x): key %s writable %v", f.Key(), f.Writable())
	}
	d, err := a.Default(ctx)
	if err != nil || d.Key() != a.WriterKey(DefaultName) {
		t.Errorf("Default: %v", err)
	}
}

func TestSameFeedAfterRestart(t *testing.T) {
	st := memory.New()
	seed := NewSeed()
	s1, _ := New(st, seed)
	f, err := s1.Namespace("app").Writer(ctx, "log")
	if err != nil {
		t.Fatal(err)
	}
	f.Append(ctx, []byte("hello"))
	// A second store over the same storage and seed, as after a restart.
	s2, _ := New(st, seed)
	g, err := s2.Namespace("app").Writer(ctx, "log")
	if err != nil {
		t.Fatal(err)
	}
	if g.Key() != f.Key() || g.Length() != 1 || !g.Writable() {
		t.Fatalf("after restart: key %s length %d writable %v", g.Key(), g.Length(), g.Writable())
	}
	if same, _ := s2.Namespace("app").Writer(ctx, "log"); same != g {
		t.Error("opening a key twice gave two feeds")
	}
}

func TestOpenGetListPurge(t *testing.T) {
	s := newStore(t, 3)
	w, _ := s.Writer(ctx, "w")
	r, _ := s.CreateRandom(ctx)
	var unknown sdk.FeedKey
	unknown[0] = 9
	if _, err := s.Open(ctx, unknown); !errors.Is(err, sdk.ErrNotFound) {
		t.Fatalf("Open of an unknown key: %v, want ErrNotFound", err)
	}
	replica, err := s.Get(ctx, unknown)
	if err != nil || replica.Writable() {
		t.Fatalf("Get of an unknown key: %v, writable %v", err, replica.Writable())
	}
	got, err := s.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []sdk.FeedKey{w.Key(), r.Key(), unknown}
	sortKeys(got)
	sortKeys(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("List (-want +got):\n%s", diff)
	}
	if err := s.Purge(ctx, r.Key()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open(ctx, r.Key()); !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Open after Purge: %v, want ErrNotFound", err)
	}
	if _, err := r.Append(ctx, []byte("x")); err == nil {
		t.Error("a purged feed still accepts appends")
	}
	s.Close()
	for name, err := range map[string]error{
		"Open":  func() error { _, err := s.Open(ctx, w.Key()); return err }(),
		"List":  func() error { _, err := s.List(ctx); return err }(),
		"Purge": s.Purge(ctx, w.Key()),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close: %v, want ErrClosed", name, err)
		}
	}
}

func sortKeys(k []sdk.FeedKey) {
	slices.SortFunc(k, func(a, b sdk.FeedKey) int { return bytes.Compare(a[:], b[:]) })
}

func TestLoadOrCreateSeed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "seed")
	a, err := LoadOrCreateSeed(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateSeed(path)
	if err != nil || !bytes.Equal(a, b) {
		t.Fatalf("second load: %x, %v, want %x", b, err, a)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("seed mode %v, want 0600", fi.Mode().Perm())
	}
	os.WriteFile(path, []byte("short"), 0o600)
	if _, err := LoadOrCreateSeed(path); err == nil {
		t.Error("a damaged seed file was accepted")
	}
}

func TestWriterOverReplicaFails(t *testing.T) {
	s := newStore(t, 4)
	if _, err := s.Get(ctx, s.WriterKey("docs")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Writer(ctx, "docs"); err == nil {
		t.Fatal("Writer returned a read-only replica as the writable feed")
	}
}

// TestOneWritableHandle: closing or purging a feed closes the handle the
// store gave out, so two handles never append to one feed.
func TestOneWritableHandle(t *testing.T) {
	s := newStore(t, 5)
	old, _ := s.Writer(ctx, "x")
	old.Append(ctx, []byte("a"))
	s.CloseFeed(old.Key())
	if _, err := old.Append(ctx, []byte("b")); !errors.Is(err, sdk.ErrClosed) {
		t.Fatalf("append through a closed handle: %v, want ErrClosed", err)
	}
	cur, _ := s.Writer(ctx, "x")
	if _, err := cur.Append(ctx, []byte("b")); err != nil || cur.Length() != 2 {
		t.Fatalf("append through the new handle: %v, length %d", err, cur.Length())
	}
	if err := s.Purge(ctx, cur.Key()); err != nil {
		t.Fatal(err)
	}
	if _, err := cur.Append(ctx, []byte("c")); !errors.Is(err, sdk.ErrClosed) {
		t.Fatalf("append after purge: %v, want ErrClosed", err)
	}
}

func TestSeedDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seed")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), path); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateSeed(path); err == nil {
		t.Fatal("a dangling seed symlink was accepted")
	}
}
