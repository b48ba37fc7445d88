package secure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/transports/tcp"
)

// pipeConn makes a net.Conn, such as one end of a net.Pipe, an sdk.Conn.
// A pipe has no buffer at all, so it catches a handshake that does not
// take turns.
type pipeConn struct{ net.Conn }

func (pipeConn) LocalAddr() ma.Multiaddr  { return nil }
func (pipeConn) RemoteAddr() ma.Multiaddr { return nil }

func pipePair(testing.TB) (dial, accept sdk.Conn) {
	a, b := net.Pipe()
	return pipeConn{a}, pipeConn{b}
}

// tcpPair connects two TCP connections on 127.0.0.1 through
// transports/tcp.
func tcpPair(t testing.TB) (dial, accept sdk.Conn) {
	return tcpDial(t, nil)
}

// tcpDial connects to a fresh listener on 127.0.0.1, through via if it is
// not nil: via gets the listener's address and returns the one to dial.
func tcpDial(t testing.TB, via func(target string) string) (dial, accept sdk.Conn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tr := tcp.New()
	t.Cleanup(func() { tr.Close() })
	ln, err := tr.Listen(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr()
	if via != nil {
		host, port, err := net.SplitHostPort(via(hostPort(t, addr)))
		if err != nil {
			t.Fatal(err)
		}
		addr = ma.StringCast("/ip4/" + host + "/tcp/" + port)
	}
	type result struct {
		c   sdk.Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		c, err := ln.Accept(ctx)
		accepted <- result{c, err}
	}()
	d, err := tr.Dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	a := <-accepted
	if a.err != nil {
		t.Fatal(a.err)
	}
	return d, a.c
}

func hostPort(t testing.TB, addr ma.Multiaddr) string {
	t.Helper()
	ip, err := addr.ValueForProtocol(ma.P_IP4)
	if err != nil {
		t.Fatal(err)
	}
	port, err := addr.ValueForProtocol(ma.P_TCP)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort(ip, port)
}

var transports = []struct {
	name string
	pair func(testing.TB) (sdk.Conn, sdk.Conn)
}{
	{"pipe", pipePair},
	{"tcp", tcpPair},
}

// side is one end's identity and Hello.
type side struct {
	id    Identity
	hello Hello
}

func newSide(t testing.TB, hello Hello) side {
	t.Helper()
	id, err := NewIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return side{id, hello}
}

var testHello = Hello{MinVersion: 1, MaxVersion: 1, Client: "codrive/test", Features: []string{"zstd"}}

// connect runs Client over dial and Server over accept at once and
// returns what each returned. Connections are closed when the test ends.
func connect(t testing.TB, dial, accept sdk.Conn, client, server side) (*Conn, *Conn, error, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type result struct {
		c   *Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := Server(ctx, accept, server.id, server.hello)
		done <- result{c, err}
	}()
	c, cerr := Client(ctx, dial, client.id, client.hello)
	s := <-done
	for _, x := range []*Conn{c, s.c} {
		if x != nil {
			t.Cleanup(func() { x.Close() })
		}
	}
	return c, s.c, cerr, s.err
}

// connected returns two ends that completed a handshake.
func connected(t testing.TB, pair func(testing.TB) (sdk.Conn, sdk.Conn)) (client, server *Conn) {
	t.Helper()
	dial, accept := pair(t)
	c, s, cerr, serr := connect(t, dial, accept, newSide(t, testHello), newSide(t, testHello))
	if cerr != nil || serr != nil {
		t.Fatalf("handshake: client: %v; server: %v", cerr, serr)
	}
	return c, s
}

func TestHandshake(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			cl := newSide(t, Hello{MinVersion: 1, MaxVersion: 2, Client: "codrive/a", Features: []string{"zstd", "x"}})
			sv := newSide(t, Hello{MinVersion: 1, MaxVersion: 1, Client: "codrive/b"})
			var hashes [][]byte
			for range 2 {
				dial, accept := tr.pair(t)
				c, s, cerr, serr := connect(t, dial, accept, cl, sv)
				if cerr != nil || serr != nil {
					t.Fatalf("client: %v; server: %v", cerr, serr)
				}
				if c.RemoteKey() != sv.id.PublicKey() || s.RemoteKey() != cl.id.PublicKey() {
					t.Errorf("remote keys: client sees %s, server sees %s; want %s and %s",
						c.RemoteKey(), s.RemoteKey(), sv.id.PublicKey(), cl.id.PublicKey())
				}
				if !c.Initiator() || s.Initiator() {
					t.Errorf("Initiator: client %v, server %v", c.Initiator(), s.Initiator())
				}
				if len(c.HandshakeHash()) != 64 || !bytes.Equal(c.HandshakeHash(), s.HandshakeHash()) {
					t.Errorf("handshake hashes differ or are not 64 bytes: %x, %x", c.HandshakeHash(), s.HandshakeHash())
				}
				hashes = append(hashes, c.HandshakeHash())
				if diff := cmp.Diff(sv.hello, c.PeerHello()); diff != "" {
					t.Errorf("client's PeerHello (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff(cl.hello, s.PeerHello()); diff != "" {
					t.Errorf("server's PeerHello (-want +got):\n%s", diff)
				}
				if c.Version() != 1 || s.Version() != 1 {
					t.Errorf("versions %d and %d, want 1", c.Version(), s.Version())
				}
				exchange(t, c, s)
			}
			if bytes.Equal(hashes[0], hashes[1]) {
				t.Error("two connections have the same handshake hash")
			}
		})
	}
}

