// Package disk is a crash-safe sdk.Storage that keeps each feed in an
// append-only log file.
//
// Every Write appends one self-checking record holding the whole batch,
// with a single write call, and by default syncs it before returning (see
// [SyncPolicy]). Open replays each log into an in-memory index: where every
// block's data lies in the file, every tree node, the head, the present
// ranges and the evidence. Blocks are read back from the file with pread;
// nodes are served from memory. A record that a crash left incomplete, or
// that fails its checksum, ends the log: Open cuts the file back to the
// last good record, so the storage always reopens in the state some prefix
// of the acknowledged batches left, and under SyncEveryBatch with every
// acknowledged batch.
//
// Memory per feed is about 16 bytes per stored block and 40 per stored
// node, in pages of 512 entries, so a sparse feed costs in proportion to
// what it holds, not to its highest index. Each feed keeps one open file
// descriptor. Open reads every log in full, so it takes time in proportion
// to the data stored, and space overwritten by later batches (replaced
// blocks, truncated forks) is reclaimed only by Delete.
//
// # Directory layout
//
//	<dir>/LOCK                         flock'ed by the open Storage; holds its pid
//	<dir>/feeds/<kk>/<key>.log         the log of one feed
//	<dir>/feeds/<kk>/<key>.log.tmp     a Create in progress; removed by Open
//
// <key> is the feed key in 64 lowercase hex digits and <kk> its first two.
// Directories are created with mode 0700 and files with 0600, since logs
// hold secret keys. Open ignores other names.
//
// # Feed log format, version 1
//
// Integers are little-endian; uvarint is the unsigned varint of
// encoding/binary, in its shortest form; CRC-32C is the CRC-32 with the
// Castagnoli polynomial (hash/crc32.Castagnoli).
//
// A log is a 116-byte header followed by records, back to back, to the end
// of the file. The header:
//
//	offset  size  field
//	0       8     magic "CDRVFEED"
//	8       4     format version, 1
//	12      4     flags: bit 0 is set if the feed has a secret key; others are 0
//	16      32    public key (the feed key; it must match the file name)
//	48      64    ed25519 secret key, or zeros without one
//	112     4     CRC-32C of bytes 0 to 111
//
// A header is written to a temporary file, synced and renamed into place,
// so a damaged header is never a torn write: the feed fails to load with
// an error wrapping sdk.ErrCorrupt and its file is left alone.
//
// A record:
//
//	offset  size  field
//	0       4     n, the payload length, at most 2^30
//	4       4     CRC-32C of bytes 0 to 3 followed by the payload
//	8       n     payload
//
// The payload encodes one sdk.Batch:
//
//	byte      record type: 1 (batch)
//	byte      flags: 1 truncate, 2 head, 4 evidence; others are 0
//	uvarint   TruncateTo                       if flag 1
//	uvarint   b, the number of blocks
//	b times   uvarint index (< 2^63), uvarint data length (≤ sdk.MaxBlockSize)
//	          the data of the b blocks, concatenated in the same order
//	uvarint   m, the number of nodes
//	m times   uvarint index (< 2^64-1), uvarint size, 32-byte hash
//	uvarint   Head.Fork, uvarint Head.Length,
//	          64-byte Head.Signature           if flag 2
//	uvarint   length, then the evidence bytes  if flag 4
//
// and must end there. A log's state is that of applying its records in
// order, each by the rules of sdk.Batch: truncation, blocks, nodes, head,
// evidence. A reader stops at the first record that runs past the end of
// the file, fails its checksum or does not decode exactly as above; Open
// truncates the file there. Any change to this format must change the
// version number.
package disk
