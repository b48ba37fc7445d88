package tcp

import (
	"fmt"
	"net"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/codrive/codrive/sdk"
)

// Conn is a TCP connection. Besides [sdk.Conn] it has the deadline methods
// of [net.Conn]; only its address methods differ from net.Conn's, returning
// multiaddrs. It is safe for concurrent use as a net.Conn is.
type Conn struct {
	tc            *net.TCPConn
	local, remote ma.Multiaddr
	t             *Transport

	closeOnce sync.Once
	closeErr  error
}

var _ sdk.Conn = (*Conn)(nil)

// wrapConn applies the socket options and works out the multiaddrs.
func wrapConn(t *Transport, tc *net.TCPConn) (*Conn, error) {
	// No delay is Go's default too; it is stated because the host's
	// Noise messages are written whole and should leave at once rather
	// than wait for an acknowledgement of the previous one (Nagle).
	if err := tc.SetNoDelay(true); err != nil {
		return nil, fmt.Errorf("set TCP_NODELAY: %w", err)
	}
	local, err := manet.FromNetAddr(tc.LocalAddr())
	if err != nil {
		return nil, fmt.Errorf("local address %s: %w", tc.LocalAddr(), err)
	}
	remote, err := manet.FromNetAddr(tc.RemoteAddr())
	if err != nil {
		return nil, fmt.Errorf("remote address %s: %w", tc.RemoteAddr(), err)
	}
	return &Conn{tc: tc, local: local, remote: remote, t: t}, nil
}

// Read reads from the connection, as [net.Conn.Read] does.
func (c *Conn) Read(p []byte) (int, error) { return c.tc.Read(p) }

// Write writes to the connection, as [net.Conn.Write] does.
func (c *Conn) Write(p []byte) (int, error) { return c.tc.Write(p) }

// Close closes the connection and drops it from its transport. Calling it
// again returns the first call's result.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.t.forgetConn(c)
		c.closeErr = c.tc.Close()
	})
	return c.closeErr
}

// LocalAddr is this end's address, such as /ip4/127.0.0.1/tcp/53012.
func (c *Conn) LocalAddr() ma.Multiaddr { return c.local }

// RemoteAddr is the peer's address.
func (c *Conn) RemoteAddr() ma.Multiaddr { return c.remote }

// SetDeadline sets the read and write deadlines, as [net.Conn.SetDeadline]
// does.
func (c *Conn) SetDeadline(t time.Time) error { return c.tc.SetDeadline(t) }

// SetReadDeadline sets the read deadline, as [net.Conn.SetReadDeadline]
// does.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.tc.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline, as [net.Conn.SetWriteDeadline]
// does.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.tc.SetWriteDeadline(t) }
