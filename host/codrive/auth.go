package codrive

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/sdk"
)

// The extension messages of authorization requests, on the co-drive's
// primary feed. A request carries the writer key to add, a signature
// made with that key, and the requester's proof (such as an invite
// code); it arrives with the requester's authenticated peer key, which
// the signature also covers, so it cannot be replayed by another peer.
// A reply says what the answering peer did. A grant is believed only when
// the authorizing entry arrives by replication.
const (
	extRequest     = "codrive/auth-request"
	extReply       = "codrive/auth-reply"
	requestContext = "codrive auth request v1"
	messageVersion = 1
	// MaxProof bounds the proof a request may carry.
	MaxProof = 4096
	// maxReason bounds a reply's reason.
	maxReason = 1024
	// maxDeciding bounds the requests decided at once; more are
	// answered as errors rather than queued.
	maxDeciding = 8
	// decideTimeout bounds an auth policy's decision.
	decideTimeout = 30 * time.Second
)

// Reply statuses.
const (
	replyGranted   byte = 1
	replyDenied    byte = 2
	replyNotWriter byte = 3
	replyError     byte = 4
	// replyDeciding: a writer is asking its policy; its answer follows.
	replyDeciding byte = 5
)

// authState is the co-drive's side of authorization requests.
type authState struct {
	// updateMu serialises writer-set updates.
	updateMu sync.Mutex

	mu      sync.Mutex
	replies chan reply // set while a request of this peer is pending
	busy    int

	// ctx ends decisions in flight when the co-drive closes; deciding
	// counts them, so Close can wait.
	ctx      context.Context
	cancel   context.CancelFunc
	deciding sync.WaitGroup
}

type reply struct {
	from   sdk.PeerKey
	status byte
	reason string
}

// signed is what a request's signature covers.
func signed(drive, writer sdk.FeedKey, peer sdk.PeerKey, proof []byte) []byte {
	b := make([]byte, 0, 3*sdk.KeySize+len(proof))
	b = append(b, drive[:]...)
	b = append(b, writer[:]...)
	b = append(b, peer[:]...)
	return append(b, proof...)
}

