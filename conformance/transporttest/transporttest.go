// Package transporttest checks an [sdk.Transport] implementation against
// the transport contract. A transport author runs the suite from an
// ordinary test of their own package:
//
//	func TestConformance(t *testing.T) {
//		transporttest.Run(t, transporttest.Harness{
//			New: func(t *testing.T) (sdk.Transport, error) {
//				return tcp.New(), nil
//			},
//			ListenAddr: ma.StringCast("/ip4/127.0.0.1/tcp/0"),
//		})
//	}
//
// [Run] runs each check as a subtest, so that
//
//	go test -race -run 'TestConformance/LargeTransfer' ./transports/tcp
//
// selects some of them. Every subtest makes the transports it needs with
// Harness.New (usually two: one listens, the other dials, as two hosts
// would) and closes them when it ends.
//
// The suite tests only what the contract in package sdk promises, through
// the [sdk.Transport], [sdk.Listener] and [sdk.Conn] methods and errors.Is
// on the sdk sentinel errors, so that it also runs against transports
// served from another process. Where the contract is terse, the suite
// reads it this way:
//
//   - Listener.Addr is dialable as it is, and has any port the system
//     chose filled in.
//   - A Conn is an ordered byte stream in both directions at once, and
//     a Write that returns has handed its bytes over: Close after Write
//     still delivers them, and the peer then reads io.EOF. Close ends a
//     Read blocked on the connection, and Read and Write fail after it.
//   - A connection outlives the context of the Dial or Accept that made
//     it.
//   - Accept returns promptly once its context is done, with an error
//     wrapping the context's error, and takes no connection with it: one
//     that arrives afterwards goes to the next Accept.
//   - Dial of an address CanDial refuses fails with an error wrapping
//     sdk.ErrInvalid, and so does Listen.
//   - After Transport.Close, its listeners' Accept and its connections'
//     Read and Write fail, and Dial and Listen fail with an error
//     wrapping sdk.ErrClosed.
//
// Connections that also have the deadline methods of [net.Conn]
// (SetDeadline, SetReadDeadline, SetWriteDeadline) are put through
// [nettest.TestConn] as well; for others that subtest is skipped.
//
// A transport with a known bug can skip the subtests it fails, naming
// them in Harness.Skip with the reason, so that the rest still guard it.
//
// Nothing in the suite asserts how long something takes: timeouts only
// bound waits, so that a transport that hangs fails instead of blocking
// the test binary. Run the suite with -race: most subtests use a
// connection from several goroutines at once.
package transporttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/sdk"
)

// Harness tells the suite how to make the transport under test.
type Harness struct {
	// New returns a fresh transport; the suite closes it.
	New func(t *testing.T) (sdk.Transport, error)
	// ListenAddr is an address to listen on, with port 0 for a
	// system-chosen port, e.g. /ip4/127.0.0.1/tcp/0. Listening on it
	// again must give a new listener on another port.
	ListenAddr ma.Multiaddr
	// UnsupportedAddr is an address the transport does not handle, for
	// the checks of CanDial, Dial and Listen on one; nil means
	// /ip4/127.0.0.1/udp/1.
	UnsupportedAddr ma.Multiaddr
	// Skip names subtests not to run, each with the reason, such as a
	// known bug of the transport under test; they are reported as
	// skipped, with the reason.
	Skip map[string]string
}

// wait bounds every wait for something that should happen promptly. It
// is a guard against hangs, not a performance requirement: a transport
// that takes longer is broken, not slow.
const wait = 30 * time.Second

