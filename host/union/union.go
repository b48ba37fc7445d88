// Package union reads many writers' drives as one file system: the union
// view of seed 002 (multi-hyperdrive), with deletions, vector clocks,
// versions and conflicts done properly.
//
// # Resolution
//
// Each drive holds at most one latest entry per path. Those entries are the
// candidates for the path, and the configured sdk.Resolver picks the winner
// (one batch call per operation). Then, in this order:
//
//   - A deletion never hides a concurrent edit: when the winner is a
//     tombstone and some concurrent candidate is live, the resolver picks
//     again among the live concurrent candidates.
//   - Directories exist implicitly above every live entry, so a directory
//     deleted by one writer while another writes a file inside it stays,
//     holding that file.
//   - Where a file (or symlink, or mount) and a directory meet at one path,
//     the directory is shown: when the path has live entries beneath it,
//     or when a concurrent candidate is a directory. The file stays
//     reachable as a conflict version of the path.
//
// # Conflicts
//
// Concurrent candidates that lost (the winner's writer had not seen them)
// stay reachable through Conflicts and OpenVersion, listed by writer key
// so every peer shows the same ones. A version with the same content as the
// one shown is no conflict. Conflicts are never written back as files, so
// there are no conflicts of conflicts: writing the path again, after seeing
// every version, settles it.
//
// # Clocks
//
// An entry written through a View carries the writer's vector clock (the
// merged clocks of everything the view has applied) and a wall clock that
// never goes below the newest wall clock the view has seen, unless that
// one is more than Config.MaxSkew ahead of the local clock: a far-future
// timestamp is not inherited, so it cannot drag every later timestamp with
// it.
package union

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/sdk"
)

// ErrReadOnly is returned by writes to a view with no writable drive, and
// to checkouts of past versions.
var ErrReadOnly = errors.New("read-only: this peer has no writable drive here")

// DefaultMaxSkew bounds how far ahead of the local clock a seen wall clock
// may be and still be inherited by new entries.
const DefaultMaxSkew = time.Minute

// Config configures a View.
type Config struct {
	// Drives are read as one; Writer, if set, is added to them.
	Drives []*drive.Drive
	// Writer is the local writable drive that writes go to; nil makes
	// the view read-only.
	Writer *drive.Drive
	// Resolver decides between writers. It may be nil only while the
	// view has a single drive.
	Resolver sdk.Resolver
	// Hidden paths (and everything beneath them) are left out of
	// listings, though they can be read by path. Example: "/.writers".
	Hidden []string
	// Mounts opens a mounted drive by key; nil leaves mounts unfollowed
	// (their paths read as empty directories).
	Mounts func(ctx context.Context, key sdk.FeedKey) (*drive.Drive, error)
	// Now is the wall clock; nil means time.Now.
	Now func() time.Time
	// MaxSkew is how far ahead a seen wall clock may be and still be
	// inherited; zero means DefaultMaxSkew.
	MaxSkew time.Duration
	// Logger; nil discards.
	Logger *slog.Logger
}

// source is one drive as a view reads it: live, or a fixed past index.
type source struct {
	d   *drive.Drive
	key sdk.FeedKey
	// fixed, if set, is the past index read instead of the drive's live
	// one (a checkout, a pinned mount, a limited drive).
	fixed  atomic.Pointer[drive.Index]
	cancel func()
	// active is set while the source is in a view's sources; limit, if
	// not 0, is the length the view reads the drive at (fixed is then
	// the drive replayed that far). Guarded by the view's mu.
	active bool
	limit  uint64
}

func (s *source) read(fn func(*drive.Index)) {
	if x := s.fixed.Load(); x != nil {
		fn(x)
		return
	}
	s.d.Read(fn)
}

// View is a union of drives read as one file system. It is safe for
// concurrent use.
type View struct {
	cfg      Config
	resolver sdk.Resolver
	log      *slog.Logger
	readOnly bool // a checkout

	mu      sync.RWMutex
	sources []*source
	writer  *drive.Drive
	cache   map[string]*state
	gen     uint64
	watches map[*watch]struct{}
	closed  bool

	// writeMu serialises writes, so an entry's clock covers every entry
	// the view wrote before it.
	writeMu sync.Mutex

	// mounts are the views of mounted drives, made on first use.
	mountMu sync.Mutex
	mounts  map[mountKey]*View
}

