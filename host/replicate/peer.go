package replicate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/codrive/codrive/host/bitfield"
	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/host/wire"
	"github.com/codrive/codrive/sdk"
)

// Outgoing bytes wait in one queue per connection. Messages produced by
// reading (replies, announcements) never wait for room, so reading never
// stalls on writing and two peers can't deadlock each other; if a peer
// lets queueLimit bytes pile up it is not reading and is disconnected.
// Proofs, the only large messages, wait while the queue holds more than
// dataLimit bytes: that is the backpressure a slow reader exerts.
const (
	queueLimit = 32 << 20
	dataLimit  = 4 << 20
)

// ErrProtocol marks a peer that broke the protocol; its connection is
// closed and nothing it sent in the offending message is kept.
var ErrProtocol = errors.New("protocol error")

// peer is one connection's session.
type peer struct {
	r    *Replicator
	conn *secure.Conn
	key  sdk.PeerKey

	// The outgoing queue.
	qmu     sync.Mutex
	qcond   *sync.Cond
	queue   [][]byte
	queued  int
	qdone   bool
	written chan struct{} // closed when the writer has sent its last message

	// Requests from the peer, served one at a time off the reading path.
	serve chan servedRequest

	mu        sync.Mutex
	nextLocal uint64
	local     map[sdk.DiscoveryKey]*channel // channels by discovery key
	remote    map[uint64]*channel           // the same, by the peer's id
	refused   map[uint64]bool               // the peer's channels we rejected
	done      chan struct{}
	err       error
}

// channel is one feed shared with the peer.
type channel struct {
	s        *served
	localID  uint64
	remoteID uint64 // 0 until the peer opens its side
	rejected bool

	remoteHead    sdk.Head // fork and length the peer announced
	remoteHave    bitfield.Bitfield
	announced     bitfield.Bitfield // blocks we told the peer about
	announcedFork uint64            // the fork those blocks belong to
	requested     bitfield.Bitfield // blocks we asked the peer for
	nextReq       uint64
	pending       map[uint64]*request
}

type request struct {
	start, end uint64
	done       chan error // buffered: the answer never blocks the reader
}

type servedRequest struct {
	ch  *channel
	req wire.Request
}

func newPeer(r *Replicator, sc *secure.Conn) *peer {
	p := &peer{
		r: r, conn: sc, key: sc.RemoteKey(),
		serve:   make(chan servedRequest, maxInflight),
		local:   make(map[sdk.DiscoveryKey]*channel),
		remote:  make(map[uint64]*channel),
		refused: make(map[uint64]bool),
		done:    make(chan struct{}),
		written: make(chan struct{}),
	}
	p.qcond = sync.NewCond(&p.qmu)
	return p
}

// initiatorKey is the key of the host that dialed this connection.
func (p *peer) initiatorKey() sdk.PeerKey {
	if p.conn.Initiator() {
		return p.r.cfg.Identity.PublicKey()
	}
	return p.key
}

// preferredOver reports whether p should replace old as the connection to
// the same peer: both hosts keep the connection dialed by the smaller
// key, and a newer connection dialed by the same host replaces an older
// one (a reconnect).
func (p *peer) preferredOver(old *peer) bool {
	a, b := p.initiatorKey(), old.initiatorKey()
	return bytes.Compare(a[:], b[:]) <= 0
}

// run serves the connection until it ends.
func (p *peer) run() error {
	go p.writeLoop()
	go p.serveLoop()
	err := p.readLoop()
	p.fail(err)
	<-p.done
	return p.err
}

func (p *peer) readLoop() error {
	for {
		body, err := p.conn.ReadMessage()
		if err != nil {
			return err
		}
		ch, m, err := wire.Decode(body, p.conn.Shared("zstd"))
		if err != nil {
			return fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		if err := p.handle(ch, m); err != nil {
			return err
		}
	}
}

// fail ends the session: a protocol error is told to the peer first.
func (p *peer) fail(err error) {
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		return
	default:
	}
	p.err = err
	pending := p.pendingRequests()
	close(p.done)
	p.mu.Unlock()

	if errors.Is(err, ErrProtocol) || errors.Is(err, ErrDuplicate) {
		p.r.cfg.Logger.Warn("closing connection", "peer", p.key, "error", err)
		body, _ := wire.Append(nil, 0, &wire.Error{Reason: truncate(err.Error(), 1024)}, false)
		p.enqueueFinal(body)
		// Give the reason a moment to go out; a peer that does not read
		// does not get to hold the connection open.
		select {
		case <-p.written:
		case <-time.After(time.Second):
		}
	} else {
		p.closeQueue()
	}
	p.conn.Close()
	for _, req := range pending {
		req.done <- fmt.Errorf("connection to %s closed: %w", p.key, err)
	}
}