// exchange sends a message each way and checks it arrives.
func exchange(t *testing.T, a, b *Conn) {
	t.Helper()
	for _, dir := range []struct{ from, to *Conn }{{a, b}, {b, a}} {
		want := fmt.Appendf(nil, "from the initiator: %v", dir.from.Initiator())
		errc := make(chan error, 1)
		go func() {
			err := dir.from.WriteMessage(want)
			if err == nil {
				err = dir.from.Flush()
			}
			errc <- err
		}()
		got, err := dir.to.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestIdentityFromSeed(t *testing.T) {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	a, err := IdentityFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	b, err := IdentityFromSeed(bytes.Clone(seed))
	if err != nil {
		t.Fatal(err)
	}
	if a.PublicKey() != b.PublicKey() {
		t.Errorf("same seed, different keys: %s and %s", a.PublicKey(), b.PublicKey())
	}
	// A fixed vector, checked against another BLAKE3 implementation
	// (lukechampine.com/blake3) and x/crypto's X25519, so that the
	// derivation can't change unnoticed: it decides every host's peer key.
	if got, want := a.PublicKey().String(), identityVector; got != want {
		t.Errorf("key from seed 00..1f = %s, want %s", got, want)
	}
	seed[31] ^= 1
	c, err := IdentityFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	if c.PublicKey() == a.PublicKey() {
		t.Error("different seeds give the same key")
	}
	if _, err := IdentityFromSeed(seed[:31]); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("31-byte seed: got %v, want an error wrapping sdk.ErrInvalid", err)
	}

	// The derived key works in a handshake like a random one.
	dial, accept := pipePair(t)
	cl, sv := side{a, testHello}, newSide(t, testHello)
	_, s, cerr, serr := connect(t, dial, accept, cl, sv)
	if cerr != nil || serr != nil {
		t.Fatalf("client: %v; server: %v", cerr, serr)
	}
	if s.RemoteKey() != a.PublicKey() {
		t.Errorf("server sees %s, want %s", s.RemoteKey(), a.PublicKey())
	}
}

const identityVector = "77da9685118115fb22a7d9f95a3e4eeb1d03d83c3101c04f86642a956be55327"

func TestNewIdentity(t *testing.T) {
	a, b := newSide(t, testHello), newSide(t, testHello)
	if a.id.PublicKey() == b.id.PublicKey() || a.id.PublicKey() == (sdk.PeerKey{}) {
		t.Errorf("random identities: %s and %s", a.id.PublicKey(), b.id.PublicKey())
	}
}

func TestVersionNegotiation(t *testing.T) {
	tests := []struct {
		client, server [2]uint64 // min, max
		want           uint64    // 0: no overlap
	}{
		{[2]uint64{1, 1}, [2]uint64{1, 1}, 1},
		{[2]uint64{1, 3}, [2]uint64{2, 5}, 3},
		{[2]uint64{2, 5}, [2]uint64{1, 3}, 3},
		{[2]uint64{1, 9}, [2]uint64{4, 4}, 4},
		{[2]uint64{3, 3}, [2]uint64{1, 3}, 3},
		{[2]uint64{1, 1 << 62}, [2]uint64{1 << 40, 1 << 63}, 1 << 62},
		{[2]uint64{1, 1}, [2]uint64{2, 3}, 0},
		{[2]uint64{4, 7}, [2]uint64{1, 3}, 0},
	}
	for _, tc := range tests {
		cl := newSide(t, Hello{MinVersion: tc.client[0], MaxVersion: tc.client[1], Client: "codrive/client"})
		sv := newSide(t, Hello{MinVersion: tc.server[0], MaxVersion: tc.server[1], Client: "codrive/server"})
		dial, accept := pipePair(t)
		c, s, cerr, serr := connect(t, dial, accept, cl, sv)
		if tc.want == 0 {
			for _, e := range []struct {
				name        string
				err         error
				local, peer Hello
			}{
				{"client", cerr, cl.hello, sv.hello},
				{"server", serr, sv.hello, cl.hello},
			} {
				var verr *VersionError
				if !errors.As(e.err, &verr) {
					t.Errorf("%v vs %v: %s got %v, want a *VersionError", tc.client, tc.server, e.name, e.err)
					continue
				}
				if diff := cmp.Diff(&VersionError{Local: e.local, Peer: e.peer}, verr); diff != "" {
					t.Errorf("%s's VersionError (-want +got):\n%s", e.name, diff)
				}
				want := fmt.Sprintf("we speak %d-%d (%s), the peer speaks %d-%d (%s)",
					e.local.MinVersion, e.local.MaxVersion, e.local.Client, e.peer.MinVersion, e.peer.MaxVersion, e.peer.Client)
				if !strings.Contains(e.err.Error(), want) {
					t.Errorf("%s: %q does not say %q", e.name, e.err, want)
				}
			}
			continue
		}
		if cerr != nil || serr != nil {
			t.Errorf("%v vs %v: client: %v; server: %v", tc.client, tc.server, cerr, serr)
			continue
		}
		if c.Version() != tc.want || s.Version() != tc.want {
			t.Errorf("%v vs %v: versions %d and %d, want %d", tc.client, tc.server, c.Version(), s.Version(), tc.want)
		}
	}
}

func TestVersionErrorMessage(t *testing.T) {
	tests := []struct {
		err  VersionError
		want string
	}{
		{
			VersionError{
				Local: Hello{MinVersion: 1, MaxVersion: 1, Client: "codrive/0.1.0"},
				Peer:  Hello{MinVersion: 2, MaxVersion: 3, Client: "codrive/0.4.0"},
			},
			"protocol version mismatch: we speak 1-1 (codrive/0.1.0), the peer speaks 2-3 (codrive/0.4.0)",
		},
		{
			VersionError{
				Local: Hello{MinVersion: 2, MaxVersion: 2, Client: "codrive/0.2.0"},
				Peer:  Hello{MinVersion: 1, MaxVersion: 1, Client: "evil\nclient\u202e"},
			},
			`protocol version mismatch: we speak 2-2 (codrive/0.2.0), the peer speaks 1-1 ("evil\nclient\u202e")`,
		},
		{
			VersionError{
				Local: Hello{MinVersion: 2, MaxVersion: 2, Client: "codrive/0.2.0"},
				Peer:  Hello{MinVersion: 1, MaxVersion: 1, Client: strings.Repeat("é", 100)},
			},
			"protocol version mismatch: we speak 2-2 (codrive/0.2.0), the peer speaks 1-1 (" + strings.Repeat("é", 32) + "...)",
		},
	}
	for _, tc := range tests {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

func TestShared(t *testing.T) {
	cl := newSide(t, Hello{MinVersion: 1, MaxVersion: 1, Client: "a", Features: []string{"zstd", "only-client", "both"}})
	sv := newSide(t, Hello{MinVersion: 1, MaxVersion: 1, Client: "b", Features: []string{"both", "only-server", "zstd"}})
	dial, accept := pipePair(t)
	c, s, cerr, serr := connect(t, dial, accept, cl, sv)
	if cerr != nil || serr != nil {
		t.Fatalf("client: %v; server: %v", cerr, serr)
	}
	for _, tc := range []struct {
		feature string
		want    bool
	}{
		{"zstd", true},
		{"both", true},
		{"only-client", false},
		{"only-server", false},
		{"", false},
		{"ZSTD", false},
	} {
		if got := c.Shared(tc.feature); got != tc.want {
			t.Errorf("client: Shared(%q) = %v, want %v", tc.feature, got, tc.want)
		}
		if got := s.Shared(tc.feature); got != tc.want {
			t.Errorf("server: Shared(%q) = %v, want %v", tc.feature, got, tc.want)
		}
	}
}

// closeTracker records whether Close was called.
type closeTracker struct {
	sdk.Conn
	mu     sync.Mutex
	closed bool
}

func (c *closeTracker) Close() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	return c.Conn.Close()
}

func TestBadArguments(t *testing.T) {
	id := newSide(t, testHello).id
	tests := []struct {
		name  string
		id    Identity
		hello Hello
	}{
		{"zero identity", Identity{}, testHello},
		{"version 0", id, Hello{MinVersion: 0, MaxVersion: 1}},
		{"empty range", id, Hello{MinVersion: 2, MaxVersion: 1}},
		{"client not UTF-8", id, Hello{MinVersion: 1, MaxVersion: 1, Client: "\xff"}},
		{"feature not UTF-8", id, Hello{MinVersion: 1, MaxVersion: 1, Features: []string{"\xc3"}}},
		{"hello too long", id, Hello{MinVersion: 1, MaxVersion: 1, Client: strings.Repeat("x", maxFrame)}},
	}
	for _, tc := range tests {
		for _, run := range []func(context.Context, sdk.Conn, Identity, Hello) (*Conn, error){Client, Server} {
			dial, _ := pipePair(t)
			c := &closeTracker{Conn: dial}
			_, err := run(t.Context(), c, tc.id, tc.hello)
			if !errors.Is(err, sdk.ErrInvalid) {
				t.Errorf("%s: got %v, want an error wrapping sdk.ErrInvalid", tc.name, err)
			}
			if !c.closed {
				t.Errorf("%s: the connection was left open", tc.name)
			}
		}
	}
}

// rawPeer returns one end of a TCP connection on 127.0.0.1 whose other
// end drains whatever it is sent, writes script and then closes its
// sending half.
func rawPeer(t *testing.T, script []byte) sdk.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ours, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		io.Copy(io.Discard, theirs)
	}()
	go func() {
		defer wg.Done()
		theirs.Write(script)
		theirs.(*net.TCPConn).CloseWrite()
	}()
	t.Cleanup(func() {
		ours.Close()
		theirs.Close()
		wg.Wait()
	})
	return pipeConn{ours}
}

