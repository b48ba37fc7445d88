package transporttest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/net/nettest"

	"github.com/codrive/codrive/sdk"
)

// testCanDial: a transport handles the addresses its own listeners have.
func testCanDial(t *testing.T, h Harness) {
	e := newEnv(t, h)
	a, b := e.transport(), e.transport()
	addr := e.listen(a).Addr()
	if !a.CanDial(addr) {
		t.Errorf("CanDial(%s) = false for the address of the transport's own listener", addr)
	}
	if !b.CanDial(addr) {
		t.Errorf("CanDial(%s) = false on another transport of the same kind", addr)
	}
}

// testListenAddr: Listen reports where it listens, with the port filled
// in, and that address reaches that listener.
func testListenAddr(t *testing.T, h Harness) {
	e := newEnv(t, h)
	a, b := e.transport(), e.transport()
	l1, l2 := e.listen(a), e.listen(a)
	for _, l := range []sdk.Listener{l1, l2} {
		addr := l.Addr()
		if len(addr) == 0 {
			t.Fatal("Listener.Addr is empty")
		}
		if !addr.Equal(l.Addr()) {
			t.Errorf("Listener.Addr changed between calls: %s, then %s", addr, l.Addr())
		}
		for _, c := range addr {
			switch c.Code() {
			case ma.P_TCP, ma.P_UDP, ma.P_SCTP, ma.P_DCCP:
				if c.Value() == "0" {
					t.Errorf("Listener.Addr %s has port 0: it must report the port the system chose", addr)
				}
			}
		}
	}
	if l1.Addr().Equal(l2.Addr()) {
		t.Fatalf("two listeners on %s report the same address %s", h.ListenAddr, l1.Addr())
	}

	// Each address reaches its own listener: a connection dialed to it
	// is accepted by that listener, not the other.
	for i, l := range []sdk.Listener{l1, l2} {
		dialed, accepted := e.pair(b, l)
		for _, c := range []struct {
			name string
			addr ma.Multiaddr
		}{
			{"dialed LocalAddr", dialed.LocalAddr()},
			{"dialed RemoteAddr", dialed.RemoteAddr()},
			{"accepted LocalAddr", accepted.LocalAddr()},
			{"accepted RemoteAddr", accepted.RemoteAddr()},
		} {
			if len(c.addr) == 0 {
				t.Errorf("listener %d: the %s is empty", i+1, c.name)
			}
		}
		roundTrip(t, dialed, accepted, fmt.Appendf(nil, "hello, listener %d", i+1))
	}
}

// testEcho: bytes written on either end arrive at the other, in order
// and intact, whatever the sizes of the writes.
func testEcho(t *testing.T, h Harness) {
	e := newEnv(t, h)
	_, _, _, dialed, accepted := e.hosts()
	roundTrip(t, dialed, accepted, []byte("ping from the dialer"))
	roundTrip(t, accepted, dialed, []byte("pong from the acceptor"))
	for i, size := range []int{1, 2, 1000, 64 << 10, 300 << 10} {
		data := randomBytes(uint64(i), size)
		roundTrip(t, dialed, accepted, data)
		roundTrip(t, accepted, dialed, data)
	}
	// Many small writes in a row, read as they come.
	var want []byte
	errc := async(func() error {
		for i := range 500 {
			msg := fmt.Appendf(nil, "message %d;", i)
			if _, err := dialed.Write(msg); err != nil {
				return fmt.Errorf("write %d: %w", i, err)
			}
		}
		return nil
	})
	for i := range 500 {
		want = fmt.Appendf(want, "message %d;", i)
	}
	got := readN(t, accepted, len(want))
	if err := receive(t, "Write", errc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("500 small writes read back as %q, want %q", abbreviate(got), abbreviate(want))
	}
}

