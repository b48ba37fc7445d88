package replicate

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

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
// dataLimit bytes: that is the backpressure a slow reader exerts. What
// the application sends (extensions) is refused once the queue holds
// softLimit bytes, rather than making the peer look like it stopped
// reading.
const (
	queueLimit = 32 << 20
	dataLimit  = 4 << 20
	softLimit  = 16 << 20
)

// Sizes of the data that moves.
const (
	// answerBytes bounds the block bytes of one answer: a request for
	// more is answered with the longest prefix within it (at least one
	// block), found from the tree's node sizes before any block is read.
	answerBytes = 4 << 20
	// requestBytes is what a download asks for at once, in block bytes
	// estimated from the feed's average block size: under answerBytes,
	// so that answers are rarely cut, and small enough that two answers
	// merge into a write under mergeLimit.
	requestBytes = 2<<20 - 128<<10
	// ingestLimit bounds the bytes of received proofs waiting to be
	// verified and stored, per connection. Reading from the peer waits
	// while that much waits: the backpressure a slow disk exerts.
	ingestLimit = 32 << 20
	// mergeLimit bounds the bytes of consecutive answers stored with one
	// write. Fewer writes mean fewer syncs, but a disk storage reuses its
	// encoding buffers only up to 4 MiB and allocates (and clears) a new
	// one for anything larger, which cost more than the syncs saved
	// (measured with codrive bench replicate).
	mergeLimit = 4<<20 - 256<<10
	// ingestParallel is how many writes of one channel's answers may be
	// under way at once.
	ingestParallel = 2
)

// Bounds on what a peer can make a session remember.
const (
	// maxHaveRanges bounds the disjoint ranges of blocks remembered as
	// announced by the peer on one channel; past it the highest are
	// forgotten (they are then not asked of this peer).
	maxHaveRanges = 4096
	// maxRejected bounds the peer's channels opened for keys this host
	// does not serve, whose ids are remembered so that what follows the
	// OPEN is ignored. A peer that opens more is disconnected.
	maxRejected = 1 << 16
	// feedsPerMessage and rangesPerMessage cut long FEEDS and HAVE
	// announcements into messages well under the size limit.
	feedsPerMessage  = 4096
	rangesPerMessage = 1 << 16
)

// ErrProtocol marks a peer that broke the protocol; its connection is
// closed and nothing it sent in the offending message is kept.
var ErrProtocol = errors.New("protocol error")

// errBusy: the peer's queue is too full to take what the application
// sends.
var errBusy = errors.New("the peer is not reading fast enough")

// peer is one connection's session.
//
// Goroutines: the caller of run reads and handles messages; writeLoop
// writes the queue; serveLoop answers the peer's requests; an ingest
// goroutine per channel, while it has received proofs to store, has them
// verified and stored. So the network is read while the last answers are
// hashed and synced to disk. Locks: a channel's amu, then p.mu, then qmu.
// A feed's own lock is never waited for under p.mu: an ingest holds it
// through a storage sync, and reading must not stall behind that.
type peer struct {
	r    *Replicator
	conn *secure.Conn
	key  sdk.PeerKey
	zstd bool // both hellos listed it

	// The outgoing queue.
	qmu     sync.Mutex
	qcond   *sync.Cond
	queue   [][]byte
	queued  int
	qdone   bool
	written chan struct{} // closed when the writer has sent its last message

	mu        sync.Mutex
	nextLocal uint64
	local     map[sdk.DiscoveryKey]*channel // our open channels
	remote    map[uint64]*channel           // by the peer's id, including ours closed
	refused   map[uint64]bool               // the peer's channels we rejected
	// closedRemote: for a channel we closed while the peer's side stays
	// open, the peer's id, which the channel takes up again if the feed
	// is served again.
	closedRemote map[sdk.DiscoveryKey]uint64
	serveQ       []servedRequest // the peer's requests, answered in order
	serveWake    chan struct{}
	ingested     int        // bytes of received proofs waiting in ingest queues
	ingestCond   *sync.Cond // on mu: ingested went down, or done closed
	done         chan struct{}
	err          error
}

