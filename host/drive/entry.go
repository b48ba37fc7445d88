package drive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/codrive/codrive/sdk"
)

// Kind says what an entry records at its path.
type Kind uint8

// The kinds of entry. The values are part of the feed format.
const (
	// KindFile is a regular file whose bytes are in content blocks.
	KindFile Kind = 1
	// KindDir is a directory made explicitly (mkdir). Directories also
	// exist implicitly above any live entry.
	KindDir Kind = 2
	// KindSymlink is a symbolic link to Target.
	KindSymlink Kind = 3
	// KindMount mounts the drive MountKey at the path.
	KindMount Kind = 4
	// KindTombstone records a deletion. It stays in the log so that the
	// deletion wins over the versions it saw, on every peer.
	KindTombstone Kind = 5
)

var kindNames = [...]string{KindFile: "file", KindDir: "dir", KindSymlink: "symlink", KindMount: "mount", KindTombstone: "tombstone"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Compression says how a file's content blocks are encoded.
type Compression uint8

const (
	// CompressionNone stores each chunk as it is.
	CompressionNone Compression = 0
	// CompressionZstd stores each chunk as one zstd frame.
	CompressionZstd Compression = 1
)

// Limits on what an entry may hold, so that a hostile writer cannot make
// readers allocate without bound.
const (
	MaxPathLen      = 4096
	MaxEntrySize    = 1 << 20
	MaxMetadataSize = 64 << 10
	// MaxClockWriters bounds the writers a vector clock may name.
	MaxClockWriters = 4096
)

// Extent is a run of consecutive blocks of a drive's content feed.
type Extent struct {
	Start, Blocks uint64
}

// Entry is one change to a drive: the whole new state of one path.
type Entry struct {
	Kind Kind
	// Path is absolute and clean ("/a/b"); never "/" itself.
	Path string
	// WallClock is the writer's clock in nanoseconds since the Unix epoch,
	// never lower than what the writer had seen (see package doc).
	WallClock int64
	// Clock holds, for every other writer, the length of its drive feed
	// that this writer had seen, sorted by key. The writer's own
	// component is implied: the entry's sequence number.
	Clock sdk.VectorClock
	// Mode holds the permission bits (fs.ModePerm).
	Mode fs.FileMode

	// For files: size in bytes, content blocks, BLAKE3 of the content
	// (so identical content is recognised), and how blocks are encoded.
	Size        uint64
	Extents     []Extent
	Hash        sdk.Hash
	Compression Compression

	// Target is a symlink's target.
	Target string

	// MountKey is the mounted drive; MountVersion pins a length of it
	// (0 follows its latest version).
	MountKey     sdk.FeedKey
	MountVersion uint64

	// Metadata holds user key-value pairs attached to the path.
	Metadata map[string][]byte
}

// Live reports whether the entry makes its path exist.
func (e *Entry) Live() bool { return e.Kind != KindTombstone }

// header is block 0 of every drive feed.
type header struct {
	content   sdk.FeedKey
	chunkSize uint32
}

const headerMagic = "codrive-drive\x00"
const formatVersion = 1

func appendHeader(buf []byte, h header) []byte {
	buf = append(buf, headerMagic...)
	buf = append(buf, formatVersion)
	buf = append(buf, h.content[:]...)
	return binary.AppendUvarint(buf, uint64(h.chunkSize))
}

func decodeHeader(b []byte) (header, error) {
	var h header
	if !bytes.HasPrefix(b, []byte(headerMagic)) {
		return h, fmt.Errorf("drive header: not a codrive drive feed: %w", sdk.ErrCorrupt)
	}
	d := decoder{b: b[len(headerMagic):]}
	if v := d.byte(); d.err == nil && v != formatVersion {
		return h, fmt.Errorf("drive header: format version %d, this build reads %d: %w", v, formatVersion, sdk.ErrInvalid)
	}
	d.bytes(h.content[:])
	cs := d.uvarint()
	d.end()
	if d.err != nil {
		return h, fmt.Errorf("drive header: %w", d.err)
	}
	if cs < MinChunkSize || cs > MaxChunkSize {
		return h, fmt.Errorf("drive header: chunk size %d out of range: %w", cs, sdk.ErrCorrupt)
	}
	h.chunkSize = uint32(cs)
	return h, nil
}

// ValidPath reports whether p is an absolute, clean path other than the
// root, short enough, without NUL bytes: the only paths entries may hold.
func ValidPath(p string) bool {
	return len(p) > 1 && len(p) <= MaxPathLen && p[0] == '/' && path.Clean(p) == p &&
		!strings.ContainsRune(p, 0)
}

// AppendEntry encodes e. It fails with sdk.ErrInvalid if e breaks a rule
// that DecodeEntry checks, so nothing undecodable is ever written.
func AppendEntry(buf []byte, e *Entry) ([]byte, error) {
	if err := e.validate(); err != nil {
		return buf, err
	}
	start := len(buf)
	buf = append(buf, byte(e.Kind))
	buf = appendString(buf, e.Path)
	buf = binary.LittleEndian.AppendUint64(buf, uint64(e.WallClock))
	buf = binary.AppendUvarint(buf, uint64(len(e.Clock)))
	for _, c := range e.Clock {
		buf = append(buf, c.Writer[:]...)
		buf = binary.AppendUvarint(buf, c.Length)
	}
	buf = binary.AppendUvarint(buf, uint64(e.Mode&fs.ModePerm))
	switch e.Kind {
	case KindFile:
		buf = binary.AppendUvarint(buf, e.Size)
		buf = append(buf, byte(e.Compression))
		buf = append(buf, e.Hash[:]...)
		buf = binary.AppendUvarint(buf, uint64(len(e.Extents)))
		for _, x := range e.Extents {
			buf = binary.AppendUvarint(buf, x.Start)
			buf = binary.AppendUvarint(buf, x.Blocks)
		}
	case KindSymlink:
		buf = appendString(buf, e.Target)
	case KindMount:
		buf = append(buf, e.MountKey[:]...)
		buf = binary.AppendUvarint(buf, e.MountVersion)
	}
	keys := sortedKeys(e.Metadata)
	buf = binary.AppendUvarint(buf, uint64(len(keys)))
	for _, k := range keys {
		buf = appendString(buf, k)
		buf = appendString(buf, string(e.Metadata[k]))
	}
	if len(buf)-start > MaxEntrySize {
		return buf[:start], fmt.Errorf("entry for %s: %d bytes, over the limit of %d: %w", e.Path, len(buf)-start, MaxEntrySize, sdk.ErrInvalid)
	}
	return buf, nil
}

func (e *Entry) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("entry for %q: %s: %w", e.Path, fmt.Sprintf(format, args...), sdk.ErrInvalid)
	}
	if !ValidPath(e.Path) {
		return bad("not an absolute clean path under the root")
	}
	if e.Kind < KindFile || e.Kind > KindTombstone {
		return bad("unknown kind %d", e.Kind)
	}
	if len(e.Clock) > MaxClockWriters {
		return bad("vector clock names %d writers, over %d", len(e.Clock), MaxClockWriters)
	}
	for i := 1; i < len(e.Clock); i++ {
		if bytes.Compare(e.Clock[i-1].Writer[:], e.Clock[i].Writer[:]) >= 0 {
			return bad("vector clock not sorted by writer")
		}
	}
	if e.Mode&^fs.ModePerm != 0 {
		return bad("mode %v has bits beyond the permissions", e.Mode)
	}
	if e.Kind != KindFile && (e.Size != 0 || len(e.Extents) != 0 || e.Compression != 0 || e.Hash != (sdk.Hash{})) {
		return bad("content on a %v", e.Kind)
	}
	if e.Kind == KindFile && e.Compression > CompressionZstd {
		return bad("unknown compression %d", e.Compression)
	}
	if e.Kind != KindSymlink && e.Target != "" {
		return bad("target on a %v", e.Kind)
	}
	if e.Kind == KindSymlink && (e.Target == "" || len(e.Target) > MaxPathLen || strings.ContainsRune(e.Target, 0)) {
		return bad("symlink target empty, too long or holding NUL")
	}
	if e.Kind != KindMount && (e.MountKey != (sdk.FeedKey{}) || e.MountVersion != 0) {
		return bad("mount key on a %v", e.Kind)
	}
	size := 0
	for k, v := range e.Metadata {
		if k == "" {
			return bad("empty metadata key")
		}
		size += len(k) + len(v)
	}
	if size > MaxMetadataSize {
		return bad("metadata of %d bytes, over %d", size, MaxMetadataSize)
	}
	return nil
}