// RequestAuthorization asks the connected peers to add this peer's writer
// key to the writer set, with proof for their auth policies, and waits
// until the entry that adds it arrives (nil), the writers that answered
// all denied (ErrDenied, with their reason), no connected peer is a writer
// (ErrNoWriter), or Config.AuthTimeout passes (ErrAuthTimeout).
func (c *CoDrive) RequestAuthorization(ctx context.Context, proof []byte) error {
	if c.IsWriter() {
		return nil
	}
	if len(proof) > MaxProof {
		return fmt.Errorf("codrive: proof of %d bytes, over %d: %w", len(proof), MaxProof, sdk.ErrInvalid)
	}
	r := c.cfg.Replicator
	if r == nil {
		return ErrNoWriter
	}
	peers := r.Peers()
	if len(peers) == 0 {
		return fmt.Errorf("%w: no peers are connected", ErrNoWriter)
	}
	writer := c.local.Key()
	sig, err := c.local.Feed().SignMessage(requestContext, signed(c.key, writer, r.PublicKey(), proof))
	if err != nil {
		return err
	}
	msg := encodeRequest(writer, sig, proof)

	replies := make(chan reply, 2*len(peers)+8)
	c.auth.mu.Lock()
	if c.auth.replies != nil {
		c.auth.mu.Unlock()
		return fmt.Errorf("codrive: an authorization request is already pending: %w", sdk.ErrInvalid)
	}
	c.auth.replies = replies
	c.auth.mu.Unlock()
	defer func() {
		c.auth.mu.Lock()
		c.auth.replies = nil
		c.auth.mu.Unlock()
	}()

	changed := c.changed()
	if c.IsWriter() {
		return nil
	}
	timer := time.NewTimer(c.cfg.AuthTimeout)
	defer timer.Stop()
	// A co-drive just opened may not share a channel with its peers
	// yet: try again for a moment before concluding none has it.
	for wait := 5 * time.Millisecond; ; wait = min(2*wait, 200*time.Millisecond) {
		err := r.SendExtension(c.key, extRequest, nil, msg)
		if err == nil {
			break
		}
		if !errors.Is(err, sdk.ErrNotFound) && !errors.Is(err, feed.ErrNotAvailable) {
			return fmt.Errorf("codrive: sending the request: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			return fmt.Errorf("%w: none of the %d connected peers has this co-drive", ErrNoWriter, len(peers))
		case <-time.After(wait):
		}
		if wait == 200*time.Millisecond && len(r.Peers()) == 0 {
			return fmt.Errorf("%w: no peers are connected", ErrNoWriter)
		}
	}
	answered := map[sdk.PeerKey]byte{}
	deciding := map[sdk.PeerKey]bool{}
	granted := false
	var reasons []string
	verdict := func() error {
		if len(reasons) > 0 {
			return fmt.Errorf("%w: %s", ErrDenied, reasons[0])
		}
		return fmt.Errorf("%w: none of the %d peers that answered is a writer", ErrNoWriter, len(answered))
	}
	// Peers that do not hold the co-drive never answer, so once the
	// answers stop coming for a moment, those that came decide.
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
			if len(answered) > 0 && !granted {
				return verdict()
			}
			return fmt.Errorf("%w after %s", ErrAuthTimeout, c.cfg.AuthTimeout)
		case <-settle:
			if !granted && len(deciding) == 0 {
				return verdict()
			}
		case <-changed:
			if c.IsWriter() {
				return nil
			}
			changed = c.changed()
		case rep := <-replies:
			if _, dup := answered[rep.from]; dup {
				continue
			}
			if rep.status == replyDeciding {
				deciding[rep.from] = true
				continue
			}
			delete(deciding, rep.from)
			answered[rep.from] = rep.status
			switch rep.status {
			case replyGranted:
				granted = true
			case replyDenied, replyError:
				reasons = append(reasons, rep.reason)
			}
			if granted {
				continue
			}
			if len(answered) >= len(peers) {
				return verdict()
			}
			if len(deciding) == 0 {
				settle = time.After(settleAnswers)
			}
		}
	}
}

// settleAnswers is how long RequestAuthorization waits for more answers
// after the last one before deciding on those it has.
const settleAnswers = time.Second

// onRequest answers a peer's request to become a writer.
func (c *CoDrive) onRequest(from sdk.PeerKey, msg []byte) {
	writer, sig, proof, err := decodeRequest(msg)
	if err != nil {
		c.log.Debug("codrive: malformed authorization request", "peer", from, "err", err)
		return
	}
	if !feed.VerifyMessage(writer, requestContext, signed(c.key, writer, from, proof), sig) {
		c.log.Info("codrive: authorization request with a bad signature", "peer", from, "writer", writer)
		return
	}
	if !c.IsWriter() {
		c.reply(from, writer, replyNotWriter, "")
		return
	}
	c.auth.mu.Lock()
	if c.auth.busy >= maxDeciding {
		c.auth.mu.Unlock()
		c.reply(from, writer, replyError, "too many requests at once; try again")
		return
	}
	if c.auth.ctx.Err() != nil {
		c.auth.mu.Unlock()
		return
	}
	c.auth.busy++
	c.auth.deciding.Add(1)
	c.auth.mu.Unlock()
	// Tell the requester a writer is on it, so it waits for the policy
	// however long it takes (up to the request's timeout).
	c.reply(from, writer, replyDeciding, "")
	go func() {
		defer func() {
			c.auth.mu.Lock()
			c.auth.busy--
			c.auth.mu.Unlock()
			c.auth.deciding.Done()
		}()
		ctx, cancel := context.WithTimeout(c.auth.ctx, decideTimeout)
		defer cancel()
		status, reason := c.decide(ctx, from, writer, proof)
		c.reply(from, writer, status, reason)
	}()
}