// channel is one feed or group shared with the peer.
type channel struct {
	// amu orders the announcements on the channel, which read the
	// feed's state before taking p.mu.
	amu sync.Mutex

	s        *served
	localID  uint64
	remoteID uint64 // 0 until the peer opens its side, proving the key
	rejected bool   // the peer answered our OPEN with REJECT
	closed   bool   // we closed it: nothing more is sent, the peer's side is ignored

	remoteHead sdk.Head // fork and length the peer announced
	remoteHave rangeSet
	// heard is set once the peer has said what it holds (a HAVE, or a
	// SYNC of an empty feed): until then, Fetch cannot yet tell whether
	// the peer can help.
	heard         bool
	stale         bool              // the peer's answers can't be related to our head: ask nothing until its head changes
	announced     bitfield.Bitfield // blocks we told the peer about
	announcedFork uint64            // the fork those blocks belong to
	requested     bitfield.Bitfield // blocks asked for and not stored yet
	nextReq       uint64
	pending       map[uint64]*request
	waiting       int           // Fetch calls waiting for room among the pending requests
	freed         chan struct{} // closed when a pending request goes, for those calls
	serving       int           // the peer's requests waiting for or getting an answer

	pumpQueued bool // a pumpSoon goroutine is about to run

	ingest     []received    // answers to verify and store, in arrival order
	ingesting  bool          // an ingest goroutine runs
	ingestWake chan struct{} // more answers for the ingest goroutine
}

type request struct {
	start, end uint64
	done       chan error // buffered: the answer never blocks the reader
}

type servedRequest struct {
	ch  *channel
	req wire.Request
}

// received is an answer waiting to be verified and stored.
type received struct {
	req   *request
	proof *feed.Proof
	size  int // bytes of the encoded proof, held meanwhile
}