// testNetConn puts connections with deadline methods through nettest.
func testNetConn(t *testing.T, h Harness) {
	e := newEnv(t, h)
	_, b, l, dialed, accepted := e.hosts()
	for _, c := range []struct {
		name string
		conn sdk.Conn
	}{{"dialed", dialed}, {"accepted", accepted}} {
		if _, ok := asNetConn(c.conn); !ok {
			t.Skipf("the %s connection (%T) has no SetDeadline, SetReadDeadline and SetWriteDeadline methods, which nettest.TestConn needs", c.name, c.conn)
		}
	}
	dialed.Close()
	accepted.Close()

	// MakePipe runs in nettest's subtests, so it reports errors rather
	// than failing the test.
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		d, a, err := connect(e.ctx, b, l)
		if err != nil {
			return nil, nil, nil, err
		}
		stop = func() {
			d.Close()
			a.Close()
		}
		c1, ok1 := asNetConn(d)
		c2, ok2 := asNetConn(a)
		if !ok1 || !ok2 {
			stop()
			return nil, nil, nil, errors.New("a connection of this transport has no deadline methods, unlike the first")
		}
		return c1, c2, stop, nil
	})
}

// testLargeTransfer sends 16 MiB each way at once, in writes of assorted
// sizes, and checks every byte.
func testLargeTransfer(t *testing.T, h Harness) {
	const size = 16 << 20
	e := newEnv(t, h)
	_, _, _, dialed, accepted := e.hosts()
	up, down := randomBytes(100, size), randomBytes(200, size)

	done := make(chan error, 4)
	run := func(what string, fn func() error) {
		go func() {
			if err := fn(); err != nil {
				done <- fmt.Errorf("%s: %w", what, err)
				return
			}
			done <- nil
		}()
	}
	run("dialer writing", func() error { return writeChunked(dialed, up, 1) })
	run("acceptor reading", func() error { return readAndCompare(accepted, up) })
	run("acceptor writing", func() error { return writeChunked(accepted, down, 2) })
	run("dialer reading", func() error { return readAndCompare(dialed, down) })

	// A transfer gets longer than a prompt answer to finish.
	timer := time.NewTimer(4 * wait)
	defer timer.Stop()
	for range 4 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-timer.C:
			t.Fatalf("16 MiB each way did not arrive within %s", 4*wait)
		}
	}
}

// testManyConns runs many connections between two transports at once,
// each echoing its own message.
func testManyConns(t *testing.T, h Harness) {
	const (
		conns   = 32
		msgSize = 8 << 10
	)
	e := newEnv(t, h)
	a, b := e.transport(), e.transport()
	l := e.listen(a)

	var mu sync.Mutex
	var opened []sdk.Conn
	keep := func(c sdk.Conn) {
		mu.Lock()
		opened = append(opened, c)
		mu.Unlock()
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range opened {
			c.Close()
		}
	})
	ctx, cancel := context.WithTimeout(e.ctx, 2*wait)
	defer cancel()

	// The acceptor echoes each message and records whose it was, so
	// that every dialed connection must have reached an accepted one of
	// its own.
	served := make(chan error, conns)
	seen := make(chan uint32, conns)
	go func() {
		for range conns {
			c, err := l.Accept(ctx)
			if err == nil && c == nil {
				err = errNoConn
			}
			if err != nil {
				served <- fmt.Errorf("Accept: %w", err)
				return
			}
			keep(c)
			go func() {
				msg := make([]byte, msgSize)
				if _, err := io.ReadFull(c, msg); err != nil {
					served <- fmt.Errorf("acceptor reading: %w", err)
					return
				}
				seen <- binary.BigEndian.Uint32(msg)
				if _, err := c.Write(msg); err != nil {
					served <- fmt.Errorf("acceptor writing: %w", err)
					return
				}
				served <- nil
			}()
		}
	}()

	dialed := make(chan error, conns)
	for i := range conns {
		go func() {
			dialed <- func() error {
				c, err := b.Dial(ctx, l.Addr())
				if err == nil && c == nil {
					err = errNoConn
				}
				if err != nil {
					return fmt.Errorf("Dial: %w", err)
				}
				keep(c)
				msg := randomBytes(uint64(1000+i), msgSize)
				binary.BigEndian.PutUint32(msg, uint32(i))
				if _, err := c.Write(msg); err != nil {
					return fmt.Errorf("write: %w", err)
				}
				got := make([]byte, msgSize)
				if _, err := io.ReadFull(c, got); err != nil {
					return fmt.Errorf("read: %w", err)
				}
				if !bytes.Equal(got, msg) {
					return fmt.Errorf("echo differs from the message at byte %d", firstDiff(got, msg))
				}
				return nil
			}()
		}()
	}
	for i := range conns {
		if err := receive(t, "a connection's echo", dialed); err != nil {
			t.Errorf("connection %d of %d: %v", i+1, conns, err)
		}
	}
	if t.Failed() {
		return
	}
	ids := make(map[uint32]bool)
	for range conns {
		if err := receive(t, "the acceptor", served); err != nil {
			t.Fatal(err)
		}
		ids[receive(t, "the acceptor", seen)] = true
	}
	if len(ids) != conns {
		t.Fatalf("%d connections were dialed, the acceptor saw the messages of %d", conns, len(ids))
	}
}

