package replicate

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/wire"
	"github.com/codrive/codrive/sdk"
)

// receive takes a proof the peer sent in answer to one of our requests:
// it checks that the proof answers the request and queues it for the
// channel's ingest goroutine, which verifies and stores it while this
// goroutine reads on. Reading waits while ingestLimit bytes wait.
func (p *peer) receive(ch *channel, m *wire.Data) error {
	p.mu.Lock()
	req := ch.pending[m.ID]
	if req == nil {
		never := m.ID == 0 || m.ID > ch.nextReq
		p.mu.Unlock()
		if never {
			return fmt.Errorf("%w: DATA for request %d, which was never made", ErrProtocol, m.ID)
		}
		return nil // cancelled or timed out: not the peer's fault
	}
	delete(ch.pending, m.ID)
	ch.signalFreed()
	p.mu.Unlock()

	proof, err := feed.DecodeProof(m.Proof)
	if err == nil {
		err = checkAnswer(req, proof)
	}
	if err != nil {
		err = fmt.Errorf("%w: %v", ErrProtocol, err)
		req.done <- err
		return err
	}

	p.mu.Lock()
	for p.ingested > 0 && p.ingested+len(m.Proof) > ingestLimit && !isDone(p.done) {
		p.ingestCond.Wait()
	}
	if isDone(p.done) {
		p.mu.Unlock()
		req.done <- fmt.Errorf("connection to %s: %w", p.key, ErrClosed)
		return nil
	}
	p.ingested += len(m.Proof)
	ch.ingest = append(ch.ingest, received{req: req, proof: proof, size: len(m.Proof)})
	start := !ch.ingesting
	ch.ingesting = true
	p.mu.Unlock()
	if start {
		go p.ingestLoop(ch)
	} else {
		select {
		case ch.ingestWake <- struct{}{}:
		default:
		}
	}
	return nil
}

// checkAnswer checks that proof answers req: it starts at the first block
// asked for and covers between one block and all of them.
func checkAnswer(req *request, proof *feed.Proof) error {
	n := uint64(len(proof.Blocks))
	switch {
	case proof.Start != req.start:
		return fmt.Errorf("the answer to a request for blocks [%d, %d) starts at block %d", req.start, req.end, proof.Start)
	case req.end == req.start && n != 0:
		return fmt.Errorf("the answer to a request for no block carries %d", n)
	case req.end > req.start && (n == 0 || n > req.end-req.start):
		return fmt.Errorf("the answer to a request for blocks [%d, %d) carries %d blocks", req.start, req.end, n)
	}
	return nil
}

// ingestLoop verifies and stores the proofs received on ch until none
// wait. Answers that continue each other are stored with one write (a
// disk storage syncs once per write), and up to ingestParallel writes run
// at once when they are against the same head: feed.Put verifies a proof
// before it takes the feed's lock, so the next one is hashed while the
// last one is written and synced. Writes against different heads are not
// overlapped, so that a head is never stored before the one it extends.
func (p *peer) ingestLoop(ch *channel) {
	var running []chan struct{} // the writes started, oldest first
	var runningHead sdk.Head
	waitAll := func() {
		for _, done := range running {
			<-done
		}
		running = running[:0]
	}
	for {
		p.mu.Lock()
		batch := ch.ingest
		ch.ingest = nil
		if len(batch) == 0 {
			if len(running) == 0 {
				ch.ingesting = false
				p.mu.Unlock()
				return
			}
			p.mu.Unlock()
			// Wait for more answers or for the oldest write, whichever
			// comes first.
			select {
			case <-ch.ingestWake:
			case <-running[0]:
				running = running[1:]
			}
			continue
		}
		p.mu.Unlock()
		for i := 0; i < len(batch); {
			j, size := i+1, batch[i].size
			for j < len(batch) && size+batch[j].size <= mergeLimit && continues(batch[j-1].proof, batch[j].proof) {
				size += batch[j].size
				j++
			}
			group := batch[i:j]
			head := group[0].proof.Head
			if len(running) > 0 && head != runningHead {
				waitAll()
			}
			if len(running) == ingestParallel {
				<-running[0]
				running = running[1:]
			}
			done := make(chan struct{})
			running, runningHead = append(running, done), head
			go func() {
				defer close(done)
				p.store(ch, group)
			}()
			i = j
		}
	}
}