// DecodeEntry decodes an entry strictly: shortest varints, sorted clock
// and metadata, no trailing bytes, every limit of AppendEntry. The entry
// shares no memory with b.
func DecodeEntry(b []byte) (*Entry, error) {
	if len(b) > MaxEntrySize {
		return nil, fmt.Errorf("entry: %d bytes, over the limit of %d: %w", len(b), MaxEntrySize, sdk.ErrCorrupt)
	}
	d := decoder{b: b}
	e := &Entry{Kind: Kind(d.byte())}
	e.Path = d.string(MaxPathLen)
	e.WallClock = int64(d.uint64le())
	n := d.count(33)
	if n > MaxClockWriters {
		d.fail("vector clock of %d writers", n)
	}
	if d.err == nil && n > 0 {
		e.Clock = make(sdk.VectorClock, n)
		for i := range e.Clock {
			d.bytes(e.Clock[i].Writer[:])
			e.Clock[i].Length = d.uvarint()
		}
	}
	if mode := d.uvarint(); mode > uint64(fs.ModePerm) {
		d.fail("mode %#o has bits beyond the permissions", mode)
	} else {
		e.Mode = fs.FileMode(mode)
	}
	switch e.Kind {
	case KindFile:
		e.Size = d.uvarint()
		e.Compression = Compression(d.byte())
		d.bytes(e.Hash[:])
		if n := d.count(2); d.err == nil && n > 0 {
			e.Extents = make([]Extent, n)
			for i := range e.Extents {
				e.Extents[i] = Extent{Start: d.uvarint(), Blocks: d.uvarint()}
			}
		}
	case KindSymlink:
		e.Target = d.string(MaxPathLen)
	case KindMount:
		d.bytes(e.MountKey[:])
		e.MountVersion = d.uvarint()
	}
	if n := d.count(2); d.err == nil && n > 0 {
		e.Metadata = make(map[string][]byte, n)
		prev := ""
		for i := 0; i < n && d.err == nil; i++ {
			k := d.string(MaxMetadataSize)
			v := d.string(MaxMetadataSize)
			if i > 0 && k <= prev {
				d.fail("metadata keys not sorted and unique")
			}
			prev = k
			e.Metadata[k] = []byte(v)
		}
	}
	d.end()
	if d.err != nil {
		return nil, fmt.Errorf("entry: %w", d.err)
	}
	if err := e.validate(); err != nil {
		return nil, fmt.Errorf("%w (%w)", err, sdk.ErrCorrupt)
	}
	return e, nil
}

