package union_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/conflict/vclock"
	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/union"
	"github.com/codrive/codrive/sdk"
)

// viewAt returns a view of drives writing to w (which may be nil) whose
// wall clock is fixed at now.
func viewAt(t *testing.T, r sdk.Resolver, now time.Time, w *drive.Drive, drives ...*drive.Drive) *union.View {
	t.Helper()
	v, err := union.New(union.Config{Writer: w, Drives: drives, Resolver: r, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

// countingResolver counts the candidate sets it is asked to resolve.
type countingResolver struct {
	r    sdk.Resolver
	sets atomic.Int64
}

func (c *countingResolver) Resolve(ctx context.Context, sets [][]sdk.Candidate) ([]sdk.Resolution, error) {
	c.sets.Add(int64(len(sets)))
	return c.r.Resolve(ctx, sets)
}

// failingResolver fails every call.
type failingResolver struct{}

var errResolverDown = errors.New("resolver plugin is down")

func (failingResolver) Resolve(context.Context, [][]sdk.Candidate) ([]sdk.Resolution, error) {
	return nil, errResolverDown
}

// One writer makes a deep directory tree, another removes it all (rm -r,
// bottom up, having seen it). Working out that the top directory is gone
// must cost a polynomial number of resolutions in the depth, not 2^depth:
// every tombstoned directory has "live entries beneath it" in the first
// drive, and liveBeneath resolves each of them, which recurses.
func TestReviewDeepRemovedTreeIsNotExponential(t *testing.T) {
	for _, r := range resolvers {
		t.Run(r.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newStore(t)
			a := newDrive(t, s, "a", drive.Options{})
			b := newDrive(t, s, "b", drive.Options{})
			const depth = 14
			va := viewAt(t, nil, epoch, a)
			var dirs []string
			p := ""
			for range depth {
				p += "/d"
				dirs = append(dirs, p)
				if err := va.Mkdir(ctx, p, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			// b removes the tree bottom up, after seeing it.
			vb := viewAt(t, r.new(), epoch.Add(time.Minute), b, a)
			for i := len(dirs) - 1; i >= 0; i-- {
				if err := vb.Rmdir(ctx, dirs[i]); err != nil {
					t.Fatalf("rmdir %s: %v", dirs[i], err)
				}
			}
			cr := &countingResolver{r: r.new()}
			reader := viewAt(t, cr, epoch.Add(time.Hour), nil, a, b)
			if _, err := reader.Stat(ctx, "/d"); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("stat /d after rm -r: %v, want not exist", err)
			}
			if n, limit := cr.sets.Load(), int64(4*depth*depth); n > limit {
				t.Errorf("stat of a removed tree %d deep resolved %d candidate sets, want at most %d", depth, n, limit)
			}
		})
	}
}

// A file written by a drive with one chunk size and rewritten (here by
// SetMetadata, which copies the content) by a writer with another chunk
// size must keep its bytes.
func TestReviewRewriteAcrossChunkSizes(t *testing.T) {
	for _, tt := range []struct{ aChunk, bChunk int }{{1024, 2048}, {2048, 1024}} {
		ctx := testContext(t)
		s := newStore(t)
		a := newDrive(t, s, "a", drive.Options{ChunkSize: tt.aChunk})
		b := newDrive(t, s, "b", drive.Options{ChunkSize: tt.bChunk})
		va := viewAt(t, nil, epoch, a)
		data := make([]byte, 5000)
		for i := range data {
			data[i] = byte('a' + i%26)
		}
		if err := va.WriteFile(ctx, "/f", data, 0o644); err != nil {
			t.Fatal(err)
		}
		vb := viewAt(t, vclock.New(), epoch.Add(time.Minute), b, a)
		// Reading through an O_RDWR handle, before any write.
		f, err := vb.OpenFile(ctx, "/f", os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(data))
		if _, err := f.ReadAt(got, 0); err != nil {
			t.Errorf("chunks %d/%d: read through O_RDWR handle: %v", tt.aChunk, tt.bChunk, err)
		} else if !bytes.Equal(got, data) {
			t.Errorf("chunks %d/%d: O_RDWR handle reads different bytes (first difference at %d)", tt.aChunk, tt.bChunk, firstDiff(got, data))
		}
		f.Close()
		if err := vb.SetMetadata(ctx, "/f", "k", []byte("v")); err != nil {
			t.Fatalf("chunks %d/%d: setmetadata: %v", tt.aChunk, tt.bChunk, err)
		}
		got, err = vb.ReadFile(ctx, "/f")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Errorf("chunks %d/%d: content changed by setmetadata (first difference at %d)", tt.aChunk, tt.bChunk, firstDiff(got, data))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// A writer controls the sizes its file entries claim. Reading such a file
// must fail with an error, never panic (or allocate the claimed size).
func TestReviewHostileFileSize(t *testing.T) {
	for _, size := range []uint64{1 << 62, 1<<63 + 5} {
		ctx := testContext(t)
		h := newDrive(t, newStore(t), "hostile", drive.Options{})
		if _, err := h.Append(ctx, &drive.Entry{Kind: drive.KindFile, Path: "/huge", Mode: 0o644, Size: size}); err != nil {
			t.Fatal(err)
		}
		v := viewAt(t, nil, epoch, nil, h)
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("size %d: ReadFile panicked: %v", size, r)
				}
			}()
			if _, err := v.ReadFile(ctx, "/huge"); err == nil {
				t.Errorf("size %d: ReadFile of a file without content succeeded", size)
			}
		}()
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("size %d: fs.ReadFile panicked: %v", size, r)
				}
			}()
			if _, err := fs.ReadFile(v.FS(ctx), "huge"); err == nil {
				t.Errorf("size %d: fs.ReadFile of a file without content succeeded", size)
			}
		}()
	}
}