// decide asks the auth policy and, if it allows, authorizes the writer.
func (c *CoDrive) decide(ctx context.Context, from sdk.PeerKey, writer sdk.FeedKey, proof []byte) (byte, string) {
	c.mu.Lock()
	member := c.members[writer].Member
	c.mu.Unlock()
	if member {
		return replyGranted, ""
	}
	if c.cfg.Auth == nil {
		return replyDenied, "this co-drive takes no new writers"
	}
	d, err := c.cfg.Auth.Authorize(ctx, sdk.AuthRequest{Drive: c.key, Writer: writer, Peer: from, Proof: proof})
	if err != nil {
		c.log.Warn("codrive: auth policy failed", "peer", from, "writer", writer, "err", err)
		return replyError, "the writer's auth policy failed"
	}
	if !d.Allow {
		if d.Reason == "" {
			d.Reason = "denied by the writer's auth policy"
		}
		return replyDenied, d.Reason
	}
	if err := c.Authorize(ctx, writer); err != nil {
		c.log.Warn("codrive: authorizing", "writer", writer, "err", err)
		return replyError, "the writer could not record the authorization"
	}
	c.log.Info("codrive: authorized a writer on request", "peer", from, "writer", writer)
	return replyGranted, ""
}

func (c *CoDrive) reply(to sdk.PeerKey, writer sdk.FeedKey, status byte, reason string) {
	r := replyMsg{writer: writer, status: status, reason: cutReason(reason)}
	if decisive(status) {
		// Signed with this writer's key, so that the requester counts
		// only denials from the writer set, not whatever a peer says.
		sig, err := c.local.Feed().SignMessage(replyContext, r.signed(c.key, to))
		if err != nil {
			c.log.Warn("codrive: signing a reply", "err", err)
			return
		}
		r.signer, r.sig = c.local.Key(), sig
	}
	if err := c.cfg.Replicator.SendExtension(c.key, extReply, &to, r.encode()); err != nil {
		c.log.Debug("codrive: replying to an authorization request", "peer", to, "err", err)
	}
}

// decisive reports whether a reply status decides a request, and so must
// come signed by a writer.
func decisive(status byte) bool {
	return status == replyGranted || status == replyDenied || status == replyError
}

// onReply passes a peer's answer to the pending request, if any.
func (c *CoDrive) onReply(from sdk.PeerKey, msg []byte) {
	r, err := decodeReply(msg)
	if err != nil || r.writer != c.local.Key() {
		return
	}
	if decisive(r.status) {
		c.mu.Lock()
		member := c.members[r.signer].Member
		c.mu.Unlock()
		if !member || !feed.VerifyMessage(r.signer, replyContext, r.signed(c.key, c.PeerKey()), r.sig) {
			c.log.Debug("codrive: ignoring a reply not signed by a writer", "peer", from)
			return
		}
	}
	status, reason := r.status, r.reason
	c.auth.mu.Lock()
	ch := c.auth.replies
	c.auth.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case ch <- reply{from: from, status: status, reason: reason}:
	default:
	}
}

// encodeRequest lays out a request: version, writer key, signature, proof.
func encodeRequest(writer sdk.FeedKey, sig, proof []byte) []byte {
	msg := make([]byte, 0, 1+sdk.KeySize+len(sig)+len(proof))
	msg = append(msg, messageVersion)
	msg = append(msg, writer[:]...)
	msg = append(msg, sig...)
	return append(msg, proof...)
}

