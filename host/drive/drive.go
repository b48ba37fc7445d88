// Package drive stores a file tree in one writer's feeds: a drive feed of
// entries, one per change to a path, and a content feed of file chunks.
//
// Block 0 of the drive feed is a header naming the content feed and its
// chunk size. Every later block is one Entry: the whole new state of one
// path (a file with its content extents, a directory, a symlink, a mount,
// or a tombstone), stamped with the writer's wall clock and vector clock.
// An Index replays the entries into the latest state of every path; it
// is rebuilt when a drive is opened and extended as entries are written
// or arrive from peers, and a shorter replay gives any past version.
//
// A drive alone has no file-system methods: package union reads one or
// many drives as a file system, deciding between writers with a resolver.
package drive

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/sdk"
)

// Chunk sizes: how many bytes of a file one content block holds.
const (
	DefaultChunkSize = 64 << 10
	MinChunkSize     = 1 << 10
	MaxChunkSize     = 4 << 20
)

// ErrReadOnly is returned when writing to a drive whose feeds this host
// cannot sign.
var ErrReadOnly = errors.New("drive is read-only: this host does not hold its writer key")

// Fetcher downloads blocks of a feed from peers; replicate.Replicator is
// one.
type Fetcher interface {
	Fetch(ctx context.Context, key sdk.FeedKey, start, end uint64) error
}

// Options configure a Drive.
type Options struct {
	// ChunkSize is the chunk size of a drive created now; zero means
	// DefaultChunkSize. Existing drives keep the size in their header.
	ChunkSize int
	// Compress stores new file content as zstd frames.
	Compress bool
	// Fetcher fetches content blocks that are not stored locally when a
	// file is read. Nil reads local blocks only.
	Fetcher Fetcher
	// OnContentFeed is called once, with the drive's content feed, as
	// soon as the drive knows it, so the host can replicate it.
	OnContentFeed func(*feed.Feed)
	// Logger receives undecodable entries and follow errors; nil
	// discards.
	Logger *slog.Logger
	// History names a directory (such as "/.writers") whose every entry
	// the index keeps, not only the latest per path: records that must
	// not be taken back by overwriting them.
	History string
}

// Update tells subscribers which entries a drive applied, in order.
type Update struct {
	Drive *Drive
	Nodes []Node
}

// Drive is one writer's file tree. It is safe for concurrent use.
type Drive struct {
	store *feedstore.Store
	meta  *feed.Feed
	opts  Options
	log   *slog.Logger

	// writeMu serialises appends and catching up with the feed, so that
	// entries are applied exactly once and in order.
	writeMu sync.Mutex

	mu        sync.RWMutex
	idx       *Index
	content   *feed.Feed
	chunkSize int
	subs      map[int]func(Update)
	nextSub   int
	closed    bool

	stop chan struct{}
	done chan struct{}
}

// Create opens the writable drive called name in store, creating its
// feeds (name and name+"/content") if they do not exist. Its keys derive
// from the store's seed, so the same name always gives the same drive.
func Create(ctx context.Context, store *feedstore.Store, name string, opts Options) (*Drive, error) {
	meta, err := store.Writer(ctx, name)
	if err != nil {
		return nil, err
	}
	content, err := store.Writer(ctx, name+"/content")
	if err != nil {
		return nil, err
	}
	if meta.Length() == 0 {
		cs := opts.ChunkSize
		if cs == 0 {
			cs = DefaultChunkSize
		}
		if cs < MinChunkSize || cs > MaxChunkSize {
			return nil, fmt.Errorf("drive: chunk size %d outside [%d, %d]: %w", cs, MinChunkSize, MaxChunkSize, sdk.ErrInvalid)
		}
		if _, err := meta.Append(ctx, appendHeader(nil, header{content: content.Key(), chunkSize: uint32(cs)})); err != nil {
			return nil, fmt.Errorf("drive: writing header: %w", err)
		}
	}
	return open(ctx, store, meta, opts)
}

// Open opens the drive whose feed key is key: the local writer's drive
// if this store holds its secret, otherwise a replica that fills as
// entries arrive from peers (the host replicates the drive feed in full).
func Open(ctx context.Context, store *feedstore.Store, key sdk.FeedKey, opts Options) (*Drive, error) {
	meta, err := store.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	return open(ctx, store, meta, opts)
}