// Listing a mount point lists the root of the mounted drive.
func TestReviewReadDirOfMountPoint(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	outer := newDrive(t, s, "outer", drive.Options{})
	inner := newDrive(t, s, "inner", drive.Options{})
	mustWrite(t, viewAt(t, nil, epoch, inner), "/docs/readme", "inside")
	v, err := union.New(union.Config{Writer: outer, Mounts: func(_ context.Context, key sdk.FeedKey) (*drive.Drive, error) {
		if key == inner.Key() {
			return inner, nil
		}
		return nil, fs.ErrNotExist
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if err := v.Mount(ctx, "/m", inner.Key(), 0); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, v, "/m"), []string{"docs"}; !cmp.Equal(got, want) {
		t.Errorf("readdir of the mount point: %v, want %v", got, want)
	}
	ents, err := fs.ReadDir(v.FS(ctx), "m")
	if err != nil || len(ents) != 1 || ents[0].Name() != "docs" {
		t.Errorf("fs.ReadDir of the mount point: %v, %v", ents, err)
	}
}

// Two writers make a directory at /x (with different permissions) while a
// third writes a file there with the newest clock: the directory is
// shown. Which writer's directory entry is shown must not depend on the
// order the drives were added to the view.
func TestReviewDirectoryShownIsOrderIndependent(t *testing.T) {
	for _, r := range resolvers {
		t.Run(r.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newStore(t)
			a := newDrive(t, s, "a", drive.Options{})
			b := newDrive(t, s, "b", drive.Options{})
			c := newDrive(t, s, "c", drive.Options{})
			if err := viewAt(t, nil, epoch, a).Mkdir(ctx, "/x", 0o700); err != nil {
				t.Fatal(err)
			}
			if err := viewAt(t, nil, epoch.Add(time.Second), b).Mkdir(ctx, "/x", 0o750); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, viewAt(t, nil, epoch.Add(time.Hour), c), "/x", "a file")
			type shown struct {
				Writer sdk.FeedKey
				Perm   fs.FileMode
				IsDir  bool
			}
			var got []shown
			for _, order := range [][]*drive.Drive{{a, b, c}, {b, a, c}, {c, b, a}} {
				st, err := viewAt(t, r.new(), epoch, nil, order...).Stat(ctx, "/x")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, shown{st.Writer, st.Perm, st.IsDir()})
			}
			for i := 1; i < len(got); i++ {
				if diff := cmp.Diff(got[0], got[i]); diff != "" {
					t.Errorf("drive order %d shows /x differently from order 0 (-0 +%d):\n%s", i, i, diff)
				}
			}
		})
	}
}

