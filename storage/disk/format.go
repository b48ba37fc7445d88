package disk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
	"slices"

	"github.com/codrive/codrive/sdk"
)

// The feed log format; doc.go describes it in full.
const (
	headerMagic   = "CDRVFEED"
	formatVersion = 1
	headerSize    = 8 + 4 + 4 + sdk.KeySize + sdk.SecretKeySize + 4

	headerFlagSecretKey = 1 << 0

	recordPrefixSize = 8
	// maxRecordSize bounds one record's payload. It keeps what a scan
	// allocates for a (possibly corrupt) length field reasonable, and the
	// length field in 32 bits.
	maxRecordSize = 1 << 30

	recordTypeBatch = 1

	batchFlagTruncate = 1 << 0
	batchFlagHead     = 1 << 1
	batchFlagEvidence = 1 << 2
	batchFlagsKnown   = batchFlagTruncate | batchFlagHead | batchFlagEvidence

	// maxBlockIndex bounds block indexes: a block at 2^63 or above would
	// have no flat-tree leaf index, and a Range ending after it would
	// overflow.
	maxBlockIndex = 1<<63 - 1
	// maxNodeIndex bounds node indexes: the index 2^64-1 is no node (its
	// depth would be 64).
	maxNodeIndex = 1<<64 - 2

	minBlockEntrySize = 2                 // two one-byte uvarints
	minNodeEntrySize  = 2 + sdk.KeySize   // two one-byte uvarints and a hash
	headEntrySize     = sdk.SignatureSize // not counting its two uvarints
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorruptHeader is wrapped by every header decoding failure but the
// unsupported-version one, which is not corruption.
var errCorruptHeader = fmt.Errorf("feed log header: %w", sdk.ErrCorrupt)

// encodeHeader returns the header of a new feed log. The secret key must be
// empty or sdk.SecretKeySize bytes long.
func encodeHeader(h sdk.FeedHeader) []byte {
	b := make([]byte, 0, headerSize)
	b = append(b, headerMagic...)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	var flags uint32
	if len(h.SecretKey) > 0 {
		flags |= headerFlagSecretKey
	}
	b = binary.LittleEndian.AppendUint32(b, flags)
	b = append(b, h.Key[:]...)
	var secret [sdk.SecretKeySize]byte
	copy(secret[:], h.SecretKey)
	b = append(b, secret[:]...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeHeader parses a feed log header. Its errors wrap sdk.ErrCorrupt,
// except for a valid header of another format version.
func decodeHeader(b []byte) (sdk.FeedHeader, error) {
	var h sdk.FeedHeader
	if len(b) != headerSize {
		return h, fmt.Errorf("%w: %d bytes, want %d", errCorruptHeader, len(b), headerSize)
	}
	if string(b[:8]) != headerMagic {
		return h, fmt.Errorf("%w: bad magic %q", errCorruptHeader, b[:8])
	}
	sum := binary.LittleEndian.Uint32(b[headerSize-4:])
	if crc32.Checksum(b[:headerSize-4], castagnoli) != sum {
		return h, fmt.Errorf("%w: checksum mismatch", errCorruptHeader)
	}
	if v := binary.LittleEndian.Uint32(b[8:]); v != formatVersion {
		return h, fmt.Errorf("feed log format version %d is not supported (this build reads version %d)", v, formatVersion)
	}
	flags := binary.LittleEndian.Uint32(b[12:])
	if flags&^headerFlagSecretKey != 0 {
		return h, fmt.Errorf("%w: unknown flags %#x", errCorruptHeader, flags)
	}
	copy(h.Key[:], b[16:])
	secret := b[16+sdk.KeySize : 16+sdk.KeySize+sdk.SecretKeySize]
	if flags&headerFlagSecretKey != 0 {
		h.SecretKey = bytes.Clone(secret)
	} else if !allZero(secret) {
		return h, fmt.Errorf("%w: secret key bytes set without the secret key flag", errCorruptHeader)
	}
	return h, nil
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// record is a decoded batch record. It refers into the payload it was
// decoded from: blocks by offset, evidence by slicing.
type record struct {
	truncate   bool
	truncateTo uint64
	blocks     []blockEntry
	nodes      []sdk.Node
	hasHead    bool
	head       sdk.Head
	evidence   []byte // nil if the record carries none
}

// blockEntry locates one block's data inside a record payload.
type blockEntry struct {
	index     uint64
	off, size uint32
}

// appendRecord appends the record encoding b, prefix included, to dst. It
// fails with sdk.ErrInvalid for a batch that cannot be stored.
func appendRecord(dst []byte, b *sdk.Batch) ([]byte, error) {
	n, err := payloadSize(b)
	if err != nil {
		return dst, err
	}
	start := len(dst)
	dst = slices.Grow(dst, recordPrefixSize+n)
	dst = append(dst, make([]byte, recordPrefixSize)...)

	var flags byte
	if b.Truncate {
		flags |= batchFlagTruncate
	}
	if b.Head != nil {
		flags |= batchFlagHead
	}
	if b.Evidence != nil {
		flags |= batchFlagEvidence
	}
	dst = append(dst, recordTypeBatch, flags)
	if b.Truncate {
		dst = binary.AppendUvarint(dst, b.TruncateTo)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.Blocks)))
	for _, blk := range b.Blocks {
		dst = binary.AppendUvarint(dst, blk.Index)
		dst = binary.AppendUvarint(dst, uint64(len(blk.Data)))
	}
	// The data of all blocks is contiguous so that a read of consecutive
	// blocks written together is one pread.
	for _, blk := range b.Blocks {
		dst = append(dst, blk.Data...)
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.Nodes)))
	for _, nd := range b.Nodes {
		dst = binary.AppendUvarint(dst, nd.Index)
		dst = binary.AppendUvarint(dst, nd.Size)
		dst = append(dst, nd.Hash[:]...)
	}
	if h := b.Head; h != nil {
		dst = binary.AppendUvarint(dst, h.Fork)
		dst = binary.AppendUvarint(dst, h.Length)
		dst = append(dst, h.Signature[:]...)
	}
	if b.Evidence != nil {
		dst = binary.AppendUvarint(dst, uint64(len(b.Evidence)))
		dst = append(dst, b.Evidence...)
	}

	prefix := dst[start : start+recordPrefixSize]
	binary.LittleEndian.PutUint32(prefix, uint32(n))
	binary.LittleEndian.PutUint32(prefix[4:], recordChecksum(prefix[:4], dst[start+recordPrefixSize:]))
	return dst, nil
}