// Run runs every conformance test against the transport as subtests.
func Run(t *testing.T, h Harness) {
	if h.New == nil {
		t.Fatal("transporttest: Harness.New is nil")
	}
	if len(h.ListenAddr) == 0 {
		t.Fatal("transporttest: Harness.ListenAddr is empty")
	}
	if len(h.UnsupportedAddr) == 0 {
		h.UnsupportedAddr = ma.StringCast("/ip4/127.0.0.1/udp/1")
	}
	tests := []struct {
		name string
		run  func(*testing.T, Harness)
	}{
		{"CanDial", testCanDial},
		{"ListenAddr", testListenAddr},
		{"Echo", testEcho},
		{"NetConn", testNetConn},
		{"LargeTransfer", testLargeTransfer},
		{"ManyConns", testManyConns},
		{"EOFAfterPeerClose", testEOFAfterPeerClose},
		{"ConnClose", testConnClose},
		{"AcceptContext", testAcceptContext},
		{"AcceptAfterCancel", testAcceptAfterCancel},
		{"AcceptAfterListenerClose", testAcceptAfterListenerClose},
		{"DialUnsupported", testDialUnsupported},
		{"DialClosedPort", testDialClosedPort},
		{"TransportClose", testTransportClose},
	}
	known := make(map[string]bool)
	for _, tt := range tests {
		known[tt.name] = true
		t.Run(tt.name, func(t *testing.T) {
			if reason, ok := h.Skip[tt.name]; ok {
				t.Skip(reason)
			}
			tt.run(t, h)
		})
	}
	for name := range h.Skip {
		if !known[name] {
			t.Errorf("transporttest: Harness.Skip names %q, which is not a subtest", name)
		}
	}
}

// env is one subtest's set-up: its context and the harness.
type env struct {
	t   *testing.T
	ctx context.Context
	h   Harness
}

func newEnv(t *testing.T, h Harness) *env {
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	return &env{t: t, ctx: ctx, h: h}
}

// transport is a transport under test that is closed once: by the test,
// or when the test ends.
type transport struct {
	sdk.Transport
	once sync.Once
	err  error
}

// close closes the transport the first time it is called, and returns
// that call's result every time.
func (tr *transport) close() error {
	tr.once.Do(func() { tr.err = tr.Transport.Close() })
	return tr.err
}

// transport makes a fresh transport with the harness and closes it when
// the test ends.
func (e *env) transport() *transport {
	e.t.Helper()
	raw, err := e.h.New(e.t)
	if err != nil {
		e.t.Fatalf("Harness.New: %v", err)
	}
	if raw == nil {
		e.t.Fatal("Harness.New returned a nil transport and no error")
	}
	tr := &transport{Transport: raw}
	e.t.Cleanup(func() {
		cleanup(e.t, "Transport.Close", tr.close, true)
	})
	return tr
}

// listen listens on the harness's address. The listener is closed when
// the test ends, before its transport is.
func (e *env) listen(tr sdk.Transport) sdk.Listener {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, wait)
	defer cancel()
	l, err := bounded(e.t, "Listen", func() (sdk.Listener, error) { return tr.Listen(ctx, e.h.ListenAddr) })
	if err != nil {
		e.t.Fatalf("Listen(%s): %v", e.h.ListenAddr, err)
	}
	if l == nil {
		e.t.Fatalf("Listen(%s) returned a nil listener and no error", e.h.ListenAddr)
	}
	// A second Close, or one after the transport closed, may fail; the
	// subtests that close listeners check what they need to.
	e.t.Cleanup(func() { cleanup(e.t, "Listener.Close", l.Close, false) })
	return l
}

// pair connects the dialer to the listener, and returns the dialed
// connection and the accepted one, which are closed when the test ends.
// Accept runs while Dial does, as a transport may need.
func (e *env) pair(dialer sdk.Transport, l sdk.Listener) (dialed, accepted sdk.Conn) {
	e.t.Helper()
	dialed, accepted, err := connect(e.ctx, dialer, l)
	if err != nil {
		e.t.Fatalf("connecting to %s: %v", l.Addr(), err)
	}
	e.t.Cleanup(func() {
		cleanup(e.t, "Conn.Close", dialed.Close, false)
		cleanup(e.t, "Conn.Close", accepted.Close, false)
	})
	return dialed, accepted
}

