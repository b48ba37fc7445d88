package replicate

import (
	"context"
	"fmt"
	"time"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/wire"
	"github.com/codrive/codrive/sdk"
)

// complete ends request id with err: the peer answered NODATA, or we
// gave up on it.
func (p *peer) complete(ch *channel, id uint64, err error) error {
	p.mu.Lock()
	req := ch.pending[id]
	if req == nil {
		never := id == 0 || id > ch.nextReq
		p.mu.Unlock()
		if never {
			return fmt.Errorf("%w: NODATA for request %d, which was never made", ErrProtocol, id)
		}
		return nil
	}
	delete(ch.pending, id)
	ch.requested.SetRange(req.start, req.end, false)
	ch.signalFreed()
	p.mu.Unlock()
	req.done <- err
	return nil
}

// startRequest registers and sends a request; p.mu is held and ch is
// open on both sides. local is the feed's head, read before taking p.mu.
func (p *peer) startRequest(ch *channel, start, end uint64, local sdk.Head) (uint64, *request) {
	ch.nextReq++
	id := ch.nextReq
	req := &request{start: start, end: end, done: make(chan error, 1)}
	ch.pending[id] = req
	ch.requested.SetRange(start, end, true)
	var from uint64
	if local.Length < ch.remoteHead.Length || ch.remoteHead.Fork > local.Fork {
		from = local.Length
	}
	p.push(p.encode(ch.localID, &wire.Request{ID: id, Start: start, End: end, UpgradeFrom: from}), false)
	return id, req
}

// request asks the peer for [start, end) and waits for the answer to be
// stored. It waits first for room among the channel's pending requests,
// so that the peer never has more than maxInflight of ours to answer.
func (p *peer) request(ctx context.Context, ch *channel, start, end uint64) error {
	timer := time.NewTimer(p.r.cfg.RequestTimeout)
	defer timer.Stop()
	timeout := func() error {
		return fmt.Errorf("peer %s did not answer within %s: %w", p.key, p.r.cfg.RequestTimeout, ErrNotAvailable)
	}
	local := ch.s.f.Head()
	p.mu.Lock()
	for {
		switch {
		case isDone(p.done):
			p.mu.Unlock()
			return fmt.Errorf("connection to %s: %w", p.key, ErrClosed)
		case ch.closed || ch.remoteID == 0:
			p.mu.Unlock()
			return fmt.Errorf("peer %s: %w: the channel is closed", p.key, ErrNotAvailable)
		}
		if len(ch.pending) < maxInflight {
			break
		}
		if ch.freed == nil {
			ch.freed = make(chan struct{})
		}
		freed := ch.freed
		ch.waiting++
		p.mu.Unlock()
		var err error
		select {
		case <-freed:
		case <-p.done:
		case <-ctx.Done():
			err = ctx.Err()
		case <-timer.C:
			err = timeout()
		}
		p.mu.Lock()
		ch.waiting--
		if err != nil {
			p.mu.Unlock()
			return err
		}
	}
	id, req := p.startRequest(ch, start, end, local)
	p.mu.Unlock()

	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		p.cancel(ch, id)
		return ctx.Err()
	case <-timer.C:
		p.cancel(ch, id)
		return timeout()
	}
}

func (p *peer) cancel(ch *channel, id uint64) {
	p.complete(ch, id, context.Canceled)
	p.sendOn(ch, &wire.Cancel{ID: id})
}

// requestSize is how many blocks a download asks for at once: about
// requestBytes, from the average block size of the feed's signed head.
func requestSize(f *feed.Feed) uint64 {
	n := f.Length()
	if n == 0 {
		return requestBlocks
	}
	avg := f.ByteLength() / n
	if avg == 0 {
		return requestBlocks
	}
	return min(max(requestBytes/avg, 1), requestBlocks)
}

// pumpSoon runs pump in a goroutine of its own, for the reading path:
// pump reads the feed's state, and its lock may be held through a storage
// sync. Calls made while one is waiting to run are folded into it.
func (p *peer) pumpSoon(ch *channel) {
	p.mu.Lock()
	queued := ch.pumpQueued
	ch.pumpQueued = true
	p.mu.Unlock()
	if queued {
		return
	}
	go func() {
		p.mu.Lock()
		ch.pumpQueued = false
		p.mu.Unlock()
		p.pump(ch)
	}()
}

// pump keeps a downloading channel busy: it requests the first blocks
// the peer has that we neither hold nor asked for, up to maxInflight
// requests, leaving room for Fetch calls that wait. Runs of held or
// requested blocks are skipped whole.
func (p *peer) pump(ch *channel) {
	f := ch.s.f
	if f == nil || !ch.s.opts.Download || f.Writable() || f.Evidence() != nil {
		return // nothing to fetch, or a forked feed that takes nothing more
	}
	held := rangeSet{r: f.Present()}
	size := requestSize(f)
	local := f.Head()
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch.closed || ch.remoteID == 0 || ch.rejected || ch.stale || isDone(p.done) {
		return
	}
	if ch.remoteHead.Fork > local.Fork {
		// The writer truncated: what we hold may not be part of the new
		// fork, and the first answer replaces it, so ask as if we held
		// nothing.
		held = rangeSet{}
	}
	limit := ch.remoteHead.Length
	next := uint64(0)
	for len(ch.pending)+ch.waiting < maxInflight && next < limit {
		r, ok := ch.remoteHave.next(next)
		if !ok || r.Start >= limit {
			return
		}
		start := r.Start
		if h, ok := held.containing(start); ok {
			next = h.End
			continue
		}
		if ch.requested.Get(start) {
			next, _ = ch.requested.NextClear(start)
			continue
		}
		end := min(r.End, limit, held.startAfter(start))
		if end-start > size {
			end = start + size
		}
		if s, ok := ch.requested.NextSet(start); ok && s < end {
			end = s
		}
		p.startRequest(ch, start, end, local)
		next = end
	}
}

// available returns our channel for dk and the end of the run of blocks
// from start, up to end, that the peer announced, if it announced start.
// unsettled reports whether the peer may still announce block of the
// feed: its channel is open on our side, and the peer has neither
// rejected it nor said what it holds up to that block.
func (p *peer) unsettled(dk sdk.DiscoveryKey, block uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.local[dk]
	if ch == nil || ch.rejected || ch.closed {
		return false
	}
	// Not heard from yet, or not yet as far as block: a block a writer
	// has just appended is announced a moment after entries that point
	// at it may have arrived through another feed.
	return !ch.heard || ch.remoteHead.Length <= block
}

func (p *peer) available(dk sdk.DiscoveryKey, start, end uint64) (*channel, uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.local[dk]
	if ch == nil || ch.rejected || ch.remoteID == 0 || ch.stale {
		return nil, 0
	}
	r, ok := ch.remoteHave.containing(start)
	if !ok {
		return nil, 0
	}
	return ch, min(r.End, end)
}
