// Package swarm keeps a replicator's connections. A Swarm listens on
// transports and hands every connection it accepts to the replicator, and
// keeps a connection to every address it is asked to connect to: it
// dials, runs the replication session, and redials with exponential
// backoff whenever the session ends, until it is told to stop.
//
// An address goes to the first transport whose CanDial accepts it, for
// listening and for dialing alike. A Swarm does not own its replicator or
// its transports: Close stops what the swarm started (listeners, redial
// loops, the connections it accepted or dialed) and leaves the replicator
// and the transports open for the caller to close.
//
// Duplicate connections are resolved by the replicator (both hosts keep
// the connection dialed by the smaller peer key). When the replicator
// drops a dialed connection as a duplicate, the swarm does not redial
// that peer while another connection to it exists; it checks again every
// Backoff.Max.
package swarm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/sdk"
)

// Defaults for Config.
const (
	DefaultMinBackoff       = 100 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	DefaultStableAfter      = 30 * time.Second
	DefaultDialTimeout      = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
)

// Accept errors other than a closed listener (such as EMFILE) are retried
// after a delay that doubles from acceptMinDelay to acceptMaxDelay, so a
// lasting failure does not spin.
const (
	acceptMinDelay = 5 * time.Millisecond
	acceptMaxDelay = time.Second
)

// Config configures a Swarm. The zero value of every field but
// Transports means its default.
type Config struct {
	// Transports dial and listen. An address goes to the first one whose
	// CanDial accepts it.
	Transports []sdk.Transport
	// Logger receives connection events: Info for dialed connections
	// that end, Debug for dials and failed dials, Warn for listeners that
	// fail. Nil means slog.Default().
	Logger *slog.Logger
	// MinBackoff is the wait before the first redial after a connection
	// ends or a dial fails; each further failure doubles it, up to
	// MaxBackoff. Waits are jittered by ±20% so that many hosts that lost
	// the same peer do not redial it in step.
	MinBackoff, MaxBackoff time.Duration
	// StableAfter: a connection that lasted at least this long resets the
	// backoff to MinBackoff when it ends.
	StableAfter time.Duration
	// DialTimeout bounds one dial.
	DialTimeout time.Duration
	// HandshakeTimeout bounds the secure handshake of every connection,
	// dialed or accepted, so that a peer that connects and says nothing
	// does not hold a connection open.
	HandshakeTimeout time.Duration
}

// ErrClosed: the swarm is closed. It matches sdk.ErrClosed.
var ErrClosed = fmt.Errorf("swarm %w", sdk.ErrClosed)

// Swarm keeps a replicator's listeners and outgoing connections. Its
// methods are safe for concurrent use.
type Swarm struct {
	r   *replicate.Replicator
	cfg Config
	log *slog.Logger

	ctx    context.Context // done when the swarm closes
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the swarm started

	mu        sync.Mutex
	closed    bool
	listeners []*listener
	dialers   map[string]*dialer // by address
	conns     map[sdk.Conn]struct{}
}

// listener is one bound address and its accept loop.
type listener struct {
	ln sdk.Listener
}

// dialer keeps one address connected.
type dialer struct {
	addr ma.Multiaddr
	tr   sdk.Transport
	stop chan struct{} // closed by Disconnect and Close

	conn sdk.Conn // the current connection, if any; s.mu
}

// New returns a swarm for r with nothing to do yet: call Listen and
// Connect.
func New(r *replicate.Replicator, cfg Config) *Swarm {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.StableAfter <= 0 {
		cfg.StableAfter = DefaultStableAfter
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	cfg.Transports = append([]sdk.Transport(nil), cfg.Transports...)
	ctx, cancel := context.WithCancel(context.Background())
	return &Swarm{
		r: r, cfg: cfg, log: cfg.Logger,
		ctx: ctx, cancel: cancel,
		dialers: make(map[string]*dialer),
		conns:   make(map[sdk.Conn]struct{}),
	}
}

// transportFor returns the first transport that handles addr. An address
// none of them handles is an error wrapping sdk.ErrInvalid.
func (s *Swarm) transportFor(addr ma.Multiaddr) (sdk.Transport, error) {
	if len(addr) == 0 {
		return nil, fmt.Errorf("swarm: empty multiaddr: %w", sdk.ErrInvalid)
	}
	for _, tr := range s.cfg.Transports {
		if tr.CanDial(addr) {
			return tr, nil
		}
	}
	if len(s.cfg.Transports) == 0 {
		return nil, fmt.Errorf("swarm: no transport for %s: the swarm has no transports: %w", addr, sdk.ErrInvalid)
	}
	return nil, fmt.Errorf("swarm: no transport for %s: none of the %d transports handles this kind of address (TCP takes /ip4, /ip6 or /dns, then /tcp/<port>): %w",
		addr, len(s.cfg.Transports), sdk.ErrInvalid)
}

// Listen binds addr on the first transport that handles it and accepts
// connections on it until Close, handing each to the replicator. It
// returns the bound address, with the port the system chose if addr had
// port 0. ctx bounds the binding only. An address no transport handles is
// an error wrapping sdk.ErrInvalid.
func (s *Swarm) Listen(ctx context.Context, addr ma.Multiaddr) (ma.Multiaddr, error) {
	tr, err := s.transportFor(addr)
	if err != nil {
		return nil, err
	}
	if s.isClosed() {
		return nil, ErrClosed
	}
	ln, err := tr.Listen(ctx, addr)
	if err != nil {
		return nil, err
	}
	l := &listener{ln: ln}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil, ErrClosed
	}
	s.listeners = append(s.listeners, l)
	s.wg.Add(1)
	s.mu.Unlock()
	go s.accept(l)
	return ln.Addr(), nil
}