// connect dials l from dialer while accepting on l, bounded by wait. It
// reports failures as an error, for goroutines other than the test's.
func connect(ctx context.Context, dialer sdk.Transport, l sdk.Listener) (dialed, accepted sdk.Conn, err error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	dialing, accepting := make(chan result[sdk.Conn], 1), make(chan result[sdk.Conn], 1)
	go func() {
		c, err := l.Accept(ctx)
		accepting <- result[sdk.Conn]{c, err}
	}()
	go func() {
		c, err := dialer.Dial(ctx, l.Addr())
		dialing <- result[sdk.Conn]{c, err}
	}()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	var d, a result[sdk.Conn]
	var gotDial, gotAccept bool
	for !gotDial || !gotAccept {
		select {
		case d = <-dialing:
			gotDial = true
			if d.err != nil {
				cancel() // nothing is coming for Accept
			}
		case a = <-accepting:
			gotAccept = true
		case <-timer.C:
			// What arrives later is closed with its transport.
			switch {
			case gotDial && d.v != nil:
				d.v.Close()
				return nil, nil, fmt.Errorf("Dial returned a connection, but Accept did not return it within %s", wait)
			case gotAccept && a.v != nil:
				a.v.Close()
				return nil, nil, fmt.Errorf("Accept returned a connection, but Dial did not return within %s", wait)
			}
			return nil, nil, fmt.Errorf("Dial and Accept did not return within %s", wait)
		}
	}
	if d.err == nil && d.v == nil {
		d.err = errNoConn
	}
	if a.err == nil && a.v == nil {
		a.err = errNoConn
	}
	if d.err == nil && a.err == nil {
		return d.v, a.v, nil
	}
	var errs []error
	if d.v != nil {
		d.v.Close()
	}
	if d.err != nil {
		errs = append(errs, fmt.Errorf("Dial: %w", d.err))
	}
	if a.v != nil {
		a.v.Close()
	}
	if a.err != nil {
		errs = append(errs, fmt.Errorf("Accept: %w", a.err))
	}
	return nil, nil, errors.Join(errs...)
}

// errNoConn stands for the error missing when Dial or Accept returns
// neither a connection nor an error.
var errNoConn = errors.New("returned no connection and no error")

// hosts makes two transports, a listener on the first and a connection
// to it from the second: the set-up of most subtests.
func (e *env) hosts() (a, b *transport, l sdk.Listener, dialed, accepted sdk.Conn) {
	e.t.Helper()
	a, b = e.transport(), e.transport()
	l = e.listen(a)
	dialed, accepted = e.pair(b, l)
	return a, b, l, dialed, accepted
}

// receive waits, bounded, for a value on ch; what names the wait in the
// failure.
func receive[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case v := <-ch:
		return v
	case <-timer.C:
		t.Fatalf("%s did not return within %s", what, wait)
		panic("unreachable")
	}
}

// async runs fn in the background and returns a channel with its error.
func async(fn func() error) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- fn() }()
	return ch
}

// result is what a call returned.
type result[T any] struct {
	v   T
	err error
}

// bounded calls fn in the background and waits for it, bounded by wait,
// so that a call that never returns fails the test rather than hanging
// it. The call is left to return when the test's cleanup closes what it
// waits on.
func bounded[T any](t *testing.T, what string, fn func() (T, error)) (T, error) {
	t.Helper()
	ch := make(chan result[T], 1)
	go func() {
		v, err := fn()
		ch <- result[T]{v, err}
	}()
	r := receive(t, what, ch)
	return r.v, r.err
}

// boundedErr is bounded for calls with only an error result.
func boundedErr(t *testing.T, what string, fn func() error) error {
	t.Helper()
	_, err := bounded(t, what, func() (struct{}, error) { return struct{}{}, fn() })
	return err
}

// cleanup closes something when a test ends, bounded by wait: a close
// that does not return is reported, and the rest of the cleanup goes on.
// An error from close is reported if report is set; a listener or
// connection may be closed already, by the test or with its transport.
func cleanup(t *testing.T, what string, close func() error, report bool) {
	t.Helper()
	ch := make(chan error, 1)
	go func() { ch <- close() }()
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case err := <-ch:
		if err != nil && report {
			t.Errorf("%s: %v", what, err)
		}
	case <-timer.C:
		t.Errorf("%s did not return within %s", what, wait)
	}
}
