package disk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/codrive/codrive/sdk"
)

// SyncPolicy says when a Write's data is forced to stable storage.
type SyncPolicy int

const (
	// SyncEveryBatch makes Write return only after the batch has reached
	// stable storage (fdatasync). A batch whose Write returned survives a
	// crash of the process or of the machine. It is the default.
	//
	// Since each record is synced before the next one is written, a crash
	// can only damage the last record of a log. So Open cuts back a torn
	// tail, as the package documentation defines it, but takes any other
	// bad record for damage to synced data: it leaves that file untouched
	// and the feed fails to load, with an error wrapping sdk.ErrCorrupt
	// that gives the byte offset of the bad record. The package
	// documentation says what an operator can do about it.
	SyncEveryBatch SyncPolicy = iota
	// SyncNone leaves flushing to the operating system, and to Close. A
	// crash of the machine may lose the batches written shortly before it,
	// but the storage still reopens in the state left by some prefix of
	// the acknowledged batches, never with a torn or corrupt one. A crash
	// of the process alone loses nothing.
	//
	// A machine crash can persist later pages of a log before earlier
	// ones, so under SyncNone Open cuts every log back at its first bad
	// record, wherever it is, discarding the records after it with a
	// warning. This also discards good records after damage that is not
	// a crash's doing, such as bit rot.
	SyncNone
)

// String returns the policy's name.
func (p SyncPolicy) String() string {
	switch p {
	case SyncEveryBatch:
		return "SyncEveryBatch"
	case SyncNone:
		return "SyncNone"
	}
	return "SyncPolicy(" + strconv.Itoa(int(p)) + ")"
}

