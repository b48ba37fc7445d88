package union_test

import (
	"errors"
	"io/fs"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/union"
	"github.com/codrive/codrive/sdk"
)

var epoch = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// forEachResolver runs a scenario with each builtin resolver.
func forEachResolver(t *testing.T, fn func(t *testing.T, r func() sdk.Resolver)) {
	for _, r := range resolvers {
		t.Run(r.name, func(t *testing.T) { fn(t, r.new) })
	}
}

// Seed 002's own cases.
func TestSeedCases(t *testing.T) {
	forEachResolver(t, func(t *testing.T, r func() sdk.Resolver) {
		ctx := testContext(t)
		a := newPeer(t, "a", r(), epoch)
		b := newPeer(t, "b", r(), epoch)
		mesh(a, b)

		// Read from a primary: b reads the file a wrote.
		mustWrite(t, a.v, "/primary.txt", "from a")
		converge(t, a, b)
		if got := readString(t, b.v, "/primary.txt"); got != "from a" {
			t.Errorf("b reads %q", got)
		}

		// Two drives with different files; readdir is the union, with
		// stats.
		mustWrite(t, b.v, "/only-b.txt", "from b")
		converge(t, a, b)
		for _, p := range []*peer{a, b} {
			list, err := p.v.ReadDir(ctx, "/")
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, s := range list {
				got = append(got, s.Path+":"+map[sdk.FeedKey]string{a.d.Key(): "a", b.d.Key(): "b"}[s.Writer])
			}
			if diff := cmp.Diff([]string{"/only-b.txt:b", "/primary.txt:a"}, got); diff != "" {
				t.Errorf("%s readdir with stats (-want +got):\n%s", p.name, diff)
			}
		}

		// The same file on two drives: the newer wins.
		mustWrite(t, a.v, "/same.txt", "old")
		converge(t, a, b)
		b.clock.now = epoch.Add(time.Hour)
		mustWrite(t, b.v, "/same.txt", "new")
		converge(t, a, b)
		for _, p := range []*peer{a, b} {
			if got := readString(t, p.v, "/same.txt"); got != "new" {
				t.Errorf("%s reads %q, want the newer version", p.name, got)
			}
		}

		// Delete another writer's file, then write it again.
		if err := b.v.Remove(ctx, "/primary.txt"); err != nil {
			t.Fatal(err)
		}
		converge(t, a, b)
		for _, p := range []*peer{a, b} {
			if err := p.v.Access(ctx, "/primary.txt"); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s: deleted file still there: %v", p.name, err)
			}
		}
		a.clock.now = epoch.Add(2 * time.Hour)
		mustWrite(t, a.v, "/primary.txt", "back")
		converge(t, a, b)
		for _, p := range []*peer{a, b} {
			if got := readString(t, p.v, "/primary.txt"); got != "back" {
				t.Errorf("%s reads %q after the rewrite", p.name, got)
			}
		}
	})
}

func TestNoWritableDrive(t *testing.T) {
	ctx := testContext(t)
	d := newDrive(t, newStore(t), "d", drive.Options{})
	v := newView(t, nil, nil, d)
	if v.Writable() {
		t.Fatal("a view without writer says it is writable")
	}
	for name, do := range map[string]func() error{
		"write":  func() error { return v.WriteFile(ctx, "/x", []byte("x"), 0o644) },
		"mkdir":  func() error { return v.Mkdir(ctx, "/d", 0o755) },
		"remove": func() error { return v.Remove(ctx, "/x") },
		"create": func() error { _, err := v.Create(ctx, "/x", 0); return err },
	} {
		if err := do(); !errors.Is(err, union.ErrReadOnly) {
			t.Errorf("%s: got %v, want ErrReadOnly", name, err)
		}
	}
}