// pendingRequests takes every outstanding request; p.mu is held.
func (p *peer) pendingRequests() []*request {
	var out []*request
	for _, ch := range p.local {
		for id, req := range ch.pending {
			out = append(out, req)
			delete(ch.pending, id)
		}
	}
	return out
}

// send queues a message without waiting for room.
func (p *peer) send(channel uint64, m wire.Message) {
	compress := false
	if _, isData := m.(*wire.Data); isData {
		compress = p.conn.Shared("zstd")
	}
	body, err := wire.Append(nil, channel, m, compress)
	if err != nil {
		// Only a bug of ours makes a message the wire refuses.
		p.r.cfg.Logger.Error("message not sent", "peer", p.key, "type", m.Type(), "error", err)
		return
	}
	p.qmu.Lock()
	defer p.qmu.Unlock()
	if p.qdone {
		return
	}
	if p.queued+len(body) > queueLimit {
		go p.fail(fmt.Errorf("%w: the peer stopped reading (%d bytes queued)", ErrProtocol, p.queued))
		return
	}
	p.queue = append(p.queue, body)
	p.queued += len(body)
	p.qcond.Signal()
}

// sendData queues a proof, waiting while the queue is full.
func (p *peer) sendData(channel uint64, m *wire.Data) {
	p.qmu.Lock()
	for p.queued > dataLimit && !p.qdone {
		p.qcond.Wait()
	}
	p.qmu.Unlock()
	p.send(channel, m)
}

// enqueueFinal queues a last message and ends the queue after it.
func (p *peer) enqueueFinal(body []byte) {
	p.qmu.Lock()
	if !p.qdone {
		p.queue = append(p.queue, body)
		p.queued += len(body)
	}
	p.qdone = true
	p.qcond.Broadcast()
	p.qmu.Unlock()
}

func (p *peer) closeQueue() {
	p.qmu.Lock()
	p.qdone = true
	p.queue, p.queued = nil, 0
	p.qcond.Broadcast()
	p.qmu.Unlock()
}

// writeLoop writes queued messages, flushing whenever the queue runs dry.
func (p *peer) writeLoop() {
	defer close(p.written)
	for {
		p.qmu.Lock()
		for len(p.queue) == 0 && !p.qdone {
			p.qcond.Wait()
		}
		batch := p.queue
		p.queue = nil
		last := p.qdone
		p.qmu.Unlock()
		for _, body := range batch {
			if err := p.conn.WriteMessage(body); err != nil {
				go p.fail(err)
				return
			}
			p.qmu.Lock()
			p.queued -= len(body)
			p.qcond.Broadcast()
			p.qmu.Unlock()
		}
		if err := p.conn.Flush(); err != nil {
			go p.fail(err)
			return
		}
		if last {
			return
		}
	}
}

// serveLoop answers the peer's requests one at a time.
func (p *peer) serveLoop() {
	for {
		select {
		case <-p.done:
			return
		case sr := <-p.serve:
			p.answer(sr.ch, sr.req)
		}
	}
}

// answer sends a proof of the requested blocks, or of the longest prefix
// of them that fits in one message (large blocks), or NODATA.
func (p *peer) answer(ch *channel, req wire.Request) {
	f := ch.s.f
	for {
		proof, err := f.Proof(context.Background(), feed.ProofRequest{Start: req.Start, End: req.End, UpgradeFrom: req.UpgradeFrom})
		if err != nil {
			// Not held, or past our length after a truncation: not the
			// peer's fault.
			p.send(ch.localID, &wire.NoData{ID: req.ID})
			return
		}
		enc := feed.AppendProof(nil, proof)
		if len(enc) <= maxProofBytes || req.End-req.Start <= 1 {
			p.sendData(ch.localID, &wire.Data{ID: req.ID, Proof: enc})
			return
		}
		req.End = req.Start + (req.End-req.Start)/2
	}
}

// maxProofBytes leaves room in a message for the DATA header.
const maxProofBytes = wire.MaxBodySize - 64

