package tcp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/net/nettest"

	"github.com/codrive/codrive/sdk"
)

func TestParseAddr(t *testing.T) {
	good := []struct {
		addr     string
		network  string
		hostPort string
		isName   bool
	}{
		{"/ip4/127.0.0.1/tcp/4100", "tcp4", "127.0.0.1:4100", false},
		{"/ip4/0.0.0.0/tcp/0", "tcp4", "0.0.0.0:0", false},
		{"/ip6/::1/tcp/4100", "tcp6", "[::1]:4100", false},
		{"/ip6/2001:db8::7/tcp/65535", "tcp6", "[2001:db8::7]:65535", false},
		{"/dns/example.com/tcp/443", "tcp", "example.com:443", true},
		{"/dns4/example.com/tcp/443", "tcp4", "example.com:443", true},
		{"/dns6/example.com/tcp/443", "tcp6", "example.com:443", true},
	}
	tr := New()
	defer tr.Close()
	for _, tc := range good {
		addr := ma.StringCast(tc.addr)
		ep, err := parseAddr(addr)
		if err != nil {
			t.Errorf("parseAddr(%s): %v", tc.addr, err)
			continue
		}
		if ep.network != tc.network || ep.hostPort != tc.hostPort || ep.isName != tc.isName {
			t.Errorf("parseAddr(%s) = %+v, want {%s %s %v}", tc.addr, ep, tc.network, tc.hostPort, tc.isName)
		}
		if !tr.CanDial(addr) {
			t.Errorf("CanDial(%s) = false", tc.addr)
		}
	}

	bad := []string{
		"",
		"/ip4/127.0.0.1",
		"/ip4/127.0.0.1/udp/4100",
		"/ip4/127.0.0.1/udp/4100/quic-v1",
		"/ip4/127.0.0.1/tcp/4100/ws",
		"/ip4/127.0.0.1/tcp/4100/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
		"/ip4/127.0.0.1/tcp/4100/tcp/4101",
		"/ip6zone/eth0/ip6/fe80::1/tcp/4100",
		"/dnsaddr/example.com/tcp/4100",
		"/unix/tmp/codrive.sock",
		"/tcp/4100",
		"/tcp/4100/ip4/127.0.0.1",
	}
	// A cancelled context: nothing may be dialed, the address must be
	// refused before that.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	for _, s := range bad {
		var addr ma.Multiaddr
		if s != "" {
			addr = ma.StringCast(s)
		}
		if tr.CanDial(addr) {
			t.Errorf("CanDial(%q) = true", s)
		}
		_, err := tr.Dial(ctx, addr)
		if !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), `"`+s+`"`) {
			t.Errorf("Dial(%q) = %v, want an error wrapping sdk.ErrInvalid that quotes the address", s, err)
		}
		_, err = tr.Listen(ctx, addr)
		if !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("Listen(%q) = %v, want an error wrapping sdk.ErrInvalid", s, err)
		}
	}
}

func TestListenNeedsIP(t *testing.T) {
	tr := New()
	defer tr.Close()
	for _, s := range []string{"/dns/localhost/tcp/0", "/dns4/localhost/tcp/0", "/dns6/localhost/tcp/0"} {
		_, err := tr.Listen(t.Context(), ma.StringCast(s))
		if !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), s) {
			t.Errorf("Listen(%s) = %v, want an error wrapping sdk.ErrInvalid that quotes the address", s, err)
		}
	}
}

// hasIPv6 reports whether ::1 can be bound on this machine.
func hasIPv6() bool {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// pair returns a dialed and an accepted connection between two ends of a
// listener on listenAddr, dialing dialAddr (with the port filled in from
// the listener) or the listener's own address if dialAddr is empty.
func pair(t testing.TB, tr *Transport, listenAddr, dialAddr string) (dialed, accepted sdk.Conn, l sdk.Listener) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := tr.Listen(ctx, ma.StringCast(listenAddr))
	if err != nil {
		t.Fatal(err)
	}
	target := l.Addr()
	if dialAddr != "" {
		port, err := l.Addr().ValueForProtocol(ma.P_TCP)
		if err != nil {
			t.Fatal(err)
		}
		target = ma.StringCast(dialAddr + "/tcp/" + port)
	}
	type result struct {
		c   sdk.Conn
		err error
	}
	acc := make(chan result, 1)
	go func() {
		c, err := l.Accept(ctx)
		acc <- result{c, err}
	}()
	dialed, err = tr.Dial(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	r := <-acc
	if r.err != nil {
		t.Fatal(r.err)
	}
	return dialed, r.c, l
}

func TestEcho(t *testing.T) {
	cases := []struct {
		name, listen, dial string
		ipv6               bool
	}{
		{"ip4", "/ip4/127.0.0.1/tcp/0", "", false},
		{"ip6", "/ip6/::1/tcp/0", "", true},
		{"dns4", "/ip4/127.0.0.1/tcp/0", "/dns4/localhost", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.ipv6 && !hasIPv6() {
				t.Skip("no IPv6 on this machine")
			}
			if tc.dial != "" {
				if _, err := net.DefaultResolver.LookupIP(t.Context(), "ip4", "localhost"); err != nil {
					t.Skipf("localhost does not resolve: %v", err)
				}
			}
			tr := New()
			defer tr.Close()
			dialed, accepted, l := pair(t, tr, tc.listen, tc.dial)

			port, _ := l.Addr().ValueForProtocol(ma.P_TCP)
			if port == "0" || port == "" {
				t.Errorf("listener address %s has no port", l.Addr())
			}
			if !dialed.RemoteAddr().Equal(l.Addr()) {
				t.Errorf("dialed remote address %s, want the listener's %s", dialed.RemoteAddr(), l.Addr())
			}
			if !accepted.RemoteAddr().Equal(dialed.LocalAddr()) || !accepted.LocalAddr().Equal(dialed.RemoteAddr()) {
				t.Errorf("accepted %s <- %s, dialed %s -> %s", accepted.LocalAddr(), accepted.RemoteAddr(), dialed.LocalAddr(), dialed.RemoteAddr())
			}

			echoed := make(chan error, 1)
			go func() {
				_, err := io.Copy(accepted, accepted)
				echoed <- err
			}()
			msg := bytes.Repeat([]byte("codrive "), 1<<15)
			go func() {
				dialed.Write(msg)
			}()
			got := make([]byte, len(msg))
			if _, err := io.ReadFull(dialed, got); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, msg) {
				t.Fatal("echo differs from what was sent")
			}
			dialed.Close()
			if err := <-echoed; err != nil && !errors.Is(err, net.ErrClosed) {
				t.Errorf("echo ended with %v", err)
			}
		})
	}
}