// accept runs one listener's accept loop.
func (s *Swarm) accept(l *listener) {
	defer s.wg.Done()
	defer s.forgetListener(l)
	var delay time.Duration
	for {
		c, err := l.ln.Accept(s.ctx)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			if errors.Is(err, sdk.ErrClosed) {
				s.log.Warn("listener closed under the swarm; no longer accepting", "addr", l.ln.Addr(), "error", err)
				return
			}
			delay = min(max(2*delay, acceptMinDelay), acceptMaxDelay)
			s.log.Warn("accept failed", "addr", l.ln.Addr(), "error", err, "retry_in", delay)
			if !s.sleep(nil, delay) {
				return
			}
			continue
		}
		delay = 0
		if !s.spawn(func() {
			err := s.handle(c, false, nil)
			s.log.Debug("incoming connection ended", "remote", c.RemoteAddr(), "error", err)
		}) {
			c.Close()
			return
		}
	}
}

func (s *Swarm) forgetListener(l *listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.listeners {
		if x == l {
			s.listeners = append(s.listeners[:i], s.listeners[i+1:]...)
			break
		}
	}
}

// spawn runs fn in a goroutine Close waits for, unless the swarm is
// closed.
func (s *Swarm) spawn(fn func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
	return true
}

// Connect keeps a connection to addr until Disconnect or Close: it dials
// with the first transport that handles addr and runs the replication
// session over the connection; whenever the session ends or a dial fails
// it dials again, after a backoff that doubles from MinBackoff to
// MaxBackoff and resets once a connection has lasted StableAfter. If the
// replicator drops the connection as a duplicate of another one to the
// same peer, Connect dials again only once no connection to that peer is
// left, checking every MaxBackoff.
//
// Connect returns at once. An address no transport handles is an error
// wrapping sdk.ErrInvalid; connecting to an address already kept does
// nothing. The loop stops by itself if the replicator or the transport is
// closed.
func (s *Swarm) Connect(addr ma.Multiaddr) error {
	tr, err := s.transportFor(addr)
	if err != nil {
		return err
	}
	key := addr.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.dialers[key] != nil {
		return nil
	}
	d := &dialer{addr: addr, tr: tr, stop: make(chan struct{})}
	s.dialers[key] = d
	s.wg.Add(1)
	go s.keep(d)
	return nil
}