// New returns a view of cfg's drives.
func New(cfg Config) (*View, error) {
	v := &View{
		cfg: cfg, resolver: cfg.Resolver, log: cfg.Logger,
		cache: map[string]*state{}, watches: map[*watch]struct{}{},
	}
	if v.log == nil {
		v.log = slog.New(slog.DiscardHandler)
	}
	if v.cfg.Now == nil {
		v.cfg.Now = time.Now
	}
	if v.cfg.MaxSkew == 0 {
		v.cfg.MaxSkew = DefaultMaxSkew
	}
	for _, h := range cfg.Hidden {
		if !drive.ValidPath(h) {
			return nil, fmt.Errorf("union: hidden path %q is not an absolute clean path: %w", h, sdk.ErrInvalid)
		}
	}
	drives := slices.Clone(cfg.Drives)
	if cfg.Writer != nil {
		if !cfg.Writer.Writable() {
			return nil, fmt.Errorf("union: writer drive %s: %w", cfg.Writer.Key(), drive.ErrReadOnly)
		}
		v.writer = cfg.Writer
		if !slices.Contains(drives, cfg.Writer) {
			drives = append(drives, cfg.Writer)
		}
	}
	for _, d := range drives {
		if err := v.AddDrive(d); err != nil {
			v.Close()
			return nil, err
		}
	}
	return v, nil
}

// AddDrive adds a drive to the view and follows its changes.
func (v *View) AddDrive(d *drive.Drive) error { return v.AddDriveAt(context.Background(), d, 0) }

// AddDriveAt adds a drive to the view read only as it was at length
// blocks, as Limit does, from the moment it appears; 0 reads all of it.
func (v *View) AddDriveAt(ctx context.Context, d *drive.Drive, length uint64) error {
	if v.readOnly {
		return ErrReadOnly
	}
	s := &source{d: d, key: d.Key(), limit: length}
	if length > 0 {
		x, err := d.Snapshot(ctx, min(length, d.Length()))
		if err != nil {
			return err
		}
		s.fixed.Store(x)
	}
	// Subscribe before the drive becomes visible, so that nothing read
	// through it can be cached without being invalidated later; updates
	// count only while the source is active.
	cancel := d.Subscribe(func(u drive.Update) { v.onUpdate(s, u) })
	v.mu.Lock()
	var err error
	switch {
	case v.closed:
		err = sdk.ErrClosed
	case slices.ContainsFunc(v.sources, func(o *source) bool { return o.key == s.key }):
	case len(v.sources) >= 1 && v.resolver == nil:
		err = fmt.Errorf("union: a view of several drives needs a resolver: %w", sdk.ErrInvalid)
	default:
		s.cancel, s.active = cancel, true
		v.sources = append(slices.Clip(v.sources), s)
		v.invalidateAllLocked()
	}
	added := s.active
	v.mu.Unlock()
	if !added {
		cancel()
		return err
	}
	v.notify(Event{Type: EventDriveAdded, Drive: d.Key()})
	return nil
}

// RemoveDrive takes the drive with this key out of the view. The local
// writer cannot be removed.
func (v *View) RemoveDrive(key sdk.FeedKey) error {
	v.mu.Lock()
	if v.writer != nil && v.writer.Key() == key {
		v.mu.Unlock()
		return fmt.Errorf("union: the writable drive cannot be removed: %w", sdk.ErrInvalid)
	}
	i := slices.IndexFunc(v.sources, func(s *source) bool { return s.key == key })
	if i < 0 {
		v.mu.Unlock()
		return fmt.Errorf("union: drive %s is not in the view: %w", key, sdk.ErrNotFound)
	}
	s := v.sources[i]
	s.active = false
	// A new slice: readers may hold the old one.
	v.sources = slices.Concat(v.sources[:i], v.sources[i+1:])
	v.invalidateAllLocked()
	v.mu.Unlock()
	s.cancel()
	v.notify(Event{Type: EventDriveRemoved, Drive: key})
	return nil
}

// SetWriter makes d (which must be writable, and is added to the view if
// needed) the drive writes go to, or makes the view read-only when d is
// nil. A co-drive switches it as its peer joins or leaves the writer set.
func (v *View) SetWriter(d *drive.Drive) error {
	if v.readOnly {
		return ErrReadOnly
	}
	if d != nil {
		if !d.Writable() {
			return fmt.Errorf("union: writer drive %s: %w", d.Key(), drive.ErrReadOnly)
		}
		if err := v.AddDrive(d); err != nil {
			return err
		}
	}
	v.writeMu.Lock()
	v.mu.Lock()
	v.writer = d
	v.mu.Unlock()
	v.writeMu.Unlock()
	return nil
}