// payloadSize returns the size of the payload encoding b, after checking
// that b can be stored.
func payloadSize(b *sdk.Batch) (int, error) {
	n := uint64(2) // type and flags
	if b.Truncate {
		n += uvarintLen(b.TruncateTo)
	}
	n += uvarintLen(uint64(len(b.Blocks)))
	for _, blk := range b.Blocks {
		if blk.Index > maxBlockIndex {
			return 0, fmt.Errorf("block index %d is too large (the limit is %d): %w", blk.Index, uint64(maxBlockIndex), sdk.ErrInvalid)
		}
		if len(blk.Data) > sdk.MaxBlockSize {
			return 0, fmt.Errorf("block %d has %d bytes (the limit is %d): %w", blk.Index, len(blk.Data), sdk.MaxBlockSize, sdk.ErrInvalid)
		}
		n += uvarintLen(blk.Index) + uvarintLen(uint64(len(blk.Data))) + uint64(len(blk.Data))
	}
	n += uvarintLen(uint64(len(b.Nodes)))
	for _, nd := range b.Nodes {
		if nd.Index > maxNodeIndex {
			return 0, fmt.Errorf("node index %d is not a flat-tree index: %w", nd.Index, sdk.ErrInvalid)
		}
		n += uvarintLen(nd.Index) + uvarintLen(nd.Size) + sdk.KeySize
	}
	if h := b.Head; h != nil {
		n += uvarintLen(h.Fork) + uvarintLen(h.Length) + headEntrySize
	}
	if b.Evidence != nil {
		n += uvarintLen(uint64(len(b.Evidence))) + uint64(len(b.Evidence))
	}
	if n > maxRecordSize {
		return 0, fmt.Errorf("batch encodes to %d bytes (the limit is %d): %w", n, maxRecordSize, sdk.ErrInvalid)
	}
	return int(n), nil
}

func uvarintLen(x uint64) uint64 {
	return uint64(bits.Len64(x|1)+6) / 7
}

// recordChecksum covers the length field too, so that a damaged length is
// caught by the checksum, and so that a run of zero bytes (which a crash
// can leave at the end of a file) never checksums: the CRC of no bytes is
// zero, that of four zero bytes is not.
func recordChecksum(length, payload []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, payload)
}

