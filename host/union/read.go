package union

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/sdk"
)

// Stat describes how a view shows a path.
type Stat struct {
	// Path is the path in the view.
	Path string
	// Kind is KindFile, KindDir, KindSymlink or KindMount.
	Kind    drive.Kind
	Size    int64
	Perm    fs.FileMode
	ModTime time.Time
	// Writer and Seq name the entry shown; both are zero for a directory
	// that exists only because of what lies beneath it.
	Writer sdk.FeedKey
	Seq    uint64
	// Clock is the entry's vector clock (its own writer left implied).
	Clock sdk.VectorClock
	// Hash is BLAKE3 of a file's content.
	Hash sdk.Hash
	// Target is a symlink's target.
	Target string
	// MountKey and MountVersion describe a mount.
	MountKey     sdk.FeedKey
	MountVersion uint64
	// Metadata holds the entry's key-value pairs.
	Metadata map[string][]byte
	// Conflicts counts the concurrent versions kept beside this one.
	Conflicts int
}

// IsDir reports whether the path reads as a directory (mount points do).
func (s *Stat) IsDir() bool { return s.Kind == drive.KindDir || s.Kind == drive.KindMount }

// Mode returns the fs.FileMode of the path: permissions and type.
func (s *Stat) Mode() fs.FileMode {
	m := s.Perm
	switch s.Kind {
	case drive.KindDir, drive.KindMount:
		m |= fs.ModeDir
	case drive.KindSymlink:
		m |= fs.ModeSymlink
	}
	return m
}

// FileInfo returns s as an fs.FileInfo; its Sys method returns s.
func (s *Stat) FileInfo() fs.FileInfo { return fileInfo{s} }

type fileInfo struct{ s *Stat }

func (fi fileInfo) Name() string {
	if fi.s.Path == "/" {
		return "."
	}
	return path.Base(fi.s.Path)
}
func (fi fileInfo) Size() int64        { return fi.s.Size }
func (fi fileInfo) Mode() fs.FileMode  { return fi.s.Mode() }
func (fi fileInfo) ModTime() time.Time { return fi.s.ModTime }
func (fi fileInfo) IsDir() bool        { return fi.s.IsDir() }
func (fi fileInfo) Sys() any           { return fi.s }

// rootStat is the root: always a directory.
func rootStat() *Stat { return &Stat{Path: "/", Kind: drive.KindDir, Perm: 0o755} }

// statOf describes the state of p, or nil if p does not exist.
func statOf(p string, st *state) *Stat {
	if !st.exists() {
		return nil
	}
	s := &Stat{Path: p, Kind: drive.KindDir, Perm: 0o755, Conflicts: len(st.concurrent)}
	c := st.version()
	if c == nil {
		return s
	}
	e := c.node.Entry
	s.Kind = e.Kind
	s.Perm = e.Mode
	s.ModTime = time.Unix(0, e.WallClock)
	// Copies: the entry belongs to the drive's index, shared by readers.
	s.Writer, s.Seq, s.Clock = c.src.key, c.node.Seq, slices.Clone(e.Clock)
	if e.Metadata != nil {
		s.Metadata = make(map[string][]byte, len(e.Metadata))
		for k, val := range e.Metadata {
			s.Metadata[k] = slices.Clone(val)
		}
	}
	switch e.Kind {
	case drive.KindFile:
		s.Size, s.Hash = int64(e.Size), e.Hash
	case drive.KindSymlink:
		s.Target, s.Size = e.Target, int64(len(e.Target))
	case drive.KindMount:
		s.MountKey, s.MountVersion = e.MountKey, e.MountVersion
	}
	return s
}

func notExist(op, p string) error { return &fs.PathError{Op: op, Path: p, Err: fs.ErrNotExist} }

// maxLinks bounds how many symlinks Stat and Open follow.
const maxLinks = 40