func TestDialContext(t *testing.T) {
	tr := New()
	defer tr.Close()
	l, err := tr.Listen(t.Context(), ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := tr.Dial(ctx, l.Addr()); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled context = %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	if _, err := tr.Dial(ctx, l.Addr()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Dial with an expired context = %v, want context.DeadlineExceeded", err)
	}
	if n := len(tr.conns); n != 0 {
		t.Errorf("%d connections tracked after failed dials", n)
	}
}

func TestAcceptContext(t *testing.T) {
	tr := New()
	defer tr.Close()
	l, err := tr.Listen(t.Context(), ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := l.Accept(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Accept = %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Accept took %v to notice its context", d)
	}

	// The listener still works after an abandoned Accept.
	dialed, err := tr.Dial(t.Context(), l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	accepted, err := l.Accept(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()
	if !accepted.RemoteAddr().Equal(dialed.LocalAddr()) {
		t.Errorf("accepted a connection from %s, want %s", accepted.RemoteAddr(), dialed.LocalAddr())
	}
}

func TestListenerClose(t *testing.T) {
	tr := New()
	defer tr.Close()
	dialed, accepted, l := pair(t, tr, "/ip4/127.0.0.1/tcp/0", "")

	blocked := make(chan error, 1)
	go func() {
		_, err := l.Accept(context.Background())
		blocked <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Accept block
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-blocked:
		if !errors.Is(err, sdk.ErrClosed) {
			t.Errorf("blocked Accept = %v, want sdk.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake a blocked Accept")
	}
	if _, err := l.Accept(t.Context()); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Accept after Close = %v, want sdk.ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if len(tr.listeners) != 0 {
		t.Error("closed listener still tracked")
	}

	// Connections accepted before stay open.
	if _, err := dialed.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(accepted, buf); err != nil {
		t.Fatalf("read on a connection accepted before Close: %v", err)
	}
	// And a new dial is refused.
	if c, err := tr.Dial(t.Context(), l.Addr()); err == nil {
		c.Close()
		t.Error("dial to a closed listener succeeded")
	}
}

func TestTransportClose(t *testing.T) {
	tr := New()
	dialed, accepted, l := pair(t, tr, "/ip4/127.0.0.1/tcp/0", "")
	if n := len(tr.conns); n != 2 {
		t.Fatalf("%d connections tracked, want 2", n)
	}

	// A connection closed on its own is no longer tracked.
	d2, a2, l2 := pair(t, tr, "/ip4/127.0.0.1/tcp/0", "")
	d2.Close()
	a2.Close()
	l2.Close()
	if n, m := len(tr.conns), len(tr.listeners); n != 2 || m != 1 {
		t.Fatalf("%d connections and %d listeners tracked, want 2 and 1", n, m)
	}

	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []sdk.Conn{dialed, accepted} {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after transport Close = %v, want net.ErrClosed", err)
		}
	}
	if _, err := l.Accept(t.Context()); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Accept after transport Close = %v, want sdk.ErrClosed", err)
	}
	if _, err := tr.Dial(t.Context(), l.Addr()); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Dial after transport Close = %v, want sdk.ErrClosed", err)
	}
	if _, err := tr.Listen(t.Context(), ma.StringCast("/ip4/127.0.0.1/tcp/0")); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Listen after transport Close = %v, want sdk.ErrClosed", err)
	}
	if err := tr.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// netConn gives a Conn the address methods of net.Conn, for nettest.
type netConn struct{ *Conn }

func (c netConn) LocalAddr() net.Addr  { return toNetAddr(c.Conn.LocalAddr()) }
func (c netConn) RemoteAddr() net.Addr { return toNetAddr(c.Conn.RemoteAddr()) }

func toNetAddr(a ma.Multiaddr) net.Addr {
	na, err := manet.ToNetAddr(a)
	if err != nil {
		panic(err)
	}
	return na
}

func TestNetConn(t *testing.T) {
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		tr := New()
		dialed, accepted, _ := pair(t, tr, "/ip4/127.0.0.1/tcp/0", "")
		return netConn{dialed.(*Conn)}, netConn{accepted.(*Conn)}, func() { tr.Close() }, nil
	})
}
