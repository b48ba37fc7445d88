package drive

import (
	"path"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/codrive/codrive/sdk"
)

// Entry constructors for index scripts.

func fileAt(p string, wall int64, clock ...sdk.ClockEntry) *Entry {
	return &Entry{Kind: KindFile, Path: p, WallClock: wall, Mode: 0o644, Clock: clock}
}

func dirAt(p string) *Entry { return &Entry{Kind: KindDir, Path: p, Mode: 0o755} }

func tombAt(p string) *Entry { return &Entry{Kind: KindTombstone, Path: p} }

func linkAt(p, target string) *Entry { return &Entry{Kind: KindSymlink, Path: p, Target: target} }

func mountAt(p string) *Entry { return &Entry{Kind: KindMount, Path: p, MountKey: fkey(0x33)} }

// got is what an index says at one path: its entry (by sequence number and
// kind, or absent), whether it is a directory, its names and live count.
type got struct {
	Seq   uint64 // 0: no entry
	Kind  Kind
	IsDir bool
	Names []string
	Live  int
}

func probe(x *Index, p string) got {
	var g got
	if n, ok := x.Get(p); ok {
		g.Seq, g.Kind = n.Seq, n.Kind
	}
	g.IsDir = x.IsDir(p)
	g.Names = x.Names(p)
	g.Live = x.LiveBeneath(p)
	return g
}

// walkPaths returns, sorted, the paths Walk visits at or beneath p.
func walkPaths(x *Index, p string) []string {
	var paths []string
	x.Walk(p, func(n Node) bool {
		paths = append(paths, n.Path)
		return true
	})
	slices.Sort(paths)
	return paths
}