// testEOFAfterPeerClose: once one end writes and closes, the other reads
// everything written, then io.EOF, and io.EOF again.
func testEOFAfterPeerClose(t *testing.T, h Harness) {
	for _, dialerCloses := range []bool{true, false} {
		name := "AcceptorCloses"
		if dialerCloses {
			name = "DialerCloses"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, h)
			_, _, _, dialed, accepted := e.hosts()
			closer, reader := accepted, dialed
			if dialerCloses {
				closer, reader = dialed, accepted
			}
			last := randomBytes(7, 256<<10)
			errc := async(func() error {
				if _, err := closer.Write(last); err != nil {
					return fmt.Errorf("Write: %w", err)
				}
				if err := closer.Close(); err != nil {
					return fmt.Errorf("Close: %w", err)
				}
				return nil
			})
			got, err := readToError(t, reader)
			if werr := receive(t, "Write and Close", errc); werr != nil {
				t.Fatal(werr)
			}
			if !bytes.Equal(got, last) {
				t.Errorf("read %d bytes before the error, want the %d written before Close (first difference at byte %d)", len(got), len(last), firstDiff(got, last))
			}
			if !errors.Is(err, io.EOF) {
				t.Fatalf("Read after the peer closed: %v, want io.EOF", err)
			}
			n, err := readOnce(t, reader, make([]byte, 16))
			if n != 0 || !errors.Is(err, io.EOF) {
				t.Errorf("Read after io.EOF = %d, %v; want 0, io.EOF", n, err)
			}
		})
	}
}

// testConnClose: closing a connection ends a Read blocked on it, and
// Read and Write fail afterwards.
func testConnClose(t *testing.T, h Harness) {
	e := newEnv(t, h)
	_, _, _, dialed, accepted := e.hosts()
	blocked := async(func() error {
		_, err := dialed.Read(make([]byte, 16))
		return err
	})
	if err := boundedErr(t, "Close", dialed.Close); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := receive(t, "a Read blocked while the connection was closed", blocked); err == nil {
		t.Error("a Read blocked while the connection was closed returned no error")
	}
	if n, err := readOnce(t, dialed, make([]byte, 16)); err == nil {
		t.Errorf("Read after Close = %d, nil; want an error", n)
	}
	if n, err := bounded(t, "Write after Close", func() (int, error) { return dialed.Write([]byte("too late")) }); err == nil {
		t.Errorf("Write after Close = %d, nil; want an error", n)
	}
	// The peer learns of it as the end of the stream.
	if got, err := readToError(t, accepted); len(got) != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("the peer read %d bytes, then %v; want 0 bytes, then io.EOF", len(got), err)
	}
}

