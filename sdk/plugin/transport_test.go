package plugin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goplugin "github.com/hashicorp/go-plugin"
	ma "github.com/multiformats/go-multiaddr"
	"golang.org/x/net/nettest"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin/internal/pb"
	"github.com/codrive/codrive/transports/tcp"
)

var loopback4 = ma.StringCast("/ip4/127.0.0.1/tcp/0")

// startTransportPlugin serves impl in-process over go-plugin's gRPC and
// returns the host's side of it, and its raw gRPC client.
func startTransportPlugin(t testing.TB, impl sdk.Transport, info Info) (sdk.Transport, pb.TransportClient) {
	t.Helper()
	client, _ := goplugin.TestPluginGRPCConn(t, false, NewTestServer(KindTransport, impl))
	t.Cleanup(func() {
		client.Close() // which also stops the server, through go-plugin's controller
		impl.Close()
	})
	raw, err := client.Dispense(string(KindTransport))
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*Client).Transport(info), pb.NewTransportClient(client.Conn)
}

// connPair listens on 127.0.0.1 through tr, dials the listener and returns
// both ends.
func connPair(t testing.TB, tr sdk.Transport) (dialed, accepted sdk.Conn, l sdk.Listener) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := tr.Listen(ctx, loopback4)
	if err != nil {
		t.Fatal(err)
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
	dialed, err = tr.Dial(ctx, l.Addr())
	if err != nil {
		t.Fatal(err)
	}
	r := <-acc
	if r.err != nil {
		t.Fatal(r.err)
	}
	return dialed, r.c, l
}