func open(ctx context.Context, store *feedstore.Store, meta *feed.Feed, opts Options) (*Drive, error) {
	d := &Drive{
		store: store, meta: meta, opts: opts, log: opts.Logger,
		idx: newIndex(opts.History), subs: map[int]func(Update){},
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.writeMu.Lock()
	err := d.catchUp(ctx)
	d.writeMu.Unlock()
	if err != nil {
		return nil, err
	}
	go d.follow()
	return d, nil
}

// Key is the drive's key: the key of its drive feed, which names the
// writer in vector clocks.
func (d *Drive) Key() sdk.FeedKey { return d.meta.Key() }

// Feed returns the drive feed.
func (d *Drive) Feed() *feed.Feed { return d.meta }

// ContentFeed returns the content feed, or nil while the drive's header
// has not arrived.
func (d *Drive) ContentFeed() *feed.Feed {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.content
}

// Writable reports whether this host can write to the drive.
func (d *Drive) Writable() bool { return d.meta.Writable() }

// Length is the number of drive feed blocks applied to the index: the
// drive's component in a version vector.
func (d *Drive) Length() uint64 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.idx.length
}

// Read calls fn with the drive's current index under a read lock. fn
// must not keep the index or call back into the drive's writers.
func (d *Drive) Read(fn func(*Index)) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	fn(d.idx)
}

// Subscribe calls fn after every batch of entries the drive applies, in
// order, until the returned cancel is called. fn runs on the applying
// goroutine and must not block or call into the drive.
func (d *Drive) Subscribe(fn func(Update)) (cancel func()) {
	d.mu.Lock()
	id := d.nextSub
	d.nextSub++
	d.subs[id] = fn
	d.mu.Unlock()
	return func() {
		d.mu.Lock()
		delete(d.subs, id)
		d.mu.Unlock()
	}
}

// Append writes entries to the drive feed in one signed batch and applies
// them. It returns the sequence number of the first.
func (d *Drive) Append(ctx context.Context, entries ...*Entry) (uint64, error) {
	if !d.Writable() {
		return 0, ErrReadOnly
	}
	blocks := make([][]byte, len(entries))
	for i, e := range entries {
		b, err := AppendEntry(nil, e)
		if err != nil {
			return 0, err
		}
		blocks[i] = b
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	// Anything that arrived since (a restored log, for example) goes
	// first, so the new entries land exactly at the seq they get.
	if err := d.catchUp(ctx); err != nil {
		return 0, err
	}
	first, err := d.meta.Append(ctx, blocks...)
	if err != nil {
		return 0, err
	}
	if d.Length() != first {
		// Another handle on the same feed appended in between: read
		// everything back in feed order.
		return first, d.catchUp(ctx)
	}
	nodes := make([]Node, len(entries))
	for i, e := range entries {
		nodes[i] = Node{Seq: first + uint64(i), Entry: e}
	}
	d.apply(nodes, first+uint64(len(entries)))
	return first, nil
}

// Snapshot rebuilds the index as it was when the drive feed had length
// blocks. The blocks must be stored locally.
func (d *Drive) Snapshot(ctx context.Context, length uint64) (*Index, error) {
	x := newIndex(d.opts.History)
	if length <= 1 {
		return x, nil
	}
	err := d.scan(ctx, 1, length, func(seq uint64, e *Entry) { x.Apply(seq, e) })
	if err != nil {
		return nil, err
	}
	return x, nil
}

// Close stops following the drive feed. The feeds stay open in the store.
func (d *Drive) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	d.mu.Unlock()
	close(d.stop)
	<-d.done
	return nil
}

