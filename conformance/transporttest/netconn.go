package transporttest

import (
	"net"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/codrive/codrive/sdk"
)

// deadliner is the deadline half of net.Conn, which an sdk.Conn may have.
type deadliner interface {
	SetDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

// netConn gives an sdk.Conn with deadline methods the address methods of
// net.Conn, whose LocalAddr and RemoteAddr return a net.Addr rather than
// a multiaddr; everything else is the connection's own.
type netConn struct {
	sdk.Conn
	deadliner
}

var _ net.Conn = netConn{}

// asNetConn returns c as a net.Conn, or false if c has no deadline
// methods.
func asNetConn(c sdk.Conn) (net.Conn, bool) {
	d, ok := c.(deadliner)
	if !ok {
		return nil, false
	}
	return netConn{Conn: c, deadliner: d}, true
}

// LocalAddr is the connection's local multiaddr as a net.Addr.
func (c netConn) LocalAddr() net.Addr { return netAddr(c.Conn.LocalAddr()) }

// RemoteAddr is the connection's remote multiaddr as a net.Addr.
func (c netConn) RemoteAddr() net.Addr { return netAddr(c.Conn.RemoteAddr()) }

// netAddr converts a multiaddr to the net package's address for it, such
// as a *net.TCPAddr, or else wraps it.
func netAddr(m ma.Multiaddr) net.Addr {
	if a, err := manet.ToNetAddr(m); err == nil {
		return a
	}
	return multiaddrAddr{m}
}

// multiaddrAddr is a multiaddr the net package has no address type for.
type multiaddrAddr struct{ m ma.Multiaddr }

func (a multiaddrAddr) Network() string { return "multiaddr" }
func (a multiaddrAddr) String() string  { return a.m.String() }