func TestTransportEcho(t *testing.T) {
	tr, _ := startTransportPlugin(t, tcp.New(), Info{})
	dialed, accepted, l := connPair(t, tr)
	defer l.Close()
	defer dialed.Close()
	defer accepted.Close()

	if port, _ := l.Addr().ValueForProtocol(ma.P_TCP); port == "0" || port == "" {
		t.Errorf("listener address %s has no port", l.Addr())
	}
	if !dialed.RemoteAddr().Equal(l.Addr()) {
		t.Errorf("dialed remote address %s, want the listener's %s", dialed.RemoteAddr(), l.Addr())
	}
	if !accepted.RemoteAddr().Equal(dialed.LocalAddr()) || !accepted.LocalAddr().Equal(dialed.RemoteAddr()) {
		t.Errorf("accepted %s <- %s, dialed %s -> %s", accepted.LocalAddr(), accepted.RemoteAddr(), dialed.LocalAddr(), dialed.RemoteAddr())
	}

	// Both ways, in turns.
	buf := make([]byte, 64)
	for i := range 10 {
		ping := fmt.Sprintf("ping %d", i)
		if _, err := dialed.Write([]byte(ping)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(accepted, buf[:len(ping)]); err != nil || string(buf[:len(ping)]) != ping {
			t.Fatalf("accepted end read %q, %v; want %q", buf[:len(ping)], err, ping)
		}
		pong := fmt.Sprintf("pong %d", i)
		if _, err := accepted.Write([]byte(pong)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(dialed, buf[:len(pong)]); err != nil || string(buf[:len(pong)]) != pong {
			t.Fatalf("dialed end read %q, %v; want %q", buf[:len(pong)], err, pong)
		}
	}
}

// sendRandom writes n pseudo-random bytes from seed to w in writes of
// random sizes (up to 200 KiB, so frames get split) and returns their
// hash.
func sendRandom(w io.Writer, seed uint64, n int) ([]byte, error) {
	rng := rand.New(rand.NewPCG(seed, seed))
	h := sha256.New()
	buf := make([]byte, 200<<10)
	for n > 0 {
		chunk := buf[:min(n, 1+rng.IntN(len(buf)))]
		for i := range chunk {
			chunk[i] = byte(rng.Uint32())
		}
		h.Write(chunk)
		if _, err := w.Write(chunk); err != nil {
			return nil, err
		}
		n -= len(chunk)
	}
	return h.Sum(nil), nil
}

func TestTransportLargeTransfer(t *testing.T) {
	const size = 32 << 20
	tr, _ := startTransportPlugin(t, tcp.New(), Info{})
	dialed, accepted, l := connPair(t, tr)
	l.Close()

	// Both directions at once. A connection closes as a whole (there is
	// no half-close), so each reader reads exactly size bytes.
	transfer := func(name string, from, to sdk.Conn, seed uint64) {
		var sent []byte
		var sendErr error
		var wg sync.WaitGroup
		wg.Go(func() { sent, sendErr = sendRandom(from, seed, size) })
		h := sha256.New()
		n, err := io.CopyN(h, to, size)
		wg.Wait()
		switch {
		case sendErr != nil:
			t.Errorf("%s: write: %v", name, sendErr)
		case err != nil:
			t.Errorf("%s: read after %d bytes: %v", name, n, err)
		case !bytes.Equal(h.Sum(nil), sent):
			t.Errorf("%s: received data differs from what was sent", name)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var wg sync.WaitGroup
		wg.Go(func() { transfer("dialed to accepted", dialed, accepted, 1) })
		wg.Go(func() { transfer("accepted to dialed", accepted, dialed, 2) })
		wg.Wait()
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("transfers did not finish")
	}

	dialed.Close()
	if n, err := accepted.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read after the remote Close = %d, %v; want io.EOF", n, err)
	}
	accepted.Close()
}

func TestTransportManyConns(t *testing.T) {
	const conns, size = 64, 256 << 10
	tr, _ := startTransportPlugin(t, tcp.New(), Info{})
	l, err := tr.Listen(t.Context(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	// An echo server: every accepted connection copies back what it
	// reads until EOF.
	go func() {
		for {
			c, err := l.Accept(context.Background())
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			c, err := tr.Dial(ctx, l.Addr())
			if err != nil {
				t.Errorf("conn %d: dial: %v", i, err)
				return
			}
			defer c.Close()
			var sent []byte
			var sendErr error
			var w sync.WaitGroup
			w.Go(func() { sent, sendErr = sendRandom(c, uint64(i), size) })
			h := sha256.New()
			_, err = io.CopyN(h, c, size)
			w.Wait()
			if err != nil || sendErr != nil {
				t.Errorf("conn %d: %v, %v", i, err, sendErr)
			} else if !bytes.Equal(h.Sum(nil), sent) {
				t.Errorf("conn %d: echo differs from what was sent", i)
			}
		})
	}
	wg.Wait()
}

func TestTransportRemoteClose(t *testing.T) {
	tr, _ := startTransportPlugin(t, tcp.New(), Info{})
	dialed, accepted, l := connPair(t, tr)
	l.Close()
	defer accepted.Close()

	// What was written before Close arrives before EOF.
	msg := bytes.Repeat([]byte("last words "), 10000)
	if _, err := dialed.Write(msg); err != nil {
		t.Fatal(err)
	}
	if err := dialed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := dialed.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	got, err := io.ReadAll(accepted)
	if err != nil {
		t.Fatalf("ReadAll: %v", err)
	}
	if !bytes.Equal(got, msg) {
		t.Errorf("read %d bytes before EOF, want the %d written", len(got), len(msg))
	}
	if n, err := accepted.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("Read after EOF = %d, %v; want io.EOF again", n, err)
	}
	// Writing to a connection whose peer is gone fails, soon.
	var werr error
	for range 100 {
		if _, werr = accepted.Write([]byte("anyone?")); werr != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.Is(werr, io.ErrClosedPipe) {
		t.Errorf("Write after the remote Close = %v, want io.ErrClosedPipe", werr)
	}

	// The closed end itself fails at once.
	if _, err := dialed.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Read after Close = %v, want net.ErrClosed", err)
	}
	if _, err := dialed.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close = %v, want net.ErrClosed", err)
	}
}

func TestTransportListenerClose(t *testing.T) {
	tr, _ := startTransportPlugin(t, tcp.New(), Info{})
	l, err := tr.Listen(t.Context(), loopback4)
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := l.Accept(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Accept past its deadline = %v, want context.DeadlineExceeded", err)
	}

	blocked := make(chan error, 1)
	go func() {
		_, err := l.Accept(context.Background())
		blocked <- err
	}()
	time.Sleep(20 * time.Millisecond) // let Accept reach the plugin
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-blocked:
		if !errors.Is(err, sdk.ErrClosed) {
			t.Errorf("blocked Accept = %v, want sdk.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not end a blocked Accept")
	}
	if _, err := l.Accept(t.Context()); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Accept after Close = %v, want sdk.ErrClosed", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

func TestTransportInvalidAddr(t *testing.T) {
	tr, _ := startTransportPlugin(t, tcp.New(), Info{})
	if !tr.CanDial(ma.StringCast("/ip4/127.0.0.1/tcp/1")) {
		t.Error("CanDial(/ip4/127.0.0.1/tcp/1) = false")
	}
	for _, s := range []string{"/ip4/127.0.0.1/udp/1", "/ip4/127.0.0.1/tcp/1/ws", "/ip4/127.0.0.1"} {
		addr := ma.StringCast(s)
		if tr.CanDial(addr) {
			t.Errorf("CanDial(%s) = true", s)
		}
		if _, err := tr.Dial(t.Context(), addr); !errors.Is(err, sdk.ErrInvalid) || !strings.Contains(err.Error(), s) {
			t.Errorf("Dial(%s) = %v, want an error wrapping sdk.ErrInvalid that names the address", s, err)
		}
		if _, err := tr.Listen(t.Context(), addr); !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("Listen(%s) = %v, want sdk.ErrInvalid", s, err)
		}
	}
	if _, err := tr.Listen(t.Context(), ma.StringCast("/dns/localhost/tcp/0")); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("Listen on a name = %v, want sdk.ErrInvalid", err)
	}
}