func TestDriveEvents(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	w := newDrive(t, s, "w", drive.Options{})
	other := newDrive(t, s, "other", drive.Options{})
	v := newView(t, resolvers[1].new(), w)
	events, err := v.Watch(ctx, "/")
	if err != nil {
		t.Fatal(err)
	}
	if err := v.AddDrive(other); err != nil {
		t.Fatal(err)
	}
	if err := v.RemoveDrive(other.Key()); err != nil {
		t.Fatal(err)
	}
	if err := v.RemoveDrive(w.Key()); err == nil {
		t.Error("the writable drive was removed")
	}
	var got []union.Event
	for len(got) < 2 {
		select {
		case e := <-events:
			got = append(got, e)
		case <-ctx.Done():
			t.Fatal("no drive events")
		}
	}
	want := []union.Event{{Type: union.EventDriveAdded, Drive: other.Key()}, {Type: union.EventDriveRemoved, Drive: other.Key()}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// Watch delivers changes from every writer, under the prefix only.
func TestWatch(t *testing.T) {
	forEachResolver(t, func(t *testing.T, r func() sdk.Resolver) {
		ctx := testContext(t)
		a := newPeer(t, "a", r(), epoch)
		b := newPeer(t, "b", r(), epoch)
		mesh(a, b)
		events, err := a.v.Watch(ctx, "/watched")
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, a.v, "/watched/by-a", "1")
		mustWrite(t, a.v, "/elsewhere", "1")
		mustWrite(t, b.v, "/watched/by-b", "2")
		want := map[string]sdk.FeedKey{"/watched/by-a": a.d.Key(), "/watched/by-b": b.d.Key()}
		got := map[string]sdk.FeedKey{}
		for len(got) < len(want) {
			select {
			case e := <-events:
				if e.Type != union.EventChange {
					continue
				}
				got[e.Path] = e.Drive
			case <-ctx.Done():
				t.Fatalf("watch got %v, want %v", got, want)
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("watched changes (-want +got):\n%s", diff)
		}
	})
}

// Two writers edit one file while disconnected; after they reconnect
// every peer shows the same winner, and the loser stays reachable.
func TestConcurrentEdits(t *testing.T) {
	forEachResolver(t, func(t *testing.T, r func() sdk.Resolver) {
		ctx := testContext(t)
		a := newPeer(t, "a", r(), epoch)
		b := newPeer(t, "b", r(), epoch)
		c := newPeer(t, "c", r(), epoch) // a reader that only follows
		mesh(a, b)
		c.follow(a, b)
		c.connect(a)
		c.connect(b)
		mustWrite(t, a.v, "/doc.txt", "v0")
		converge(t, a, b, c)

		a.disconnect(b)
		c.disconnect(a)
		c.disconnect(b)
		a.clock.now = epoch.Add(time.Minute)
		b.clock.now = epoch.Add(2 * time.Minute)
		mustWrite(t, a.v, "/doc.txt", "edit by a")
		mustWrite(t, b.v, "/doc.txt", "edit by b")
		a.connect(b)
		c.connect(a)
		converge(t, a, b, c)

		var shown []string
		for _, p := range []*peer{a, b, c} {
			shown = append(shown, readString(t, p.v, "/doc.txt"))
			conflicts, err := p.v.Conflicts(ctx, "/")
			if err != nil {
				t.Fatal(err)
			}
			if len(conflicts) != 1 || len(conflicts[0].Versions) != 1 {
				t.Fatalf("%s conflicts: %+v", p.name, conflicts)
			}
			loser := conflicts[0].Versions[0]
			if loser.Writer != a.d.Key() {
				t.Errorf("%s: the kept version is by %v, want a's", p.name, loser.Writer)
			}
			f, err := p.v.OpenVersion(ctx, "/doc.txt", loser.Writer)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, loser.Size)
			f.Read(buf)
			f.Close()
			if string(buf) != "edit by a" {
				t.Errorf("%s: conflict version reads %q", p.name, buf)
			}
		}
		if diff := cmp.Diff([]string{"edit by b", "edit by b", "edit by b"}, shown); diff != "" {
			t.Errorf("shown versions (-want +got):\n%s", diff)
		}

		// Writing again after seeing both settles the conflict, on every
		// peer, without a conflict of the conflict.
		a.clock.now = epoch.Add(3 * time.Minute)
		mustWrite(t, a.v, "/doc.txt", "merged")
		converge(t, a, b, c)
		for _, p := range []*peer{a, b, c} {
			if got := readString(t, p.v, "/doc.txt"); got != "merged" {
				t.Errorf("%s reads %q after the merge", p.name, got)
			}
			if conflicts, _ := p.v.Conflicts(ctx, "/"); len(conflicts) != 0 {
				t.Errorf("%s still has conflicts: %+v", p.name, conflicts)
			}
		}
	})
}

// Identical concurrent content is no conflict.
func TestIdenticalConcurrentContent(t *testing.T) {
	forEachResolver(t, func(t *testing.T, r func() sdk.Resolver) {
		ctx := testContext(t)
		a := newPeer(t, "a", r(), epoch)
		b := newPeer(t, "b", r(), epoch.Add(time.Second))
		mustWrite(t, a.v, "/same", "identical")
		mustWrite(t, b.v, "/same", "identical")
		mesh(a, b)
		converge(t, a, b)
		for _, p := range []*peer{a, b} {
			st, err := p.v.Stat(ctx, "/same")
			if err != nil || st.Conflicts != 0 {
				t.Errorf("%s: %+v, %v", p.name, st, err)
			}
		}
	})
}

// Under vclock a causally later edit wins even when its writer's clock is
// an hour behind; under mtime the older clock loses.
func TestClockBehind(t *testing.T) {
	for _, tt := range []struct {
		resolver int
		want     string
	}{{0, "first"}, {1, "later, slow clock"}} {
		t.Run(resolvers[tt.resolver].name, func(t *testing.T) {
			a := newPeer(t, "a", resolvers[tt.resolver].new(), epoch)
			b := newPeer(t, "b", resolvers[tt.resolver].new(), epoch.Add(-time.Hour))
			mesh(a, b)
			mustWrite(t, a.v, "/f", "first")
			converge(t, a, b)
			mustWrite(t, b.v, "/f", "later, slow clock")
			converge(t, a, b)
			for _, p := range []*peer{a, b} {
				if got := readString(t, p.v, "/f"); got != tt.want {
					t.Errorf("%s reads %q, want %q", p.name, got, tt.want)
				}
			}
		})
	}
}

// A timestamp in the year 2100 does not lock a path under vclock.
func TestFutureTimestamp(t *testing.T) {
	a := newPeer(t, "a", resolvers[1].new(), time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC))
	b := newPeer(t, "b", resolvers[1].new(), epoch)
	mesh(a, b)
	mustWrite(t, a.v, "/f", "from the future")
	converge(t, a, b)
	mustWrite(t, b.v, "/f", "now")
	converge(t, a, b)
	for _, p := range []*peer{a, b} {
		if got := readString(t, p.v, "/f"); got != "now" {
			t.Errorf("%s reads %q", p.name, got)
		}
	}
	// b's entry did not inherit the far-future clock.
	st, _ := b.v.Stat(testContext(t), "/f")
	if st.ModTime.Year() != epoch.Year() {
		t.Errorf("b's version is stamped %v", st.ModTime)
	}
}