// open opens our side of the channel for s, if not open yet, and tells
// the peer what we hold.
func (p *peer) open(s *served) *channel {
	dk := s.dkey
	p.mu.Lock()
	if ch := p.local[dk]; ch != nil {
		p.mu.Unlock()
		return ch
	}
	p.nextLocal++
	ch := &channel{s: s, localID: p.nextLocal, pending: make(map[uint64]*request)}
	p.local[dk] = ch
	p.mu.Unlock()

	p.sendOpen(ch)
	return ch
}

// sendOpen sends our OPEN for ch and what we hold: the group's feeds, or
// the feed's head and blocks.
func (p *peer) sendOpen(ch *channel) {
	s := ch.s
	p.send(0, &wire.Open{ID: ch.localID, Kind: s.kind, DiscoveryKey: s.dkey,
		Capability: wire.Capability(s.key, p.conn.HandshakeHash(), p.conn.Initiator())})
	if s.group != nil {
		if keys := s.group.Feeds(); len(keys) > 0 {
			p.send(ch.localID, &wire.Feeds{Keys: keys})
		}
	} else {
		p.announce(s)
	}
}

// announce sends the feed's head and the blocks not announced yet.
func (p *peer) announce(s *served) {
	p.mu.Lock()
	ch := p.local[s.dkey]
	if ch == nil {
		p.mu.Unlock()
		return
	}
	head := s.f.Head()
	if head.Fork != ch.announcedFork {
		// After a truncation the blocks announced before may be gone or
		// replaced: announce everything again.
		ch.announced, ch.announcedFork = bitfield.Bitfield{}, head.Fork
	}
	var fresh []sdk.Range
	for _, r := range s.f.Present() {
		for i := r.Start; i < r.End; {
			if ch.announced.Get(i) {
				next, ok := ch.announced.NextClear(i)
				if !ok || next >= r.End {
					break
				}
				i = next
				continue
			}
			end, ok := ch.announced.NextSet(i)
			if !ok || end > r.End {
				end = r.End
			}
			fresh = append(fresh, sdk.Range{Start: i, End: end})
			ch.announced.SetRange(i, end, true)
			i = end
		}
	}
	p.mu.Unlock()
	p.send(ch.localID, &wire.Sync{Fork: head.Fork, Length: head.Length})
	if len(fresh) > 0 {
		p.send(ch.localID, &wire.Have{Ranges: fresh})
	}
}

func (p *peer) closeChannel(dk sdk.DiscoveryKey) {
	p.mu.Lock()
	ch := p.local[dk]
	delete(p.local, dk)
	if ch != nil && ch.remoteID != 0 {
		delete(p.remote, ch.remoteID)
	}
	p.mu.Unlock()
	if ch != nil {
		p.send(0, &wire.Close{ID: ch.localID})
	}
}

// has returns our channel for dk if the peer announced every block of
// [start, end) on it.
func (p *peer) has(dk sdk.DiscoveryKey, start, end uint64) (*channel, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ch := p.local[dk]
	if ch == nil || ch.rejected || ch.remoteID == 0 || !ch.remoteHave.HasRange(start, end) {
		return nil, false
	}
	return ch, true
}

// handle processes one message from the peer.
func (p *peer) handle(id uint64, m wire.Message) error {
	if id == 0 {
		return p.handleControl(m)
	}
	p.mu.Lock()
	ch, refused := p.remote[id], p.refused[id]
	p.mu.Unlock()
	if refused {
		return nil // the announcements that follow an OPEN we rejected
	}
	if ch == nil {
		return fmt.Errorf("%w: message on channel %d, which the peer did not open", ErrProtocol, id)
	}
	if ext, ok := m.(*wire.Extension); ok {
		p.r.deliverExtension(ch.s.dkey, ext.Name, p.key, ext.Message)
		return nil
	}
	if ch.s.group != nil {
		return p.handleGroup(ch, m)
	}
	switch m := m.(type) {
	case *wire.Sync:
		p.mu.Lock()
		if m.Fork != ch.remoteHead.Fork {
			// What the peer announced belongs to its previous fork; it
			// announces again.
			ch.remoteHave = bitfield.Bitfield{}
		}
		ch.remoteHead = sdk.Head{Fork: m.Fork, Length: m.Length}
		p.mu.Unlock()
		p.pump(ch)
	case *wire.Have:
		p.mu.Lock()
		for _, r := range m.Ranges {
			ch.remoteHave.SetRange(r.Start, r.End, true)
		}
		p.mu.Unlock()
		p.pump(ch)
	case *wire.Request:
		select {
		case p.serve <- servedRequest{ch: ch, req: *m}:
		default:
			p.send(ch.localID, &wire.NoData{ID: m.ID}) // over the in-flight limit
		}
	case *wire.Data:
		return p.receive(ch, m)
	case *wire.NoData:
		p.complete(ch, m.ID, fmt.Errorf("peer %s: %w", p.key, ErrNotAvailable))
	case *wire.Cancel:
		// Requests are answered quickly and in order; a cancelled one is
		// simply answered anyway and ignored by the requester.
	default:
		return fmt.Errorf("%w: %T on a feed channel", ErrProtocol, m)
	}
	return nil
}