// parsePrefix returns the payload length and checksum a record prefix holds.
func parsePrefix(p *[recordPrefixSize]byte) (length, sum uint32) {
	return binary.LittleEndian.Uint32(p[:4]), binary.LittleEndian.Uint32(p[4:])
}

// errBadRecord is wrapped by every record decoding failure.
var errBadRecord = errors.New("undecodable record")

// decodeRecord parses a record payload into rec, reusing rec's slices. It
// accepts exactly what appendRecord produces: every length is bounded by
// the bytes left, varints must be minimal and nothing may trail.
func decodeRecord(payload []byte, rec *record) error {
	*rec = record{blocks: rec.blocks[:0], nodes: rec.nodes[:0]}
	if len(payload) > maxRecordSize {
		return fmt.Errorf("%w: %d bytes", errBadRecord, len(payload))
	}
	d := decoder{b: payload}

	if typ := d.byte(); d.err == nil && typ != recordTypeBatch {
		return fmt.Errorf("%w: unknown record type %d", errBadRecord, typ)
	}
	flags := d.byte()
	if d.err == nil && flags&^batchFlagsKnown != 0 {
		return fmt.Errorf("%w: unknown batch flags %#x", errBadRecord, flags)
	}
	if flags&batchFlagTruncate != 0 {
		rec.truncate = true
		rec.truncateTo = d.uvarint()
	}

	count := d.count(minBlockEntrySize)
	var dataSize uint64
	for range count {
		index, size := d.uvarint(), d.uvarint()
		if d.err != nil {
			break
		}
		if index > maxBlockIndex || size > sdk.MaxBlockSize {
			return fmt.Errorf("%w: block %d of %d bytes", errBadRecord, index, size)
		}
		rec.blocks = append(rec.blocks, blockEntry{index: index, size: uint32(size)})
		dataSize += size
	}
	if d.err != nil {
		return d.err
	}
	if dataSize > uint64(d.left()) {
		return fmt.Errorf("%w: block data runs past the end", errBadRecord)
	}
	for i := range rec.blocks {
		rec.blocks[i].off = uint32(d.off)
		d.off += int(rec.blocks[i].size)
	}

	count = d.count(minNodeEntrySize)
	for range count {
		n := sdk.Node{Index: d.uvarint(), Size: d.uvarint()}
		copy(n.Hash[:], d.bytes(sdk.KeySize))
		if d.err != nil {
			break
		}
		if n.Index > maxNodeIndex {
			return fmt.Errorf("%w: node index %d", errBadRecord, n.Index)
		}
		rec.nodes = append(rec.nodes, n)
	}

	if flags&batchFlagHead != 0 {
		rec.hasHead = true
		rec.head.Fork = d.uvarint()
		rec.head.Length = d.uvarint()
		copy(rec.head.Signature[:], d.bytes(headEntrySize))
	}
	if flags&batchFlagEvidence != 0 {
		n := d.uvarint()
		if d.err == nil && n > uint64(d.left()) {
			return fmt.Errorf("%w: evidence runs past the end", errBadRecord)
		}
		rec.evidence = d.bytes(int(n))
	}
	if d.err != nil {
		return d.err
	}
	if d.left() != 0 {
		return fmt.Errorf("%w: %d trailing bytes", errBadRecord, d.left())
	}
	return nil
}

// decoder reads a payload. Its first error sticks: after it, every read
// returns zero values.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) left() int { return len(d.b) - d.off }

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s at offset %d", errBadRecord, what, d.off)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || d.left() < 1 {
		d.fail("truncated byte")
		return 0
	}
	d.off++
	return d.b[d.off-1]
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	if n > 1 && d.b[d.off+n-1] == 0 {
		d.fail("non-minimal uvarint")
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) bytes(n int) []byte {
	if d.err != nil || n < 0 || d.left() < n {
		d.fail("truncated field")
		return nil
	}
	d.off += n
	return d.b[d.off-n : d.off : d.off]
}

// count reads an entry count and checks that that many entries of at least
// minSize bytes fit in what is left, so that no allocation or loop is
// driven by an unchecked number.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(d.left()/minSize) {
		d.fail(fmt.Sprintf("count %d too large", n))
	}
	if d.err != nil {
		return 0
	}
	return int(n)
}
