// Package disk is a crash-safe sdk.Storage that keeps each feed in an
// append-only log file.
//
// Every Write appends one self-checking record holding the whole batch,
// with a single write call, and by default syncs it before returning (see
// [SyncPolicy]). Open replays each log into an in-memory index: where every
// block's data lies in the file, every tree node, the head, the present
// ranges and the evidence. Blocks are read back from the file with pread;
// nodes are served from memory.
//
// A crash can leave the last record of a log torn, and Open cuts it off,
// so the storage always reopens in the state some prefix of the
// acknowledged batches left, and under SyncEveryBatch with every
// acknowledged batch. Damage anywhere else in a log, such as bit rot in
// synced data, is never silently cut off under SyncEveryBatch: the feed
// fails to load with an error wrapping sdk.ErrCorrupt that says where the
// damage is, the file is left untouched, and the other feeds are
// unaffected. Under SyncNone, where a machine crash can leave a damaged
// record before good ones, Open cuts the log at the first damaged record
// instead. The Recovery section below gives the exact rules and what an
// operator can do.
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
// evidence. Any change to this format must change the version number.
//
// # Recovery
//
// A reader stops at the first bad record: one that is cut short by the end
// of the file, fails its checksum or does not decode exactly as above. The
// bad record is a torn tail, which a crash during the last write can
// leave, if
//
//   - fewer bytes than a record prefix are left;
//   - its length runs past the end of the file;
//   - it ends exactly at the end of the file; or
//   - every byte from its start to the end of the file is zero (the
//     sectors of a lost write can read back as zeros).
//
// Open truncates the file at a torn tail, with a warning to the logger.
//
// Any other bad record has data after it. Under SyncEveryBatch no crash
// leaves one, since every record is synced before the next is written:
// the log was damaged after the fact, and cutting it would discard
// acknowledged batches. So Open leaves the file exactly as it is and the
// feed fails to load, with an error to the logger. The feed is listed by
// Feeds and can be deleted; its other operations fail with an error
// wrapping sdk.ErrCorrupt, such as
//
//	log <path> is corrupt at byte 12345 (record checksum mismatch) with 6789 more bytes after it; the file was left untouched
//
// where 12345 is the offset of the bad record; the error stays until the
// file is dealt with. With the storage closed, an operator can move the
// file aside, keeping it (and the feed's secret key, if it has one) for
// inspection while the feed is fetched again from elsewhere; or truncate
// the file to that many bytes, keeping the batches before the bad record
// and losing it and every batch after it. Deleting the feed deletes the
// file.
//
// Under SyncNone a machine crash can persist later pages of a log before
// earlier ones, so Open truncates the file at any bad record, with a
// warning, keeping the state of the batches before it.
//
// The policy in effect at Open decides, since a log does not record the
// policy it was written under. A log written under SyncNone that a machine
// crash left damaged before its end fails to load under SyncEveryBatch;
// opening it once under SyncNone cuts it back to a prefix of its batches,
// as SyncNone promises.
package disk