// store verifies and stores a group of received proofs that continue each
// other, as one proof. Every block is verified by feed.Put before
// anything is stored; a proof that fails is a protocol error, and nothing
// of it is kept.
func (p *peer) store(ch *channel, group []received) {
	size := 0
	for _, it := range group {
		size += it.size
	}
	defer func() {
		p.mu.Lock()
		p.ingested -= size
		p.ingestCond.Broadcast()
		p.mu.Unlock()
	}()
	if isDone(p.done) {
		for _, it := range group {
			it.req.done <- fmt.Errorf("connection to %s: %w", p.key, ErrClosed)
		}
		return
	}
	proof := group[0].proof
	if len(group) > 1 {
		proof = merge(group)
	}
	err := ch.s.f.Put(context.Background(), proof)
	if errors.Is(err, feed.ErrBadProof) || errors.Is(err, feed.ErrBadSignature) {
		err = fmt.Errorf("%w: %v", ErrProtocol, err)
		for _, it := range group {
			it.req.done <- err
		}
		p.fail(err)
		return
	}
	p.noteStored(ch, proof, err)
	p.mu.Lock()
	for _, it := range group {
		// Whatever the answer covered is held now; the rest (an answer
		// may cover a prefix only) can be asked for again.
		ch.requested.SetRange(it.req.start, it.req.end, false)
	}
	p.mu.Unlock()
	for _, it := range group {
		it.req.done <- err
	}
	p.pump(ch)
}

// continues reports whether b's blocks follow a's under the same signed
// head, so that the two proofs can be verified and stored as one.
func continues(a, b *feed.Proof) bool {
	return a.Head == b.Head && len(a.Blocks) > 0 && len(b.Blocks) > 0 &&
		b.Start == a.Start+uint64(len(a.Blocks)) && slices.Equal(a.Roots, b.Roots)
}

// merge makes one proof of proofs that continue each other: their blocks
// in order and the nodes of all. Every node of each proof still meets its
// sibling, so the union verifies exactly when each part does; two parts
// that disagree on a node make it fail, and both came from this peer.
func merge(items []received) *feed.Proof {
	first := items[0].proof
	m := &feed.Proof{Head: first.Head, Roots: first.Roots, Start: first.Start}
	nb, nn := 0, 0
	for _, it := range items {
		nb += len(it.proof.Blocks)
		nn += len(it.proof.Nodes)
	}
	m.Blocks = make([][]byte, 0, nb)
	m.Nodes = make([]sdk.Node, 0, nn)
	for _, it := range items {
		m.Blocks = append(m.Blocks, it.proof.Blocks...)
		m.Nodes = append(m.Nodes, it.proof.Nodes...)
	}
	return m
}

// noteStored acts on what Put said about a verified proof: a fork is
// reported, a proof against a head behind ours stops the requests to this
// peer until its head changes (asking again would only bring the same
// answer), anything else is logged.
func (p *peer) noteStored(ch *channel, proof *feed.Proof, err error) {
	var fork *feed.ForkError
	switch {
	case err == nil:
	case errors.As(err, &fork):
		p.r.reportFork(ch.s, fork)
	case errors.Is(err, feed.ErrStale):
		head := ch.s.f.Head()
		if proof.Head.Fork < head.Fork || (proof.Head.Fork == head.Fork && proof.Head.Length < head.Length) {
			p.mu.Lock()
			ch.stale = true
			p.mu.Unlock()
		}
		p.r.cfg.Logger.Debug("proof not stored", "peer", p.key, "feed", ch.s.key, "error", err)
	default:
		// A local storage error, or a writer's copy of its own feed: not
		// the peer's fault.
		p.r.cfg.Logger.Debug("proof not stored", "peer", p.key, "feed", ch.s.key, "error", err)
	}
}
