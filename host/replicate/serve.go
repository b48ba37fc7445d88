package replicate

import (
	"context"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/wire"
	"github.com/codrive/codrive/sdk/flattree"
)

// serveLoop answers the peer's requests in the order they came.
func (p *peer) serveLoop() {
	for {
		select {
		case <-p.done:
			return
		case <-p.serveWake:
		}
		for {
			p.mu.Lock()
			if len(p.serveQ) == 0 || isDone(p.done) {
				p.serveQ = nil // let the array go
				p.mu.Unlock()
				break
			}
			sr := p.serveQ[0]
			p.serveQ = p.serveQ[1:]
			closed := sr.ch.closed
			p.mu.Unlock()
			if !closed {
				p.answer(sr.ch, sr.req)
			}
			p.mu.Lock()
			sr.ch.serving--
			p.mu.Unlock()
		}
	}
}

// answer sends a proof of the requested blocks, or of the longest prefix
// of them within answerBytes, or NODATA. Block sizes are known from the
// tree before any block is read, so a request for 1,024 blocks of 8 MiB
// reads one of them, not 8 GiB.
func (p *peer) answer(ch *channel, req wire.Request) {
	f := ch.s.f
	end := answerEnd(f, req)
	for {
		proof, err := f.Proof(context.Background(), feed.ProofRequest{Start: req.Start, End: end, UpgradeFrom: req.UpgradeFrom})
		if err != nil {
			// Not held, or past our length after a truncation: not the
			// peer's fault.
			p.sendOn(ch, &wire.NoData{ID: req.ID})
			return
		}
		body, err := wire.EncodeData(ch.localID, req.ID, p.zstd, proofSize(proof), func(b []byte) []byte { return feed.AppendProof(b, proof) })
		if err == nil {
			p.sendData(ch, body)
			return
		}
		if end-req.Start <= 1 {
			// Only a bug could make a one-block proof too large, but the
			// peer must get an answer.
			p.r.cfg.Logger.Error("answer not sent", "peer", p.key, "feed", f.Key(), "error", err)
			p.sendOn(ch, &wire.NoData{ID: req.ID})
			return
		}
		end = req.Start + (end-req.Start)/2
	}
}

// proofSize is a bound on the encoded size of p, for allocating once.
func proofSize(p *feed.Proof) int {
	n := 128 + len(p.Roots)*48 + len(p.Nodes)*64
	for _, b := range p.Blocks {
		n += 10 + len(b)
	}
	return n
}

// answerEnd returns the end of the longest prefix of req's blocks within
// answerBytes, and at least one block: [req.Start, end).
func answerEnd(f *feed.Feed, req wire.Request) uint64 {
	if req.End-req.Start <= 1 {
		return req.End
	}
	first, ok := byteOffset(f, req.Start)
	last, ok2 := byteOffset(f, req.End)
	if !ok || !ok2 || last-first <= answerBytes {
		// All of it fits, or some of it is past our length: the proof
		// then fails and is answered NODATA.
		return req.End
	}
	// The largest end whose bytes fit, by bisection: a request for N
	// blocks costs log2(N) node lookups, no block reads.
	best, lo, hi := req.Start+1, req.Start+2, req.End-1
	for lo <= hi {
		mid := lo + (hi-lo)/2
		off, ok := byteOffset(f, mid)
		if !ok {
			break
		}
		if off-first <= answerBytes {
			best, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	return best
}

// byteOffset returns the bytes held by blocks [0, i) of f: the sizes of
// the roots of the tree at length i, which a proof shows when asked to
// upgrade from i. It reads tree nodes only.
func byteOffset(f *feed.Feed, i uint64) (uint64, bool) {
	if i == 0 {
		return 0, true
	}
	p, err := f.Proof(context.Background(), feed.ProofRequest{UpgradeFrom: i})
	if err != nil || i > p.Head.Length {
		return 0, false
	}
	nodes := p.Nodes
	if i == p.Head.Length {
		nodes = p.Roots
	}
	var n uint64
	for _, r := range flattree.Roots(i) {
		found := false
		for _, node := range nodes {
			if node.Index == r {
				n, found = n+node.Size, true
				break
			}
		}
		if !found {
			return 0, false
		}
	}
	return n, true
}
