// Package tcp is an [sdk.Transport] over TCP.
//
// It dials multiaddrs of the forms
//
//	/ip4/<address>/tcp/<port>
//	/ip6/<address>/tcp/<port>
//	/dns/<name>/tcp/<port>
//	/dns4/<name>/tcp/<port>
//	/dns6/<name>/tcp/<port>
//
// and listens on the /ip4 and /ip6 ones. A name is resolved when it is
// dialed, under the dial's context; /dns4 and /dns6 keep to IPv4 and IPv6
// addresses. Port 0 in a listen address asks the system for a free port,
// which the listener's Addr reports.
//
// Connections carry no security of their own: the host runs a Noise
// handshake over every one.
package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/sdk"
)

// keepAlive probes a connection that has been idle for 15 s and gives up
// after three unanswered probes, so a peer that vanished without closing
// (a crash, a dropped link) is noticed within about a minute rather than
// on the next write.
var keepAlive = net.KeepAliveConfig{
	Enable:   true,
	Idle:     15 * time.Second,
	Interval: 15 * time.Second,
	Count:    3,
}

// Transport is an [sdk.Transport] over TCP. It keeps track of every
// listener and connection it opens, so that Close can close them all. It
// is safe for concurrent use.
//
// The zero Transport is not usable; call [New].
type Transport struct {
	mu        sync.Mutex
	closed    bool
	listeners map[*Listener]struct{}
	conns     map[*Conn]struct{}
}

var _ sdk.Transport = (*Transport)(nil)

// New returns a TCP transport.
func New() *Transport {
	return &Transport{
		listeners: make(map[*Listener]struct{}),
		conns:     make(map[*Conn]struct{}),
	}
}

// CanDial reports whether addr is an /ip4, /ip6, /dns, /dns4 or /dns6
// address followed by /tcp/<port> and nothing else.
func (t *Transport) CanDial(addr ma.Multiaddr) bool {
	_, err := parseAddr(addr)
	return err == nil
}

// Dial connects to addr. It gives up when ctx is done, whether it is
// resolving a name or waiting for the connection. An address CanDial
// rejects fails with an error wrapping [sdk.ErrInvalid]; after Close, Dial
// fails with [sdk.ErrClosed].
func (t *Transport) Dial(ctx context.Context, addr ma.Multiaddr) (sdk.Conn, error) {
	ep, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	if t.isClosed() {
		return nil, fmt.Errorf("tcp: dial %s: transport %w", addr, sdk.ErrClosed)
	}
	d := net.Dialer{KeepAliveConfig: keepAlive}
	nc, err := d.DialContext(ctx, ep.network, ep.hostPort)
	if err != nil {
		// The net package reports a connect cut short by the context's
		// deadline as an i/o timeout, at times before the context itself
		// reports it. The dialer has no deadline of its own, so wrap the
		// context's error too, for callers (and the plugin boundary) to
		// tell.
		ctxErr := ctx.Err()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			ctxErr = context.DeadlineExceeded
		}
		if ctxErr != nil && !errors.Is(err, ctxErr) {
			return nil, fmt.Errorf("tcp: dial %s: %w: %w", addr, ctxErr, err)
		}
		return nil, fmt.Errorf("tcp: dial %s: %w", addr, err)
	}
	c, err := t.newConn(nc.(*net.TCPConn))
	if err != nil {
		return nil, fmt.Errorf("tcp: dial %s: %w", addr, err)
	}
	return c, nil
}

// Listen binds addr, which must be an /ip4 or /ip6 address: a name would
// leave it unclear which of its addresses to bind. Connections accepted
// on the listener get the same keep-alive and no-delay settings as dialed
// ones.
func (t *Transport) Listen(ctx context.Context, addr ma.Multiaddr) (sdk.Listener, error) {
	ep, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	if ep.isName {
		return nil, fmt.Errorf("tcp: cannot listen on %q: a listen address needs an IP address, not a name: %w", addr.String(), sdk.ErrInvalid)
	}
	if t.isClosed() {
		return nil, fmt.Errorf("tcp: listen on %s: transport %w", addr, sdk.ErrClosed)
	}
	lc := net.ListenConfig{KeepAliveConfig: keepAlive}
	nl, err := lc.Listen(ctx, ep.network, ep.hostPort)
	if err != nil {
		return nil, fmt.Errorf("tcp: listen on %s: %w", addr, err)
	}
	l, err := newListener(t, nl.(*net.TCPListener))
	if err != nil {
		nl.Close()
		return nil, fmt.Errorf("tcp: listen on %s: %w", addr, err)
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		nl.Close()
		return nil, fmt.Errorf("tcp: listen on %s: transport %w", addr, sdk.ErrClosed)
	}
	t.listeners[l] = struct{}{}
	t.mu.Unlock()
	go l.acceptLoop()
	return l, nil
}

// Close closes every listener and connection the transport opened and
// still has open. Dial and Listen fail with [sdk.ErrClosed] afterwards.
// Calling Close again does nothing.
func (t *Transport) Close() error {
	t.mu.Lock()
	t.closed = true
	listeners, conns := t.listeners, t.conns
	t.listeners, t.conns = nil, nil
	t.mu.Unlock()

	var errs []error
	for l := range listeners {
		errs = append(errs, l.Close())
	}
	for c := range conns {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (t *Transport) isClosed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

// newConn sets up and tracks a dialed or accepted connection. It closes
// tc if it fails.
func (t *Transport) newConn(tc *net.TCPConn) (*Conn, error) {
	c, err := wrapConn(t, tc)
	if err != nil {
		tc.Close()
		return nil, err
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		tc.Close()
		return nil, fmt.Errorf("transport %w", sdk.ErrClosed)
	}
	t.conns[c] = struct{}{}
	return c, nil
}

func (t *Transport) forgetConn(c *Conn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
}

func (t *Transport) forgetListener(l *Listener) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.listeners, l)
}

// endpoint is a parsed address, ready for the net package.
type endpoint struct {
	network  string // "tcp", "tcp4" or "tcp6"
	hostPort string
	isName   bool // a DNS name rather than an IP address
}

// networks maps the first component of a supported address to the
// network to dial: /dns may resolve to either family.
var networks = map[int]string{
	ma.P_IP4:  "tcp4",
	ma.P_IP6:  "tcp6",
	ma.P_DNS:  "tcp",
	ma.P_DNS4: "tcp4",
	ma.P_DNS6: "tcp6",
}

// parseAddr accepts exactly an IP address or DNS name followed by a TCP
// port. Anything more (a /p2p suffix, /ws) is for another transport.
func parseAddr(addr ma.Multiaddr) (endpoint, error) {
	if len(addr) != 2 || addr[1].Code() != ma.P_TCP {
		return endpoint{}, unsupported(addr)
	}
	network, ok := networks[addr[0].Code()]
	if !ok {
		return endpoint{}, unsupported(addr)
	}
	code := addr[0].Code()
	return endpoint{
		network:  network,
		hostPort: net.JoinHostPort(addr[0].Value(), addr[1].Value()),
		isName:   code == ma.P_DNS || code == ma.P_DNS4 || code == ma.P_DNS6,
	}, nil
}

func unsupported(addr ma.Multiaddr) error {
	return fmt.Errorf("tcp: unsupported address %q: want /ip4, /ip6, /dns, /dns4 or /dns6, then /tcp/<port>: %w", addr.String(), sdk.ErrInvalid)
}