// Options configure a Storage. The zero value is the default: sync every
// batch and log to slog.Default.
type Options struct {
	// Sync is the durability policy of Write. It also decides how Open
	// treats a log damaged before its end, so it should be the policy
	// the logs were written under. Creating and deleting feeds, and
	// recovering a log on Open, are synced whatever the policy.
	Sync SyncPolicy
	// Logger receives a warning whenever Open discards part of a log,
	// and an error whenever it cannot load a feed. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// InUseError is returned by Open when another Storage, in this process or
// another one, has the directory open.
type InUseError struct {
	// Dir is the directory passed to Open.
	Dir string
	// PID is the process that holds the directory, 0 if unknown.
	PID int
}

// Error describes who holds the directory.
func (e *InUseError) Error() string {
	switch e.PID {
	case 0:
		return fmt.Sprintf("storage directory %s is in use by another process", e.Dir)
	case os.Getpid():
		return fmt.Sprintf("storage directory %s is already open in this process (pid %d)", e.Dir, e.PID)
	}
	return fmt.Sprintf("storage directory %s is in use by another process (pid %d)", e.Dir, e.PID)
}

// Storage is an sdk.Storage that keeps each feed in an append-only log file
// under one directory, with an index of the blocks and the tree in memory.
// It is safe for concurrent use. Only one Storage at a time may have a
// directory open; Open enforces this with a lock file.
type Storage struct {
	dir    string
	policy SyncPolicy
	log    *slog.Logger
	lock   *os.File

	// nsMu serializes the changes to the set of feed files: Create,
	// Delete and Close.
	nsMu sync.Mutex

	mu     sync.RWMutex // guards feeds and closed
	feeds  map[sdk.FeedKey]*feed
	closed bool
}

var _ sdk.Storage = (*Storage)(nil)

// Names inside a storage directory; doc.go describes the layout.
const (
	lockName  = "LOCK"
	feedsName = "feeds"
	logSuffix = ".log"
	tmpSuffix = ".tmp"

	dirPerm  = 0o700
	filePerm = 0o600
)

// Open opens the storage kept in dir, creating dir if needed. It locks the
// directory, removes what an interrupted Create left behind and replays
// every feed log, cutting off any torn tail (see the package documentation
// for what else it cuts under each SyncPolicy). A feed whose log cannot be
// loaded stays listed, and its operations other than Delete fail with the
// reason. If the log's header is damaged, or under SyncEveryBatch a record
// that cannot be a torn tail, that reason wraps sdk.ErrCorrupt and the file
// is left untouched.
func Open(dir string, opts Options) (*Storage, error) {
	if opts.Sync != SyncEveryBatch && opts.Sync != SyncNone {
		return nil, fmt.Errorf("open storage %s: unknown sync policy %v", dir, opts.Sync)
	}
	s := &Storage{
		dir:    dir,
		policy: opts.Sync,
		log:    opts.Logger,
		feeds:  make(map[sdk.FeedKey]*feed),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if err := makeDir(dir); err != nil {
		return nil, fmt.Errorf("open storage %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s.lock = lock
	if err := s.loadFeeds(); err != nil {
		lock.Close()
		return nil, fmt.Errorf("open storage %s: %w", dir, err)
	}
	return s, nil
}

// lockDir takes the directory's lock and writes this process's id into the
// lock file, for the error a second Open reports.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, filePerm)
	if err != nil {
		return nil, fmt.Errorf("open storage %s: %w", dir, err)
	}
	ok, err := tryLock(f)
	if err == nil && !ok {
		pid := readPID(f)
		f.Close()
		return nil, &InUseError{Dir: dir, PID: pid}
	}
	if err == nil {
		err = f.Truncate(0)
	}
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open storage %s: lock: %w", dir, err)
	}
	return f, nil
}

// readPID returns the process id written in a lock file, 0 if there is
// none yet.
func readPID(f *os.File) int {
	var buf [32]byte
	n, _ := f.ReadAt(buf[:], 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}

// loadFeeds removes leftover temporary files and replays every feed log,
// several at a time.
func (s *Storage) loadFeeds() error {
	root := filepath.Join(s.dir, feedsName)
	if err := makeDir(root); err != nil {
		return err
	}
	subdirs, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	type logFile struct {
		key  sdk.FeedKey
		path string
	}
	var logs []logFile
	for _, sub := range subdirs {
		if !sub.IsDir() || !isPrefixDir(sub.Name()) {
			continue
		}
		subdir := filepath.Join(root, sub.Name())
		entries, err := os.ReadDir(subdir)
		if err != nil {
			return err
		}
		removed := false
		for _, e := range entries {
			name := e.Name()
			if strings.HasSuffix(name, logSuffix+tmpSuffix) {
				if err := os.Remove(filepath.Join(subdir, name)); err != nil {
					return fmt.Errorf("remove leftover of an interrupted create: %w", err)
				}
				removed = true
				continue
			}
			if key, ok := parseLogName(sub.Name(), name); ok && e.Type().IsRegular() {
				logs = append(logs, logFile{key, filepath.Join(subdir, name)})
			}
		}
		if removed {
			if err := syncDir(subdir); err != nil {
				return err
			}
		}
	}

	loaded := make([]*feed, len(logs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(logs)) {
		wg.Go(func() {
			for i := range next {
				loaded[i] = s.openFeed(logs[i].key, logs[i].path)
			}
		})
	}
	for i := range logs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, f := range loaded {
		s.feeds[f.key] = f
	}
	return nil
}

// isPrefixDir reports whether name is two lowercase hex digits.
func isPrefixDir(name string) bool {
	return len(name) == 2 && isLowerHex(name)
}

// parseLogName returns the key of the log file called name in the
// subdirectory prefix, if name is one.
func parseLogName(prefix, name string) (sdk.FeedKey, bool) {
	hexKey, ok := strings.CutSuffix(name, logSuffix)
	if !ok || len(hexKey) != 2*sdk.KeySize || !isLowerHex(hexKey) || hexKey[:2] != prefix {
		return sdk.FeedKey{}, false
	}
	key, err := sdk.ParseFeedKey(hexKey)
	return key, err == nil
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// logPath returns where the log of the feed with this key lives.
func (s *Storage) logPath(key sdk.FeedKey) string {
	name := key.String()
	return filepath.Join(s.dir, feedsName, name[:2], name+logSuffix)
}

// Create stores a new, empty feed. The header's secret key, if any, must be
// sdk.SecretKeySize bytes long. The new log is synced, and so is its
// directory entry, before Create returns.
func (s *Storage) Create(ctx context.Context, header sdk.FeedHeader) error {
	err := ctx.Err()
	if n := len(header.SecretKey); err == nil && n != 0 && n != sdk.SecretKeySize {
		err = fmt.Errorf("secret key has %d bytes, want %d: %w", n, sdk.SecretKeySize, sdk.ErrInvalid)
	}
	if err == nil {
		err = s.create(header)
	}
	if err != nil {
		return fmt.Errorf("create feed %s: %w", header.Key, err)
	}
	return nil
}

func (s *Storage) create(header sdk.FeedHeader) error {
	s.nsMu.Lock()
	defer s.nsMu.Unlock()
	switch _, err := s.feed(header.Key); {
	case err == nil:
		return sdk.ErrExists
	case !errors.Is(err, sdk.ErrNotFound):
		return err
	}
	f, err := s.createFeed(header)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.feeds[header.Key] = f
	s.mu.Unlock()
	return nil
}

// Feeds lists the keys of every stored feed, including those that failed
// to load, in ascending byte order.
func (s *Storage) Feeds(ctx context.Context) ([]sdk.FeedKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	keys := make([]sdk.FeedKey, 0, len(s.feeds))
	for k := range s.feeds {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b sdk.FeedKey) int { return bytes.Compare(a[:], b[:]) })
	return keys, nil
}

// Load returns a feed's header, head, present blocks and evidence.
func (s *Storage) Load(ctx context.Context, key sdk.FeedKey) (*sdk.FeedState, error) {
	f, err := s.usableFeed(ctx, key)
	var st *sdk.FeedState
	if err == nil {
		st, err = f.load()
	}
	if err != nil {
		return nil, fmt.Errorf("load feed %s: %w", key, err)
	}
	return st, nil
}

// Write applies a batch atomically: it appends one record to the feed's
// log with a single write and, under SyncEveryBatch, syncs it before
// returning. If writing or syncing fails, the feed refuses further writes
// until the storage is reopened, since what reached the disk is then
// unknown; reads keep working.
func (s *Storage) Write(ctx context.Context, key sdk.FeedKey, batch *sdk.Batch) error {
	f, err := s.usableFeed(ctx, key)
	if err == nil && batch == nil {
		err = fmt.Errorf("nil batch: %w", sdk.ErrInvalid)
	}
	if err == nil {
		err = f.write(batch, s.policy == SyncEveryBatch)
	}
	if err != nil {
		return fmt.Errorf("write feed %s: %w", key, err)
	}
	return nil
}

// ReadBlocks returns the blocks at indexes [start, end), in order. Blocks
// written together are read together, with one pread per run that is
// contiguous in the log.
func (s *Storage) ReadBlocks(ctx context.Context, key sdk.FeedKey, start, end uint64) ([][]byte, error) {
	f, err := s.usableFeed(ctx, key)
	if err == nil && end < start {
		err = fmt.Errorf("end before start: %w", sdk.ErrInvalid)
	}
	var blocks [][]byte
	if err == nil {
		blocks, err = f.readBlocks(start, end)
	}
	if err != nil {
		return nil, fmt.Errorf("read blocks [%d, %d) of feed %s: %w", start, end, key, err)
	}
	return blocks, nil
}

// ReadNodes returns the stored nodes among the given flat-tree indexes, in
// the order asked, skipping those not stored.
func (s *Storage) ReadNodes(ctx context.Context, key sdk.FeedKey, indexes []uint64) ([]sdk.Node, error) {
	f, err := s.usableFeed(ctx, key)
	var nodes []sdk.Node
	if err == nil {
		nodes, err = f.readNodes(indexes)
	}
	if err != nil {
		return nil, fmt.Errorf("read nodes of feed %s: %w", key, err)
	}
	return nodes, nil
}

// Delete removes a feed, including one that failed to load, and its log
// file, then syncs the directory.
func (s *Storage) Delete(ctx context.Context, key sdk.FeedKey) error {
	err := ctx.Err()
	if err == nil {
		err = s.delete(key)
	}
	if err != nil {
		return fmt.Errorf("delete feed %s: %w", key, err)
	}
	return nil
}

func (s *Storage) delete(key sdk.FeedKey) error {
	s.nsMu.Lock()
	defer s.nsMu.Unlock()
	f, err := s.feed(key)
	if err != nil {
		return err
	}
	if err := f.remove(); err != nil {
		return err
	}
	s.mu.Lock()
	delete(s.feeds, key)
	s.mu.Unlock()
	return syncDir(filepath.Dir(f.path))
}

// Close syncs what SyncNone left unsynced, closes every log and releases
// the directory's lock. Calls after Close, Close included, fail with an
// error wrapping sdk.ErrClosed.
func (s *Storage) Close() error {
	s.nsMu.Lock()
	defer s.nsMu.Unlock()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	s.closed = true
	feeds := s.feeds
	s.feeds = nil
	s.mu.Unlock()

	var errs []error
	for _, f := range feeds {
		if err := f.close(); err != nil {
			errs = append(errs, fmt.Errorf("close feed %s: %w", f.key, err))
		}
	}
	// Closing the file releases the flock.
	if err := s.lock.Close(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

var errClosed = fmt.Errorf("disk storage %w", sdk.ErrClosed)

// feed returns the feed with this key, loaded or not.
func (s *Storage) feed(key sdk.FeedKey) (*feed, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, errClosed
	}
	f := s.feeds[key]
	if f == nil {
		return nil, sdk.ErrNotFound
	}
	return f, nil
}

// usableFeed returns the feed with this key if it was loaded.
func (s *Storage) usableFeed(ctx context.Context, key sdk.FeedKey) (*feed, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := s.feed(key)
	if err == nil && f.broken != nil {
		err = f.broken
	}
	return f, err
}

// makeDir creates dir if it does not exist and then syncs its parent, so
// that the new entry survives a crash.
func makeDir(dir string) error {
	err := os.Mkdir(dir, dirPerm)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		// A missing ancestor: create the chain, syncing each new entry.
		if err := makeDir(filepath.Dir(dir)); err != nil {
			return err
		}
		err = os.Mkdir(dir, dirPerm)
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

// syncDir makes the entries created in or removed from dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
