package replicationtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/sdk"
)

// testFullDownload: a reader joining late downloads a writer's whole
// feed.
func testFullDownload(t *testing.T, h Harness) {
	a, b := newHost(t, h, "A"), newHost(t, h, "B")
	w := a.writer("FullDownload")
	appendBlocks(t, w, 0, 2000, 100, smallBlock)
	r := b.reader(w.Key(), true)
	b.connect(a)

	waitComplete(t, r, "the 2,000 blocks written before connecting", 2000)
	checkBlocks(t, r, 0, 2000, smallBlock)
	checkHead(t, w, r)
	verify(t, w, r)
}

// testLive: blocks a writer appends while a reader is connected reach
// the reader, one at a time as well as in batches.
func testLive(t *testing.T, h Harness) {
	a, b := newHost(t, h, "A"), newHost(t, h, "B")
	w := a.writer("Live")
	r := b.reader(w.Key(), true)
	b.connect(a)

	for i := range uint64(10) {
		appendBlocks(t, w, i, i+1, 1, smallBlock)
	}
	waitComplete(t, r, "10 blocks appended one by one after connecting", 10)
	for i := uint64(10); i < 1010; i += 100 {
		appendBlocks(t, w, i, i+100, 100, smallBlock)
	}
	waitComplete(t, r, "1,000 more blocks appended in batches", 1010)
	checkBlocks(t, r, 0, 1010, smallBlock)
	checkHead(t, w, r)
	verify(t, w, r)
}

// testSparseFetch: a sparse reader holds exactly the ranges it fetched.
func testSparseFetch(t *testing.T, h Harness) {
	a, b := newHost(t, h, "A"), newHost(t, h, "B")
	w := a.writer("SparseFetch")
	appendBlocks(t, w, 0, 1000, 100, smallBlock)
	r := b.reader(w.Key(), false)
	b.connect(a)

	b.fetch(w.Key(), 400, 600)
	checkPresent(t, r, []sdk.Range{{Start: 400, End: 600}})
	checkBlocks(t, r, 400, 600, smallBlock)

	// A range overlapping what is held, and one at the end.
	b.fetch(w.Key(), 550, 650)
	b.fetch(w.Key(), 900, 1000)
	checkPresent(t, r, []sdk.Range{{Start: 400, End: 650}, {Start: 900, End: 1000}})
	checkBlocks(t, r, 400, 650, smallBlock)
	checkBlocks(t, r, 900, 1000, smallBlock)
	if r.Length() != w.Length() {
		t.Errorf("the replica's length is %d after fetching, the writer's %d", r.Length(), w.Length())
	}
	verify(t, w, r)
}

// testFetchNotAvailable: Fetch of blocks no connected peer has fails at
// once with ErrNotAvailable and stores nothing, whether there are no
// peers, the blocks are past the writer's length, the peer does not
// replicate the feed, or the peer holds other parts of it only.
func testFetchNotAvailable(t *testing.T, h Harness) {
	a := newHost(t, h, "A")
	w := a.writer("FetchNotAvailable")
	appendBlocks(t, w, 0, 100, 100, smallBlock)

	t.Run("NoPeers", func(t *testing.T) {
		lone := newHost(t, h, "lone")
		r := lone.reader(w.Key(), false)
		lone.fetchNotAvailable(t, r, 0, 1)
	})

	// B holds block 0 of the feed, fetched from the writer.
	b := newHost(t, h, "B")
	rb := b.reader(w.Key(), false)
	b.connect(a)
	b.fetch(w.Key(), 0, 1)

	t.Run("PastTheEnd", func(t *testing.T) {
		b.fetchNotAvailable(t, rb, 100, 101)
		b.fetchNotAvailable(t, rb, 150, 160)
		b.fetchNotAvailable(t, rb, 99, 101)
	})

	t.Run("FeedNotReplicated", func(t *testing.T) {
		c, d := newHost(t, h, "C"), newHost(t, h, "D")
		c.writer("FetchNotAvailable/another feed")
		rd := d.reader(w.Key(), false)
		d.connect(c)
		d.fetchNotAvailable(t, rd, 0, 1)
	})

	t.Run("PeerHoldsOtherBlocks", func(t *testing.T) {
		e := newHost(t, h, "E")
		re := e.reader(w.Key(), false)
		e.connect(b) // not to A: B holds block 0 only
		e.fetch(w.Key(), 0, 1)
		checkBlocks(t, re, 0, 1, smallBlock)
		e.fetchNotAvailable(t, re, 50, 60)
		e.fetchNotAvailable(t, re, 0, 2)
		verify(t, re)
	})

	verify(t, w, rb)
}