// Disconnect stops keeping a connection to addr and closes the current
// one, if any. It does nothing for an address Connect was not given.
func (s *Swarm) Disconnect(addr ma.Multiaddr) {
	s.mu.Lock()
	d := s.dialers[addr.String()]
	var c sdk.Conn
	if d != nil {
		delete(s.dialers, addr.String())
		close(d.stop)
		c = d.conn
	}
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// keep is the dial loop of one address.
func (s *Swarm) keep(d *dialer) {
	defer s.wg.Done()
	defer s.forgetDialer(d)
	backoff := s.cfg.MinBackoff
	grow := func() { backoff = min(2*backoff, s.cfg.MaxBackoff) }
	for failures := 0; ; {
		c, err := s.dial(d)
		if err != nil {
			if s.stopping(d) {
				return
			}
			if errors.Is(err, sdk.ErrClosed) {
				s.log.Warn("no longer connecting: the transport is closed", "addr", d.addr, "error", err)
				return
			}
			failures++
			s.log.Debug("dial failed", "addr", d.addr, "attempt", failures, "error", err, "retry_in", backoff)
			if !s.sleep(d, backoff) {
				return
			}
			grow()
			continue
		}

		start := time.Now()
		s.log.Debug("dialed", "addr", d.addr, "failed_dials", failures)
		failures = 0
		err = s.handle(c, true, d)
		if s.stopping(d) {
			return
		}
		if errors.Is(err, replicate.ErrClosed) {
			s.log.Warn("no longer connecting: the replicator is closed", "addr", d.addr)
			return
		}
		if time.Since(start) >= s.cfg.StableAfter {
			backoff = s.cfg.MinBackoff
		}
		if peer, ok := duplicatePeer(err); ok {
			// Both hosts agreed to keep another connection to this peer.
			// Dialing again while it lasts would only make another
			// duplicate.
			s.log.Debug("connection kept elsewhere; waiting while it lasts", "addr", d.addr, "peer", peer)
			for s.connected(peer) {
				if !s.sleep(d, s.cfg.MaxBackoff) {
					return
				}
			}
			backoff = s.cfg.MinBackoff
			continue
		}
		s.log.Info("connection ended", "addr", d.addr, "lasted", time.Since(start).Round(time.Millisecond), "error", err, "redial_in", backoff)
		if !s.sleep(d, backoff) {
			return
		}
		grow()
	}
}

// dial opens a connection to d's address, bounded by DialTimeout and
// abandoned when the dialer stops.
func (s *Swarm) dial(d *dialer) (sdk.Conn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-d.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	c, err := d.tr.Dial(ctx, d.addr)
	cancel()
	<-watched
	return c, err
}

func (s *Swarm) forgetDialer(d *dialer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dialers[d.addr.String()] == d {
		delete(s.dialers, d.addr.String())
	}
}

// handle runs the replication session over c until it ends, tracking c
// so that Close (and, for a dialed connection, Disconnect) can end it.
func (s *Swarm) handle(c sdk.Conn, initiator bool, d *dialer) error {
	s.mu.Lock()
	if s.closed || (d != nil && isDone(d.stop)) {
		s.mu.Unlock()
		c.Close()
		return ErrClosed
	}
	s.conns[c] = struct{}{}
	if d != nil {
		d.conn = c
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		if d != nil && d.conn == c {
			d.conn = nil
		}
		s.mu.Unlock()
	}()

	// The context bounds the handshake; the session after it ends when
	// the connection does.
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.HandshakeTimeout)
	defer cancel()
	err := s.r.Handle(ctx, c, initiator)
	c.Close()
	return err
}

// connected reports whether the replicator has a connection to peer.
func (s *Swarm) connected(peer sdk.PeerKey) bool {
	for _, k := range s.r.Peers() {
		if k == peer {
			return true
		}
	}
	return false
}

// duplicatePeer returns the peer of a session the replicator ended as a
// duplicate.
func duplicatePeer(err error) (sdk.PeerKey, bool) {
	var dup *replicate.DuplicateError
	if !errors.As(err, &dup) {
		return sdk.PeerKey{}, false
	}
	return dup.Peer, true
}

// sleep waits about d (jittered by ±20%), and reports false if the swarm
// closed or the dialer, if any, stopped meanwhile.
func (s *Swarm) sleep(dl *dialer, d time.Duration) bool {
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	t := time.NewTimer(d)
	defer t.Stop()
	var stop <-chan struct{}
	if dl != nil {
		stop = dl.stop
	}
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	case <-stop:
		return false
	}
}

// stopping reports whether the swarm is closing or the dialer stopped.
func (s *Swarm) stopping(d *dialer) bool {
	return s.ctx.Err() != nil || isDone(d.stop)
}

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (s *Swarm) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// Addrs returns the addresses the swarm listens on.
func (s *Swarm) Addrs() []ma.Multiaddr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ma.Multiaddr, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, l.ln.Addr())
	}
	return out
}

// Close stops listening, stops every redial loop, closes every connection
// the swarm accepted or dialed (which ends their sessions) and waits for
// all of the swarm's goroutines to return. It leaves the replicator and
// the transports open. Calling Close again only waits.
func (s *Swarm) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closed = true
	s.cancel()
	listeners := s.listeners
	s.listeners = nil
	for _, d := range s.dialers {
		close(d.stop)
	}
	s.dialers = nil
	conns := make([]sdk.Conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()

	var errs []error
	for _, l := range listeners {
		if err := l.ln.Close(); err != nil && !errors.Is(err, sdk.ErrClosed) {
			errs = append(errs, fmt.Errorf("swarm: close listener %s: %w", l.ln.Addr(), err))
		}
	}
	for _, c := range conns {
		c.Close()
	}
	s.wg.Wait()
	return errors.Join(errs...)
}
