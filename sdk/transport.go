package sdk

import (
	"context"
	"io"

	ma "github.com/multiformats/go-multiaddr"
)

// PeerAddr is where a peer can be reached: its Noise static key, if known,
// and the multiaddrs it listens on (such as /ip4/127.0.0.1/tcp/4100).
type PeerAddr struct {
	Key   PeerKey
	Addrs []ma.Multiaddr
}

// Conn is a reliable, ordered byte stream between two hosts. Transports are
// untrusted pipes: the host runs a Noise handshake over every Conn and
// encrypts everything it sends, so a Conn need not be secure itself.
type Conn interface {
	io.ReadWriteCloser
	// LocalAddr and RemoteAddr are the two ends as multiaddrs.
	LocalAddr() ma.Multiaddr
	RemoteAddr() ma.Multiaddr
}

// Listener accepts incoming connections.
type Listener interface {
	// Accept waits for the next connection. It fails with ErrClosed once
	// the listener is closed.
	Accept(ctx context.Context) (Conn, error)
	// Addr is the address the listener is bound to, with any port chosen
	// by the system filled in.
	Addr() ma.Multiaddr
	// Close stops listening. Connections already accepted stay open.
	Close() error
}

// Transport dials and listens on multiaddrs.
type Transport interface {
	// CanDial reports whether this transport handles the address (for
	// example /ip4/.../tcp/N for a TCP transport).
	CanDial(addr ma.Multiaddr) bool
	// Dial opens a connection to addr.
	Dial(ctx context.Context, addr ma.Multiaddr) (Conn, error)
	// Listen binds addr and accepts connections on it.
	Listen(ctx context.Context, addr ma.Multiaddr) (Listener, error)
	// Close closes every listener and connection the transport opened.
	Close() error
}

// Discovery is implemented by transports that can find peers for a topic
// (a discovery key) on their own, such as a DHT or local multicast.
type Discovery interface {
	// Announce makes this host findable under topic, at the given
	// addresses, until ctx is done.
	Announce(ctx context.Context, topic DiscoveryKey, self PeerAddr) error
	// FindPeers reports peers announced under topic on the returned
	// channel, which is closed when ctx is done or the search ends.
	FindPeers(ctx context.Context, topic DiscoveryKey) (<-chan PeerAddr, error)
}