// a writes /f; b, having seen it, overwrites it; c, having seen neither,
// writes and deletes /f with the newest clock. The deletion does not hide
// b's concurrent edit, so b's version is shown; a's version was
// overwritten by b knowingly, so it is no conflict.
func TestReviewNoConflictWithOverwrittenVersionAfterDeletion(t *testing.T) {
	for _, r := range resolvers {
		t.Run(r.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newStore(t)
			a := newDrive(t, s, "a", drive.Options{})
			b := newDrive(t, s, "b", drive.Options{})
			c := newDrive(t, s, "c", drive.Options{})
			mustWrite(t, viewAt(t, nil, epoch, a), "/f", "by a")
			mustWrite(t, viewAt(t, r.new(), epoch.Add(time.Minute), b, a), "/f", "by b, after a")
			vc := viewAt(t, nil, epoch.Add(time.Hour), c)
			mustWrite(t, vc, "/f", "by c")
			if err := vc.Remove(ctx, "/f"); err != nil {
				t.Fatal(err)
			}
			v := viewAt(t, r.new(), epoch.Add(2*time.Hour), nil, a, b, c)
			if got := readString(t, v, "/f"); got != "by b, after a" {
				t.Errorf("shown: %q", got)
			}
			st, err := v.Stat(ctx, "/f")
			if err != nil {
				t.Fatal(err)
			}
			conflicts, err := v.Conflicts(ctx, "/")
			if err != nil {
				t.Fatal(err)
			}
			if st.Conflicts != 0 || len(conflicts) != 0 {
				t.Errorf("stat counts %d conflicts, Conflicts lists %d paths; want none (a's version was overwritten by b)", st.Conflicts, len(conflicts))
			}
		})
	}
}

// O_CREATE|O_EXCL creates the file exclusively: of two handles opened
// that way on a path that does not exist, at most one may create it.
func TestReviewExclusiveCreate(t *testing.T) {
	ctx := testContext(t)
	d := newDrive(t, newStore(t), "d", drive.Options{})
	v := newView(t, nil, d)
	created := 0
	var files []*union.File
	for range 2 {
		f, err := v.OpenFile(ctx, "/lock", os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			if !errors.Is(err, fs.ErrExist) {
				t.Fatalf("open: %v", err)
			}
			continue
		}
		files = append(files, f)
	}
	for i, f := range files {
		f.Write([]byte{byte('0' + i)})
		if err := f.Close(); err == nil {
			created++
		} else if !errors.Is(err, fs.ErrExist) {
			t.Fatalf("close: %v", err)
		}
	}
	if created != 1 {
		t.Errorf("%d exclusive creations of /lock succeeded, want 1", created)
	}
}

// A failing resolver is an error, not a missing file: callers must not
// take "the resolver plugin crashed" for "the path does not exist" (and,
// for instance, create it).
func TestReviewResolverErrorIsNotNotExist(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	a := newDrive(t, s, "a", drive.Options{})
	b := newDrive(t, s, "b", drive.Options{})
	mustWrite(t, viewAt(t, nil, epoch, a), "/dir/f", "a")
	mustWrite(t, viewAt(t, nil, epoch, b), "/dir/f", "b")
	mustWrite(t, viewAt(t, nil, epoch, a), "/g", "a")
	mustWrite(t, viewAt(t, nil, epoch, b), "/g", "b")
	v := viewAt(t, failingResolver{}, epoch, nil, a, b)
	for name, do := range map[string]func() error{
		"stat":    func() error { _, err := v.Stat(ctx, "/g"); return err },
		"lstat":   func() error { _, err := v.Lstat(ctx, "/g"); return err },
		"open":    func() error { _, err := v.Open(ctx, "/g"); return err },
		"readdir": func() error { _, err := v.ReadDir(ctx, "/dir"); return err },
	} {
		err := do()
		if errors.Is(err, fs.ErrNotExist) || !errors.Is(err, errResolverDown) {
			t.Errorf("%s with a failing resolver: %v; want the resolver's error, not ErrNotExist", name, err)
		}
	}
}

// A writer's vector clocks name other writers; what another drive's
// entries claim to have seen must not stop the local writer from writing.
// One entry whose clock names MaxClockWriters writers is enough today:
// the view merges it with the drive's own key into every new entry, which
// then breaks the limit and every write fails.
func TestReviewForeignClockDoesNotBreakWrites(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	w := newDrive(t, s, "w", drive.Options{})
	h := newDrive(t, s, "hostile", drive.Options{})
	clock := make(sdk.VectorClock, drive.MaxClockWriters)
	for i := range clock {
		clock[i].Writer[0] = 0xff
		clock[i].Writer[1] = byte(i >> 8)
		clock[i].Writer[2] = byte(i)
		clock[i].Length = 1
	}
	if _, err := h.Append(ctx, &drive.Entry{Kind: drive.KindFile, Path: "/spam", Clock: clock, WallClock: epoch.UnixNano()}); err != nil {
		t.Fatal(err)
	}
	v := viewAt(t, vclock.New(), epoch, w, h)
	if err := v.WriteFile(ctx, "/mine", []byte("x"), 0o644); err != nil {
		t.Errorf("write after a hostile clock arrived: %v", err)
	}
}