// testAcceptContext: Accept gives up when its context is done, whether
// it was done before or during the call.
func testAcceptContext(t *testing.T, h Harness) {
	e := newEnv(t, h)
	l := e.listen(e.transport())

	ctx, cancel := context.WithCancel(e.ctx)
	cancel()
	c, err := bounded(t, "Accept with a cancelled context", func() (sdk.Conn, error) { return l.Accept(ctx) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Accept with a cancelled context: %v, want an error wrapping context.Canceled", err)
	}
	if c != nil {
		t.Errorf("Accept with a cancelled context returned a connection")
		c.Close()
	}

	ctx, cancel = context.WithCancel(e.ctx)
	res := make(chan result[sdk.Conn], 1)
	go func() {
		c, err := l.Accept(ctx)
		res <- result[sdk.Conn]{c, err}
	}()
	cancel()
	r := receive(t, "Accept, once its context was cancelled,", res)
	if !errors.Is(r.err, context.Canceled) {
		t.Errorf("Accept whose context was cancelled during the call: %v, want an error wrapping context.Canceled", r.err)
	}
	if r.v != nil {
		t.Errorf("Accept whose context was cancelled returned a connection")
		r.v.Close()
	}

	ctx, cancel = context.WithTimeout(e.ctx, 10*time.Millisecond)
	defer cancel()
	go func() {
		c, err := l.Accept(ctx)
		res <- result[sdk.Conn]{c, err}
	}()
	r = receive(t, "Accept, once its context's deadline passed,", res)
	if !errors.Is(r.err, context.DeadlineExceeded) {
		t.Errorf("Accept whose context's deadline passed: %v, want an error wrapping context.DeadlineExceeded", r.err)
	}
	if r.v != nil {
		t.Errorf("Accept whose context's deadline passed returned a connection")
		r.v.Close()
	}
}

// testAcceptAfterCancel: an Accept that gave up takes nothing with it:
// the connection dialed after it returned goes to the next Accept.
func testAcceptAfterCancel(t *testing.T, h Harness) {
	const rounds = 20
	e := newEnv(t, h)
	a, b := e.transport(), e.transport()
	l := e.listen(a)
	for i := range rounds {
		ctx, cancel := context.WithCancel(e.ctx)
		res := make(chan result[sdk.Conn], 1)
		go func() {
			c, err := l.Accept(ctx)
			res <- result[sdk.Conn]{c, err}
		}()
		// Give the Accept a moment to be waiting when it is cancelled,
		// the case most likely to go wrong; the check holds either way.
		time.Sleep(time.Millisecond)
		cancel()
		if r := receive(t, "Accept, once its context was cancelled,", res); r.v != nil {
			r.v.Close()
			t.Fatalf("round %d: a cancelled Accept returned a connection nobody dialed", i+1)
		}
		dialed, accepted, err := connect(e.ctx, b, l)
		if err != nil {
			t.Fatalf("round %d: the connection dialed after an Accept was cancelled: %v", i+1, err)
		}
		roundTrip(t, dialed, accepted, fmt.Appendf(nil, "round %d", i+1))
		dialed.Close()
		accepted.Close()
	}
}

// testAcceptAfterListenerClose: closing a listener ends an Accept
// waiting on it, and later ones fail at once, all with sdk.ErrClosed;
// connections it accepted stay open.
func testAcceptAfterListenerClose(t *testing.T, h Harness) {
	e := newEnv(t, h)
	_, _, l, dialed, accepted := e.hosts()
	ctx, cancel := context.WithTimeout(e.ctx, wait)
	defer cancel()
	res := make(chan result[sdk.Conn], 1)
	go func() {
		c, err := l.Accept(ctx)
		res <- result[sdk.Conn]{c, err}
	}()
	if err := boundedErr(t, "Listener.Close", l.Close); err != nil {
		t.Errorf("Listener.Close: %v", err)
	}
	r := receive(t, "an Accept waiting while the listener was closed", res)
	if !errors.Is(r.err, sdk.ErrClosed) {
		t.Errorf("Accept waiting while the listener was closed: %v, want an error wrapping sdk.ErrClosed", r.err)
	}
	if r.v != nil {
		r.v.Close()
	}
	c, err := bounded(t, "Accept after Close", func() (sdk.Conn, error) { return l.Accept(ctx) })
	if !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Accept after Close: %v, want an error wrapping sdk.ErrClosed", err)
	}
	if c != nil {
		c.Close()
	}
	roundTrip(t, dialed, accepted, []byte("accepted before the listener closed"))
	roundTrip(t, accepted, dialed, []byte("and still open"))
}