func newPeer(r *Replicator, sc *secure.Conn) *peer {
	p := &peer{
		r: r, conn: sc, key: sc.RemoteKey(), zstd: sc.Shared("zstd"),
		local:        make(map[sdk.DiscoveryKey]*channel),
		remote:       make(map[uint64]*channel),
		refused:      make(map[uint64]bool),
		closedRemote: make(map[sdk.DiscoveryKey]uint64),
		serveWake:    make(chan struct{}, 1),
		done:         make(chan struct{}),
		written:      make(chan struct{}),
	}
	p.qcond = sync.NewCond(&p.qmu)
	p.ingestCond = sync.NewCond(&p.mu)
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
		ch, m, err := wire.Decode(body, p.zstd)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		if err := p.handle(ch, m); err != nil {
			return err
		}
	}
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// fail ends the session: a protocol error is told to the peer first.
func (p *peer) fail(err error) {
	p.mu.Lock()
	if isDone(p.done) {
		p.mu.Unlock()
		return
	}
	p.err = err
	var pending []*request
	for _, ch := range p.local {
		pending = append(pending, ch.takeAll()...)
	}
	p.serveQ = nil
	close(p.done)
	p.ingestCond.Broadcast()
	p.mu.Unlock()

	if errors.Is(err, ErrProtocol) || errors.Is(err, ErrDuplicate) {
		p.r.cfg.Logger.Warn("closing connection", "peer", p.key, "error", err)
		body, _ := wire.Append(nil, 0, &wire.Error{Reason: truncate(err.Error(), wire.MaxReasonSize)}, false)
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

// takeAll removes every pending request of ch; p.mu is held.
func (ch *channel) takeAll() []*request {
	var out []*request
	for id, req := range ch.pending {
		out = append(out, req)
		delete(ch.pending, id)
		ch.requested.SetRange(req.start, req.end, false)
	}
	ch.signalFreed()
	return out
}

// signalFreed wakes the Fetch calls waiting for room among the pending
// requests; p.mu is held.
func (ch *channel) signalFreed() {
	if ch.freed != nil {
		close(ch.freed)
		ch.freed = nil
	}
}

// encode returns the body of m on channel, or nil, logged, if the wire
// refuses it: only a bug of ours makes such a message.
func (p *peer) encode(channel uint64, m wire.Message) []byte {
	body, err := wire.Append(nil, channel, m, false)
	if err != nil {
		p.r.cfg.Logger.Error("message not sent", "peer", p.key, "type", m.Type(), "error", err)
		return nil
	}
	return body
}

// push queues a body without waiting for room. A soft push (what the
// application sends) is refused with errBusy once the queue holds
// softLimit bytes; any other push that would make it hold more than
// queueLimit ends the session, since the peer is not reading.
func (p *peer) push(body []byte, soft bool) error {
	if body == nil {
		return nil
	}
	p.qmu.Lock()
	defer p.qmu.Unlock()
	switch {
	case p.qdone:
		return fmt.Errorf("connection to %s: %w", p.key, ErrClosed)
	case soft && p.queued+len(body) > softLimit:
		return fmt.Errorf("peer %s: %w (%d bytes queued)", p.key, errBusy, p.queued)
	case p.queued+len(body) > queueLimit:
		go p.fail(fmt.Errorf("%w: the peer stopped reading (%d bytes queued)", ErrProtocol, p.queued))
		return fmt.Errorf("peer %s: %w", p.key, errBusy)
	}
	p.queue = append(p.queue, body)
	p.queued += len(body)
	p.qcond.Signal()
	return nil
}

// sendControl queues a message on channel 0.
func (p *peer) sendControl(m wire.Message) {
	p.push(p.encode(0, m), false)
}

// sendOn queues a message on our side of ch, unless we closed it: the
// check and the queueing happen under p.mu, so nothing follows our CLOSE.
func (p *peer) sendOn(ch *channel, m wire.Message) {
	body := p.encode(ch.localID, m)
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ch.closed {
		p.push(body, false)
	}
}

// sendSoft queues what the application sends on ch, refusing it if the
// queue is too full (see push).
func (p *peer) sendSoft(ch *channel, m wire.Message) error {
	body := p.encode(ch.localID, m)
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch.closed {
		return fmt.Errorf("peer %s: %w: the channel is closed", p.key, ErrNotAvailable)
	}
	return p.push(body, true)
}

// sendData queues the body of a DATA on ch, waiting while the queue
// holds more than dataLimit bytes.
func (p *peer) sendData(ch *channel, body []byte) {
	p.qmu.Lock()
	for p.queued > dataLimit && !p.qdone {
		p.qcond.Wait()
	}
	p.qmu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !ch.closed {
		p.push(body, false)
	}
}

// enqueueFinal queues a last message and ends the queue after it.
func (p *peer) enqueueFinal(body []byte) {
	p.qmu.Lock()
	if !p.qdone && body != nil {
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

// open opens our side of the channel for s, if not open yet. What we
// hold is told only once the peer has opened its side, proving it knows
// the key: an OPEN alone tells a peer nothing but the discovery key.
func (p *peer) open(s *served) *channel {
	p.mu.Lock()
	if ch := p.local[s.dkey]; ch != nil {
		p.mu.Unlock()
		return ch
	}
	p.nextLocal++
	ch := &channel{s: s, localID: p.nextLocal, pending: make(map[uint64]*request), ingestWake: make(chan struct{}, 1)}
	p.local[s.dkey] = ch
	p.push(p.encode(0, &wire.Open{ID: ch.localID, Kind: s.kind, DiscoveryKey: s.dkey,
		Capability: wire.Capability(s.key, p.conn.HandshakeHash(), p.conn.Initiator())}), false)
	id, reopened := p.closedRemote[s.dkey]
	if reopened {
		// We closed this channel and the peer's side stayed open: take it
		// up again. The peer announces it all again on our OPEN.
		delete(p.closedRemote, s.dkey)
		ch.remoteID = id
		p.remote[id] = ch
	}
	p.mu.Unlock()
	if reopened {
		p.announce(ch)
	}
	return ch
}

// announce tells the peer, if it has opened its side of ch, what we hold
// that it was not told yet: the group's feeds, or the feed's head and
// blocks.
func (p *peer) announce(ch *channel) {
	if ch.s.group != nil {
		if p.isOpen(ch) {
			p.sendFeeds(ch, ch.s.group.Feeds())
		}
		return
	}
	ch.amu.Lock()
	defer ch.amu.Unlock()
	if !p.isOpen(ch) {
		return
	}
	f := ch.s.f
	head, present := f.Head(), f.Present()
	p.mu.Lock()
	defer p.mu.Unlock()
	if ch.closed || ch.remoteID == 0 {
		return
	}
	if head.Fork != ch.announcedFork {
		// After a truncation the blocks announced before may be gone or
		// replaced: announce everything again.
		ch.announced, ch.announcedFork = bitfield.Bitfield{}, head.Fork
	}
	var fresh []sdk.Range
	for _, r := range present {
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
	p.push(p.encode(ch.localID, &wire.Sync{Fork: head.Fork, Length: head.Length}), false)
	for len(fresh) > 0 {
		n := min(len(fresh), rangesPerMessage)
		p.push(p.encode(ch.localID, &wire.Have{Ranges: fresh[:n]}), false)
		fresh = fresh[n:]
	}
}

// announceServed announces s on its channel, if any.
func (p *peer) announceServed(s *served) {
	if ch := p.localChannel(s.dkey); ch != nil {
		p.announce(ch)
	}
}

// sendFeeds lists group feeds on ch, in messages of feedsPerMessage keys.
func (p *peer) sendFeeds(ch *channel, keys []sdk.FeedKey) {
	for len(keys) > 0 {
		n := min(len(keys), feedsPerMessage)
		p.sendOn(ch, &wire.Feeds{Keys: keys[:n]})
		keys = keys[n:]
	}
}

func (p *peer) isOpen(ch *channel) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !ch.closed && ch.remoteID != 0
}

// closeChannel closes our side of the channel for dk. The peer's side may
// stay open; what it sends on it is ignored from now on.
func (p *peer) closeChannel(dk sdk.DiscoveryKey) {
	p.mu.Lock()
	ch := p.local[dk]
	if ch == nil {
		p.mu.Unlock()
		return
	}
	delete(p.local, dk)
	ch.closed = true
	pending := ch.takeAll()
	if ch.remoteID != 0 {
		p.closedRemote[dk] = ch.remoteID
	}
	p.push(p.encode(0, &wire.Close{ID: ch.localID}), false)
	p.mu.Unlock()
	for _, req := range pending {
		req.done <- fmt.Errorf("the feed is no longer replicated: %w", ErrNotAvailable)
	}
}

// handle processes one message from the peer.
func (p *peer) handle(id uint64, m wire.Message) error {
	if id == 0 {
		return p.handleControl(m)
	}
	p.mu.Lock()
	ch, refused := p.remote[id], p.refused[id]
	p.mu.Unlock()
	if refused || (ch != nil && ch.closed) {
		return nil // the peer's side of a channel we rejected or closed
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
			ch.remoteHave = rangeSet{}
		}
		if m.Fork != ch.remoteHead.Fork || m.Length != ch.remoteHead.Length {
			ch.stale = false
		}
		ch.remoteHead = sdk.Head{Fork: m.Fork, Length: m.Length}
		if m.Length == 0 {
			ch.heard = true
		}
		p.mu.Unlock()
		p.pumpSoon(ch)
	case *wire.Have:
		p.mu.Lock()
		ch.heard = true
		if !ch.remoteHave.add(m.Ranges, maxHaveRanges) {
			p.r.cfg.Logger.Debug("peer announced too many ranges; forgetting the highest", "peer", p.key, "feed", ch.s.key, "limit", maxHaveRanges)
		}
		p.mu.Unlock()
		p.pumpSoon(ch)
	case *wire.Request:
		p.mu.Lock()
		if ch.serving >= maxInflight {
			p.mu.Unlock()
			p.sendOn(ch, &wire.NoData{ID: m.ID}) // over the in-flight limit
			return nil
		}
		ch.serving++
		p.serveQ = append(p.serveQ, servedRequest{ch: ch, req: *m})
		p.mu.Unlock()
		select {
		case p.serveWake <- struct{}{}:
		default:
		}
	case *wire.Data:
		return p.receive(ch, m)
	case *wire.NoData:
		return p.complete(ch, m.ID, fmt.Errorf("peer %s: %w", p.key, ErrNotAvailable))
	case *wire.Cancel:
		// Requests are answered quickly and in order; a cancelled one is
		// simply answered anyway and ignored by the requester.
	default:
		return fmt.Errorf("%w: %v on a feed channel", ErrProtocol, m.Type())
	}
	return nil
}

// handleGroup processes a message on a group channel.
func (p *peer) handleGroup(ch *channel, m wire.Message) error {
	switch m := m.(type) {
	case *wire.Feeds:
		ch.s.group.AddFeeds(p.key, m.Keys)
	default:
		return fmt.Errorf("%w: %v on a group channel", ErrProtocol, m.Type())
	}
	return nil
}

func (p *peer) handleControl(m wire.Message) error {
	switch m := m.(type) {
	case *wire.Open:
		return p.handleOpen(m)
	case *wire.Close:
		p.mu.Lock()
		ch := p.remote[m.ID]
		delete(p.remote, m.ID)
		delete(p.refused, m.ID)
		var pending []*request
		switch {
		case ch == nil:
		case ch.closed:
			if p.closedRemote[ch.s.dkey] == m.ID {
				delete(p.closedRemote, ch.s.dkey)
			}
		default:
			ch.remoteID = 0
			pending = ch.takeAll()
		}
		p.mu.Unlock()
		for _, req := range pending {
			req.done <- fmt.Errorf("peer %s closed the channel: %w", p.key, ErrNotAvailable)
		}
	case *wire.Reject:
		p.mu.Lock()
		if ch := p.local[m.DiscoveryKey]; ch != nil && ch.remoteID == 0 {
			ch.rejected = true
		}
		p.mu.Unlock()
	case *wire.Error:
		return fmt.Errorf("peer %s closed the connection: %s", p.key, quote(m.Reason))
	default:
		return fmt.Errorf("%w: %v on the control channel", ErrProtocol, m.Type())
	}
	return nil
}

func (p *peer) handleOpen(m *wire.Open) error {
	s := p.r.served(m.DiscoveryKey)
	if s != nil && s.kind != m.Kind {
		s = nil // a feed and a group never share a key
	}
	p.mu.Lock()
	if old := p.remote[m.ID]; old != nil && old.s.dkey != m.DiscoveryKey {
		p.mu.Unlock()
		return fmt.Errorf("%w: OPEN of channel %d for %s, which the peer has open for %s", ErrProtocol, m.ID, m.DiscoveryKey, old.s.dkey)
	}
	if s == nil {
		if !p.refused[m.ID] && len(p.refused) >= maxRejected {
			p.mu.Unlock()
			return fmt.Errorf("%w: the peer opened more than %d channels for keys this host does not serve", ErrProtocol, maxRejected)
		}
		p.refused[m.ID] = true
		p.mu.Unlock()
		p.sendControl(&wire.Reject{DiscoveryKey: m.DiscoveryKey})
		return nil
	}
	p.mu.Unlock()
	if !wire.VerifyCapability(s.key, p.conn.HandshakeHash(), !p.conn.Initiator(), m.Capability) {
		return fmt.Errorf("%w: bad capability for %s", ErrProtocol, m.DiscoveryKey)
	}
	ch := p.open(s)
	p.mu.Lock()
	if old := ch.remoteID; old != 0 && old != m.ID {
		delete(p.remote, old)
	}
	wasRejected := ch.rejected
	ch.remoteID, ch.rejected = m.ID, false
	p.remote[m.ID] = ch
	delete(p.refused, m.ID)
	// A new side of the channel knows nothing we announced before.
	ch.announced = bitfield.Bitfield{}
	if wasRejected {
		// The peer rejected our OPEN before it served this key, and
		// forgot our id: open again.
		p.push(p.encode(0, &wire.Open{ID: ch.localID, Kind: s.kind, DiscoveryKey: s.dkey,
			Capability: wire.Capability(s.key, p.conn.HandshakeHash(), p.conn.Initiator())}), false)
	}
	p.mu.Unlock()
	go p.announce(ch) // it waits for the feed's lock, which a write may hold through a sync
	return nil
}

// truncate cuts s to at most n bytes of valid UTF-8, for reasons sent to
// peers: the wire refuses anything else.
func truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// quote makes a reason the peer chose safe for a one-line log: at most
// MaxReasonSize bytes, quoted.
func quote(s string) string {
	return strconv.Quote(truncate(s, wire.MaxReasonSize))
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
