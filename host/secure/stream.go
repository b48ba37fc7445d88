package secure

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/codrive/codrive/sdk"
)

// ReadMessage returns the next message body from the peer, 1 to MaxMessage
// bytes. The body is a fresh slice that the caller keeps: later reads do
// not touch it.
//
// It reads ahead of the message by at most 256 KiB, so a reader that
// stops reading stops the peer's writes too. It allocates the body only,
// once its declared length has passed the MaxMessage check, and decrypts
// the Noise messages that lie wholly inside it straight into it.
//
// It returns io.EOF when the connection ends cleanly between two
// messages; the end of a connection is not authenticated. A connection
// cut inside a message gives an error wrapping io.ErrUnexpectedEOF, and a
// peer that breaks the protocol one wrapping ErrProtocol. Errors are
// final: once ReadMessage fails it returns the same error every time.
//
// ReadMessage is not safe for concurrent use with itself.
func (c *Conn) ReadMessage() ([]byte, error) {
	if c.readErr != nil {
		return nil, c.readErr
	}
	if c.br == nil {
		// Made after the handshake, which reads exactly what it needs, so
		// that nothing of the peer's messages is read ahead into a buffer
		// that would not exist yet.
		c.br = bufio.NewReaderSize(c.conn, readBuffer)
	}
	body, err := c.msgs.readMessage()
	if err != nil {
		if c.closed.Load() {
			err = errClosed("read")
		}
		c.readErr = err
		return nil, err
	}
	return body, nil
}

// readPlaintext reads the next Noise message and returns its plaintext,
// which is valid until the next call. It returns io.EOF alone when the
// connection ends cleanly before the message.
func (c *Conn) readPlaintext() ([]byte, error) {
	n, err := c.peekFrame()
	if err != nil {
		return nil, err
	}
	return c.decryptFrame(c.rbuf[:0], n)
}

// readPlaintextInto decrypts the next Noise message straight into dst if
// its plaintext fits there, and returns the plaintext's length. It
// returns 0 if the message is larger than dst, or has no plaintext:
// readPlaintext then reads it, as a piece to copy from.
func (c *Conn) readPlaintextInto(dst []byte) (int, error) {
	n, err := c.peekFrame()
	if err != nil {
		return 0, err
	}
	if n <= tagSize || n-tagSize > len(dst) {
		return 0, nil
	}
	plain, err := c.decryptFrame(dst[:0], n)
	return len(plain), err
}

// peekFrame makes sure the read-ahead buffer holds the next whole Noise
// message, and returns its length; the 2-byte length before it is
// consumed. It returns io.EOF alone when the connection ends cleanly
// before the message.
func (c *Conn) peekFrame() (int, error) {
	if c.peeked >= 0 {
		return c.peeked, nil // the length was read by the last call
	}
	hdr, err := c.br.Peek(2)
	if err != nil {
		if len(hdr) > 0 && err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, frameError(err)
	}
	n := int(binary.BigEndian.Uint16(hdr))
	c.br.Discard(2)
	c.peeked = n
	if _, err := c.br.Peek(n); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, frameError(err)
	}
	return n, nil
}

// decryptFrame decrypts the Noise message of n bytes that peekFrame left
// in the read-ahead buffer, appending the plaintext to dst, whose
// capacity must not overlap the buffer, and consumes it.
func (c *Conn) decryptFrame(dst []byte, n int) ([]byte, error) {
	msg, _ := c.br.Peek(n)
	c.peeked = -1
	if n < tagSize {
		return nil, fmt.Errorf("secure: %w: a Noise message of %d bytes, shorter than its %d-byte tag", ErrProtocol, n, tagSize)
	}
	plain, err := c.recv.Decrypt(dst, nil, msg)
	c.br.Discard(n)
	if err != nil {
		return nil, fmt.Errorf("secure: %w: a Noise message does not decrypt (corrupted or tampered with): %w", ErrProtocol, err)
	}
	return plain, nil
}

// frameError describes an error of reading a Noise message: io.EOF alone
// for a clean end before it.
func frameError(err error) error {
	switch {
	case err == io.EOF:
		return io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("secure: the connection ended in the middle of a Noise message: %w", err)
	}
	return fmt.Errorf("secure: read: %w", err)
}

// readFrame reads one handshake message, framed by its 2-byte length,
// into c.rbuf. It returns io.EOF if the connection ends before the frame
// and io.ErrUnexpectedEOF if it ends inside it.
func (c *Conn) readFrame() ([]byte, error) {
	if _, err := io.ReadFull(c.conn, c.rhdr[:]); err != nil {
		return nil, err
	}
	msg := c.rbuf[:binary.BigEndian.Uint16(c.rhdr[:])]
	if _, err := io.ReadFull(c.conn, msg); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return msg, nil
}

// messageReader cuts the decrypted byte stream into messages:
//
//	message = uvarint(length) body    1 <= length <= MaxMessage
//
// It knows nothing of Noise: next supplies the stream in pieces of any
// size, each valid until the next call, and returns io.EOF alone at a
// clean end. Noise message boundaries mean nothing to it.
type messageReader struct {
	next func() ([]byte, error)
	// direct, if set, puts the next piece straight into dst if it fits
	// there whole, and returns its length, or 0 to have next return it.
	// It saves copying the large messages that fill whole pieces.
	direct func(dst []byte) (int, error)
	buf    []byte // the unread rest of the current piece
}