// handleGroup processes a message on a group channel.
func (p *peer) handleGroup(ch *channel, m wire.Message) error {
	switch m := m.(type) {
	case *wire.Feeds:
		ch.s.group.AddFeeds(p.key, m.Keys)
	default:
		return fmt.Errorf("%w: %T on a group channel", ErrProtocol, m)
	}
	return nil
}

func (p *peer) handleControl(m wire.Message) error {
	switch m := m.(type) {
	case *wire.Open:
		s := p.r.served(m.DiscoveryKey)
		if s != nil && s.kind != m.Kind {
			s = nil // a feed and a group never share a key
		}
		if s == nil {
			p.mu.Lock()
			p.refused[m.ID] = true
			p.mu.Unlock()
			p.send(0, &wire.Reject{DiscoveryKey: m.DiscoveryKey})
			return nil
		}
		if !wire.VerifyCapability(s.key, p.conn.HandshakeHash(), !p.conn.Initiator(), m.Capability) {
			return fmt.Errorf("%w: bad capability for %s", ErrProtocol, m.DiscoveryKey)
		}
		ch := p.open(s)
		p.mu.Lock()
		if old := ch.remoteID; old != 0 {
			delete(p.remote, old)
		}
		wasRejected := ch.rejected
		ch.remoteID, ch.rejected = m.ID, false
		p.remote[m.ID] = ch
		delete(p.refused, m.ID)
		if wasRejected {
			// The peer rejected our OPEN before it served this key and
			// ignored what followed: open again and announce it all.
			ch.announced = bitfield.Bitfield{}
		}
		p.mu.Unlock()
		if wasRejected {
			p.sendOpen(ch)
		}
	case *wire.Close:
		p.mu.Lock()
		ch := p.remote[m.ID]
		delete(p.remote, m.ID)
		var pending []*request
		if ch != nil {
			ch.remoteID = 0
			for id, req := range ch.pending {
				pending = append(pending, req)
				delete(ch.pending, id)
			}
		}
		p.mu.Unlock()
		for _, req := range pending {
			req.done <- fmt.Errorf("peer %s closed the channel: %w", p.key, ErrNotAvailable)
		}
	case *wire.Reject:
		p.mu.Lock()
		if ch := p.local[m.DiscoveryKey]; ch != nil {
			ch.rejected = true
		}
		p.mu.Unlock()
	case *wire.Error:
		return fmt.Errorf("peer %s closed the connection: %s", p.key, m.Reason)
	default:
		return fmt.Errorf("%w: %T on the control channel", ErrProtocol, m)
	}
	return nil
}

// receive verifies and stores a proof the peer sent.
func (p *peer) receive(ch *channel, m *wire.Data) error {
	p.mu.Lock()
	req := ch.pending[m.ID]
	delete(ch.pending, m.ID)
	p.mu.Unlock()
	if req == nil {
		return nil // cancelled or timed out: not the peer's fault
	}
	proof, err := feed.DecodeProof(m.Proof)
	if err != nil {
		err = fmt.Errorf("%w: %v", ErrProtocol, err)
		req.done <- err
		return err
	}
	err = ch.s.f.Put(context.Background(), proof)
	switch {
	case err == nil:
	case errors.Is(err, feed.ErrBadProof), errors.Is(err, feed.ErrBadSignature):
		err = fmt.Errorf("%w: %v", ErrProtocol, err)
		req.done <- err
		return err
	default:
		// Stale, forked or a local storage error: not the peer's fault.
		var fork *feed.ForkError
		if errors.As(err, &fork) {
			p.r.reportFork(ch.s, fork)
		} else {
			p.r.cfg.Logger.Debug("proof not stored", "peer", p.key, "feed", ch.s.f.Key(), "error", err)
		}
	}
	// Whatever the answer covered is held now; the rest (an answer may
	// cover a prefix only) can be asked for again.
	p.mu.Lock()
	ch.requested.SetRange(req.start, req.end, false)
	p.mu.Unlock()
	req.done <- err
	p.pump(ch)
	return nil
}