// An edit that arrives while a file is open for writing was not seen by
// the version written at Close: it must stay reachable (shown or as a
// conflict), not be silently dominated by the Close's vector clock.
func TestReviewEditWhileOpenIsNotLost(t *testing.T) {
	for _, r := range resolvers {
		t.Run(r.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newStore(t)
			a := newDrive(t, s, "a", drive.Options{})
			b := newDrive(t, s, "b", drive.Options{})
			va := viewAt(t, r.new(), epoch, a, b)
			mustWrite(t, va, "/f", "v1")
			f, err := va.OpenFile(ctx, "/f", os.O_RDWR, 0)
			if err != nil {
				t.Fatal(err)
			}
			// b sees v1 and edits it while a's handle is open.
			mustWrite(t, viewAt(t, r.new(), epoch.Add(time.Second), b, a), "/f", "v2 by b")
			if _, err := f.WriteAt([]byte("V1 edited by a"), 0); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			reader := viewAt(t, r.new(), epoch.Add(time.Hour), nil, a, b)
			st, err := reader.Stat(ctx, "/f")
			if err != nil {
				t.Fatal(err)
			}
			if st.Writer == b.Key() {
				return
			}
			conflicts, err := reader.Conflicts(ctx, "/f")
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range conflicts {
				for _, ver := range c.Versions {
					if ver.Writer == b.Key() {
						return
					}
				}
			}
			t.Errorf("b's edit, made while a had the file open, is neither shown nor a conflict: lost")
		})
	}
}

// A Stat hands out the entry's metadata; changing it must not change
// what the view shows.
func TestReviewStatMetadataIsACopy(t *testing.T) {
	ctx := testContext(t)
	d := newDrive(t, newStore(t), "d", drive.Options{})
	v := newView(t, nil, d)
	mustWrite(t, v, "/f", "x")
	if err := v.SetMetadata(ctx, "/f", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	st, err := v.Stat(ctx, "/f")
	if err != nil {
		t.Fatal(err)
	}
	st.Metadata["k"][0] = 'X'
	st.Metadata["new"] = []byte("y")
	st, err = v.Stat(ctx, "/f")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string][]byte{"k": []byte("v")}, st.Metadata); diff != "" {
		t.Errorf("metadata after a caller changed a Stat's copy (-want +got):\n%s", diff)
	}
}

// a writes /f; b, having seen it, deletes it; c, having seen neither,
// writes and deletes /f with the newest clock. Nobody edited a's version
// without knowing of b's deletion, so /f stays deleted: an informed
// deletion must not be undone by an unrelated concurrent one (today the
// outcome depends on which of the two tombstones has the newer clock).
func TestReviewInformedDeletionStays(t *testing.T) {
	for _, r := range resolvers {
		t.Run(r.name, func(t *testing.T) {
			ctx := testContext(t)
			s := newStore(t)
			a := newDrive(t, s, "a", drive.Options{})
			b := newDrive(t, s, "b", drive.Options{})
			c := newDrive(t, s, "c", drive.Options{})
			mustWrite(t, viewAt(t, nil, epoch, a), "/f", "by a")
			if err := viewAt(t, r.new(), epoch.Add(time.Minute), b, a).Remove(ctx, "/f"); err != nil {
				t.Fatal(err)
			}
			vc := viewAt(t, nil, epoch.Add(time.Hour), c)
			mustWrite(t, vc, "/f", "by c")
			if err := vc.Remove(ctx, "/f"); err != nil {
				t.Fatal(err)
			}
			v := viewAt(t, r.new(), epoch.Add(2*time.Hour), nil, a, b, c)
			if st, err := v.Stat(ctx, "/f"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("/f deleted by b after seeing it came back: %+v, %v", st, err)
			}
		})
	}
}