// Limit makes the view read the drive with this key only as it was at
// length blocks (a writer cut off by a removal), or again in full with
// length 0. A limited drive is read from a replay of its first blocks,
// redone as blocks below the limit arrive.
func (v *View) Limit(ctx context.Context, key sdk.FeedKey, length uint64) error {
	v.mu.RLock()
	i := slices.IndexFunc(v.sources, func(s *source) bool { return s.key == key })
	var s *source
	if i >= 0 {
		s = v.sources[i]
	}
	v.mu.RUnlock()
	if s == nil {
		return fmt.Errorf("union: drive %s is not in the view: %w", key, sdk.ErrNotFound)
	}
	var fixed *drive.Index
	if length > 0 {
		var err error
		if fixed, err = s.d.Snapshot(ctx, min(length, s.d.Length())); err != nil {
			return err
		}
	}
	v.mu.Lock()
	s.limit = length
	s.fixed.Store(fixed)
	v.invalidateAllLocked()
	v.mu.Unlock()
	return nil
}

// Drives returns the drives in the view.
func (v *View) Drives() []*drive.Drive {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]*drive.Drive, len(v.sources))
	for i, s := range v.sources {
		out[i] = s.d
	}
	return out
}

// Writer returns the local writable drive, or nil.
func (v *View) Writer() *drive.Drive {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.writer
}

// Writable reports whether writes can succeed.
func (v *View) Writable() bool { return v.Writer() != nil }

// Close stops following the drives and ends every Watch. The drives stay
// open.
func (v *View) Close() error {
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil
	}
	v.closed = true
	sources := v.sources
	watches := v.watches
	v.watches = nil
	v.mu.Unlock()
	for _, s := range sources {
		if s.cancel != nil {
			s.cancel()
		}
	}
	for w := range watches {
		w.close()
	}
	v.closeMounts()
	return nil
}

// onUpdate forgets what the new entries of s may change and tells
// watchers.
func (v *View) onUpdate(s *source, u drive.Update) {
	v.mu.Lock()
	active, limit := s.active, s.limit
	if active {
		for _, n := range u.Nodes {
			v.invalidateLocked(n.Path)
		}
	}
	v.mu.Unlock()
	if !active {
		return
	}
	if limit > 0 {
		// Entries past the limit are not part of the view; entries
		// below it (arriving late) are, through a new replay.
		nodes := u.Nodes[:0:0]
		for _, n := range u.Nodes {
			if n.Seq < limit {
				nodes = append(nodes, n)
			}
		}
		if len(nodes) == 0 {
			return
		}
		if x, err := s.d.Snapshot(context.Background(), min(limit, u.Drive.Length())); err == nil {
			v.mu.Lock()
			if s.limit == limit {
				s.fixed.Store(x)
				v.invalidateAllLocked()
			}
			v.mu.Unlock()
		} else {
			v.log.Warn("union: replaying a limited drive", "drive", s.key, "err", err)
		}
		u.Nodes = nodes
	}
	for _, n := range u.Nodes {
		v.notify(Event{Type: EventChange, Path: n.Path, Drive: u.Drive.Key(), Seq: n.Seq, Kind: n.Kind})
	}
}

// ---- resolution ----

// cand is one drive's latest entry at a path.
type cand struct {
	src  *source
	node drive.Node
}

// state is how the view shows one path.
type state struct {
	cands []cand
	// shown is the index in cands of the version shown, or -1.
	shown int
	// concurrent lists the indexes in cands of live versions concurrent
	// with the shown one and different from it, sorted by writer key.
	concurrent []int
	// dir says the path is shown as a directory.
	dir bool
}

func (st *state) exists() bool { return st.dir || st.shown >= 0 }

func (st *state) version() *cand {
	if st.shown < 0 {
		return nil
	}
	return &st.cands[st.shown]
}

// maxCache bounds the cached path states; the cache starts over when full.
const maxCache = 1 << 18

// maxSetsPerCall bounds the candidate sets of one resolver call, which
// keeps a call to a plugin well under its message size limit.
const maxSetsPerCall = 16384

func (v *View) invalidateAllLocked() {
	v.gen++
	clear(v.cache)
}