// A delete concurrent with an edit does not lose the edit.
func TestDeleteVersusEdit(t *testing.T) {
	forEachResolver(t, func(t *testing.T, r func() sdk.Resolver) {
		ctx := testContext(t)
		for _, deleteLater := range []bool{false, true} {
			a := newPeer(t, "a", r(), epoch)
			b := newPeer(t, "b", r(), epoch)
			mesh(a, b)
			mustWrite(t, a.v, "/f", "v0")
			converge(t, a, b)
			a.disconnect(b)
			if deleteLater {
				a.clock.now = epoch.Add(time.Hour) // the deletion has the newer clock
			} else {
				b.clock.now = epoch.Add(time.Hour)
			}
			if err := a.v.Remove(ctx, "/f"); err != nil {
				t.Fatal(err)
			}
			mustWrite(t, b.v, "/f", "edited")
			a.connect(b)
			converge(t, a, b)
			for _, p := range []*peer{a, b} {
				if got := readString(t, p.v, "/f"); got != "edited" {
					t.Errorf("deleteLater=%v: %s reads %q", deleteLater, p.name, got)
				}
			}
		}
	})
}

// Deleting a directory while another writer creates a file in it: the
// file survives, and so does the directory holding it.
func TestDeleteDirVersusNewFile(t *testing.T) {
	forEachResolver(t, func(t *testing.T, r func() sdk.Resolver) {
		ctx := testContext(t)
		a := newPeer(t, "a", r(), epoch)
		b := newPeer(t, "b", r(), epoch)
		mesh(a, b)
		if err := a.v.Mkdir(ctx, "/dir", 0o755); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, a.v, "/dir/old", "x")
		converge(t, a, b)
		a.disconnect(b)
		a.clock.now = epoch.Add(time.Hour)
		if err := a.v.Remove(ctx, "/dir/old"); err != nil {
			t.Fatal(err)
		}
		if err := a.v.Rmdir(ctx, "/dir"); err != nil {
			t.Fatal(err)
		}
		mustWrite(t, b.v, "/dir/new", "survivor")
		a.connect(b)
		converge(t, a, b)
		for _, p := range []*peer{a, b} {
			if got := names(t, p.v, "/dir"); !slices.Equal(got, []string{"new"}) {
				t.Errorf("%s lists %v in /dir", p.name, got)
			}
			if got := readString(t, p.v, "/dir/new"); got != "survivor" {
				t.Errorf("%s reads %q", p.name, got)
			}
		}
	})
}