func TestTransportDialContext(t *testing.T) {
	tr, _ := startTransportPlugin(t, tcp.New(), Info{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := tr.Dial(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/1")); !errors.Is(err, context.Canceled) {
		t.Errorf("Dial with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestTransportClose(t *testing.T) {
	impl := tcp.New()
	tr, _ := startTransportPlugin(t, impl, Info{})
	dialed, accepted, l := connPair(t, tr)

	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []sdk.Conn{dialed, accepted} {
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after the transport's Close = %v, want net.ErrClosed", err)
		}
	}
	if _, err := l.Accept(t.Context()); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Accept after the transport's Close = %v, want sdk.ErrClosed", err)
	}
	if _, err := tr.Dial(t.Context(), l.Addr()); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Dial after the transport's Close = %v, want sdk.ErrClosed", err)
	}
	if _, err := tr.Listen(t.Context(), loopback4); !errors.Is(err, sdk.ErrClosed) {
		t.Errorf("Listen after the transport's Close = %v, want sdk.ErrClosed", err)
	}
	// The plugin closed the sockets: a raw dial to the old listener's
	// port is refused.
	port, err := l.Addr().ValueForProtocol(ma.P_TCP)
	if err != nil {
		t.Fatal(err)
	}
	na, err := net.Dial("tcp4", "127.0.0.1:"+port)
	if err == nil {
		na.Close()
		t.Error("the plugin's listener still accepts connections")
	}
}

// TestTransportDialRacingClose covers a connection that arrives after the
// host's side of the transport was closed (but not yet the plugin's).
func TestTransportDialRacingClose(t *testing.T) {
	tr, _ := startTransportPlugin(t, tcp.New(), Info{})
	direct := tcp.New()
	defer direct.Close()
	l, err := direct.Listen(t.Context(), loopback4)
	if err != nil {
		t.Fatal(err)
	}
	tc := tr.(*transportClient)
	tc.mu.Lock()
	tc.closed = true
	tc.mu.Unlock()

	done := make(chan error, 1)
	go func() {
		_, err := tr.Dial(t.Context(), l.Addr())
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, sdk.ErrClosed) {
			t.Errorf("Dial on a closed transport = %v, want sdk.ErrClosed", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Dial on a closed transport hung")
	}
	// The plugin's end of the refused connection is closed: its peer
	// reads EOF.
	peer, err := l.Accept(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	if _, err := io.ReadAll(peer); err != nil {
		t.Errorf("peer of the refused connection: %v", err)
	}
}

// TestTransportBackpressure writes 64 MiB to a peer that does not read.
// The writer must stall once gRPC's flow-control windows and the socket
// buffers are full, without the heap growing with what it writes.
func TestTransportBackpressure(t *testing.T) {
	const total = 64 << 20
	tr, _ := startTransportPlugin(t, tcp.New(), Info{})
	dialed, accepted, l := connPair(t, tr)
	l.Close()
	defer dialed.Close()
	defer accepted.Close()

	// pattern is the byte at offset i of the stream.
	pattern := func(i int) byte { return byte(i % 251) }

	heap := func() int64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return int64(m.HeapAlloc)
	}
	before := heap()

	var written atomic.Int64
	wrote := make(chan error, 1)
	go func() {
		buf := make([]byte, 64<<10)
		for off := 0; off < total; off += len(buf) {
			for i := range buf {
				buf[i] = pattern(off + i)
			}
			n, err := dialed.Write(buf)
			written.Add(int64(n))
			if err != nil {
				wrote <- err
				return
			}
		}
		wrote <- nil
	}()

	// Wait until no byte has been written for 500 ms (within 30 s).
	last, stillFor := int64(-1), 0
	for range 300 {
		time.Sleep(100 * time.Millisecond)
		if n := written.Load(); n != last {
			last, stillFor = n, 0
			continue
		}
		if stillFor++; stillFor == 5 {
			break
		}
	}
	select {
	case err := <-wrote:
		t.Fatalf("a 64 MiB write to a peer that does not read ended (%v) after %d bytes", err, written.Load())
	default:
	}
	if stillFor < 5 {
		t.Fatalf("the writer never stalled; %d bytes written", written.Load())
	}
	grown := heap() - before
	t.Logf("writer stalled after %.1f MiB; heap grew by %.1f MiB", float64(last)/(1<<20), float64(grown)/(1<<20))
	// Whatever gRPC and the sockets hold. Unbounded buffering would
	// hold all 64 MiB.
	if grown > 48<<20 {
		t.Errorf("heap grew by %d MiB while the writer was stalled", grown>>20)
	}

	// Now read it all, and check it.
	buf := make([]byte, 100<<10)
	for off := 0; off < total; {
		n, err := accepted.Read(buf)
		for i := range n {
			if buf[i] != pattern(off+i) {
				t.Fatalf("byte %d is %d, want %d", off+i, buf[i], pattern(off+i))
			}
		}
		off += n
		if err != nil {
			t.Fatalf("read after %d bytes: %v", off, err)
		}
	}
	select {
	case err := <-wrote:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the writer did not finish once the data was read")
	}
}

func TestTransportUnknownStream(t *testing.T) {
	_, raw := startTransportPlugin(t, tcp.New(), Info{})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, first := range []*pb.StreamFrame{{Conn: 12345}, {Conn: 0}, {Conn: 1, Data: []byte("x")}} {
		stream, err := raw.Stream(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := stream.Send(first); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
		_, err = stream.Recv()
		if err := fromStatus(err); !errors.Is(err, sdk.ErrNotFound) && !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("Stream with first frame %v = %v, want sdk.ErrNotFound or sdk.ErrInvalid", first, err)
		}
	}
}

// TestTransportUnclaimedConn checks that the plugin closes a connection
// whose Stream call never comes.
func TestTransportUnclaimedConn(t *testing.T) {
	impl := tcp.New()
	defer impl.Close()
	ts := newTransportServer(&server{info: Info{Kind: KindTransport}, impl: impl}).(*transportServer)
	ts.claimTimeout = 50 * time.Millisecond

	peer, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	target := ma.StringCast("/ip4/127.0.0.1/tcp/" + fmt.Sprint(peer.Addr().(*net.TCPAddr).Port))
	if _, err := ts.Dial(t.Context(), &pb.Addr{Multiaddr: target.Bytes()}); err != nil {
		t.Fatal(err)
	}
	c, err := peer.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("peer read %d, %v; want EOF once the plugin dropped the unclaimed connection", n, err)
	}
	ts.mu.Lock()
	left := len(ts.unclaimed)
	ts.mu.Unlock()
	if left != 0 {
		t.Errorf("%d connections still registered", left)
	}
}

// discoveringTCP is a TCP transport with a fake discovery that reports
// announcements and finds a fixed set of peers.
type discoveringTCP struct {
	*tcp.Transport
	announced chan sdk.PeerAddr
	withdrawn chan sdk.DiscoveryKey
	peers     []sdk.PeerAddr
}

func (d *discoveringTCP) Announce(ctx context.Context, topic sdk.DiscoveryKey, self sdk.PeerAddr) error {
	if topic == (sdk.DiscoveryKey{}) {
		return fmt.Errorf("fake discovery: zero topic: %w", sdk.ErrInvalid)
	}
	d.announced <- self
	go func() {
		<-ctx.Done()
		d.withdrawn <- topic
	}()
	return nil
}

func (d *discoveringTCP) FindPeers(ctx context.Context, topic sdk.DiscoveryKey) (<-chan sdk.PeerAddr, error) {
	ch := make(chan sdk.PeerAddr)
	go func() {
		defer close(ch)
		for _, p := range d.peers {
			select {
			case ch <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

func TestTransportDiscovery(t *testing.T) {
	impl := &discoveringTCP{
		Transport: tcp.New(),
		announced: make(chan sdk.PeerAddr, 1),
		withdrawn: make(chan sdk.DiscoveryKey, 1),
		peers: []sdk.PeerAddr{
			{Key: sdk.PeerKey{1}, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4100"), ma.StringCast("/ip6/::1/tcp/4100")}},
			{Addrs: []ma.Multiaddr{ma.StringCast("/dns/example.com/tcp/4100")}},
		},
	}
	tr, _ := startTransportPlugin(t, impl, Info{Features: []string{FeatureDiscovery}})
	d, ok := tr.(sdk.Discovery)
	if !ok {
		t.Fatal("a transport with the discovery feature does not implement sdk.Discovery")
	}
	topic := sdk.DiscoveryKey{7}
	self := sdk.PeerAddr{Key: sdk.PeerKey{9}, Addrs: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/4101")}}

	ctx, cancel := context.WithCancel(t.Context())
	if err := d.Announce(ctx, topic, self); err != nil {
		t.Fatal(err)
	}
	if got := <-impl.announced; got.Key != self.Key || len(got.Addrs) != 1 || !got.Addrs[0].Equal(self.Addrs[0]) {
		t.Errorf("the plugin's transport was announced as %v, want %v", got, self)
	}
	cancel()
	select {
	case got := <-impl.withdrawn:
		if got != topic {
			t.Errorf("withdrawn topic %s, want %s", got, topic)
		}
	case <-time.After(10 * time.Second):
		t.Error("cancelling the announcement's context did not reach the plugin")
	}
	if err := d.Announce(t.Context(), sdk.DiscoveryKey{}, self); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("Announce refused by the transport = %v, want its sdk.ErrInvalid", err)
	}

	peers, err := d.FindPeers(t.Context(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var got []sdk.PeerAddr
	for p := range peers {
		got = append(got, p)
	}
	if len(got) != len(impl.peers) {
		t.Fatalf("found %d peers, want %d", len(got), len(impl.peers))
	}
	for i, p := range got {
		want := impl.peers[i]
		if p.Key != want.Key || len(p.Addrs) != len(want.Addrs) {
			t.Errorf("peer %d = %v, want %v", i, p, want)
			continue
		}
		for j := range p.Addrs {
			if !p.Addrs[j].Equal(want.Addrs[j]) {
				t.Errorf("peer %d address %d = %s, want %s", i, j, p.Addrs[j], want.Addrs[j])
			}
		}
	}
}

func TestTransportWithoutDiscovery(t *testing.T) {
	// The host was told (wrongly) that the plugin has discovery.
	tr, _ := startTransportPlugin(t, tcp.New(), Info{Features: []string{FeatureDiscovery}})
	d := tr.(sdk.Discovery)
	if err := d.Announce(t.Context(), sdk.DiscoveryKey{1}, sdk.PeerAddr{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Announce = %v, want errors.ErrUnsupported", err)
	}
	if _, err := d.FindPeers(t.Context(), sdk.DiscoveryKey{1}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("FindPeers = %v, want errors.ErrUnsupported", err)
	}

	plain, _ := startTransportPlugin(t, tcp.New(), Info{})
	if _, ok := plain.(sdk.Discovery); ok {
		t.Error("a transport without the discovery feature implements sdk.Discovery")
	}
}

// multiaddrNet is a multiaddr as a net.Addr, for nettest.
type multiaddrNet struct{ ma.Multiaddr }

func (multiaddrNet) Network() string { return "multiaddr" }

// netConn gives a streamConn the address methods of net.Conn.
type netConn struct{ *streamConn }

func (c netConn) LocalAddr() net.Addr  { return multiaddrNet{c.streamConn.LocalAddr()} }
func (c netConn) RemoteAddr() net.Addr { return multiaddrNet{c.streamConn.RemoteAddr()} }

func TestTransportNetConn(t *testing.T) {
	tr, _ := startTransportPlugin(t, tcp.New(), Info{})
	nettest.TestConn(t, func() (c1, c2 net.Conn, stop func(), err error) {
		dialed, accepted, l := connPair(t, tr)
		stop = func() {
			dialed.Close()
			accepted.Close()
			l.Close()
		}
		return netConn{dialed.(*streamConn)}, netConn{accepted.(*streamConn)}, stop, nil
	})
}

// BenchmarkTransportThroughput measures one connection carrying 64 KiB
// writes over loopback: through the plugin adapter, and on TCP directly.
func BenchmarkTransportThroughput(b *testing.B) {
	adapter, _ := startTransportPlugin(b, tcp.New(), Info{})
	direct := tcp.New()
	defer direct.Close()
	for _, bc := range []struct {
		name string
		tr   sdk.Transport
	}{{"adapter", adapter}, {"tcp", direct}} {
		b.Run(bc.name, func(b *testing.B) {
			dialed, accepted, l := connPair(b, bc.tr)
			l.Close()
			drained := make(chan struct{})
			go func() {
				io.Copy(io.Discard, accepted)
				close(drained)
			}()
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(buf)))
			for b.Loop() {
				if _, err := dialed.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			dialed.Close()
			<-drained
			accepted.Close()
		})
	}
}