// follow applies entries as they arrive from peers.
func (d *Drive) follow() {
	defer close(d.done)
	// The first round catches up with what was stored between open's
	// catch-up and taking the channel.
	ch := d.meta.Changed()
	var retry <-chan time.Time
	backoff := 10 * time.Millisecond
	for first := true; ; first = false {
		if !first {
			select {
			case <-d.stop:
				return
			case <-ch:
				ch = d.meta.Changed()
			case <-retry:
			}
		}
		d.writeMu.Lock()
		err := d.catchUp(context.Background())
		d.writeMu.Unlock()
		retry = nil
		switch {
		case err == nil:
			backoff = 10 * time.Millisecond
		case errors.Is(err, sdk.ErrClosed):
			return
		default:
			// Blocks already stored must not wait for the feed's next
			// change to be applied: try again, backing off.
			d.log.Warn("drive: following feed", "drive", d.Key(), "err", err, "retry", backoff)
			retry = time.After(backoff)
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// scanBatch is how many entries one storage read takes.
const scanBatch = 4096

// catchUp applies every contiguous block past the index. writeMu is held.
func (d *Drive) catchUp(ctx context.Context) error {
	if err := d.loadHeader(ctx); err != nil {
		return err
	}
	d.mu.RLock()
	start := d.idx.length
	d.mu.RUnlock()
	end := contiguousEnd(d.meta.Present(), start)
	if end > start {
		d.mu.Lock()
		d.idx.reserve(int(min(end-start, 1<<24)))
		d.mu.Unlock()
	}
	for start < end {
		stop := min(end, start+scanBatch)
		var nodes []Node
		err := d.scan(ctx, start, stop, func(seq uint64, e *Entry) {
			nodes = append(nodes, Node{Seq: seq, Entry: e})
		})
		if err != nil {
			return err
		}
		d.apply(nodes, stop)
		start = stop
	}
	return nil
}

// Scan decodes entries [start, end) of the drive feed, which must be
// stored locally, in order. Undecodable blocks are passed as nil entries,
// so every peer skips the same ones.
func (d *Drive) Scan(ctx context.Context, start, end uint64, fn func(seq uint64, e *Entry)) error {
	if start < 1 {
		return fmt.Errorf("drive: block 0 is the header, not an entry: %w", sdk.ErrInvalid)
	}
	return d.scan(ctx, start, end, fn)
}

func (d *Drive) scan(ctx context.Context, start, end uint64, fn func(uint64, *Entry)) error {
	for start < end {
		stop := min(end, start+scanBatch)
		blocks, err := d.meta.GetRange(ctx, start, stop)
		if err != nil {
			return fmt.Errorf("drive %s: reading entries %d-%d: %w", d.Key(), start, stop, err)
		}
		for i, b := range blocks {
			e, err := DecodeEntry(b)
			if err != nil {
				d.log.Warn("drive: skipping undecodable entry", "drive", d.Key(), "seq", start+uint64(i), "err", err)
				e = nil
			}
			fn(start+uint64(i), e)
		}
		start = stop
	}
	return nil
}

// apply adds nodes (nil entries included) to the index, which ends at
// length, and tells subscribers.
func (d *Drive) apply(nodes []Node, length uint64) {
	d.mu.Lock()
	live := nodes[:0:0]
	for _, n := range nodes {
		d.idx.Apply(n.Seq, n.Entry)
		if n.Entry != nil {
			live = append(live, n)
		}
	}
	if d.idx.length != length {
		d.mu.Unlock()
		panic("drive: index length out of step with the feed")
	}
	subs := make([]func(Update), 0, len(d.subs))
	for _, fn := range d.subs {
		subs = append(subs, fn)
	}
	d.mu.Unlock()
	if len(live) == 0 {
		return
	}
	u := Update{Drive: d, Nodes: live}
	for _, fn := range subs {
		fn(u)
	}
}

// loadHeader reads block 0 once it is stored, and opens the content feed.
func (d *Drive) loadHeader(ctx context.Context) error {
	d.mu.RLock()
	loaded := d.content != nil
	d.mu.RUnlock()
	if loaded || !d.meta.Has(0, 1) {
		return nil
	}
	b, err := d.meta.Get(ctx, 0)
	if err != nil {
		return fmt.Errorf("drive %s: reading header: %w", d.Key(), err)
	}
	h, err := decodeHeader(b)
	if err != nil {
		return fmt.Errorf("drive %s: %w", d.Key(), err)
	}
	content, err := d.store.Get(ctx, h.content)
	if err != nil {
		return fmt.Errorf("drive %s: opening content feed: %w", d.Key(), err)
	}
	d.mu.Lock()
	d.content, d.chunkSize = content, int(h.chunkSize)
	d.mu.Unlock()
	if d.opts.OnContentFeed != nil {
		d.opts.OnContentFeed(content)
	}
	return nil
}

// contiguousEnd returns the end of the run of present blocks that starts
// at or before start, or start if block start is missing.
func contiguousEnd(present []sdk.Range, start uint64) uint64 {
	for _, r := range present {
		if r.Start <= start && start < r.End {
			return r.End
		}
	}
	return start
}