// fetchNotAvailable checks that Fetch of [start, end) into f fails with
// ErrNotAvailable within promptly, leaving what f holds as it was.
func (hs *host) fetchNotAvailable(t *testing.T, f *feed.Feed, start, end uint64) {
	t.Helper()
	before := f.Present()
	ctx, cancel := context.WithTimeout(hs.ctx, promptly)
	defer cancel()
	err := hs.r.Fetch(ctx, f.Key(), start, end)
	switch {
	case err == nil:
		t.Errorf("host %s: Fetch [%d, %d) succeeded; want an error wrapping replicate.ErrNotAvailable", hs.name, start, end)
	case ctx.Err() != nil:
		t.Errorf("host %s: Fetch [%d, %d) was still waiting after %s (%v); want an error wrapping replicate.ErrNotAvailable at once", hs.name, start, end, promptly, err)
	case !errors.Is(err, replicate.ErrNotAvailable):
		t.Errorf("host %s: Fetch [%d, %d): %v; want an error wrapping replicate.ErrNotAvailable", hs.name, start, end, err)
	}
	if after := f.Present(); !slices.Equal(before, after) {
		t.Errorf("host %s: a failed Fetch [%d, %d) changed the blocks held from %v to %v", hs.name, start, end, before, after)
	}
}

// testChain: C downloads A's feed through B, which downloads it from A;
// C and A never meet. Live appends travel the chain too.
func testChain(t *testing.T, h Harness) {
	a, b, c := newHost(t, h, "A"), newHost(t, h, "B"), newHost(t, h, "C")
	w := a.writer("Chain")
	appendBlocks(t, w, 0, 1000, 100, smallBlock)
	rb := b.reader(w.Key(), true)
	rc := c.reader(w.Key(), true)
	b.connect(a)
	c.connect(b)

	waitComplete(t, rc, "the 1,000 blocks at C, through B", 1000)
	appendBlocks(t, w, 1000, 1200, 50, smallBlock)
	waitComplete(t, rc, "200 blocks appended at A, at C through B", 1200)
	waitComplete(t, rb, "200 blocks appended at A, at B", 1200)
	if c.hasPeer(a) || a.hasPeer(c) {
		t.Fatal("A and C are connected: the chain has a shortcut")
	}
	checkBlocks(t, rb, 0, 1200, smallBlock)
	checkBlocks(t, rc, 0, 1200, smallBlock)
	checkHead(t, w, rb, rc)
	verify(t, w, rb, rc)
}

// testTruncation: a full replica follows its writer's truncation, the
// blocks past the cut replaced by those appended after it, whether the
// writer grows past its old length or stays shorter.
func testTruncation(t *testing.T, h Harness) {
	for _, tc := range []struct {
		name      string
		newLength uint64 // after truncating to 50 and appending
	}{
		{name: "GrowsPastOldLength", newLength: 150},
		{name: "StaysShorter", newLength: 80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newHost(t, h, "A"), newHost(t, h, "B")
			w := a.writer("Truncation/" + tc.name)
			appendBlocks(t, w, 0, 100, 100, smallBlock)
			r := b.reader(w.Key(), true)
			b.connect(a)
			waitComplete(t, r, "the 100 blocks before the truncation", 100)

			if err := w.Truncate(t.Context(), 50); err != nil {
				t.Fatalf("Truncate: %v", err)
			}
			appendBlocks(t, w, 50, tc.newLength, 10, forkBlock)
			waitFor(t, r, "the writer's head after truncating", func() bool {
				return r.Head() == w.Head() && r.Has(0, tc.newLength)
			})
			checkBlocks(t, r, 0, 50, smallBlock)
			checkBlocks(t, r, 50, tc.newLength, forkBlock)
			verify(t, w, r)
		})
	}
}