func runSide(t *testing.T, initiator bool, c sdk.Conn) error {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	run := Server
	if initiator {
		run = Client
	}
	sc, err := run(ctx, c, newSide(t, testHello).id, testHello)
	if err == nil {
		sc.Close()
		t.Fatal("handshake with a raw peer succeeded")
	}
	return err
}

func TestNotCodrive(t *testing.T) {
	tests := []struct {
		name      string
		initiator bool // the side under test
		script    string
		received  string
		message   string
	}{
		{"HTTP request", false, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET / HT",
			`secure: not a codrive peer: it sent "GET / HT" instead of the preamble`},
		{"SSH server", true, "SSH-2.0-OpenSSH_9.6\r\n", "SSH-2.0-",
			`secure: not a codrive peer: it sent "SSH-2.0-" instead of the preamble`},
		{"TLS client hello", false, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "\x16\x03\x01\x02\x00\x01\x00\x01",
			`secure: not a codrive peer: it sent "\x16\x03\x01\x02\x00\x01\x00\x01" instead of the preamble`},
		{"short, then closed", true, "cox", "cox",
			`secure: not a codrive peer: it sent "cox" instead of the preamble`},
		{"newline and non-ASCII", false, "\nécod\n", "\n\xc3\xa9cod\n",
			`secure: not a codrive peer: it sent "\n\u00e9cod\n" instead of the preamble`},
	}
	for _, tc := range tests {
		err := runSide(t, tc.initiator, rawPeer(t, []byte(tc.script)))
		var nc *NotCodriveError
		if !errors.As(err, &nc) {
			t.Errorf("%s: got %v, want a *NotCodriveError", tc.name, err)
			continue
		}
		if string(nc.Received) != tc.received {
			t.Errorf("%s: Received %q, want %q", tc.name, nc.Received, tc.received)
		}
		if err.Error() != tc.message {
			t.Errorf("%s:\ngot  %s\nwant %s", tc.name, err, tc.message)
		}
	}
}