func (p *peer) complete(ch *channel, id uint64, err error) {
	p.mu.Lock()
	req := ch.pending[id]
	delete(ch.pending, id)
	if req != nil {
		ch.requested.SetRange(req.start, req.end, false)
	}
	p.mu.Unlock()
	if req != nil {
		req.done <- err
	}
}

// startRequest registers and sends a request; p.mu is held.
func (p *peer) startRequest(ch *channel, start, end uint64) *request {
	ch.nextReq++
	req := &request{start: start, end: end, done: make(chan error, 1)}
	ch.pending[ch.nextReq] = req
	ch.requested.SetRange(start, end, true)
	var from uint64
	if l := ch.s.f.Length(); l < ch.remoteHead.Length || ch.remoteHead.Fork > ch.s.f.Head().Fork {
		from = l
	}
	p.send(ch.localID, &wire.Request{ID: ch.nextReq, Start: start, End: end, UpgradeFrom: from})
	return req
}

// request asks the peer for [start, end) and waits for the answer.
func (p *peer) request(ctx context.Context, ch *channel, start, end uint64) error {
	p.mu.Lock()
	select {
	case <-p.done:
		p.mu.Unlock()
		return fmt.Errorf("connection to %s: %w", p.key, ErrClosed)
	default:
	}
	req := p.startRequest(ch, start, end)
	id := ch.nextReq
	p.mu.Unlock()

	timer := time.NewTimer(p.r.cfg.RequestTimeout)
	defer timer.Stop()
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		p.cancel(ch, id)
		return ctx.Err()
	case <-timer.C:
		p.cancel(ch, id)
		return fmt.Errorf("peer %s did not answer within %s: %w", p.key, p.r.cfg.RequestTimeout, ErrNotAvailable)
	}
}

func (p *peer) cancel(ch *channel, id uint64) {
	p.complete(ch, id, context.Canceled)
	p.send(ch.localID, &wire.Cancel{ID: id})
}

// pump keeps a downloading channel busy: it requests the first blocks
// the peer has that we neither hold nor asked for, up to maxInflight
// requests. Runs of held or requested blocks are skipped whole.
func (p *peer) pump(ch *channel) {
	f := ch.s.f
	if f == nil || !ch.s.opts.Download || f.Writable() || f.Evidence() != nil {
		return // nothing to fetch, or a forked feed that takes nothing more
	}
	held := bitfield.FromRanges(f.Present())
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch.remoteID == 0 || ch.rejected {
		return
	}
	if ch.remoteHead.Fork > f.Head().Fork {
		// The writer truncated: what we hold may not be part of the new
		// fork, and the first answer replaces it, so ask as if we held
		// nothing.
		held = &bitfield.Bitfield{}
	}
	limit := ch.remoteHead.Length
	next := uint64(0)
	for len(ch.pending) < maxInflight && next < limit {
		start, ok := ch.remoteHave.NextSet(next)
		if !ok || start >= limit {
			return
		}
		if held.Get(start) {
			next, _ = held.NextClear(start)
			continue
		}
		if ch.requested.Get(start) {
			next, _ = ch.requested.NextClear(start)
			continue
		}
		end := start + 1
		for end < limit && end-start < requestBlocks && ch.remoteHave.Get(end) && !held.Get(end) && !ch.requested.Get(end) {
			end++
		}
		p.startRequest(ch, start, end)
		next = end
	}
}

// truncate cuts s to at most n bytes, for reasons sent to peers.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// localChannel returns our channel for dk, open or not on the peer's side.
func (p *peer) localChannel(dk sdk.DiscoveryKey) *channel {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.local[dk]
}

// openChannel returns our channel for dk if the peer has opened its side.
func (p *peer) openChannel(dk sdk.DiscoveryKey) *channel {
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch := p.local[dk]; ch != nil && ch.remoteID != 0 {
		return ch
	}
	return nil
}
