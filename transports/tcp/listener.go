package tcp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"

	"github.com/codrive/codrive/sdk"
)

// Listener accepts TCP connections. It is safe for concurrent use.
//
// A net.Listener's Accept cannot be cancelled by a context, so one
// goroutine per listener accepts and hands each connection to whichever
// Accept call is waiting. It holds at most one accepted connection at a
// time; the rest wait in the kernel's backlog.
type Listener struct {
	ln   *net.TCPListener
	addr ma.Multiaddr
	t    *Transport

	accepted chan acceptResult // unbuffered: the accept loop waits for a taker
	closing  chan struct{}     // closed first thing by Close
	done     chan struct{}     // closed when the accept loop has returned

	closeOnce sync.Once
	closeErr  error
}

var _ sdk.Listener = (*Listener)(nil)

// acceptResult is one connection, or one accept error, for Accept to
// return.
type acceptResult struct {
	conn *Conn
	err  error
}

// Accept backs off this long after a failed accept (such as EMFILE, out of
// file descriptors), doubling up to acceptMaxDelay, so that a lasting
// failure does not spin.
const (
	acceptMinDelay = 5 * time.Millisecond
	acceptMaxDelay = time.Second
)

func newListener(t *Transport, ln *net.TCPListener) (*Listener, error) {
	addr, err := manet.FromNetAddr(ln.Addr())
	if err != nil {
		return nil, fmt.Errorf("listener address %s: %w", ln.Addr(), err)
	}
	return &Listener{
		ln:       ln,
		addr:     addr,
		t:        t,
		accepted: make(chan acceptResult),
		closing:  make(chan struct{}),
		done:     make(chan struct{}),
	}, nil
}

// Accept waits for the next connection, or until ctx is done. Once the
// listener is closed it fails with an error wrapping [sdk.ErrClosed].
func (l *Listener) Accept(ctx context.Context) (sdk.Conn, error) {
	// A closed listener fails every time, even if the accept loop still
	// offers a connection it took just before Close.
	select {
	case <-l.closing:
		return nil, l.errClosed()
	default:
	}
	select {
	case r := <-l.accepted:
		if r.err != nil {
			return nil, r.err
		}
		return r.conn, nil
	case <-l.closing:
		return nil, l.errClosed()
	case <-ctx.Done():
		return nil, fmt.Errorf("tcp: accept on %s: %w", l.addr, ctx.Err())
	}
}

// Addr is the bound address, with the port the system chose if the listen
// address had port 0.
func (l *Listener) Addr() ma.Multiaddr { return l.addr }

// Close stops listening and waits for the accept loop to end. Connections
// already returned by Accept stay open. Calling Close again returns the
// first call's result.
func (l *Listener) Close() error {
	l.closeOnce.Do(func() {
		close(l.closing)
		l.t.forgetListener(l)
		l.closeErr = l.ln.Close()
		<-l.done
	})
	return l.closeErr
}

func (l *Listener) errClosed() error {
	return fmt.Errorf("tcp: accept on %s: listener %w", l.addr, sdk.ErrClosed)
}

func (l *Listener) acceptLoop() {
	defer close(l.done)
	var delay time.Duration
	for {
		var r acceptResult
		tc, err := l.ln.AcceptTCP()
		switch {
		case errors.Is(err, net.ErrClosed):
			return
		case err != nil:
			r.err = fmt.Errorf("tcp: accept on %s: %w", l.addr, err)
		default:
			if r.conn, err = l.t.newConn(tc); err != nil {
				// The peer is gone already, or the transport is closing
				// (and will close this listener): nothing to hand out.
				continue
			}
		}

		select {
		case l.accepted <- r:
		case <-l.closing:
			if r.conn != nil {
				r.conn.Close()
			}
			return
		}

		if r.err == nil {
			delay = 0
			continue
		}
		delay = min(max(2*delay, acceptMinDelay), acceptMaxDelay)
		select {
		case <-time.After(delay):
		case <-l.closing:
			return
		}
	}
}