func TestBadHandshake(t *testing.T) {
	preamble := "codrive\x01"
	tests := []struct {
		name      string
		initiator bool // the side under test
		script    string
		want      string // in the error
	}{
		{"closed before the preamble", false, "", "ended after 0 bytes of the peer's preamble"},
		{"closed within the preamble", true, "codri", "ended after 5 bytes of the peer's preamble"},
		{"version 0", false, "codrive\x00", "handshake version 0"},
		{"closed after the preamble", false, preamble, "ended while waiting for message 1"},
		{"closed within message 1", false, preamble + "\x00\x20abc", "ended while waiting for message 1"},
		{"short message 1", false, preamble + "\x00\x05hello", "message 1 from the peer is invalid"},
		{"payload in message 1", false, preamble + "\x00\x22" + strings.Repeat("e", 34), "message 1 carries a 2-byte payload"},
		{"HTTP after the preamble", false, preamble + "GET / HTTP/1.1\r\n\r\n", "ended while waiting for message 1"},
		{"garbage message 2", true, preamble + "\x00\x60" + strings.Repeat("\x5a", 96), "message 2 from the peer is invalid"},
		{"empty message 2", true, preamble + "\x00\x00", "message 2 from the peer is invalid"},
		{"closed after the preamble", true, preamble, "ended while waiting for message 2"},
	}
	for _, tc := range tests {
		err := runSide(t, tc.initiator, rawPeer(t, []byte(tc.script)))
		if !errors.Is(err, ErrHandshake) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "handshake") {
			t.Errorf("%s: got %v, want an ErrHandshake mentioning %q", tc.name, err, tc.want)
		}
	}
}