// Lstat describes p without following a symlink at its end (symlinks
// and mounts above it are followed).
func (v *View) Lstat(ctx context.Context, p string) (*Stat, error) {
	p, err := clean("lstat", p)
	if err != nil {
		return nil, err
	}
	sub, rel, err := v.locate(ctx, p, false)
	if err != nil {
		return nil, pathErr("lstat", p, err)
	}
	s, err := sub.lstat(ctx, rel)
	if err != nil {
		return nil, pathErr("lstat", p, err)
	}
	s.Path = p
	return s, nil
}

func (v *View) lstat(ctx context.Context, p string) (*Stat, error) {
	if p == "/" {
		return rootStat(), nil
	}
	st, err := v.state(ctx, p)
	if err != nil {
		return nil, err
	}
	if s := statOf(p, st); s != nil {
		return s, nil
	}
	return nil, fs.ErrNotExist
}

// pathErr wraps err for op on p, keeping a *fs.PathError as it is.
func pathErr(op, p string, err error) error {
	if _, ok := err.(*fs.PathError); ok {
		return err
	}
	return &fs.PathError{Op: op, Path: p, Err: err}
}

// Stat describes p, following symlinks; a mount point reads as the root
// of the mounted drive.
func (v *View) Stat(ctx context.Context, p string) (*Stat, error) {
	p, err := clean("stat", p)
	if err != nil {
		return nil, err
	}
	_, _, s, err := v.follow(ctx, "stat", p)
	if err != nil {
		return nil, err
	}
	s.Path = p
	return s, nil
}

// follow resolves symlinks and mounts on the way to p and at its end: it
// returns the view that holds what p names, the path there, and its
// stat.
func (v *View) follow(ctx context.Context, op, p string) (*View, string, *Stat, error) {
	orig := p
	for range maxLinks {
		sub, rel, err := v.locate(ctx, p, true)
		if err != nil {
			return nil, "", nil, pathErr(op, orig, err)
		}
		s, err := sub.lstat(ctx, rel)
		if err != nil {
			return nil, "", nil, pathErr(op, orig, err)
		}
		if s.Kind != drive.KindSymlink {
			return sub, rel, s, nil
		}
		if sub != v {
			// A symlink inside a mount names a path of the mounted
			// drive.
			_, rel2, s2, err := sub.follow(ctx, op, rel)
			if err != nil {
				return nil, "", nil, pathErr(op, orig, err)
			}
			return sub, rel2, s2, nil
		}
		p = linkTarget(p, s.Target)
	}
	return nil, "", nil, &fs.PathError{Op: op, Path: orig, Err: errLoop}
}

var errLoop = fmt.Errorf("too many levels of symbolic links: %w", fs.ErrInvalid)

// linkTarget resolves a symlink's target against the link's directory.
func linkTarget(link, target string) string {
	if strings.HasPrefix(target, "/") {
		return path.Clean(target)
	}
	return path.Join(path.Dir(link), target)
}

// Access reports whether p exists, as a nil error.
func (v *View) Access(ctx context.Context, p string) error {
	_, err := v.Stat(ctx, p)
	return err
}

// Readlink returns the target of the symlink at p.
func (v *View) Readlink(ctx context.Context, p string) (string, error) {
	s, err := v.Lstat(ctx, p)
	if err != nil {
		return "", err
	}
	if s.Kind != drive.KindSymlink {
		return "", &fs.PathError{Op: "readlink", Path: p, Err: fmt.Errorf("not a symlink: %w", fs.ErrInvalid)}
	}
	return s.Target, nil
}

// ReadDir lists the directory p: the union of its entries in every
// drive, each as the view shows it, sorted by name. Hidden paths are left
// out of their parent's listing.
func (v *View) ReadDir(ctx context.Context, p string) ([]*Stat, error) {
	p, err := clean("readdir", p)
	if err != nil {
		return nil, err
	}
	sub, rel, self, err := v.follow(ctx, "readdir", p)
	if err != nil {
		return nil, err
	}
	if !self.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: p, Err: ErrNotDir}
	}
	list, err := sub.readDir(ctx, rel)
	if err != nil {
		return nil, pathErr("readdir", p, err)
	}
	if sub != v || rel != p {
		for _, s := range list {
			s.Path = join(p, path.Base(s.Path))
		}
	}
	return list, nil
}