// decodeRequest checks a request from a peer and splits it; the parts
// share no memory with msg.
func decodeRequest(msg []byte) (writer sdk.FeedKey, sig, proof []byte, err error) {
	const head = 1 + sdk.KeySize + ed25519.SignatureSize
	switch {
	case len(msg) < head:
		return writer, nil, nil, fmt.Errorf("request of %d bytes, shorter than %d: %w", len(msg), head, sdk.ErrInvalid)
	case msg[0] != messageVersion:
		return writer, nil, nil, fmt.Errorf("request of version %d, this host speaks %d: %w", msg[0], messageVersion, sdk.ErrInvalid)
	case len(msg) > head+MaxProof:
		return writer, nil, nil, fmt.Errorf("request with a proof over %d bytes: %w", MaxProof, sdk.ErrInvalid)
	}
	copy(writer[:], msg[1:])
	return writer, bytes.Clone(msg[1+sdk.KeySize : head]), bytes.Clone(msg[head:]), nil
}

// replyMsg is an answer to a request: for the writer asked about, a
// status and reason, and for decisive statuses the answering writer's key
// and its signature over the co-drive, the writer, the requester's peer
// key, the status and the reason.
type replyMsg struct {
	writer sdk.FeedKey
	status byte
	signer sdk.FeedKey
	sig    []byte // empty or ed25519.SignatureSize bytes
	reason string
}

// replyContext is what reply signatures are made for.
const replyContext = "codrive auth reply v1"

// signed is what a reply's signature covers.
func (r *replyMsg) signed(drive sdk.FeedKey, requester sdk.PeerKey) []byte {
	b := make([]byte, 0, 3*sdk.KeySize+1+len(r.reason))
	b = append(b, drive[:]...)
	b = append(b, r.writer[:]...)
	b = append(b, requester[:]...)
	b = append(b, r.status)
	return append(b, r.reason...)
}

// cutReason cuts a reason to maxReason bytes at a character boundary.
func cutReason(reason string) string {
	if len(reason) <= maxReason {
		return reason
	}
	cut := maxReason
	for cut > 0 && !utf8.RuneStart(reason[cut]) {
		cut--
	}
	return reason[:cut]
}

// encode lays out a reply: version, writer key, status, signer key and
// signature (both zero-filled when unsigned), reason.
func (r *replyMsg) encode() []byte {
	msg := make([]byte, 0, replyHead+len(r.reason))
	msg = append(msg, messageVersion)
	msg = append(msg, r.writer[:]...)
	msg = append(msg, r.status)
	msg = append(msg, r.signer[:]...)
	sig := r.sig
	if len(sig) == 0 {
		sig = make([]byte, ed25519.SignatureSize)
	}
	msg = append(msg, sig...)
	return append(msg, r.reason...)
}

// replyHead is the size of a reply without its reason.
const replyHead = 2 + 2*sdk.KeySize + ed25519.SignatureSize

// decodeReply checks a reply from a peer and splits it.
func decodeReply(msg []byte) (replyMsg, error) {
	var r replyMsg
	switch {
	case len(msg) < replyHead:
		return r, fmt.Errorf("reply of %d bytes: %w", len(msg), sdk.ErrInvalid)
	case msg[0] != messageVersion:
		return r, fmt.Errorf("reply of version %d: %w", msg[0], sdk.ErrInvalid)
	case len(msg) > replyHead+maxReason:
		return r, fmt.Errorf("reply with a reason over %d bytes: %w", maxReason, sdk.ErrInvalid)
	}
	copy(r.writer[:], msg[1:])
	r.status = msg[1+sdk.KeySize]
	copy(r.signer[:], msg[2+sdk.KeySize:])
	r.sig = bytes.Clone(msg[2+2*sdk.KeySize : replyHead])
	r.reason = string(msg[replyHead:])
	if r.status < replyGranted || r.status > replyDeciding {
		return r, fmt.Errorf("reply of unknown status %d: %w", r.status, sdk.ErrInvalid)
	}
	if !utf8.ValidString(r.reason) {
		return r, fmt.Errorf("reply whose reason is not UTF-8: %w", sdk.ErrInvalid)
	}
	if !decisive(r.status) {
		r.sig = nil
	}
	return r, nil
}