// A man in the middle who flips one byte anywhere breaks the connection.
func TestTamper(t *testing.T) {
	cl, sv := newSide(t, testHello), newSide(t, testHello)
	helloLen := len(appendHello(nil, testHello))
	msg2 := 32 + 48 + helloLen + tagSize
	msg3 := 48 + helloLen + tagSize
	c2sHandshake := preambleSize + 2 + 32 + 2 + msg3 // bytes the client sends before transport messages
	s2cHandshake := preambleSize + 2 + msg2

	type outcome int
	const (
		handshakeFails       outcome = iota // the side that checks fails the handshake
		clientHandshakeOK                   // the client finishes, the server fails
		transportFails                      // both finish; the receiver's ReadMessage fails
		serverSeesNotCodrive                // the server sees a broken magic
	)
	tests := []struct {
		name        string
		clientToSrv bool
		offset      int
		outcome     outcome
	}{
		{"magic", true, 2, serverSeesNotCodrive},
		{"client preamble version", true, 7, handshakeFails},
		{"server preamble version", false, 7, handshakeFails},
		{"message 1 ephemeral key", true, preambleSize + 2 + 7, handshakeFails},
		{"message 2 ephemeral key", false, preambleSize + 2 + 3, handshakeFails},
		{"message 2 static key", false, preambleSize + 2 + 40, handshakeFails},
		{"message 2 hello", false, preambleSize + 2 + 32 + 48 + 2, handshakeFails},
		{"message 2 tag", false, s2cHandshake - 1, handshakeFails},
		{"message 3 static key", true, preambleSize + 2 + 32 + 2 + 10, clientHandshakeOK},
		{"message 3 tag", true, c2sHandshake - 1, clientHandshakeOK},
		{"client transport message", true, c2sHandshake + 2 + 5, transportFails},
		{"server transport message", false, s2cHandshake + 2 + 5, transportFails},
		{"server transport tag", false, s2cHandshake + 2 + 30, transportFails}, // 23 bytes of plaintext, then the tag
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dial, accept := tcpDial(t, func(target string) string {
				return flipProxy(t, target, tc.clientToSrv, tc.offset)
			})
			c, s, cerr, serr := connect(t, dial, accept, cl, sv)
			switch tc.outcome {
			case serverSeesNotCodrive:
				var nc *NotCodriveError
				if !errors.As(serr, &nc) || cerr == nil {
					t.Fatalf("client: %v; server: %v; want an error and a *NotCodriveError", cerr, serr)
				}
			case handshakeFails:
				if !errors.Is(cerr, ErrHandshake) || !errors.Is(serr, ErrHandshake) {
					t.Fatalf("client: %v; server: %v; want ErrHandshake on both", cerr, serr)
				}
				if !strings.Contains(cerr.Error(), "invalid") {
					t.Errorf("client: %v; want it to find the message invalid", cerr)
				}
			case clientHandshakeOK:
				if cerr != nil || !errors.Is(serr, ErrHandshake) || !strings.Contains(serr.Error(), "message 3") {
					t.Fatalf("client: %v; server: %v; want the server to reject message 3", cerr, serr)
				}
				if _, err := c.ReadMessage(); err == nil {
					t.Error("the client read a message from a server that failed the handshake")
				}
			case transportFails:
				if cerr != nil || serr != nil {
					t.Fatalf("client: %v; server: %v", cerr, serr)
				}
				from, to := s, c
				if tc.clientToSrv {
					from, to = c, s
				}
				if err := from.WriteMessage([]byte("a message for the peer")); err != nil {
					t.Fatal(err)
				}
				if err := from.Flush(); err != nil {
					t.Fatal(err)
				}
				body, err := to.ReadMessage()
				if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "does not decrypt") {
					t.Fatalf("got %q, %v; want ErrProtocol saying it does not decrypt", body, err)
				}
			}
		})
	}
}

