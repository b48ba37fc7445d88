package disk

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/codrive/codrive/sdk"
)

// feed is one feed's log file and index.
type feed struct {
	key  sdk.FeedKey
	path string
	// header, broken and file are set before the feed is published and
	// never change. A feed that could not be loaded has broken set, and
	// no file or index.
	header sdk.FeedHeader
	broken error
	file   *os.File

	writeMu sync.Mutex // serializes write, remove and close; guards end, failed and dirty
	end     int64      // where the next record goes
	failed  error      // why writes are refused: the file may not match the index
	dirty   bool       // written since the last sync

	mu  sync.RWMutex // guards idx and gone
	idx index
	// gone says why the feed is no longer usable, once its file is being
	// closed. It is written with both writeMu and mu held, so either is
	// enough to read it.
	gone error
}

// Read and scan sizes.
const (
	// maxReadSize caps one pread of a contiguous run of blocks, and so
	// the buffer that a returned block keeps alive.
	maxReadSize = 4 << 20
	// scanBufferSize is the size of the reads of the log scan on Open.
	scanBufferSize = 1 << 20
	// maxPooledBuffer is the largest encoding buffer kept for reuse.
	maxPooledBuffer = 4 << 20
)

// createFeed writes the log of a new feed. The header is written to a
// temporary file and synced before it is renamed into place, so a crash
// never leaves a log with a partial header.
func (s *Storage) createFeed(header sdk.FeedHeader) (*feed, error) {
	path := s.logPath(header.Key)
	dir := filepath.Dir(path)
	if err := makeDir(dir); err != nil {
		return nil, err
	}
	tmp := path + tmpSuffix
	file, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, filePerm)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*feed, error) {
		file.Close()
		os.Remove(tmp)
		return nil, err
	}
	if _, err := file.Write(encodeHeader(header)); err != nil {
		return fail(err)
	}
	if err := fdatasync(file); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail(err)
	}
	if err := syncDir(dir); err != nil {
		// The caller is told the feed does not exist: make it so.
		os.Remove(path)
		return fail(err)
	}
	var secret []byte
	if len(header.SecretKey) > 0 {
		secret = bytes.Clone(header.SecretKey)
	}
	header.SecretKey = secret
	return &feed{key: header.Key, path: path, header: header, file: file, end: headerSize}, nil
}

// openFeed opens and replays the log at path. A log that cannot be
// replayed gives a feed with broken set, so that the other feeds stay
// usable and this one can still be deleted.
func (s *Storage) openFeed(key sdk.FeedKey, path string) *feed {
	f := &feed{key: key, path: path}
	if err := f.replay(s.log, s.policy); err != nil {
		f.broken = err
		s.log.Error("disk storage: cannot load feed", "path", path, "err", err)
		if f.file != nil {
			f.file.Close()
			f.file = nil
		}
		f.idx = index{}
	}
	return f
}