// invalidateLocked forgets p and its ancestors, whose directory-ness may
// depend on p.
func (v *View) invalidateLocked(p string) {
	v.gen++
	for {
		delete(v.cache, p)
		if p == "/" {
			return
		}
		p = path.Dir(p)
	}
}

// snapshot returns the sources and the cache generation.
func (v *View) snapshot() ([]*source, uint64) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.sources, v.gen
}

// states returns how the view shows each of paths, resolving the ones not
// cached with as few resolver calls as it can.
func (v *View) states(ctx context.Context, paths []string) ([]*state, error) {
	out := make([]*state, len(paths))
	var missing []int
	v.mu.RLock()
	for i, p := range paths {
		if st, ok := v.cache[p]; ok {
			out[i] = st
		} else {
			missing = append(missing, i)
		}
	}
	sources, gen := v.sources, v.gen
	v.mu.RUnlock()
	if len(missing) == 0 {
		return out, nil
	}
	todo := make([]string, len(missing))
	for j, i := range missing {
		todo[j] = paths[i]
	}
	fresh, err := v.resolve(ctx, sources, todo)
	if err != nil {
		return nil, err
	}
	for j, i := range missing {
		out[i] = fresh[j]
	}
	v.mu.Lock()
	if v.gen == gen {
		if len(v.cache)+len(fresh) > maxCache {
			clear(v.cache)
		}
		for j, p := range todo {
			v.cache[p] = fresh[j]
		}
	}
	v.mu.Unlock()
	return out, nil
}

func (v *View) state(ctx context.Context, p string) (*state, error) {
	sts, err := v.states(ctx, []string{p})
	if err != nil {
		return nil, err
	}
	return sts[0], nil
}

// gather collects every drive's entry at each path, reading each drive's
// index once.
func gather(sources []*source, paths []string) []*state {
	sts := make([]*state, len(paths))
	backing := make([]state, len(paths))
	for i := range sts {
		sts[i] = &backing[i]
		sts[i].shown = -1
	}
	if len(sources) == 1 {
		sources[0].read(func(x *drive.Index) {
			all := make([]cand, 0, len(paths))
			for i, p := range paths {
				if n, ok := x.Get(p); ok {
					all = append(all, cand{src: sources[0], node: n})
					sts[i].cands = all[len(all)-1 : len(all) : len(all)]
				}
			}
		})
		return sts
	}
	// Count first, so that the candidates take one allocation of the
	// size they need, however sparse the paths are across drives.
	counts := make([]int32, len(paths))
	nodes := make([][]drive.Node, len(sources))
	for k, s := range sources {
		s.read(func(x *drive.Index) {
			found := make([]drive.Node, len(paths))
			for i, p := range paths {
				if n, ok := x.Get(p); ok {
					found[i] = n
					counts[i]++
				}
			}
			nodes[k] = found
		})
	}
	total := 0
	for _, c := range counts {
		total += int(c)
	}
	all := make([]cand, 0, total)
	for i := range paths {
		start := len(all)
		for k, s := range sources {
			if n := nodes[k][i]; n.Entry != nil {
				all = append(all, cand{src: s, node: n})
			}
		}
		sts[i].cands = all[start:len(all):len(all)]
	}
	return sts
}

// resolve works out the states of paths from the sources.
func (v *View) resolve(ctx context.Context, sources []*source, paths []string) ([]*state, error) {
	sts := gather(sources, paths)
	if err := v.pick(ctx, sts); err != nil {
		return nil, err
	}
	// Directory-ness: explicit directories, directories beating
	// concurrent files, and paths with something shown beneath them.
	var unsure []int
	for i, st := range sts {
		if c := st.version(); c != nil && c.node.Kind == drive.KindDir {
			st.dir = true
			continue
		}
		for _, j := range st.concurrent {
			if c := st.cands[j].node; c.Kind == drive.KindDir && c.Live() {
				st.dir = true
			}
		}
		if !st.dir {
			unsure = append(unsure, i)
		}
	}
	// One pass per drive sorts out the paths with nothing live beneath
	// them in any drive, usually all of them; the rest need a closer
	// look.
	beneath := make([]bool, len(unsure))
	for _, s := range sources {
		s.read(func(x *drive.Index) {
			for k, i := range unsure {
				if !beneath[k] && x.LiveBeneath(paths[i]) > 0 {
					beneath[k] = true
				}
			}
		})
	}
	for k, i := range unsure {
		if !beneath[k] {
			continue
		}
		live, err := v.shownBeneath(ctx, sources, paths[i])
		if err != nil {
			return nil, err
		}
		sts[i].dir = live
	}
	for _, st := range sts {
		st.settle()
	}
	return sts, nil
}

