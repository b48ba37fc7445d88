package union

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/sdk"
)

// Version is the version of a view: for every drive, the length of its
// feed that the view had applied, sorted by drive key.
type Version []sdk.ClockEntry

// String formats v as "key:length,key:length".
func (v Version) String() string {
	var b bytes.Buffer
	for i, e := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s:%d", e.Writer, e.Length)
	}
	return b.String()
}

// Length returns the length v holds for a drive, 0 if none.
func (v Version) Length(key sdk.FeedKey) uint64 {
	i, ok := slices.BinarySearchFunc(v, key, func(e sdk.ClockEntry, k sdk.FeedKey) int {
		return bytes.Compare(e.Writer[:], k[:])
	})
	if !ok {
		return 0
	}
	return v[i].Length
}

// Version returns the view's current version.
func (v *View) Version() Version {
	sources, _ := v.snapshot()
	out := make(Version, 0, len(sources))
	for _, s := range sources {
		var n uint64
		s.read(func(x *drive.Index) { n = x.Length() })
		out = append(out, sdk.ClockEntry{Writer: s.key, Length: n})
	}
	slices.SortFunc(out, func(a, b sdk.ClockEntry) int { return bytes.Compare(a.Writer[:], b.Writer[:]) })
	return out
}

// Checkout returns a read-only view of a past version: every drive of
// the view as it was at the length ver gives it (drives ver does not name
// are left out). Its blocks must be stored locally.
func (v *View) Checkout(ctx context.Context, ver Version) (*View, error) {
	sources, _ := v.snapshot()
	out := &View{cfg: v.cfg, resolver: v.resolver, log: v.log, readOnly: true,
		cache: map[string]*state{}, watches: map[*watch]struct{}{}}
	out.cfg.Writer = nil
	for _, e := range ver {
		i := slices.IndexFunc(sources, func(s *source) bool { return s.key == e.Writer })
		if i < 0 {
			return nil, fmt.Errorf("checkout: drive %s is not in the view: %w", e.Writer, sdk.ErrNotFound)
		}
		s := sources[i]
		if cur := s.d.Length(); e.Length > cur {
			return nil, fmt.Errorf("checkout: drive %s has %d entries here, the version asks for %d: %w", e.Writer, cur, e.Length, sdk.ErrNotFound)
		}
		x, err := s.d.Snapshot(ctx, e.Length)
		if err != nil {
			return nil, fmt.Errorf("checkout: %w", err)
		}
		src := &source{d: s.d, key: s.key, active: true}
		src.fixed.Store(x)
		out.sources = append(out.sources, src)
	}
	return out, nil
}

// ChangeType says how a path differs between two versions.
type ChangeType int

// The kinds of change Diff reports.
const (
	Added ChangeType = iota + 1
	Removed
	Modified
)

func (t ChangeType) String() string {
	switch t {
	case Added:
		return "added"
	case Removed:
		return "removed"
	case Modified:
		return "modified"
	}
	return "unknown"
}

// Change is one path that differs between two versions.
type Change struct {
	Type ChangeType
	Path string
	// From and To describe the path in each version; nil where it does
	// not exist.
	From, To *Stat
}

// Diff lists, sorted by path, what differs between the versions from and
// to of the view. Only paths written between the two versions (and their
// directories) are looked at, so a diff costs what changed, not the size
// of the drive.
func (v *View) Diff(ctx context.Context, from, to Version) ([]Change, error) {
	a, err := v.Checkout(ctx, from)
	if err != nil {
		return nil, err
	}
	b, err := v.Checkout(ctx, to)
	if err != nil {
		return nil, err
	}
	touched := map[string]struct{}{}
	for _, s := range b.sources {
		lo, hi := from.Length(s.key), to.Length(s.key)
		if lo > hi {
			lo, hi = hi, lo
		}
		if err := touchedPaths(ctx, s.d, lo, hi, touched); err != nil {
			return nil, err
		}
	}
	for _, s := range a.sources {
		if to.Length(s.key) == 0 {
			if err := touchedPaths(ctx, s.d, 0, from.Length(s.key), touched); err != nil {
				return nil, err
			}
		}
	}
	paths := make([]string, 0, len(touched))
	for p := range touched {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	sa, err := a.states(ctx, paths)
	if err != nil {
		return nil, err
	}
	sb, err := b.states(ctx, paths)
	if err != nil {
		return nil, err
	}
	var out []Change
	for i, p := range paths {
		x, y := statOf(p, sa[i]), statOf(p, sb[i])
		switch {
		case x == nil && y == nil:
		case x == nil:
			out = append(out, Change{Type: Added, Path: p, To: y})
		case y == nil:
			out = append(out, Change{Type: Removed, Path: p, From: x})
		case x.Writer != y.Writer || x.Seq != y.Seq || x.Kind != y.Kind:
			out = append(out, Change{Type: Modified, Path: p, From: x, To: y})
		}
	}
	return out, nil
}

// touchedPaths adds the paths of d's entries [lo, hi), and their
// directories, to set.
func touchedPaths(ctx context.Context, d *drive.Drive, lo, hi uint64, set map[string]struct{}) error {
	if lo < 1 {
		lo = 1
	}
	if lo >= hi {
		return nil
	}
	return d.Scan(ctx, lo, hi, func(_ uint64, e *drive.Entry) {
		if e == nil {
			return
		}
		for p := e.Path; p != "/"; p = path.Dir(p) {
			if _, ok := set[p]; ok {
				return
			}
			set[p] = struct{}{}
		}
	})
}

// Conflict is a path whose concurrent versions are kept beside the one
// shown.
type Conflict struct {
	Path string
	// Shown is the version the view shows.
	Shown *Stat
	// Versions are the others, sorted by writer key; read one with
	// OpenVersion.
	Versions []*Stat
}

// Conflicts lists the paths at or beneath prefix that have conflict
// versions, sorted by path.
func (v *View) Conflicts(ctx context.Context, prefix string) ([]Conflict, error) {
	prefix, err := clean("conflicts", prefix)
	if err != nil {
		return nil, err
	}
	sources, _ := v.snapshot()
	set := map[string]struct{}{}
	for _, s := range sources {
		s.read(func(x *drive.Index) {
			x.Walk(prefix, func(n drive.Node) bool {
				set[n.Path] = struct{}{}
				return true
			})
		})
	}
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var out []Conflict
	const batch = 4096
	for len(paths) > 0 {
		k := min(len(paths), batch)
		sts, err := v.states(ctx, paths[:k])
		if err != nil {
			return nil, err
		}
		for i, st := range sts {
			if len(st.concurrent) == 0 {
				continue
			}
			c := Conflict{Path: paths[i], Shown: statOf(paths[i], st)}
			for _, j := range st.concurrent {
				c.Versions = append(c.Versions, statOf(paths[i], &state{cands: []cand{st.cands[j]}, shown: 0}))
			}
			out = append(out, c)
		}
		paths = paths[k:]
	}
	return out, nil
}
