package union

import (
	"context"
	"io"
	"io/fs"
	"path"
)

// FS is a view as a read-only io/fs file system. Its paths are io/fs
// paths: unrooted, slash-separated, "." for the root.
type FS struct {
	v   *View
	ctx context.Context
}

// Compile-time checks of the interfaces FS promises.
var (
	_ fs.FS         = (*FS)(nil)
	_ fs.StatFS     = (*FS)(nil)
	_ fs.ReadDirFS  = (*FS)(nil)
	_ fs.ReadFileFS = (*FS)(nil)
)

// FS returns the view as an io/fs file system whose reads (and fetches
// from peers) use ctx.
func (v *View) FS(ctx context.Context) *FS { return &FS{v: v, ctx: ctx} }

func (f *FS) abs(op, name string) (string, error) {
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return "/", nil
	}
	return "/" + name, nil
}

// fix puts the io/fs name back into an error from the view.
func fix(err error, op, name string) error {
	if pe, ok := err.(*fs.PathError); ok {
		return &fs.PathError{Op: op, Path: name, Err: pe.Err}
	}
	return &fs.PathError{Op: op, Path: name, Err: err}
}

// Open opens name: a file to read, or a directory to list.
func (f *FS) Open(name string) (fs.File, error) {
	p, err := f.abs("open", name)
	if err != nil {
		return nil, err
	}
	s, err := f.v.Stat(f.ctx, p)
	if err != nil {
		return nil, fix(err, "open", name)
	}
	if s.IsDir() {
		return &dirFile{fsys: f, name: name, path: p, stat: s}, nil
	}
	file, err := f.v.Open(f.ctx, p)
	if err != nil {
		return nil, fix(err, "open", name)
	}
	return &fsFile{File: file, name: name}, nil
}

// Stat describes name, following symlinks.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	p, err := f.abs("stat", name)
	if err != nil {
		return nil, err
	}
	s, err := f.v.Stat(f.ctx, p)
	if err != nil {
		return nil, fix(err, "stat", name)
	}
	return named(s, name), nil
}

// ReadDir lists the directory name, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	p, err := f.abs("readdir", name)
	if err != nil {
		return nil, err
	}
	list, err := f.v.ReadDir(f.ctx, p)
	if err != nil {
		return nil, fix(err, "readdir", name)
	}
	out := make([]fs.DirEntry, len(list))
	for i, s := range list {
		out[i] = fs.FileInfoToDirEntry(s.FileInfo())
	}
	return out, nil
}

// ReadFile returns the content of the file name.
func (f *FS) ReadFile(name string) ([]byte, error) {
	p, err := f.abs("readfile", name)
	if err != nil {
		return nil, err
	}
	data, err := f.v.ReadFile(f.ctx, p)
	if err != nil {
		return nil, fix(err, "readfile", name)
	}
	return data, nil
}

// named is s's FileInfo under the name io/fs asked for.
func named(s *Stat, name string) fs.FileInfo {
	c := *s
	if name == "." {
		c.Path = "/"
	} else {
		c.Path = "/" + name
	}
	return c.FileInfo()
}

// fsFile is an open file of an FS.
type fsFile struct {
	*File
	name string
}

func (f *fsFile) Stat() (fs.FileInfo, error) {
	s, err := f.File.Stat()
	if err != nil {
		return nil, err
	}
	return named(s, f.name), nil
}

// dirFile is an open directory of an FS, listed on the first ReadDir.
type dirFile struct {
	fsys    *FS
	name    string
	path    string
	stat    *Stat
	entries []fs.DirEntry
	listed  bool
	closed  bool
}

func (d *dirFile) Stat() (fs.FileInfo, error) { return named(d.stat, d.name), nil }

func (d *dirFile) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.name, Err: ErrIsDir}
}

func (d *dirFile) Close() error {
	if d.closed {
		return fs.ErrClosed
	}
	d.closed = true
	return nil
}

// ReadDir returns the next n entries (all that remain if n <= 0).
func (d *dirFile) ReadDir(n int) ([]fs.DirEntry, error) {
	if d.closed {
		return nil, fs.ErrClosed
	}
	if !d.listed {
		list, err := d.fsys.v.ReadDir(d.fsys.ctx, d.path)
		if err != nil {
			return nil, fix(err, "readdir", d.name)
		}
		d.entries = make([]fs.DirEntry, len(list))
		for i, s := range list {
			d.entries[i] = fs.FileInfoToDirEntry(named(s, path.Join(d.name, path.Base(s.Path))))
		}
		d.listed = true
	}
	if n <= 0 {
		out := d.entries
		d.entries = nil
		return out, nil
	}
	if len(d.entries) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(d.entries))
	out := d.entries[:k:k]
	d.entries = d.entries[k:]
	return out, nil
}