// A file and a directory created at one path concurrently: the directory
// is shown on every peer, and the file is a conflict version.
func TestFileVersusDirectory(t *testing.T) {
	forEachResolver(t, func(t *testing.T, r func() sdk.Resolver) {
		ctx := testContext(t)
		for _, fileNewer := range []bool{false, true} {
			a := newPeer(t, "a", r(), epoch)
			b := newPeer(t, "b", r(), epoch)
			if fileNewer {
				a.clock.now = epoch.Add(time.Hour)
			} else {
				b.clock.now = epoch.Add(time.Hour)
			}
			mustWrite(t, a.v, "/x", "a file")
			mustWrite(t, b.v, "/x/inside", "in a directory")
			mesh(a, b)
			converge(t, a, b)
			for _, p := range []*peer{a, b} {
				st, err := p.v.Stat(ctx, "/x")
				if err != nil || !st.IsDir() {
					t.Fatalf("fileNewer=%v: %s stats /x as %+v, %v", fileNewer, p.name, st, err)
				}
				conflicts, err := p.v.Conflicts(ctx, "/x")
				if err != nil {
					t.Fatal(err)
				}
				if len(conflicts) != 1 || conflicts[0].Path != "/x" || conflicts[0].Versions[0].Kind != drive.KindFile {
					t.Errorf("fileNewer=%v: %s conflicts %+v", fileNewer, p.name, conflicts)
				}
			}
		}
	})
}

// Writing into a directory that exists only on another drive just works.
func TestWriteIntoOthersDirectory(t *testing.T) {
	forEachResolver(t, func(t *testing.T, r func() sdk.Resolver) {
		ctx := testContext(t)
		a := newPeer(t, "a", r(), epoch)
		b := newPeer(t, "b", r(), epoch)
		mesh(a, b)
		if err := a.v.Mkdir(ctx, "/shared", 0o755); err != nil {
			t.Fatal(err)
		}
		converge(t, a, b)
		mustWrite(t, b.v, "/shared/from-b", "hi")
		converge(t, a, b)
		if got := names(t, a.v, "/shared"); !slices.Equal(got, []string{"from-b"}) {
			t.Errorf("a lists %v", got)
		}
	})
}

// Versions: checkout of a past version reads it as it was, read-only, and
// Diff lists what changed.
func TestVersions(t *testing.T) {
	forEachResolver(t, func(t *testing.T, r func() sdk.Resolver) {
		ctx := testContext(t)
		a := newPeer(t, "a", r(), epoch)
		b := newPeer(t, "b", r(), epoch)
		mesh(a, b)
		mustWrite(t, a.v, "/keep", "1")
		mustWrite(t, a.v, "/change", "old")
		mustWrite(t, b.v, "/remove", "x")
		converge(t, a, b)
		v1 := a.v.Version()
		a.clock.now = epoch.Add(time.Minute)
		b.clock.now = epoch.Add(time.Minute)
		mustWrite(t, b.v, "/change", "new")
		mustWrite(t, a.v, "/dir/added", "y")
		if err := a.v.Remove(ctx, "/remove"); err != nil {
			t.Fatal(err)
		}
		converge(t, a, b)
		v2 := a.v.Version()
		if diff := cmp.Diff(v2, b.v.Version()); diff != "" {
			t.Errorf("peers disagree on the version: %s", diff)
		}

		old, err := a.v.Checkout(ctx, v1)
		if err != nil {
			t.Fatal(err)
		}
		if got := readString(t, old, "/change"); got != "old" {
			t.Errorf("checkout reads %q", got)
		}
		if got := names(t, old, "/"); !slices.Equal(got, []string{"change", "keep", "remove"}) {
			t.Errorf("checkout lists %v", got)
		}
		if err := old.WriteFile(ctx, "/x", nil, 0); !errors.Is(err, union.ErrReadOnly) {
			t.Errorf("write to a checkout: %v", err)
		}

		changes, err := a.v.Diff(ctx, v1, v2)
		if err != nil {
			t.Fatal(err)
		}
		type row struct {
			Type union.ChangeType
			Path string
		}
		var got []row
		for _, c := range changes {
			got = append(got, row{c.Type, c.Path})
		}
		want := []row{{union.Modified, "/change"}, {union.Added, "/dir"}, {union.Added, "/dir/added"}, {union.Removed, "/remove"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("diff (-want +got):\n%s", diff)
		}
	})
}