func appendString(buf []byte, s string) []byte {
	buf = binary.AppendUvarint(buf, uint64(len(s)))
	return append(buf, s...)
}

func sortedKeys(m map[string][]byte) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

var errShort = errors.New("truncated")

// decoder reads the entry encoding, keeping the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format+": %w", append(args, sdk.ErrCorrupt)...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) < 1 {
		d.fail("%v", errShort)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes(dst []byte) {
	if d.err != nil {
		return
	}
	if len(d.b) < len(dst) {
		d.fail("%v", errShort)
		return
	}
	copy(dst, d.b)
	d.b = d.b[len(dst):]
}

func (d *decoder) uint64le() uint64 {
	var b [8]byte
	d.bytes(b[:])
	return binary.LittleEndian.Uint64(b[:])
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	// Only the shortest encoding is accepted, so every entry has one form.
	if n != len(binary.AppendUvarint(nil, v)) {
		d.fail("varint not in its shortest form")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a number of items that each take at least min bytes, and
// refuses counts the remaining bytes cannot hold.
func (d *decoder) count(min int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.b)/min) {
		d.fail("count %d larger than the entry", n)
		return 0
	}
	return int(n)
}

func (d *decoder) string(max int) string {
	n := d.uvarint()
	if d.err != nil {
		return ""
	}
	if n > uint64(max) || n > uint64(len(d.b)) {
		d.fail("string of %d bytes", n)
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) end() {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes", len(d.b))
	}
}
