package union_test

import (
	"context"
	"testing"
	"time"

	"github.com/codrive/codrive/conflict/mtime"
	"github.com/codrive/codrive/conflict/vclock"
	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/union"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
)

// resolvers are the builtin resolvers every scenario runs with.
var resolvers = []struct {
	name string
	new  func() sdk.Resolver
}{
	{"mtime", mtime.New},
	{"vclock", vclock.New},
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newStore returns a feed store on memory storage with a fresh seed.
func newStore(t *testing.T) *feedstore.Store {
	t.Helper()
	return newStoreTB(t)
}

func newStoreTB(t testing.TB) *feedstore.Store {
	t.Helper()
	s, err := feedstore.New(memory.New(), feedstore.NewSeed())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// newDrive creates a writable drive with small chunks, so tests cross
// chunk boundaries with small files.
func newDrive(t *testing.T, s *feedstore.Store, name string, opts drive.Options) *drive.Drive {
	t.Helper()
	if opts.ChunkSize == 0 {
		opts.ChunkSize = 1024
	}
	d, err := drive.Create(testContext(t), s, name, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// newView returns a view of drives writing to w (which may be nil).
func newView(t *testing.T, r sdk.Resolver, w *drive.Drive, drives ...*drive.Drive) *union.View {
	t.Helper()
	v, err := union.New(union.Config{Writer: w, Drives: drives, Resolver: r, Hidden: []string{"/.writers"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// clockAt returns a wall clock fixed at t, advanced by each call to tick.
type fakeClock struct{ now time.Time }

func (c *fakeClock) Now() time.Time { return c.now }

func mustWrite(t *testing.T, v *union.View, p, data string) {
	t.Helper()
	if err := v.WriteFile(testContext(t), p, []byte(data), 0o644); err != nil {
		t.Fatalf("write %s: %v", p, err)
	}
}

func readString(t *testing.T, v *union.View, p string) string {
	t.Helper()
	b, err := v.ReadFile(testContext(t), p)
	if err != nil {
		t.Fatalf("read %s: %v", p, err)
	}
	return string(b)
}

func names(t *testing.T, v *union.View, p string) []string {
	t.Helper()
	n, err := v.ReadDirNames(testContext(t), p)
	if err != nil {
		t.Fatalf("readdir %s: %v", p, err)
	}
	return n
}