// testDialUnsupported: an address the transport does not handle is
// refused by CanDial, Dial and Listen alike.
func testDialUnsupported(t *testing.T, h Harness) {
	e := newEnv(t, h)
	tr := e.transport()
	for _, addr := range []ma.Multiaddr{h.UnsupportedAddr, nil} {
		name := fmt.Sprintf("%q", addr.String())
		if len(addr) == 0 {
			name = "the empty multiaddr"
		}
		if tr.CanDial(addr) {
			t.Errorf("CanDial(%s) = true", name)
		}
		ctx, cancel := context.WithTimeout(e.ctx, wait)
		c, err := bounded(t, "Dial", func() (sdk.Conn, error) { return tr.Dial(ctx, addr) })
		if !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("Dial(%s): %v, want an error wrapping sdk.ErrInvalid", name, err)
		}
		if c != nil {
			c.Close()
		}
		l, err := bounded(t, "Listen", func() (sdk.Listener, error) { return tr.Listen(ctx, addr) })
		if !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("Listen(%s): %v, want an error wrapping sdk.ErrInvalid", name, err)
		}
		if l != nil {
			l.Close()
		}
		cancel()
	}
}

// testDialClosedPort: dialing where nobody listens any more fails.
func testDialClosedPort(t *testing.T, h Harness) {
	e := newEnv(t, h)
	a, b := e.transport(), e.transport()
	l := e.listen(a)
	addr := l.Addr()
	if err := boundedErr(t, "Listener.Close", l.Close); err != nil {
		t.Fatalf("Listener.Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, wait)
	defer cancel()
	c, err := bounded(t, "Dial", func() (sdk.Conn, error) { return b.Dial(ctx, addr) })
	if err == nil {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Dial(%s) succeeded after its listener closed", addr)
	}
	if errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("Dial(%s) of a closed port: %v: it wraps sdk.ErrInvalid, but the address is a valid one", addr, err)
	}
}

// testTransportClose: Close closes the transport's listeners and its
// connections, dialed and accepted, and the transport refuses work
// afterwards.
func testTransportClose(t *testing.T, h Harness) {
	e := newEnv(t, h)
	a, b := e.transport(), e.transport()
	la, lb := e.listen(a), e.listen(b)
	fromB, toA := e.pair(b, la) // toA is a's: accepted
	fromA, toB := e.pair(a, lb) // fromA is a's: dialed

	accepting := make(chan result[sdk.Conn], 1)
	ctx, cancel := context.WithTimeout(e.ctx, wait)
	defer cancel()
	go func() {
		c, err := la.Accept(ctx)
		accepting <- result[sdk.Conn]{c, err}
	}()
	readToA := async(func() error { _, err := toA.Read(make([]byte, 16)); return err })
	readFromA := async(func() error { _, err := fromA.Read(make([]byte, 16)); return err })

	if err := boundedErr(t, "Transport.Close", a.close); err != nil {
		t.Errorf("Transport.Close: %v", err)
	}

	r := receive(t, "an Accept waiting while the transport was closed", accepting)
	if r.v != nil {
		r.v.Close()
	}
	if r.err == nil {
		t.Error("an Accept waiting while the transport was closed returned no error")
	}
	if err := receive(t, "a Read on an accepted connection, blocked while the transport was closed,", readToA); err == nil {
		t.Error("a Read on an accepted connection, blocked while the transport was closed, returned no error")
	}
	if err := receive(t, "a Read on a dialed connection, blocked while the transport was closed,", readFromA); err == nil {
		t.Error("a Read on a dialed connection, blocked while the transport was closed, returned no error")
	}
	for _, c := range []struct {
		name string
		conn sdk.Conn
	}{{"accepted", toA}, {"dialed", fromA}} {
		if _, err := bounded(t, "Write after Transport.Close", func() (int, error) { return c.conn.Write([]byte("after Close")) }); err == nil {
			t.Errorf("Write on a %s connection after Transport.Close returned no error", c.name)
		}
	}
	if c, err := bounded(t, "Accept after Transport.Close", func() (sdk.Conn, error) { return la.Accept(ctx) }); err == nil {
		if c != nil {
			c.Close()
		}
		t.Error("Accept after Transport.Close returned no error")
	}
	if c, err := bounded(t, "Dial after Transport.Close", func() (sdk.Conn, error) { return a.Dial(ctx, lb.Addr()) }); !errors.Is(err, sdk.ErrClosed) {
		if c != nil {
			c.Close()
		}
		t.Errorf("Dial after Transport.Close: %v, want an error wrapping sdk.ErrClosed", err)
	}
	if l, err := bounded(t, "Listen after Transport.Close", func() (sdk.Listener, error) { return a.Listen(ctx, h.ListenAddr) }); !errors.Is(err, sdk.ErrClosed) {
		if l != nil {
			l.Close()
		}
		t.Errorf("Listen after Transport.Close: %v, want an error wrapping sdk.ErrClosed", err)
	}

	// The other transport's ends see the connections end.
	for _, c := range []struct {
		name string
		conn sdk.Conn
	}{{"dialed", fromB}, {"accepted", toB}} {
		if got, err := readToError(t, c.conn); len(got) != 0 || err == nil {
			t.Errorf("the peer's %s connection read %d bytes, then %v; want no bytes, then an error", c.name, len(got), err)
		}
	}
}

// roundTrip writes data on from and reads it back on to.
func roundTrip(t *testing.T, from, to sdk.Conn, data []byte) {
	t.Helper()
	errc := async(func() error {
		_, err := from.Write(data)
		return err
	})
	got := readN(t, to, len(data))
	if err := receive(t, "Write", errc); err != nil {
		t.Fatalf("Write of %d bytes: %v", len(data), err)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("wrote %d bytes, read back different ones (first difference at byte %d): %q, want %q", len(data), firstDiff(got, data), abbreviate(got), abbreviate(data))
	}
}

// readN reads exactly n bytes from c, bounded by wait.
func readN(t *testing.T, c sdk.Conn, n int) []byte {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		b := make([]byte, n)
		_, err := io.ReadFull(c, b)
		ch <- result{b, err}
	}()
	r := receive(t, fmt.Sprintf("Read of %d bytes", n), ch)
	if r.err != nil {
		t.Fatalf("reading %d bytes: %v", n, r.err)
	}
	return r.b
}

