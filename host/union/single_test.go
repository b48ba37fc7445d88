package union_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/union"
	"github.com/codrive/codrive/sdk"
)

// TestFSConformance runs testing/fstest over a drive with files,
// directories (explicit, implicit and empty), multi-chunk files and a
// deleted file.
func TestFSConformance(t *testing.T) {
	for _, compress := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "zstd"}[compress], func(t *testing.T) {
			ctx := testContext(t)
			d := newDrive(t, newStore(t), "d", drive.Options{Compress: compress})
			v := newView(t, nil, d)
			mustWrite(t, v, "/hello.txt", "hello, world\n")
			mustWrite(t, v, "/a/b/c.txt", "deep")
			mustWrite(t, v, "/a/big.bin", strings.Repeat("0123456789", 500))
			mustWrite(t, v, "/empty", "")
			mustWrite(t, v, "/gone", "x")
			if err := v.Mkdir(ctx, "/emptydir", 0o755); err != nil {
				t.Fatal(err)
			}
			if err := v.Remove(ctx, "/gone"); err != nil {
				t.Fatal(err)
			}
			if err := fstest.TestFS(v.FS(ctx), "hello.txt", "a/b/c.txt", "a/big.bin", "empty", "emptydir"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestSingleDrive(t *testing.T) {
	ctx := testContext(t)
	d := newDrive(t, newStore(t), "d", drive.Options{})
	v := newView(t, nil, d)

	mustWrite(t, v, "/docs/a.txt", "A")
	mustWrite(t, v, "/docs/b.txt", "B")
	if err := v.Mkdir(ctx, "/docs/sub", 0o700); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, v, "/docs"), []string{"a.txt", "b.txt", "sub"}; !cmp.Equal(got, want) {
		t.Errorf("readdir: %s", cmp.Diff(want, got))
	}
	list, err := v.ReadDir(ctx, "/docs")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Path string
		Kind drive.Kind
		Size int64
		Mode fs.FileMode
	}
	var rows []row
	for _, s := range list {
		rows = append(rows, row{s.Path, s.Kind, s.Size, s.Mode()})
	}
	want := []row{
		{"/docs/a.txt", drive.KindFile, 1, 0o644},
		{"/docs/b.txt", drive.KindFile, 1, 0o644},
		{"/docs/sub", drive.KindDir, 0, fs.ModeDir | 0o700},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("readdir with stats (-want +got):\n%s", diff)
	}

	tests := []struct {
		name string
		err  error
		do   func() error
	}{
		{"mkdir over a file", fs.ErrExist, func() error { return v.Mkdir(ctx, "/docs/a.txt", 0o755) }},
		{"write under a file", union.ErrNotDir, func() error { return v.WriteFile(ctx, "/docs/a.txt/x", nil, 0) }},
		{"write over a directory", union.ErrIsDir, func() error { return v.WriteFile(ctx, "/docs", nil, 0) }},
		{"rmdir of a non-empty directory", union.ErrNotEmpty, func() error { return v.Rmdir(ctx, "/docs") }},
		{"rmdir of a file", union.ErrNotDir, func() error { return v.Rmdir(ctx, "/docs/a.txt") }},
		{"unlink of a directory", union.ErrIsDir, func() error { return v.Remove(ctx, "/docs/sub") }},
		{"unlink of nothing", fs.ErrNotExist, func() error { return v.Remove(ctx, "/nope") }},
		{"read of nothing", fs.ErrNotExist, func() error { _, err := v.ReadFile(ctx, "/nope"); return err }},
		{"read of a directory", union.ErrIsDir, func() error { _, err := v.ReadFile(ctx, "/docs"); return err }},
		{"write to the root", fs.ErrInvalid, func() error { return v.WriteFile(ctx, "/", nil, 0) }},
		{"exclusive create of an existing file", fs.ErrExist, func() error {
			_, err := v.OpenFile(ctx, "/docs/a.txt", os.O_RDWR|os.O_CREATE|os.O_EXCL, 0)
			return err
		}},
		{"open for write of nothing", fs.ErrNotExist, func() error { _, err := v.OpenFile(ctx, "/nope", os.O_RDWR, 0); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, tt.err) {
				t.Fatalf("got %v, want %v", err, tt.err)
			}
			var pe *fs.PathError
			if !errors.As(err, &pe) {
				t.Errorf("%v is not an *fs.PathError", err)
			}
		})
	}

	// Unlink, then write again: the path comes back.
	if err := v.Remove(ctx, "/docs/b.txt"); err != nil {
		t.Fatal(err)
	}
	if err := v.Access(ctx, "/docs/b.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("access after unlink: %v", err)
	}
	mustWrite(t, v, "/docs/b.txt", "B2")
	if got := readString(t, v, "/docs/b.txt"); got != "B2" {
		t.Errorf("rewritten file reads %q", got)
	}
	// Rmdir of an empty directory.
	if err := v.Rmdir(ctx, "/docs/sub"); err != nil {
		t.Fatal(err)
	}
	if got, want := names(t, v, "/docs"), []string{"a.txt", "b.txt"}; !cmp.Equal(got, want) {
		t.Errorf("after rmdir: %s", cmp.Diff(want, got))
	}
}

