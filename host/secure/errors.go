package secure

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/codrive/codrive/sdk"
)

var (
	// ErrHandshake is wrapped by the errors of a handshake that failed
	// after the magic was recognised: a handshake message that does not
	// authenticate or parse, a malformed Hello, or a connection that
	// ended or broke in the middle.
	ErrHandshake = errors.New("handshake failed")

	// ErrProtocol is wrapped by the errors of a peer that broke the rules
	// of the message stream after the handshake: a Noise message that
	// does not decrypt, or a message length that is malformed, zero or
	// over MaxMessage. PROTOCOL.md section 8 says to close the connection.
	ErrProtocol = errors.New("protocol error")
)

// NotCodriveError reports a peer whose first bytes are not the codrive
// magic: something other than a codrive host dialed or answered.
type NotCodriveError struct {
	// Received is what the peer sent instead of a preamble: at most 8
	// bytes.
	Received []byte
}

func (e *NotCodriveError) Error() string {
	return fmt.Sprintf("secure: not a codrive peer: it sent %+q instead of the preamble", e.Received)
}

// VersionError reports two Hellos whose version ranges do not overlap.
// Both sides of such a handshake return one.
type VersionError struct {
	Local, Peer Hello
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("protocol version mismatch: we speak %d-%d (%s), the peer speaks %d-%d (%s)",
		e.Local.MinVersion, e.Local.MaxVersion, forLog(e.Local.Client),
		e.Peer.MinVersion, e.Peer.MaxVersion, forLog(e.Peer.Client))
}

// maxLogString is how much of a peer-chosen string goes into an error.
const maxLogString = 64

// forLog makes a string the peer chose safe for a one-line error: cut to
// maxLogString bytes, and quoted with escapes if it holds anything but
// printable characters.
func forLog(s string) string {
	if len(s) > maxLogString {
		cut := 0
		for i := range s { // rune boundaries
			if i > maxLogString {
				break
			}
			cut = i
		}
		s = s[:cut] + "..."
	}
	if strings.IndexFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) >= 0 {
		return strconv.QuoteToASCII(s)
	}
	return s
}

// errClosed is what a Conn returns once Close has been called.
func errClosed(op string) error {
	return fmt.Errorf("secure: %s on a %w connection", op, sdk.ErrClosed)
}