// TestTamperLargeMessage: a Noise message decrypted straight into the
// body of a large message is authenticated like any other.
func TestTamperLargeMessage(t *testing.T) {
	cl, sv := newSide(t, testHello), newSide(t, testHello)
	helloLen := len(appendHello(nil, testHello))
	c2sHandshake := preambleSize + 2 + 32 + 2 + 48 + helloLen + tagSize
	for _, frame := range []int{1, 2, 4} { // the first holds the length prefix and is copied
		t.Run(fmt.Sprint("noise message ", frame), func(t *testing.T) {
			offset := c2sHandshake + frame*(2+maxFrame) + 2 + 1000
			dial, accept := tcpDial(t, func(target string) string { return flipProxy(t, target, true, offset) })
			c, s, cerr, serr := connect(t, dial, accept, cl, sv)
			if cerr != nil || serr != nil {
				t.Fatalf("client: %v; server: %v", cerr, serr)
			}
			send(c, pattern(5*maxPlain, 1))
			body, err := s.ReadMessage()
			if !errors.Is(err, ErrProtocol) || !strings.Contains(err.Error(), "does not decrypt") || body != nil {
				t.Fatalf("got %d bytes, %v; want ErrProtocol saying it does not decrypt", len(body), err)
			}
		})
	}
}

// flipProxy listens on 127.0.0.1 and forwards one connection to target,
// flipping the byte at offset in one direction. It returns its address.
func flipProxy(t *testing.T, target string, clientToServer bool, offset int) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	track := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	closeAll := func() {
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		in, err := ln.Accept()
		if err != nil {
			return
		}
		track(in)
		out, err := net.Dial("tcp", target)
		if err != nil {
			closeAll()
			return
		}
		track(out)
		pipe := func(dst, src net.Conn, flip int) {
			defer wg.Done()
			defer closeAll() // one direction ending ends the connection
			buf := make([]byte, 4096)
			seen := 0
			for {
				n, err := src.Read(buf)
				if flip >= seen && flip < seen+n {
					buf[flip-seen] ^= 0x80 // keeps a version byte from becoming 0
				}
				seen += n
				if _, werr := dst.Write(buf[:n]); werr != nil || err != nil {
					return
				}
			}
		}
		c2s, s2c := offset, -1
		if !clientToServer {
			c2s, s2c = -1, offset
		}
		wg.Add(2)
		go pipe(out, in, c2s)
		go pipe(in, out, s2c)
	}()
	t.Cleanup(func() {
		ln.Close()
		closeAll()
		wg.Wait()
	})
	return ln.Addr().String()
}

