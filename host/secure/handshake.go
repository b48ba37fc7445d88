package secure

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/flynn/noise"

	"github.com/codrive/codrive/sdk"
)

// The preamble (PROTOCOL.md section 2) is the magic and the highest
// handshake version a side speaks. This package speaks the version 1
// handshake only; the versions of the protocol proper are negotiated in
// the Hellos.
const (
	magic           = "codrive"
	preambleSize    = len(magic) + 1
	preambleVersion = 1
)

var cipherSuite = noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashBLAKE2b)

// Client runs the handshake as the dialer, the Noise initiator, over c and
// returns the secure connection. The handshake ends when ctx does: c is
// then closed and the error wraps ctx.Err(). On any error c is closed.
//
// hello must have 1 <= MinVersion <= MaxVersion and UTF-8 strings. The
// peer's key is not checked here: the caller decides, from RemoteKey,
// whether it is the peer it wanted.
func Client(ctx context.Context, c sdk.Conn, id Identity, hello Hello) (*Conn, error) {
	return establish(ctx, c, id, hello, true)
}

// Server runs the handshake as the accepting side, the Noise responder;
// otherwise it is like Client.
func Server(ctx context.Context, c sdk.Conn, id Identity, hello Hello) (*Conn, error) {
	return establish(ctx, c, id, hello, false)
}

// establish checks the arguments, runs the handshake under ctx and closes
// c if anything fails.
func establish(ctx context.Context, c sdk.Conn, id Identity, hello Hello, initiator bool) (*Conn, error) {
	payload, err := encodeLocalHello(hello)
	if err == nil && !id.valid() {
		err = fmt.Errorf("secure: zero Identity: %w", sdk.ErrInvalid)
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	sc := newConn(c, initiator, hello)
	// sdk.Conn has no deadlines: closing it is the one way to interrupt
	// a blocked read or write.
	interrupted := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.Close()
		close(interrupted)
	})
	err = sc.handshake(id, payload)
	if !stop() {
		// ctx ended and c is closed, or being closed: whatever the
		// handshake returned, ctx is why it stopped.
		<-interrupted
		return nil, fmt.Errorf("secure: handshake abandoned: %w", ctx.Err())
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return sc, nil
}

// handshake exchanges the preambles, runs Noise XX and negotiates the
// version. The initiator reads the responder's Hello in message 2 but
// sends its own in message 3 even if the versions don't overlap, so that
// both sides can report the mismatch.
func (c *Conn) handshake(id Identity, hello []byte) error {
	prologue, err := c.exchangePreambles()
	if err != nil {
		return err
	}
	hs, err := noise.NewHandshakeState(noise.Config{
		CipherSuite:   cipherSuite,
		Pattern:       noise.HandshakeXX,
		Initiator:     c.initiator,
		Prologue:      prologue,
		StaticKeypair: id.key,
	})
	if err != nil {
		return fmt.Errorf("secure: %w: %w", ErrHandshake, err)
	}

	var peerHello []byte
	var toResponder, toInitiator *noise.CipherState
	if c.initiator {
		if _, _, err := c.writeHandshake(hs, nil); err != nil {
			return err
		}
		if peerHello, _, _, err = c.readHandshake(hs); err != nil {
			return err
		}
		if c.peer, err = parseHello(peerHello); err != nil {
			return fmt.Errorf("secure: %w: the peer's %w", ErrHandshake, err)
		}
		if toResponder, toInitiator, err = c.writeHandshake(hs, hello); err != nil {
			return err
		}
		c.send, c.recv = toResponder, toInitiator
	} else {
		payload, _, _, err := c.readHandshake(hs)
		if err != nil {
			return err
		}
		if len(payload) != 0 {
			return fmt.Errorf("secure: %w: message 1 carries a %d-byte payload; it must have none", ErrHandshake, len(payload))
		}
		if _, _, err := c.writeHandshake(hs, hello); err != nil {
			return err
		}
		if peerHello, toResponder, toInitiator, err = c.readHandshake(hs); err != nil {
			return err
		}
		if c.peer, err = parseHello(peerHello); err != nil {
			return fmt.Errorf("secure: %w: the peer's %w", ErrHandshake, err)
		}
		c.send, c.recv = toInitiator, toResponder
	}
	c.hash = bytes.Clone(hs.ChannelBinding())
	copy(c.remote[:], hs.PeerStatic())
	c.version, err = negotiate(c.local, c.peer)
	return err
}