// replay reads the header, rebuilds the index from the records and deals
// with a bad record as doc.go describes: it cuts off a torn tail, and any
// other bad record and what follows it under SyncNone; under
// SyncEveryBatch it fails at any other bad record and leaves the file
// alone.
func (f *feed) replay(log *slog.Logger, policy SyncPolicy) error {
	file, err := os.OpenFile(f.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	f.file = file
	info, err := file.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	// The header is renamed into place whole, so a short one is damage,
	// not a torn write.
	if size < headerSize {
		return fmt.Errorf("%w: log of %d bytes has no room for its header", errCorruptHeader, size)
	}
	buf := make([]byte, headerSize)
	if _, err := file.ReadAt(buf, 0); err != nil {
		return err
	}
	header, err := decodeHeader(buf)
	if err != nil {
		return err
	}
	if header.Key != f.key {
		return fmt.Errorf("%w: it names feed %s", errCorruptHeader, header.Key)
	}
	f.header = header

	end, bad, err := scanLog(file, size, &f.idx)
	if err != nil {
		return err
	}
	if bad != nil {
		msg := "disk storage: discarding torn log tail"
		if !bad.torn {
			// Under SyncEveryBatch every record was synced before the
			// next one was written, so no crash leaves a bad record with
			// data after it: the damage hit synced data, and cutting there
			// would discard acknowledged batches. Without syncs, a machine
			// crash can persist later pages before earlier ones.
			if policy == SyncEveryBatch {
				return &corruptLogError{path: f.path, offset: end, reason: bad.reason, after: bad.after}
			}
			msg = "disk storage: discarding a damaged log record and every record after it"
		}
		log.Warn(msg, "path", f.path, "offset", end, "bytes", size-end, "reason", bad.reason)
		if err := file.Truncate(end); err != nil {
			return err
		}
		if err := fdatasync(file); err != nil {
			return err
		}
	}
	f.end = end
	return nil
}

// corruptLogError reports a log that is damaged before its end, which
// Open leaves untouched under SyncEveryBatch.
type corruptLogError struct {
	path   string
	offset int64 // where the bad record starts
	reason error // what is wrong with it
	after  int64 // how many bytes follow it
}

func (e *corruptLogError) Error() string {
	return fmt.Sprintf("log %s is corrupt at byte %d (%v) with %d more bytes after it; the file was left untouched",
		e.path, e.offset, e.reason, e.after)
}

func (e *corruptLogError) Unwrap() error { return sdk.ErrCorrupt }

// badRecord is the first record of a log that a scan could not replay.
type badRecord struct {
	reason error // what is wrong with it
	// after is the number of bytes between the record's end and the end
	// of the file; it is 0 for a record cut short by the end of the file.
	after int64
	// torn says that a torn final write can have left the record: it
	// reaches the end of the file, or it and all that follows are zeros.
	torn bool
}

// scanLog replays into idx the records of a log of the given size, up to
// the end of the file or the first bad record: one that is cut short by
// the end of the file, fails its checksum or does not decode. It returns
// where it stopped and, if that is before the end, the bad record there;
// err is a failure to read.
func scanLog(r io.ReaderAt, size int64, idx *index) (end int64, bad *badRecord, err error) {
	records := io.NewSectionReader(r, headerSize, size-headerSize)
	br := bufio.NewReaderSize(records, int(min(scanBufferSize, records.Size())))
	var (
		prefix  [recordPrefixSize]byte
		payload []byte
		rec     record
	)
	for end = headerSize; end < size; {
		left := size - end
		if left < recordPrefixSize {
			return end, &badRecord{reason: fmt.Errorf("%d bytes too short for a record", left), torn: true}, nil
		}
		if _, err := io.ReadFull(br, prefix[:]); err != nil {
			return end, nil, err
		}
		n, sum := parsePrefix(&prefix)
		if int64(n) > left-recordPrefixSize {
			return end, &badRecord{reason: fmt.Errorf("record of %d bytes runs past the end of the file", n), torn: true}, nil
		}
		after := left - recordPrefixSize - int64(n)
		var reason error
		if n > maxRecordSize {
			// No such record is ever written; refuse it before allocating.
			reason = fmt.Errorf("record of %d bytes exceeds the limit of %d", n, maxRecordSize)
		} else {
			if cap(payload) < int(n) {
				payload = make([]byte, n)
			}
			payload = payload[:n]
			if _, err := io.ReadFull(br, payload); err != nil {
				return end, nil, err
			}
			if recordChecksum(prefix[:4], payload) != sum {
				reason = errors.New("record checksum mismatch")
			} else {
				reason = decodeRecord(payload, &rec)
			}
		}
		if reason != nil {
			torn := after == 0
			if !torn {
				if torn, err = zeroFrom(r, end, size); err != nil {
					return end, nil, err
				}
			}
			return end, &badRecord{reason: reason, after: after, torn: torn}, nil
		}
		idx.apply(&rec, end+recordPrefixSize)
		end += recordPrefixSize + int64(n)
	}
	return end, nil, nil
}

// zeroFrom reports whether the bytes of r from off to size are all zero.
func zeroFrom(r io.ReaderAt, off, size int64) (bool, error) {
	buf := make([]byte, min(scanBufferSize, size-off))
	for off < size {
		chunk := buf[:min(int64(len(buf)), size-off)]
		if n, err := r.ReadAt(chunk, off); n < len(chunk) {
			return false, err
		}
		if !allZero(chunk) {
			return false, nil
		}
		off += int64(len(chunk))
	}
	return true, nil
}

// scratch is the memory one Write needs: the encoded record and its
// decoding.
type scratch struct {
	buf []byte
	rec record
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// write appends the record of b to the log, syncs it if durable is set,
// and then applies it to the index.
func (f *feed) write(b *sdk.Batch, durable bool) error {
	if !b.Truncate && len(b.Blocks) == 0 && len(b.Nodes) == 0 && b.Head == nil && b.Evidence == nil {
		return nil
	}
	sc := scratchPool.Get().(*scratch)
	defer func() {
		if cap(sc.buf) <= maxPooledBuffer {
			scratchPool.Put(sc)
		}
	}()
	var err error
	if sc.buf, err = appendRecord(sc.buf[:0], b); err != nil {
		return err
	}
	// The index is updated from the decoded record, exactly as a replay of
	// the log would update it.
	if err := decodeRecord(sc.buf[recordPrefixSize:], &sc.rec); err != nil {
		return fmt.Errorf("encoded batch does not decode: %w", err)
	}

	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	switch {
	case f.gone != nil:
		return f.gone
	case f.failed != nil:
		return f.failed
	}
	off := f.end
	if _, err := f.file.WriteAt(sc.buf, off); err != nil {
		return f.fail(off, err)
	}
	if durable {
		if err := fdatasync(f.file); err != nil {
			return f.fail(off, err)
		}
	} else {
		f.dirty = true
	}
	f.end += int64(len(sc.buf))

	f.mu.Lock()
	f.idx.apply(&sc.rec, off+recordPrefixSize)
	f.mu.Unlock()
	return nil
}

// fail handles a write at off that failed with err. What reached the file
// is unknown (after a failed fsync, even the page cache cannot be
// trusted), so the record is cut off and the feed refuses writes until a
// reopen replays the log.
func (f *feed) fail(off int64, err error) error {
	if terr := f.file.Truncate(off); terr != nil {
		err = errors.Join(err, terr)
	}
	f.failed = fmt.Errorf("an earlier write failed, reopen the storage: %w", err)
	return err
}

// readBlocks returns copies of the blocks in [start, end).
func (f *feed) readBlocks(start, end uint64) ([][]byte, error) {
	f.mu.RLock()
	if f.gone != nil {
		f.mu.RUnlock()
		return nil, f.gone
	}
	var locs []blockLoc
	missing, ok := start, true
	if end > start {
		// The presence check bounds the allocation.
		if missing, ok = f.idx.covers(start, end); ok {
			locs = make([]blockLoc, end-start)
			if n := f.idx.blocks.getRange(start, locs); n < len(locs) {
				missing, ok = start+uint64(n), false
			}
		}
	}
	f.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("block %d: %w", missing, sdk.ErrNotFound)
	}

	// The file is only ever appended to, so the data stays where the index
	// said it was after the lock is released; only closing the file can
	// get in the way.
	blocks := make([][]byte, len(locs))
	for i := 0; i < len(locs); {
		j, size := i+1, int64(locs[i].size)
		for j < len(locs) && locs[j].off == locs[j-1].off+int64(locs[j-1].size) && size+int64(locs[j].size) <= maxReadSize {
			size += int64(locs[j].size)
			j++
		}
		buf := make([]byte, size)
		if _, err := f.file.ReadAt(buf, locs[i].off); err != nil {
			return nil, f.readError(err)
		}
		for k := i; k < j; k++ {
			n := locs[k].size
			blocks[k] = buf[:n:n]
			buf = buf[n:]
		}
		i = j
	}
	return blocks, nil
}

// readError explains a failed read of the log.
func (f *feed) readError(err error) error {
	if errors.Is(err, os.ErrClosed) {
		// Delete or Close got in after the index lookup: say which.
		f.mu.RLock()
		gone := f.gone
		f.mu.RUnlock()
		if gone != nil {
			return gone
		}
	}
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("log is shorter than its index: %w", sdk.ErrCorrupt)
	}
	return err
}

