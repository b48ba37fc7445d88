// Package secure is the secure channel of the codrive replication protocol
// (PROTOCOL.md, sections 2 to 4). It turns an untrusted [sdk.Conn] into an
// authenticated, encrypted stream of messages between two host identities.
//
// The layers, bottom up:
//
//	preamble  "codrive" and a version byte each way, in the clear
//	Noise     Noise_XX_25519_ChaChaPoly_BLAKE2b with the two preambles as
//	          prologue; handshake messages 2 and 3 carry each side's Hello
//	stream    Noise transport messages (a 2-byte length, then at most
//	          65,535 bytes of ciphertext) carrying one byte stream per
//	          direction, cut into uvarint-length-prefixed messages
//
// The dialer calls [Client] and the accepting side [Server]. Both return a
// [Conn] once the handshake has authenticated the peer's static key, its
// [sdk.PeerKey], and the two Hellos have agreed on a protocol version. What
// the messages mean (channels, feeds) is the business of the layer above.
//
// Errors tell the cases apart: [*NotCodriveError] for a peer that is not
// codrive at all, [*VersionError] when the versions don't overlap,
// [ErrHandshake] for a handshake that failed, [ErrProtocol] for a peer that
// broke the message stream's rules afterwards.
package secure

import (
	"bufio"
	"bytes"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/flynn/noise"

	"github.com/codrive/codrive/sdk"
)

// MaxMessage is the largest message body, in bytes, that a Conn sends or
// accepts: 16 MiB.
const MaxMessage = 16 << 20

// Noise transport messages: the ciphertext is at most 65,535 bytes, 16 of
// which are the ChaCha20-Poly1305 tag.
const (
	maxFrame = noise.MaxMsgLen
	tagSize  = 16
	maxPlain = maxFrame - tagSize
)

// readBuffer is how much a Conn reads from the connection at a time once
// the handshake is done: several Noise messages per read system call,
// which for large messages cost as much as the decryption.
const readBuffer = 256 << 10

// Conn is an authenticated, encrypted message stream over an [sdk.Conn],
// made by [Client] or [Server].
//
// One goroutine may read while any number write, and Close may be called
// at any time from anywhere. A Conn keeps one Noise message's worth of
// buffer (64 KiB) for writing, and readBuffer bytes (256 KiB) read ahead
// and one Noise message's worth for reading.
type Conn struct {
	conn      sdk.Conn
	initiator bool
	remote    sdk.PeerKey
	hash      []byte
	version   uint64
	local     Hello
	peer      Hello

	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error

	// Reading belongs to the one reader.
	recv    *noise.CipherState
	rhdr    [2]byte
	rbuf    []byte        // one Noise message's plaintext
	br      *bufio.Reader // reads ahead, after the handshake
	peeked  int           // the length of the Noise message in br whose length was consumed, or -1
	msgs    messageReader
	readErr error // sticky: the stream can't be resynchronised

	// Writing is serialised by wmu.
	wmu      sync.Mutex
	send     *noise.CipherState
	wbuf     []byte // a frame being filled: 2-byte length, then plaintext
	wn       int    // bytes of plaintext in wbuf
	writeErr error  // sticky: a failed write leaves the peer out of step
}

func newConn(c sdk.Conn, initiator bool, local Hello) *Conn {
	local.Features = slices.Clone(local.Features) // the caller may reuse its slice
	sc := &Conn{
		conn:      c,
		initiator: initiator,
		local:     local,
		rbuf:      make([]byte, maxFrame),
		peeked:    -1,
		wbuf:      make([]byte, 2+maxFrame),
	}
	sc.msgs.next = sc.readPlaintext
	sc.msgs.direct = sc.readPlaintextInto
	return sc
}

// RemoteKey is the peer's static public key, authenticated by the
// handshake.
func (c *Conn) RemoteKey() sdk.PeerKey { return c.remote }

// Initiator reports whether this side dialed, that is, was the Noise
// initiator. Channel capabilities depend on it (PROTOCOL.md section 5).
func (c *Conn) Initiator() bool { return c.initiator }

// HandshakeHash is the Noise handshake hash h, the same on both sides and
// unique to the connection; channel capabilities bind to it. It returns a
// copy.
func (c *Conn) HandshakeHash() []byte { return bytes.Clone(c.hash) }

// Version is the negotiated protocol version: the highest one both Hellos
// allow.
func (c *Conn) Version() uint64 { return c.version }

// PeerHello is what the peer said about itself in the handshake. It
// returns a copy.
func (c *Conn) PeerHello() Hello {
	h := c.peer
	h.Features = slices.Clone(h.Features)
	return h
}

// Shared reports whether both Hellos list feature.
func (c *Conn) Shared(feature string) bool {
	return slices.Contains(c.local.Features, feature) && slices.Contains(c.peer.Features, feature)
}

// Close closes the underlying connection, which unblocks a pending
// ReadMessage, WriteMessage or Flush. It does not flush: what is still
// buffered is dropped. Calling Close again returns the first call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.closed.Store(true)
		c.closeErr = c.conn.Close()
	})
	return c.closeErr
}