func TestHandshakeContext(t *testing.T) {
	// The peer reads everything and never answers.
	silent := func(t *testing.T) sdk.Conn {
		ours, theirs := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			io.Copy(io.Discard, theirs)
		}()
		t.Cleanup(func() {
			ours.Close()
			theirs.Close()
			<-done
		})
		return &closeTracker{Conn: pipeConn{ours}}
	}
	for _, tc := range []struct {
		name      string
		initiator bool
		cancelled bool // before the handshake starts
	}{
		{"client", true, false},
		{"server", false, false},
		{"client, cancelled before", true, true},
		{"server, cancelled before", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := silent(t)
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			defer cancel()
			want := context.DeadlineExceeded
			if tc.cancelled {
				ctx, cancel = context.WithCancel(t.Context())
				cancel()
				want = context.Canceled
			}
			run := Server
			if tc.initiator {
				run = Client
			}
			errc := make(chan error, 1)
			go func() {
				_, err := run(ctx, c, newSide(t, testHello).id, testHello)
				errc <- err
			}()
			select {
			case err := <-errc:
				if !errors.Is(err, want) {
					t.Errorf("got %v, want an error wrapping %v", err, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the handshake did not return 5 s after its context ended")
			}
			c.(*closeTracker).mu.Lock()
			defer c.(*closeTracker).mu.Unlock()
			if !c.(*closeTracker).closed {
				t.Error("the connection was left open")
			}
		})
	}
}

func TestParseHello(t *testing.T) {
	good := []struct {
		enc  string
		want Hello
	}{
		{"\x01\x01\x00\x00", Hello{MinVersion: 1, MaxVersion: 1}},
		{"\x01\x03\x0dcodrive/0.1.0\x02\x04zstd\x00",
			Hello{MinVersion: 1, MaxVersion: 3, Client: "codrive/0.1.0", Features: []string{"zstd", ""}}},
		{"\x02\x80\x01\x02\xc3\xa9\x00", Hello{MinVersion: 2, MaxVersion: 128, Client: "é"}},
	}
	for _, tc := range good {
		h, err := parseHello([]byte(tc.enc))
		if err != nil {
			t.Errorf("%q: %v", tc.enc, err)
			continue
		}
		if diff := cmp.Diff(tc.want, h); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tc.enc, diff)
		}
		if got := string(appendHello(nil, h)); got != tc.enc {
			t.Errorf("%+v encodes to %q, want %q", h, got, tc.enc)
		}
	}

	bad := []struct {
		enc, want string
	}{
		{"", "truncated varint"},
		{"\x01\x01\x00", "truncated varint"},
		{"\x01\x01\x00\x00\x00", "1 bytes after the end"},
		{"\x01\x01\x05abc\x00", "string of 5 bytes with 4 left"},
		{"\x01\x01\x00\x03\x00\x00", "3 features in 2 bytes"},
		{"\x01\x01\x00\x01\x02a", "string of 2 bytes with 1 left"},
		{"\x81\x00\x01\x00\x00", "not in shortest form"},
		{"\x01\x01\x80\x00\x00", "not in shortest form"},
		{"\x01" + strings.Repeat("\xff", 10) + "\x01\x00\x00", "overflows 64 bits"},
		{"\x00\x01\x00\x00", "version range 0-1"},
		{"\x03\x02\x00\x00", "version range 3-2"},
		{"\x01\x01\x01\xff\x00", "client name is not UTF-8"},
		{"\x01\x01\x00\x01\x01\xff", "feature name is not UTF-8"},
	}
	for _, tc := range bad {
		if h, err := parseHello([]byte(tc.enc)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %+v, %v; want an error saying %q", tc.enc, h, err, tc.want)
		}
	}
}
