package drive

import (
	"slices"
	"strings"

	"github.com/codrive/codrive/sdk"
)

// Node is the latest entry a drive holds for a path, with its sequence
// number in the drive feed.
type Node struct {
	Seq uint64
	*Entry
}

// Index is the state of one drive after a prefix of its feed: the latest
// entry of every path, and the directory tree those paths imply. It is a
// pure function of the entries applied, in order, so every peer that
// applied the same prefix holds the same Index, and a past version is
// rebuilt by applying a shorter prefix.
//
// An Index is not safe for concurrent use; Drive guards its own.
type Index struct {
	nodes map[string]Node
	dirs  map[string]*dirInfo
	// length is the number of feed blocks applied, header included.
	length uint64
	// maxWall and maxClock summarise what the drive's writer had seen,
	// so that a writer can stamp new entries with clocks that never go
	// backwards.
	maxWall  int64
	maxClock sdk.VectorClock
	// mounts counts live mount entries, so readers skip looking for
	// mount points in drives that have none.
	mounts int
	// symlinks counts live symlinks, for the same reason.
	symlinks int
	// historyPrefix, if set, names a directory whose every entry is kept
	// in history, not only the latest per path.
	historyPrefix string
	history       []Node
	// lastClock is the clock of the last entry applied: the next entry
	// usually has the same one (its writer saw nothing new in between),
	// and then shares it, which saves memory and lets the clock be sent
	// once per batch to a resolver plugin.
	lastClock sdk.VectorClock
}

// dirInfo is what an Index knows about one directory: the names under it
// that have any entry at or beneath them, and how many live entries lie
// beneath it.
type dirInfo struct {
	parent   *dirInfo
	children []string
	live     int
}

// NewIndex returns the index of an empty drive.
func NewIndex() *Index { return newIndex("") }

// newIndex returns an empty index that keeps every entry under the
// directory prefix (if not empty) in its History.
func newIndex(prefix string) *Index {
	return &Index{
		historyPrefix: prefix,
		nodes:         make(map[string]Node),
		dirs:          map[string]*dirInfo{"/": {}},
		length:        1, // the header
	}
}

// Length is the number of feed blocks the index covers, the header
// included: the next entry's sequence number.
func (x *Index) Length() uint64 { return x.length }

// Len is the number of paths the index has entries for, tombstones
// included.
func (x *Index) Len() int { return len(x.nodes) }

// Apply records the entry at seq, which must be x.Length(). A nil entry
// (an undecodable block) only advances the index, the same way on every
// peer.
func (x *Index) Apply(seq uint64, e *Entry) {
	if seq != x.length {
		panic("drive: index applied out of order")
	}
	x.length++
	if e == nil {
		return
	}
	if e.WallClock > x.maxWall {
		x.maxWall = e.WallClock
	}
	if len(e.Clock) > 0 {
		if slices.Equal(e.Clock, x.lastClock) {
			e.Clock = x.lastClock
		} else {
			x.lastClock = e.Clock
			x.maxClock = MergeClock(x.maxClock, e.Clock)
		}
	}
	if x.historyPrefix != "" && strings.HasPrefix(e.Path, x.historyPrefix+"/") {
		x.history = append(x.history, Node{Seq: seq, Entry: e})
	}
	prev, existed := x.nodes[e.Path]
	x.nodes[e.Path] = Node{Seq: seq, Entry: e}
	parent, name := split(e.Path)
	var pd *dirInfo
	if existed {
		pd = x.dirs[parent]
	} else {
		pd = x.ensureDir(parent)
		// A path that was a directory already has its name linked.
		if x.dirs[e.Path] == nil {
			pd.children = append(pd.children, name)
		}
	}
	if e.Kind == KindDir {
		x.ensureDir(e.Path)
	}
	if existed && prev.Kind == KindMount {
		x.mounts--
	}
	if existed && prev.Kind == KindSymlink {
		x.symlinks--
	}
	switch e.Kind {
	case KindMount:
		x.mounts++
	case KindSymlink:
		x.symlinks++
	}
	if d := counted(e) - counted(prev.Entry); d != 0 {
		for ; pd != nil; pd = pd.parent {
			pd.live += d
		}
	}
}

// counted says whether e counts towards its ancestors' live totals.
func counted(e *Entry) int {
	if e == nil || !e.Live() {
		return 0
	}
	return 1
}