// readMessage returns the next message body in a fresh slice. It allocates
// only once the length has been checked against MaxMessage.
func (r *messageReader) readMessage() ([]byte, error) {
	n, err := r.readLength()
	if err != nil {
		return nil, err
	}
	body := make([]byte, n)
	for off := 0; off < n; {
		if len(r.buf) == 0 && r.direct != nil {
			k, err := r.direct(body[off:])
			if err != nil {
				return nil, midMessage(err)
			}
			if k > 0 {
				off += k
				continue
			}
		}
		if err := r.fill(); err != nil {
			return nil, midMessage(err)
		}
		k := copy(body[off:], r.buf)
		r.buf = r.buf[k:]
		off += k
	}
	return body, nil
}

// readLength reads and checks a message's length prefix, whose bytes may
// lie in different pieces.
func (r *messageReader) readLength() (int, error) {
	var v [binary.MaxVarintLen64]byte
	k := 0
	for k == 0 || v[k-1] >= 0x80 {
		if k == len(v) {
			return 0, fmt.Errorf("secure: %w: malformed message length: varint longer than %d bytes", ErrProtocol, len(v))
		}
		if err := r.fill(); err != nil {
			if k == 0 && err == io.EOF {
				return 0, io.EOF
			}
			return 0, midMessage(err)
		}
		v[k] = r.buf[0]
		r.buf = r.buf[1:]
		k++
	}
	n, _, err := readUvarint(v[:k])
	switch {
	case err != nil:
		return 0, fmt.Errorf("secure: %w: malformed message length: %w", ErrProtocol, err)
	case n == 0:
		return 0, fmt.Errorf("secure: %w: a message of length 0", ErrProtocol)
	case n > MaxMessage:
		return 0, fmt.Errorf("secure: %w: message of %d bytes exceeds the 16 MiB limit", ErrProtocol, n)
	}
	return int(n), nil
}

// fill makes sure r.buf holds at least one byte, skipping empty pieces
// (an empty Noise message is allowed).
func (r *messageReader) fill() error {
	for len(r.buf) == 0 {
		p, err := r.next()
		if err != nil {
			return err
		}
		r.buf = p
	}
	return nil
}

// midMessage turns a clean end of the stream, which is not clean when it
// cuts a message short, into an error saying so.
func midMessage(err error) error {
	if err == io.EOF {
		return fmt.Errorf("secure: the connection ended in the middle of a message: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// WriteMessage sends body, 1 to MaxMessage bytes, as one message. It
// appends the message to a buffer of one Noise message's worth of
// plaintext and sends each Noise message as soon as it is full, so a large
// body streams out while a small one waits for more messages or for
// Flush: call Flush when the peer should see what was written.
//
// Writers are serialised, and a message is never interleaved with
// another, so WriteMessage blocks while another writer is sending. It
// does not keep body. A body of 0 or more than MaxMessage bytes is
// refused with an error wrapping sdk.ErrInvalid, and nothing is sent. A failed write is final: the Noise nonces are out of
// step with the peer's, so every later write fails the same way.
func (c *Conn) WriteMessage(body []byte) error {
	if len(body) == 0 || len(body) > MaxMessage {
		return fmt.Errorf("secure: cannot send a message of %d bytes: it must be between 1 byte and the 16 MiB limit: %w", len(body), sdk.ErrInvalid)
	}
	var hdr [binary.MaxVarintLen64]byte
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	if err := c.buffer(binary.AppendUvarint(hdr[:0], uint64(len(body)))); err != nil {
		return err
	}
	return c.buffer(body)
}

// Flush sends what WriteMessage has buffered.
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.writable(); err != nil {
		return err
	}
	if c.wn == 0 {
		return nil
	}
	return c.sendFrame()
}

func (c *Conn) writable() error {
	if c.writeErr != nil {
		return c.writeErr
	}
	if c.closed.Load() {
		return errClosed("write")
	}
	return nil
}

// buffer appends p to the plaintext stream, sending each Noise message as
// it fills. A whole Noise message's worth of p is encrypted straight from
// p, without copying it into the buffer first.
func (c *Conn) buffer(p []byte) error {
	for len(p) > 0 {
		if c.wn == 0 && len(p) >= maxPlain {
			if err := c.sendFrameOf(p[:maxPlain]); err != nil {
				return err
			}
			p = p[maxPlain:]
			continue
		}
		k := copy(c.wbuf[2+c.wn:2+maxPlain], p)
		c.wn += k
		p = p[k:]
		if c.wn == maxPlain {
			if err := c.sendFrame(); err != nil {
				return err
			}
		}
	}
	return nil
}

// sendFrame encrypts the buffered plaintext in place, after the 2-byte
// length, and writes the frame.
func (c *Conn) sendFrame() error {
	return c.sendFrameOf(c.wbuf[2 : 2+c.wn])
}

// sendFrameOf encrypts plain, the buffered plaintext or a whole Noise
// message's worth of a body, into the buffer after the 2-byte length, and
// writes the frame.
func (c *Conn) sendFrameOf(plain []byte) error {
	msg, err := c.send.Encrypt(c.wbuf[2:2], nil, plain)
	if err == nil {
		binary.BigEndian.PutUint16(c.wbuf, uint16(len(msg)))
		_, err = c.conn.Write(c.wbuf[:2+len(msg)])
	}
	c.wn = 0
	if err != nil {
		if c.closed.Load() {
			c.writeErr = errClosed("write")
		} else {
			c.writeErr = fmt.Errorf("secure: write: %w", err)
		}
		return c.writeErr
	}
	return nil
}
