package tcp

import (
	"context"
	"errors"
	"net"
	"syscall"
	"testing"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// TestDialCancelWhileConnecting cancels dials that are stuck in the TCP
// handshake: Linux drops the SYNs sent to a listener whose accept queue is
// full, so the dialer keeps retransmitting until its context ends.
func TestDialCancelWhileConnecting(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Linux lets listen(2) be called again to shrink the backlog.
	rc, err := ln.(*net.TCPListener).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Listen(int(fd), 0) }); err != nil || lerr != nil {
		t.Skipf("cannot shrink the backlog: %v %v", err, lerr)
	}
	addr, err := manet.FromNetAddr(ln.Addr())
	if err != nil {
		t.Fatal(err)
	}

	tr := New()
	defer tr.Close()
	// Fill the queue (never accepting), then expect a dial that hangs. A
	// handful of dials is plenty: the queue holds one or two.
	const timeout = 200 * time.Millisecond
	for range 8 {
		ctx, cancel := context.WithTimeout(t.Context(), timeout)
		start := time.Now()
		c, err := tr.Dial(ctx, addr)
		cancel()
		if err == nil {
			defer c.Close()
			continue
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want context.DeadlineExceeded", err)
		}
		if d := time.Since(start); d < timeout/2 || d > 5*time.Second {
			t.Errorf("Dial gave up after %v, want about %v", d, timeout)
		}
		testCancelWhileConnecting(t, tr, addr)
		return
	}
	t.Skip("the accept queue never filled; no dial hung")
}

// testCancelWhileConnecting cancels (rather than times out) a dial to the
// full listener at addr.
func testCancelWhileConnecting(t *testing.T, tr *Transport, addr ma.Multiaddr) {
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	c, err := tr.Dial(ctx, addr)
	if err == nil {
		c.Close()
		t.Fatal("dial to a full listener succeeded")
	}
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled Dial = %v, want context.Canceled", err)
	}
}