// ensureDir returns the directory p, creating it and the directories
// above it, and linking each new one's name in its parent unless an
// entry at that path has linked it already. Every name is linked once:
// a name is in its parent's children exactly when the path has an entry
// or is a directory.
func (x *Index) ensureDir(p string) *dirInfo {
	if d := x.dirs[p]; d != nil {
		return d
	}
	parent, name := split(p)
	pd := x.ensureDir(parent)
	if _, ok := x.nodes[p]; !ok {
		pd.children = append(pd.children, name)
	}
	d := &dirInfo{parent: pd}
	x.dirs[p] = d
	return d
}

// split returns p's directory and name; p is not the root.
func split(p string) (dir, name string) {
	i := strings.LastIndexByte(p, '/')
	if i == 0 {
		return "/", p[1:]
	}
	return p[:i], p[i+1:]
}

// reserve makes room for n more paths in an empty index, so that a
// drive opened with many entries does not grow its map step by step.
func (x *Index) reserve(n int) {
	if len(x.nodes) == 0 && n > 0 {
		x.nodes = make(map[string]Node, n)
	}
}

// Get returns the latest entry at p, which may be a tombstone.
func (x *Index) Get(p string) (Node, bool) {
	n, ok := x.nodes[p]
	return n, ok
}

// Names returns, sorted, the names directly under dir that have an entry
// at or beneath them (tombstones included).
func (x *Index) Names(dir string) []string {
	d := x.dirs[dir]
	if d == nil {
		return nil
	}
	names := slices.Clone(d.children)
	slices.Sort(names)
	return names
}

// EachName calls fn, in no particular order, for every name directly
// under dir that has an entry at or beneath it (tombstones included).
func (x *Index) EachName(dir string, fn func(name string)) {
	if d := x.dirs[dir]; d != nil {
		for _, n := range d.children {
			fn(n)
		}
	}
}

// IsDir reports whether p is a directory in this drive alone: made with
// mkdir and not deleted since, or holding a live entry beneath it.
func (x *Index) IsDir(p string) bool {
	if p == "/" {
		return true
	}
	if n, ok := x.nodes[p]; ok && n.Kind == KindDir {
		return true
	}
	return x.LiveBeneath(p) > 0
}

// LiveBeneath counts the live entries beneath dir.
func (x *Index) LiveBeneath(dir string) int {
	if d := x.dirs[dir]; d != nil {
		return d.live
	}
	return 0
}

// Walk calls fn for every entry at or beneath p (tombstones included), in
// no particular order, until fn returns false.
func (x *Index) Walk(p string, fn func(Node) bool) bool {
	if n, ok := x.nodes[p]; ok && !fn(n) {
		return false
	}
	d := x.dirs[p]
	if d == nil {
		return true
	}
	for _, name := range d.children {
		if !x.Walk(join(p, name), fn) {
			return false
		}
	}
	return true
}

// History returns every entry applied under the drive's history prefix
// (Options.History), in order, including those later overwritten or
// deleted. The slice must not be modified.
func (x *Index) History() []Node { return x.history }

// Mounts counts the live mount entries.
func (x *Index) Mounts() int { return x.mounts }

// Symlinks counts the live symlink entries.
func (x *Index) Symlinks() int { return x.symlinks }

// MaxWallClock is the largest wall clock of any entry applied.
func (x *Index) MaxWallClock() int64 { return x.maxWall }

// MaxClock is the component-wise maximum of the vector clocks of the
// entries applied: what the drive's writer had seen of other writers.
func (x *Index) MaxClock() sdk.VectorClock { return slices.Clone(x.maxClock) }

// join appends name to the directory dir.
func join(dir, name string) string {
	if dir == "/" {
		return "/" + name
	}
	return dir + "/" + name
}

// MergeClock returns the component-wise maximum of a and b, both sorted;
// neither is modified.
func MergeClock(a, b sdk.VectorClock) sdk.VectorClock {
	if len(b) == 0 {
		return a
	}
	out := make(sdk.VectorClock, 0, max(len(a), len(b)))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || i < len(a) && strings.Compare(string(a[i].Writer[:]), string(b[j].Writer[:])) < 0:
			out = append(out, a[i])
			i++
		case i == len(a) || strings.Compare(string(a[i].Writer[:]), string(b[j].Writer[:])) > 0:
			out = append(out, b[j])
			j++
		default:
			out = append(out, sdk.ClockEntry{Writer: a[i].Writer, Length: max(a[i].Length, b[j].Length)})
			i++
			j++
		}
	}
	return out
}