// Symlinks are followed on the way to a path, not only at its end.
func TestReviewSymlinkFollowing(t *testing.T) {
	ctx := testContext(t)
	d := newDrive(t, newStore(t), "d", drive.Options{})
	v := newView(t, nil, d)
	mustWrite(t, v, "/dir/x", "through the link")
	if err := v.Symlink(ctx, "dir", "/dlink"); err != nil {
		t.Fatal(err)
	}
	if got, err := v.ReadFile(ctx, "/dlink/x"); err != nil || string(got) != "through the link" {
		t.Errorf("read /dlink/x: %q, %v", got, err)
	}
	if st, err := v.Stat(ctx, "/dlink/x"); err != nil || st.Size != int64(len("through the link")) {
		t.Errorf("stat /dlink/x: %+v, %v", st, err)
	}
	// io/fs: Open of a symlink to a directory gives a directory (Stat
	// follows the link), so listing it must work too.
	fsys := v.FS(ctx)
	if ents, err := fs.ReadDir(fsys, "dlink"); err != nil || len(ents) != 1 || ents[0].Name() != "x" {
		t.Errorf("fs.ReadDir(dlink): %v, %v", ents, err)
	}
	if f, err := fsys.Open("dlink"); err != nil {
		t.Errorf("open dlink: %v", err)
	} else {
		if rd, ok := f.(fs.ReadDirFile); !ok {
			t.Errorf("open dlink gave a %T, not a directory", f)
		} else if ents, err := rd.ReadDir(-1); err != nil || len(ents) != 1 {
			t.Errorf("ReadDir on the opened dlink: %v, %v", ents, err)
		}
		f.Close()
	}
}

// A wall clock far in the future (here from a hostile drive, at another
// path) is not inherited; but the view must still not stamp below the
// clocks it can trust. a's clock runs 30s fast (within MaxSkew) and
// writes /f; b, whose clock is right, overwrites /f after seeing it. With
// last-writer-wins b's informed edit must win; today one far-future entry
// anywhere makes b stamp plain "now", below a's version.
func TestReviewStampKeepsTrustedClocks(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	a := newDrive(t, s, "a", drive.Options{})
	b := newDrive(t, s, "b", drive.Options{})
	h := newDrive(t, s, "hostile", drive.Options{})
	if _, err := h.Append(ctx, &drive.Entry{Kind: drive.KindDir, Path: "/elsewhere", Mode: 0o755,
		WallClock: time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()}); err != nil {
		t.Fatal(err)
	}
	r := resolvers[0].new() // mtime
	mustWrite(t, viewAt(t, nil, epoch.Add(30*time.Second), a), "/f", "by a, fast clock")
	vb := viewAt(t, r, epoch, b, a, h)
	mustWrite(t, vb, "/f", "by b, after seeing a")
	if got := readString(t, vb, "/f"); got != "by b, after seeing a" {
		t.Errorf("b's informed overwrite lost to the version it replaced: shown %q", got)
	}
}

// AddDrive publishes the source before subscribing to the drive, and
// stores its cancel func outside the lock: a RemoveDrive (or Close) in
// between reads a nil cancel, and the removed drive stays subscribed
// (its changes still reach the view's watchers and cache). Under -race
// the unsynchronised access is reported as well.
func TestReviewAddRemoveDriveRace(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	w := newDrive(t, s, "w", drive.Options{})
	o := newDrive(t, s, "o", drive.Options{})
	for i := range 50 {
		v := viewAt(t, vclock.New(), epoch, w)
		events, err := v.Watch(ctx, "/")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- v.AddDrive(o) }()
		for {
			err := v.RemoveDrive(o.Key())
			if err == nil {
				break
			}
			if !errors.Is(err, sdk.ErrNotFound) {
				t.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		// o is out of the view: its next entry must not reach the view's
		// watchers. Subscribers run before Append returns, so o's event,
		// if any, is queued before w's.
		if _, err := o.Append(ctx, &drive.Entry{Kind: drive.KindDir, Path: fmt.Sprintf("/o%d", i)}); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, v, fmt.Sprintf("/w%d", i), "x")
		for e := range events {
			if e.Type != union.EventChange {
				continue
			}
			if e.Drive == o.Key() {
				t.Fatalf("iteration %d: a removed drive's change reached the view: %+v", i, e)
			}
			if e.Drive == w.Key() {
				break
			}
		}
		v.Close()
	}
}