// pick decides which version of each path is shown. A deletion never
// hides a concurrent edit: while the winner is a tombstone, the resolver
// decides again among the candidates it had not seen (its Concurrent),
// until a live version wins or none is left. The last round's Concurrent
// are the conflict versions.
func (v *View) pick(ctx context.Context, sts []*state) error {
	type round struct {
		st  *state
		idx []int // indexes in st.cands still in the running
	}
	var rounds []round
	for _, st := range sts {
		switch len(st.cands) {
		case 0:
		case 1:
			if st.cands[0].node.Live() {
				st.shown = 0
			}
		default:
			idx := make([]int, len(st.cands))
			for i := range idx {
				idx[i] = i
			}
			rounds = append(rounds, round{st, idx})
		}
	}
	for len(rounds) > 0 {
		n := 0
		for _, r := range rounds {
			n += len(r.idx)
		}
		backing := make([]sdk.Candidate, 0, n)
		sets := make([][]sdk.Candidate, len(rounds))
		for k, r := range rounds {
			start := len(backing)
			for _, j := range r.idx {
				backing = append(backing, candidate(r.st.cands[j]))
			}
			sets[k] = backing[start:len(backing):len(backing)]
		}
		res, err := v.callResolver(ctx, sets)
		if err != nil {
			return err
		}
		next := rounds[:0]
		for k, r := range rounds {
			verdict := res[k]
			winner := r.idx[verdict.Winner]
			rest := make([]int, len(verdict.Concurrent))
			live := false
			for i, c := range verdict.Concurrent {
				rest[i] = r.idx[c]
				live = live || r.st.cands[rest[i]].node.Live()
			}
			switch {
			case r.st.cands[winner].node.Live():
				r.st.shown, r.st.concurrent = winner, rest
			case !live:
				// Deleted, after seeing every live version.
			case len(rest) == 1:
				r.st.shown = rest[0]
			default:
				next = append(next, round{r.st, rest})
			}
		}
		rounds = next
	}
	return nil
}

// settle keeps, as conflicts, the live concurrent versions that differ
// from the one shown (and, when a directory took a file's place, that
// file), sorted by writer key; and when a directory is shown in place of
// a file, it shows the newest concurrent explicit directory, if any.
func (st *state) settle() {
	var keep []int
	shown := st.version()
	for _, j := range st.concurrent {
		c := &st.cands[j]
		if !c.node.Live() || c.node.Kind == drive.KindDir {
			continue
		}
		if shown != nil && !st.dir && sameContent(c.node.Entry, shown.node.Entry) {
			continue
		}
		keep = append(keep, j)
	}
	if st.dir && shown != nil && shown.node.Kind != drive.KindDir {
		keep = append(keep, st.shown)
		best := -1
		for _, j := range st.concurrent {
			c := st.cands[j]
			if c.node.Kind == drive.KindDir && c.node.Live() && (best < 0 || newer(c, st.cands[best])) {
				best = j
			}
		}
		st.shown = best
	}
	slices.SortFunc(keep, func(a, b int) int {
		return bytes.Compare(st.cands[a].src.key[:], st.cands[b].src.key[:])
	})
	st.concurrent = slices.Compact(keep)
}

// newer orders versions by wall clock, writer key and sequence: the same
// on every peer, whatever order the drives were added in.
func newer(a, b cand) bool {
	if a.node.WallClock != b.node.WallClock {
		return a.node.WallClock > b.node.WallClock
	}
	if c := bytes.Compare(a.src.key[:], b.src.key[:]); c != 0 {
		return c > 0
	}
	return a.node.Seq > b.node.Seq
}

// sameContent reports whether two versions hold the same thing, so that
// identical concurrent writes are no conflict.
func sameContent(a, b *drive.Entry) bool {
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case drive.KindFile:
		return a.Size == b.Size && a.Hash == b.Hash
	case drive.KindSymlink:
		return a.Target == b.Target
	case drive.KindMount:
		return a.MountKey == b.MountKey && a.MountVersion == b.MountVersion
	}
	return true
}