// ReadDirNames lists the names in the directory p, sorted.
func (v *View) ReadDirNames(ctx context.Context, p string) ([]string, error) {
	list, err := v.ReadDir(ctx, p)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(list))
	for i, s := range list {
		names[i] = path.Base(s.Path)
	}
	return names, nil
}

// readDir lists p, which is a directory of v (or an unfollowed mount
// point, which reads as empty).
func (v *View) readDir(ctx context.Context, p string) ([]*Stat, error) {
	sources, _ := v.snapshot()
	seen := map[string]struct{}{}
	for _, s := range sources {
		s.read(func(x *drive.Index) { x.EachName(p, func(n string) { seen[n] = struct{}{} }) })
	}
	// Hidden paths are left out of their parent's listing; listing a
	// hidden directory itself shows what it holds.
	hideChildren := !v.hidden(p)
	paths := make([]string, 0, len(seen))
	for n := range seen {
		if c := join(p, n); !hideChildren || !v.hidden(c) {
			paths = append(paths, c)
		}
	}
	slices.Sort(paths)
	sts, err := v.states(ctx, paths)
	if err != nil {
		return nil, err
	}
	out := make([]*Stat, 0, len(paths))
	for i, st := range sts {
		if s := statOf(paths[i], st); s != nil {
			out = append(out, s)
		}
	}
	return out, nil
}

func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// ReadFile returns the content of the file at p, fetching from peers any
// blocks not stored here.
func (v *View) ReadFile(ctx context.Context, p string) ([]byte, error) {
	f, err := v.Open(ctx, p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The size is the writer's word: grow the buffer as bytes arrive
	// rather than trusting it with an allocation.
	buf := bytes.NewBuffer(make([]byte, 0, min(f.stat.Size, 1<<20)))
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, pathErr("read", p, err)
	}
	return buf.Bytes(), nil
}

// Open opens the file at p for reading, following symlinks.
func (v *View) Open(ctx context.Context, p string) (*File, error) {
	return v.OpenFile(ctx, p, os.O_RDONLY, 0)
}

// locate finds which view serves p: v itself, or the view of a drive
// mounted on a directory above p (or on p itself, with self), with p's
// path inside it. Symlinks on the directories above p are followed.
func (v *View) locate(ctx context.Context, p string, self bool) (*View, string, error) {
	hops := 0
restart:
	if p == "/" || !v.hasLinksOrMounts() {
		return v, p, nil
	}
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		if i == len(p) && !self {
			break
		}
		st, err := v.state(ctx, p[:i])
		if err != nil {
			return nil, "", err
		}
		c := st.version()
		if c == nil || st.dir {
			continue
		}
		switch {
		case c.node.Kind == drive.KindMount && v.cfg.Mounts != nil:
			sub, err := v.mountView(ctx, c.node.MountKey, c.node.MountVersion)
			if err != nil {
				return nil, "", &fs.PathError{Op: "mount", Path: p[:i], Err: err}
			}
			rest := p[i:]
			if rest == "" {
				rest = "/"
			}
			return sub.locate(ctx, rest, self)
		case c.node.Kind == drive.KindSymlink && i < len(p):
			if hops++; hops > maxLinks {
				return nil, "", errLoop
			}
			p = path.Clean(linkTarget(p[:i], c.node.Target) + p[i:])
			goto restart
		}
	}
	return v, p, nil
}

func (v *View) hasLinksOrMounts() bool {
	sources, _ := v.snapshot()
	for _, s := range sources {
		n := 0
		s.read(func(x *drive.Index) { n = x.Mounts() + x.Symlinks() })
		if n > 0 {
			return true
		}
	}
	return false
}