// testLargeBlocks: a feed of 200 blocks of 64 KiB each, incompressible,
// downloads intact.
func testLargeBlocks(t *testing.T, h Harness) {
	a, b := newHost(t, h, "A"), newHost(t, h, "B")
	w := a.writer("LargeBlocks")
	appendBlocks(t, w, 0, 200, 20, largeBlock)
	r := b.reader(w.Key(), true)
	b.connect(a)

	waitComplete(t, r, "200 blocks of 64 KiB", 200)
	checkBlocks(t, r, 0, 200, largeBlock)
	checkHead(t, w, r)
	verify(t, w, r)
}

// smallBlock is block i of most test feeds: its index, then a
// compressible filler, up to 1,200 bytes in all; every 250th block is
// empty.
func smallBlock(i uint64) []byte {
	if i%250 == 249 {
		return []byte{}
	}
	b := fmt.Appendf(nil, "block %d:", i)
	for size := int(i * 37 % 1200); len(b) < size; {
		b = append(b, byte('a'+i%26))
	}
	return b
}

// forkBlock is block i appended after a truncation, different from
// smallBlock(i).
func forkBlock(i uint64) []byte {
	return fmt.Appendf(nil, "block %d after the truncation", i)
}

// largeBlock is block i of the large-block feed: 64 KiB of pseudo-random
// bytes, which do not compress.
func largeBlock(i uint64) []byte {
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], i)
	b := make([]byte, 64<<10)
	rand.NewChaCha8(seed).Read(b)
	return b
}

// appendBlocks appends blocks [from, to) of content to f, in batches of
// batch blocks.
func appendBlocks(t *testing.T, f *feed.Feed, from, to, batch uint64, content func(uint64) []byte) {
	t.Helper()
	for i := from; i < to; i += batch {
		var blocks [][]byte
		for j := i; j < min(i+batch, to); j++ {
			blocks = append(blocks, content(j))
		}
		if _, err := f.Append(t.Context(), blocks...); err != nil {
			t.Fatalf("Append blocks [%d, %d): %v", i, i+uint64(len(blocks)), err)
		}
	}
}

// checkBlocks compares blocks [start, end) of f with content.
func checkBlocks(t *testing.T, f *feed.Feed, start, end uint64, content func(uint64) []byte) {
	t.Helper()
	const chunk = 250
	for s := start; s < end; s += chunk {
		e := min(s+chunk, end)
		got, err := f.GetRange(t.Context(), s, e)
		if err != nil {
			t.Fatalf("GetRange(%d, %d): %v", s, e, err)
		}
		if uint64(len(got)) != e-s {
			t.Fatalf("GetRange(%d, %d) returned %d blocks", s, e, len(got))
		}
		for k, blk := range got {
			i := s + uint64(k)
			if want := content(i); !bytes.Equal(blk, want) {
				t.Fatalf("block %d is %d bytes %.40q, want %d bytes %.40q", i, len(blk), blk, len(want), want)
			}
		}
	}
}

// checkPresent checks the ranges f holds.
func checkPresent(t *testing.T, f *feed.Feed, want []sdk.Range) {
	t.Helper()
	if got := f.Present(); !slices.Equal(got, want) {
		t.Fatalf("the replica holds %v, want %v", got, want)
	}
}

// checkHead checks that each replica has the writer's head.
func checkHead(t *testing.T, w *feed.Feed, replicas ...*feed.Feed) {
	t.Helper()
	for _, r := range replicas {
		if r.Head() != w.Head() {
			t.Errorf("a replica's head is %+v, the writer's %+v", r.Head(), w.Head())
		}
	}
}