// exchangePreambles sends this side's preamble and checks the peer's, and
// returns the Noise prologue: the initiator's preamble, then the
// responder's. The responder sends its preamble only once it has seen the
// initiator's, which keeps the two sides taking turns (so even an
// unbuffered pipe works) and tells nothing to a peer that is not codrive.
func (c *Conn) exchangePreambles() ([]byte, error) {
	ours := append([]byte(magic), preambleVersion)
	if c.initiator {
		if err := c.writeRaw(ours, "the preamble"); err != nil {
			return nil, err
		}
		theirs, err := readPreamble(c.conn)
		if err != nil {
			return nil, err
		}
		return append(ours, theirs...), nil
	}
	theirs, err := readPreamble(c.conn)
	if err != nil {
		return nil, err
	}
	if err := c.writeRaw(ours, "the preamble"); err != nil {
		return nil, err
	}
	return append(theirs, ours...), nil
}

// readPreamble reads the peer's preamble and checks it. A peer whose first
// bytes are not the magic gets a NotCodriveError quoting them, even if it
// sent fewer than 8.
func readPreamble(r io.Reader) ([]byte, error) {
	p := make([]byte, preambleSize)
	n, err := io.ReadFull(r, p)
	if m := min(n, len(magic)); string(p[:m]) != magic[:m] {
		return nil, &NotCodriveError{Received: p[:n]}
	}
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("secure: %w: the connection ended after %d bytes of the peer's preamble: %w", ErrHandshake, n, io.ErrUnexpectedEOF)
		}
		return nil, fmt.Errorf("secure: %w: reading the preamble: %w", ErrHandshake, err)
	}
	if p[len(magic)] == 0 {
		return nil, fmt.Errorf("secure: %w: the peer's preamble names handshake version 0, which does not exist", ErrHandshake)
	}
	return p, nil
}

// writeHandshake writes the next handshake message, framed with its
// length, carrying payload. After the last message it returns the cipher
// states: the first encrypts from initiator to responder.
func (c *Conn) writeHandshake(hs *noise.HandshakeState, payload []byte) (*noise.CipherState, *noise.CipherState, error) {
	i := hs.MessageIndex() + 1
	msg, cs1, cs2, err := hs.WriteMessage(c.wbuf[2:2], payload)
	if err != nil {
		return nil, nil, fmt.Errorf("secure: %w: making message %d: %w", ErrHandshake, i, err)
	}
	binary.BigEndian.PutUint16(c.wbuf, uint16(len(msg)))
	if err := c.writeRaw(c.wbuf[:2+len(msg)], fmt.Sprintf("message %d", i)); err != nil {
		return nil, nil, err
	}
	return cs1, cs2, nil
}

// readHandshake reads the next handshake message and returns its payload,
// and after the last message the cipher states as writeHandshake does.
func (c *Conn) readHandshake(hs *noise.HandshakeState) ([]byte, *noise.CipherState, *noise.CipherState, error) {
	i := hs.MessageIndex() + 1
	msg, err := c.readFrame()
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, nil, nil, fmt.Errorf("secure: %w: the connection ended while waiting for message %d: %w", ErrHandshake, i, io.ErrUnexpectedEOF)
		}
		return nil, nil, nil, fmt.Errorf("secure: %w: reading message %d: %w", ErrHandshake, i, err)
	}
	payload, cs1, cs2, err := hs.ReadMessage(nil, msg)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("secure: %w: message %d from the peer is invalid (corrupted or tampered with): %w", ErrHandshake, i, err)
	}
	return payload, cs1, cs2, nil
}

// writeRaw writes handshake bytes; what names them for the error.
func (c *Conn) writeRaw(b []byte, what string) error {
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("secure: %w: writing %s: %w", ErrHandshake, what, err)
	}
	return nil
}