func TestSymlinkMetadataTruncate(t *testing.T) {
	ctx := testContext(t)
	d := newDrive(t, newStore(t), "d", drive.Options{})
	v := newView(t, nil, d)
	mustWrite(t, v, "/dir/file", "0123456789")
	if err := v.Symlink(ctx, "file", "/dir/link"); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, v, "/dir/link"); got != "0123456789" {
		t.Errorf("read through symlink: %q", got)
	}
	if target, err := v.Readlink(ctx, "/dir/link"); err != nil || target != "file" {
		t.Errorf("readlink: %q, %v", target, err)
	}
	ls, err := v.Lstat(ctx, "/dir/link")
	if err != nil || ls.Kind != drive.KindSymlink {
		t.Errorf("lstat: %+v, %v", ls, err)
	}
	st, err := v.Stat(ctx, "/dir/link")
	if err != nil || st.Kind != drive.KindFile || st.Size != 10 {
		t.Errorf("stat: %+v, %v", st, err)
	}

	if err := v.SetMetadata(ctx, "/dir/file", "color", []byte("blue")); err != nil {
		t.Fatal(err)
	}
	if err := v.SetMetadata(ctx, "/dir", "owner", []byte("me")); err != nil {
		t.Fatal(err)
	}
	st, _ = v.Stat(ctx, "/dir/file")
	if diff := cmp.Diff(map[string][]byte{"color": []byte("blue")}, st.Metadata); diff != "" {
		t.Errorf("file metadata: %s", diff)
	}
	if got := readString(t, v, "/dir/file"); got != "0123456789" {
		t.Errorf("content after metadata change: %q", got)
	}
	dst, _ := v.Stat(ctx, "/dir")
	if !dst.IsDir() || string(dst.Metadata["owner"]) != "me" {
		t.Errorf("dir stat after metadata: %+v", dst)
	}
	if err := v.RemoveMetadata(ctx, "/dir/file", "color"); err != nil {
		t.Fatal(err)
	}
	if st, _ = v.Stat(ctx, "/dir/file"); len(st.Metadata) != 0 {
		t.Errorf("metadata after removal: %v", st.Metadata)
	}
	// Metadata survives a rewrite of the content.
	if err := v.SetMetadata(ctx, "/dir/file", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, v, "/dir/file", "new")
	if st, _ = v.Stat(ctx, "/dir/file"); string(st.Metadata["k"]) != "v" {
		t.Errorf("metadata lost on rewrite: %v", st.Metadata)
	}

	for _, tt := range []struct {
		size int64
		want string
	}{{2, "ne"}, {5, "ne\x00\x00\x00"}, {0, ""}} {
		if err := v.Truncate(ctx, "/dir/file", tt.size); err != nil {
			t.Fatal(err)
		}
		if got := readString(t, v, "/dir/file"); got != tt.want {
			t.Errorf("truncate to %d: %q, want %q", tt.size, got, tt.want)
		}
	}
}