func TestIndexScripts(t *testing.T) {
	a, b, c := fkey(0xa), fkey(0xb), fkey(0xc)
	tests := []struct {
		name    string
		entries []*Entry // applied at 1, 2, ...; nil is an undecodable block
		paths   map[string]got
		walk    map[string][]string
		len     int
		wall    int64
		clock   sdk.VectorClock
	}{
		{
			name: "empty",
			paths: map[string]got{
				"/":  {IsDir: true},
				"/a": {},
			},
			walk: map[string][]string{"/": nil, "/a": nil},
		},
		{
			name:    "implicit directories above a deep file",
			entries: []*Entry{fileAt("/a/b/c/f", 10)},
			paths: map[string]got{
				"/":        {IsDir: true, Names: []string{"a"}, Live: 1},
				"/a":       {IsDir: true, Names: []string{"b"}, Live: 1},
				"/a/b":     {IsDir: true, Names: []string{"c"}, Live: 1},
				"/a/b/c":   {IsDir: true, Names: []string{"f"}, Live: 1},
				"/a/b/c/f": {Seq: 1, Kind: KindFile},
				"/a/b/x":   {},
				"/b":       {},
			},
			walk: map[string][]string{
				"/":        {"/a/b/c/f"},
				"/a/b":     {"/a/b/c/f"},
				"/a/b/c/f": {"/a/b/c/f"},
				"/z":       nil,
			},
			len:  1,
			wall: 10,
		},
		{
			name:    "mkdir makes an empty directory",
			entries: []*Entry{dirAt("/e"), dirAt("/p/q")},
			paths: map[string]got{
				"/":    {IsDir: true, Names: []string{"e", "p"}, Live: 2},
				"/e":   {Seq: 1, Kind: KindDir, IsDir: true},
				"/p":   {IsDir: true, Names: []string{"q"}, Live: 1},
				"/p/q": {Seq: 2, Kind: KindDir, IsDir: true},
			},
			walk: map[string][]string{"/": {"/e", "/p/q"}, "/e": {"/e"}},
			len:  2,
		},
		{
			name:    "deleting the only file leaves no directory",
			entries: []*Entry{fileAt("/d/f", 1), tombAt("/d/f")},
			paths: map[string]got{
				"/":    {IsDir: true, Names: []string{"d"}},
				"/d":   {Names: []string{"f"}},
				"/d/f": {Seq: 2, Kind: KindTombstone},
			},
			walk: map[string][]string{"/": {"/d/f"}, "/d": {"/d/f"}},
			len:  1,
			wall: 1,
		},
		{
			name:    "deleting one of two files keeps the directory",
			entries: []*Entry{fileAt("/d/f", 1), fileAt("/d/g", 2), tombAt("/d/f")},
			paths: map[string]got{
				"/":    {IsDir: true, Names: []string{"d"}, Live: 1},
				"/d":   {IsDir: true, Names: []string{"f", "g"}, Live: 1},
				"/d/f": {Seq: 3, Kind: KindTombstone},
				"/d/g": {Seq: 2, Kind: KindFile},
			},
			walk: map[string][]string{"/d": {"/d/f", "/d/g"}},
			len:  2,
			wall: 2,
		},
		{
			name:    "deleting a deep file empties every directory above it",
			entries: []*Entry{fileAt("/a/b/c", 1), fileAt("/x", 1), tombAt("/a/b/c")},
			paths: map[string]got{
				"/":    {IsDir: true, Names: []string{"a", "x"}, Live: 1},
				"/a":   {Names: []string{"b"}},
				"/a/b": {Names: []string{"c"}},
			},
			walk: map[string][]string{"/": {"/a/b/c", "/x"}},
			len:  2,
			wall: 1,
		},
		{
			name:    "rmdir of an empty directory",
			entries: []*Entry{dirAt("/e"), tombAt("/e")},
			paths: map[string]got{
				"/":  {IsDir: true, Names: []string{"e"}},
				"/e": {Seq: 2, Kind: KindTombstone},
			},
			len: 1,
		},
		{
			// A tombstone records the path alone: what lies beneath keeps
			// the directory alive.
			name:    "tombstone of a directory with live entries beneath",
			entries: []*Entry{dirAt("/e"), fileAt("/e/f", 1), tombAt("/e")},
			paths: map[string]got{
				"/":    {IsDir: true, Names: []string{"e"}, Live: 1},
				"/e":   {Seq: 3, Kind: KindTombstone, IsDir: true, Names: []string{"f"}, Live: 1},
				"/e/f": {Seq: 2, Kind: KindFile},
			},
			walk: map[string][]string{"/e": {"/e", "/e/f"}},
			len:  2,
			wall: 1,
		},
		{
			name:    "rewriting a path after its tombstone",
			entries: []*Entry{fileAt("/d/f", 1), tombAt("/d/f"), fileAt("/d/f", 3)},
			paths: map[string]got{
				"/":    {IsDir: true, Names: []string{"d"}, Live: 1},
				"/d":   {IsDir: true, Names: []string{"f"}, Live: 1},
				"/d/f": {Seq: 3, Kind: KindFile},
			},
			len:  1,
			wall: 3,
		},
		{
			name:    "a tombstone twice counts once",
			entries: []*Entry{fileAt("/f", 1), tombAt("/f"), tombAt("/f"), fileAt("/g", 1)},
			paths: map[string]got{
				"/":  {IsDir: true, Names: []string{"f", "g"}, Live: 1},
				"/f": {Seq: 3, Kind: KindTombstone},
			},
			len:  2,
			wall: 1,
		},
		{
			name:    "a tombstone of a path never written",
			entries: []*Entry{tombAt("/t/u")},
			paths: map[string]got{
				"/":    {IsDir: true, Names: []string{"t"}},
				"/t":   {Names: []string{"u"}},
				"/t/u": {Seq: 1, Kind: KindTombstone},
			},
			walk: map[string][]string{"/": {"/t/u"}},
			len:  1,
		},
		{
			name:    "undecodable blocks only advance the index",
			entries: []*Entry{nil, fileAt("/a", 1), nil, nil, fileAt("/b", 2), nil},
			paths: map[string]got{
				"/":  {IsDir: true, Names: []string{"a", "b"}, Live: 2},
				"/a": {Seq: 2, Kind: KindFile},
				"/b": {Seq: 5, Kind: KindFile},
			},
			len:  2,
			wall: 2,
		},
		{
			name:    "a file then a directory at the same path",
			entries: []*Entry{fileAt("/x", 1), dirAt("/x"), fileAt("/x/y", 2)},
			paths: map[string]got{
				"/":    {IsDir: true, Names: []string{"x"}, Live: 2},
				"/x":   {Seq: 2, Kind: KindDir, IsDir: true, Names: []string{"y"}, Live: 1},
				"/x/y": {Seq: 3, Kind: KindFile},
			},
			walk: map[string][]string{"/": {"/x", "/x/y"}},
			len:  2,
			wall: 2,
		},
		{
			name:    "a directory then a file at the same path",
			entries: []*Entry{dirAt("/x"), fileAt("/x", 4)},
			paths: map[string]got{
				"/":  {IsDir: true, Names: []string{"x"}, Live: 1},
				"/x": {Seq: 2, Kind: KindFile},
			},
			len:  1,
			wall: 4,
		},
		{
			name: "names are sorted bytewise and include names with only tombstones beneath",
			entries: []*Entry{
				fileAt("/c", 1), fileAt("/a", 1), fileAt("/B", 1), tombAt("/t/u"),
				linkAt("/b/l", "../a"), mountAt("/m"), fileAt("/a b", 1), fileAt("/é", 1),
			},
			paths: map[string]got{
				"/":    {IsDir: true, Names: []string{"B", "a", "a b", "b", "c", "m", "t", "é"}, Live: 7},
				"/b":   {IsDir: true, Names: []string{"l"}, Live: 1},
				"/t":   {Names: []string{"u"}},
				"/m":   {Seq: 6, Kind: KindMount},
				"/b/l": {Seq: 5, Kind: KindSymlink},
			},
			len:  8,
			wall: 1,
		},
		{
			name: "wall and vector clocks take the maximum",
			entries: []*Entry{
				fileAt("/1", 5, sdk.ClockEntry{Writer: b, Length: 3}),
				fileAt("/2", 10, sdk.ClockEntry{Writer: a, Length: 1}, sdk.ClockEntry{Writer: b, Length: 1}),
				nil,
				fileAt("/3", 3, sdk.ClockEntry{Writer: c, Length: 7}),
				fileAt("/4", 7),
				fileAt("/5", 9, sdk.ClockEntry{Writer: a, Length: 4}, sdk.ClockEntry{Writer: c, Length: 2}),
			},
			paths: map[string]got{"/": {IsDir: true, Names: []string{"1", "2", "3", "4", "5"}, Live: 5}},
			len:   5,
			wall:  10,
			clock: sdk.VectorClock{{Writer: a, Length: 4}, {Writer: b, Length: 3}, {Writer: c, Length: 7}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := NewIndex()
			for i, e := range tt.entries {
				x.Apply(uint64(i+1), e)
			}
			if got, want := x.Length(), uint64(len(tt.entries)+1); got != want {
				t.Errorf("Length = %d, want %d", got, want)
			}
			if got := x.Len(); got != tt.len {
				t.Errorf("Len = %d, want %d", got, tt.len)
			}
			if got := x.MaxWallClock(); got != tt.wall {
				t.Errorf("MaxWallClock = %d, want %d", got, tt.wall)
			}
			if diff := cmp.Diff(tt.clock, x.MaxClock(), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("MaxClock (-want +got):\n%s", diff)
			}
			gotPaths := map[string]got{}
			for p := range tt.paths {
				gotPaths[p] = probe(x, p)
			}
			if diff := cmp.Diff(tt.paths, gotPaths, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
			gotWalk := map[string][]string{}
			for p := range tt.walk {
				gotWalk[p] = walkPaths(x, p)
			}
			if diff := cmp.Diff(tt.walk, gotWalk, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Walk (-want +got):\n%s", diff)
			}
			// Every node holds the entry applied at its sequence number.
			x.Walk("/", func(n Node) bool {
				if e := tt.entries[n.Seq-1]; e != n.Entry {
					t.Errorf("Get(%s) holds %+v, want the entry applied at %d", n.Path, n.Entry, n.Seq)
				}
				return true
			})
			// The index is a pure function of the entries.
			y := NewIndex()
			for i, e := range tt.entries {
				y.Apply(uint64(i+1), e)
			}
			if diff := cmp.Diff(dumpIndex(x), dumpIndex(y)); diff != "" {
				t.Errorf("two replays differ (-first +second):\n%s", diff)
			}
		})
	}
}

func TestIndexWalkStops(t *testing.T) {
	x := NewIndex()
	for i, p := range []string{"/a", "/b/c", "/b/d", "/e"} {
		x.Apply(uint64(i+1), fileAt(p, 0))
	}
	for _, start := range []string{"/", "/b", "/a"} {
		calls := 0
		if x.Walk(start, func(Node) bool { calls++; return false }) {
			t.Errorf("Walk(%s) returned true after fn returned false", start)
		}
		if calls != 1 {
			t.Errorf("Walk(%s) called fn %d times after it returned false, want 1", start, calls)
		}
	}
	// Stopping at the third of four nodes.
	calls := 0
	if x.Walk("/", func(Node) bool { calls++; return calls < 3 }) || calls != 3 {
		t.Errorf("Walk with fn false on the 3rd call: %d calls", calls)
	}
	if !x.Walk("/nothing", func(Node) bool { t.Error("fn called for a missing path"); return true }) {
		t.Error("Walk of a missing path returned false")
	}
}

func TestIndexMaxClockIsACopy(t *testing.T) {
	x := NewIndex()
	x.Apply(1, fileAt("/f", 0, sdk.ClockEntry{Writer: fkey(1), Length: 5}))
	c := x.MaxClock()
	c[0].Length = 99
	if got := x.MaxClock()[0].Length; got != 5 {
		t.Errorf("changing MaxClock's result changed the index: %d", got)
	}
	// An entry's clock is not aliased either.
	e := fileAt("/g", 0, sdk.ClockEntry{Writer: fkey(2), Length: 1})
	x.Apply(2, e)
	e.Clock[0].Length = 77
	want := sdk.VectorClock{{Writer: fkey(1), Length: 5}, {Writer: fkey(2), Length: 1}}
	if diff := cmp.Diff(want, x.MaxClock()); diff != "" {
		t.Errorf("MaxClock (-want +got):\n%s", diff)
	}
}

func TestIndexAppliedOutOfOrderPanics(t *testing.T) {
	tests := []struct {
		name  string
		setup []uint64
		seq   uint64
	}{
		{"seq 0 on a new index", nil, 0},
		{"seq 2 on a new index", nil, 2},
		{"the same seq twice", []uint64{1}, 1},
		{"a gap", []uint64{1, 2}, 4},
		{"going back", []uint64{1, 2, 3}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := NewIndex()
			for _, s := range tt.setup {
				x.Apply(s, fileAt("/f", 0))
			}
			if r := catchPanic(func() { x.Apply(tt.seq, fileAt("/g", 0)) }); r == nil {
				t.Fatalf("Apply(%d) at length %d did not panic", tt.seq, x.Length())
			}
		})
	}
}

// catchPanic runs fn and returns what it panicked with, or nil.
func catchPanic(fn func()) (r any) {
	defer func() { r = recover() }()
	fn()
	return nil
}

// indexDump is everything an Index says, for comparing two indexes.
type indexDump struct {
	Length   uint64
	Len      int
	Nodes    map[string]Node
	Dirs     map[string]got
	MaxWall  int64
	MaxClock sdk.VectorClock
}

// dumpIndex reads x through its methods: every node and every directory
// above one.
func dumpIndex(x *Index) indexDump {
	d := indexDump{
		Length: x.Length(), Len: x.Len(), Nodes: map[string]Node{}, Dirs: map[string]got{},
		MaxWall: x.MaxWallClock(), MaxClock: x.MaxClock(),
	}
	d.Dirs["/"] = probe(x, "/")
	x.Walk("/", func(n Node) bool {
		d.Nodes[n.Path] = n
		for p := n.Path; p != "/"; p = path.Dir(p) {
			d.Dirs[p] = probe(x, p)
		}
		return true
	})
	return d
}