// callResolver asks the resolver about sets, in calls of bounded size,
// and checks its answers.
func (v *View) callResolver(ctx context.Context, sets [][]sdk.Candidate) ([]sdk.Resolution, error) {
	if v.resolver == nil {
		return nil, fmt.Errorf("union: several writers hold a path but the view has no resolver: %w", sdk.ErrInvalid)
	}
	out := make([]sdk.Resolution, 0, len(sets))
	for len(sets) > 0 {
		batch := sets[:min(len(sets), maxSetsPerCall)]
		sets = sets[len(batch):]
		res, err := v.resolver.Resolve(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("union: resolver: %w", err)
		}
		if len(res) != len(batch) {
			return nil, fmt.Errorf("union: resolver returned %d verdicts for %d paths: %w", len(res), len(batch), sdk.ErrCorrupt)
		}
		for i, r := range res {
			if r.Winner < 0 || r.Winner >= len(batch[i]) {
				return nil, fmt.Errorf("union: resolver chose candidate %d of %d: %w", r.Winner, len(batch[i]), sdk.ErrCorrupt)
			}
			for _, j := range r.Concurrent {
				if j < 0 || j >= len(batch[i]) || j == r.Winner {
					return nil, fmt.Errorf("union: resolver reported concurrent candidate %d of %d: %w", j, len(batch[i]), sdk.ErrCorrupt)
				}
			}
		}
		out = append(out, res...)
	}
	return out, nil
}

func candidate(c cand) sdk.Candidate {
	return sdk.Candidate{
		Writer:    c.src.key,
		Seq:       c.node.Seq,
		WallClock: c.node.WallClock,
		Clock:     c.node.Clock,
		Tombstone: !c.node.Live(),
	}
}

// shownBeneath reports whether any path strictly beneath dir shows a
// version. Most answers need no resolver: a live entry that no other
// drive has an entry for settles it. Otherwise the live paths beneath
// are resolved, without asking about their own directory-ness: anything
// beneath that shows a version is what would make them directories, and
// it is among those paths too. Drive locks are taken one at a time.
func (v *View) shownBeneath(ctx context.Context, sources []*source, dir string) (bool, error) {
	const quick = 64
	for _, s := range sources {
		paths, complete := livePaths(s, dir, quick)
		for _, p := range paths {
			if onlyHere(sources, s, p) {
				return true, nil
			}
		}
		if !complete {
			paths, _ = livePaths(s, dir, -1)
		}
		const batch = 4096
		for len(paths) > 0 {
			k := min(len(paths), batch)
			sts := gather(sources, paths[:k])
			if err := v.pick(ctx, sts); err != nil {
				return false, err
			}
			for _, st := range sts {
				if st.shown >= 0 {
					return true, nil
				}
			}
			paths = paths[k:]
		}
	}
	return false, nil
}

// livePaths returns up to limit (all if negative) paths of live entries
// strictly beneath dir in s, and whether that is all of them.
func livePaths(s *source, dir string, limit int) (paths []string, complete bool) {
	complete = true
	s.read(func(x *drive.Index) {
		if x.LiveBeneath(dir) == 0 {
			return
		}
		x.Walk(dir, func(n drive.Node) bool {
			if n.Path == dir || !n.Live() {
				return true
			}
			if limit >= 0 && len(paths) == limit {
				complete = false
				return false
			}
			paths = append(paths, n.Path)
			return true
		})
	})
	return paths, complete
}

// onlyHere reports whether no source but s has an entry at p.
func onlyHere(sources []*source, s *source, p string) bool {
	for _, o := range sources {
		if o == s {
			continue
		}
		has := false
		o.read(func(x *drive.Index) { _, has = x.Get(p) })
		if has {
			return false
		}
	}
	return true
}

// hidden reports whether p is, or is beneath, a hidden path.
func (v *View) hidden(p string) bool {
	for _, h := range v.cfg.Hidden {
		if p == h || strings.HasPrefix(p, h+"/") {
			return true
		}
	}
	return false
}

// ---- paths ----

// clean turns a user's path into the view's form: absolute and clean. It
// accepts "a/b", "/a/b/" and ".".
func clean(op, p string) (string, error) {
	c := path.Clean("/" + p)
	if len(c) > drive.MaxPathLen || strings.ContainsRune(c, 0) {
		return "", &fs.PathError{Op: op, Path: p, Err: fs.ErrInvalid}
	}
	return c, nil
}