func TestFileHandles(t *testing.T) {
	ctx := testContext(t)
	d := newDrive(t, newStore(t), "d", drive.Options{})
	v := newView(t, nil, d)
	base := bytes.Repeat([]byte("abcdefgh"), 500) // 4000 bytes: 4 chunks of 1 KiB
	if err := v.WriteFile(ctx, "/f", base, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := v.OpenFile(ctx, "/f", os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), base...)
	if _, err := f.WriteAt([]byte("XYZ"), 1500); err != nil {
		t.Fatal(err)
	}
	copy(want[1500:], "XYZ")
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	want = append(want, "tail"...)
	// Before Close, readers still see the old version.
	if got, _ := v.ReadFile(ctx, "/f"); !bytes.Equal(got, base) {
		t.Error("a half-written version is visible before Close")
	}
	// The handle reads its own writes.
	buf := make([]byte, 3)
	if _, err := f.ReadAt(buf, 1500); err != nil || string(buf) != "XYZ" {
		t.Errorf("read own write: %q, %v", buf, err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := v.ReadFile(ctx, "/f")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("after close: %d bytes, want %d; equal prefix %v", len(got), len(want), bytes.HasPrefix(got, want[:1000]))
	}
	st, _ := v.Stat(ctx, "/f")
	if st.Perm != 0o600 || st.Hash != drive.HashContent(want) {
		t.Errorf("stat after close: perm %v, hash match %v", st.Perm, st.Hash == drive.HashContent(want))
	}

	// Append mode and streaming writes.
	f, err = v.OpenFile(ctx, "/log", os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("one\n"))
	f.Seek(0, io.SeekStart)
	f.Write([]byte("two\n"))
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, v, "/log"); got != "one\ntwo\n" {
		t.Errorf("append mode: %q", got)
	}
	w, err := v.Create(ctx, "/stream", 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		io.WriteString(w, strings.Repeat(string(rune('a'+i%26)), 97))
	}
	if err := v.Access(ctx, "/stream"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a streaming file shows before Close: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := v.Stat(ctx, "/stream"); err != nil || st.Size != 9700 {
		t.Errorf("streamed file: %+v, %v", st, err)
	}
}

func TestHiddenPaths(t *testing.T) {
	d := newDrive(t, newStore(t), "d", drive.Options{})
	v := newView(t, nil, d) // hides /.writers
	mustWrite(t, v, "/.writers/abc", "writer entry")
	mustWrite(t, v, "/visible", "x")
	if got, want := names(t, v, "/"), []string{"visible"}; !cmp.Equal(got, want) {
		t.Errorf("root lists %v, want %v", got, want)
	}
	if got := readString(t, v, "/.writers/abc"); got != "writer entry" {
		t.Errorf("hidden file reads %q", got)
	}
	if got := names(t, v, "/.writers"); !cmp.Equal(got, []string{"abc"}) {
		t.Errorf("hidden directory lists %v", got)
	}
}

func TestMounts(t *testing.T) {
	ctx := testContext(t)
	s := newStore(t)
	outer := newDrive(t, s, "outer", drive.Options{})
	inner := newDrive(t, s, "inner", drive.Options{})
	innerView := newView(t, nil, inner)
	mustWrite(t, innerView, "/docs/readme", "inside the mount")
	pinned := inner.Length()
	mustWrite(t, innerView, "/docs/later", "written after the pin")

	opened := map[sdk.FeedKey]*drive.Drive{inner.Key(): inner}
	v, err := union.New(union.Config{Writer: outer, Mounts: func(_ context.Context, key sdk.FeedKey) (*drive.Drive, error) {
		if d, ok := opened[key]; ok {
			return d, nil
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
	if err := v.Mount(ctx, "/pinned", inner.Key(), pinned); err != nil {
		t.Fatal(err)
	}
	st, err := v.Lstat(ctx, "/m")
	if err != nil || st.Kind != drive.KindMount || st.MountKey != inner.Key() || !st.IsDir() {
		t.Fatalf("lstat of the mount point: %+v, %v", st, err)
	}
	if got := readString(t, v, "/m/docs/readme"); got != "inside the mount" {
		t.Errorf("read through the mount: %q", got)
	}
	if got := names(t, v, "/m/docs"); !cmp.Equal(got, []string{"later", "readme"}) {
		t.Errorf("readdir through the mount: %v", got)
	}
	if got := names(t, v, "/pinned/docs"); !cmp.Equal(got, []string{"readme"}) {
		t.Errorf("readdir through the pinned mount: %v", got)
	}
	if err := v.WriteFile(ctx, "/m/docs/new", []byte("x"), 0); !errors.Is(err, union.ErrReadOnly) {
		t.Errorf("write into a mount: %v", err)
	}
	if err := v.Unmount(ctx, "/m"); err != nil {
		t.Fatal(err)
	}
	if err := v.Access(ctx, "/m/docs/readme"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("after unmount: %v", err)
	}
	if err := v.Unmount(ctx, "/pinned/docs"); err == nil {
		t.Error("unmount of a path inside a mount succeeded")
	}
}