// readNodes returns the stored nodes among indexes, in that order.
func (f *feed) readNodes(indexes []uint64) ([]sdk.Node, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.gone != nil {
		return nil, f.gone
	}
	nodes := make([]sdk.Node, 0, len(indexes))
	for _, i := range indexes {
		if v, ok := f.idx.nodes.get(i); ok {
			nodes = append(nodes, sdk.Node{Index: i, Size: v.size, Hash: v.hash})
		}
	}
	return nodes, nil
}

// load returns a copy of the feed's state.
func (f *feed) load() (*sdk.FeedState, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.gone != nil {
		return nil, f.gone
	}
	st := &sdk.FeedState{
		Header:   sdk.FeedHeader{Key: f.header.Key, SecretKey: bytes.Clone(f.header.SecretKey)},
		Head:     f.idx.head,
		Evidence: bytes.Clone(f.idx.evidence),
	}
	if len(f.idx.present) > 0 {
		st.Present = slices.Clone(f.idx.present)
	}
	return st, nil
}

// remove deletes the log file and closes the feed.
func (f *feed) remove() error {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	if err := os.Remove(f.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return f.shut(sdk.ErrNotFound)
}

// close syncs what SyncNone left unsynced and closes the feed.
func (f *feed) close() error {
	f.writeMu.Lock()
	defer f.writeMu.Unlock()
	var err error
	if f.dirty && f.failed == nil {
		err = fdatasync(f.file)
	}
	return errors.Join(err, f.shut(errClosed))
}

// shut marks the feed gone for the given reason and closes its file. The
// caller holds writeMu.
func (f *feed) shut(reason error) error {
	f.mu.Lock()
	f.gone = reason
	f.mu.Unlock()
	if f.file == nil {
		return nil
	}
	return f.file.Close()
}