// readToError reads from c until Read fails, bounded by wait, and
// returns what it read and the error.
func readToError(t *testing.T, c sdk.Conn) ([]byte, error) {
	t.Helper()
	type result struct {
		b   []byte
		err error
	}
	ch := make(chan result, 1)
	go func() {
		var got []byte
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			got = append(got, buf[:n]...)
			if err != nil {
				ch <- result{got, err}
				return
			}
		}
	}()
	r := receive(t, "Read until the stream ends", ch)
	return r.b, r.err
}

// readOnce makes one Read call, bounded by wait.
func readOnce(t *testing.T, c sdk.Conn, p []byte) (int, error) {
	t.Helper()
	type result struct {
		n   int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		n, err := c.Read(p)
		ch <- result{n, err}
	}()
	r := receive(t, "Read", ch)
	return r.n, r.err
}

// writeChunked writes data in writes of pseudo-random sizes, from one
// byte to 256 KiB.
func writeChunked(c sdk.Conn, data []byte, seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, seed))
	for off := 0; off < len(data); {
		n := min(1+rng.IntN(256<<10), len(data)-off)
		w, err := c.Write(data[off : off+n])
		if err != nil {
			return fmt.Errorf("at byte %d: %w", off+w, err)
		}
		if w != n {
			return fmt.Errorf("at byte %d: Write returned %d of %d bytes and no error", off, w, n)
		}
		off += n
	}
	return nil
}

// readAndCompare reads len(want) bytes, checking each against want as it
// arrives.
func readAndCompare(c sdk.Conn, want []byte) error {
	buf := make([]byte, 100_003) // odd-sized, to cut across the writer's chunks
	for off := 0; off < len(want); {
		n, err := c.Read(buf[:min(len(buf), len(want)-off)])
		if n > 0 {
			if i := firstDiff(buf[:n], want[off:off+n]); i >= 0 {
				return fmt.Errorf("byte %d differs", off+i)
			}
			off += n
		}
		if err != nil && off < len(want) {
			return fmt.Errorf("at byte %d of %d: %w", off, len(want), err)
		}
	}
	return nil
}

// randomBytes returns n pseudo-random bytes, the same for the same seed.
func randomBytes(seed uint64, n int) []byte {
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	b := make([]byte, n)
	rand.NewChaCha8(s).Read(b)
	return b
}

// firstDiff returns the index of the first byte where a and b differ, the
// length of the shorter if one is a prefix of the other, or -1 if they
// are equal.
func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// abbreviate shortens b for a failure message.
func abbreviate(b []byte) []byte {
	if len(b) <= 64 {
		return b
	}
	return append(b[:60:60], "..."...)
}
