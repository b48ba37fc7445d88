package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"

	ma "github.com/multiformats/go-multiaddr"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin/internal/pb"
)

// The plugin owns the sockets. Dial and Accept register each new
// connection in the plugin under a fresh id; the host then opens one
// bidirectional Stream call per connection, names the id in its first
// frame, and from then on the call carries the connection's bytes both
// ways. Either side ends the call to close the connection. Flow control is
// gRPC's (HTTP/2's, per call): a reader that stops reading stops the
// writer at the other end, and neither side buffers more than one frame
// beyond what gRPC holds.

// maxFrameData is the most connection bytes one StreamFrame carries.
const maxFrameData = 64 << 10

// Timeouts for connections nobody is attending to.
const (
	// claimTimeout is how long a connection the plugin dialed or accepted
	// waits for the host to open its Stream (the host may have died, or
	// given up, between the two calls) before the plugin closes it.
	claimTimeout = 30 * time.Second
	// closeLinger is how long a connection the host closed may take to
	// flush what was written before the host abandons it: longer only if
	// the peer has stopped reading.
	closeLinger = 30 * time.Second
)

// transportServer is the plugin's side: it serves an sdk.Transport and
// keeps the listeners and the not yet streamed connections by id.
type transportServer struct {
	pb.UnimplementedTransportServer
	srv          *server
	claimTimeout time.Duration

	mu        sync.Mutex
	lastID    uint64 // listeners and connections share the id space; 0 is never used
	listeners map[uint64]*servedListener
	unclaimed map[uint64]*unclaimedConn
}

// servedListener accepts on its own, so that no connection is lost when a
// host's Accept call is cancelled while a connection arrives: accepted
// connections wait in a queue for the next call.
type servedListener struct {
	l     sdk.Listener
	ready chan struct{} // signalled when the queue or err changes

	mu    sync.Mutex
	queue []sdk.Conn
	err   error // why accepting ended
}

func newServedListener(l sdk.Listener) *servedListener {
	s := &servedListener{l: l, ready: make(chan struct{}, 1)}
	go s.loop()
	return s
}

func (s *servedListener) loop() {
	for {
		c, err := s.l.Accept(context.Background())
		s.mu.Lock()
		if err != nil {
			s.err = err
		} else {
			s.queue = append(s.queue, c)
		}
		s.mu.Unlock()
		s.signal()
		if err != nil {
			return
		}
	}
}

func (s *servedListener) signal() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// next waits for the next accepted connection.
func (s *servedListener) next(ctx context.Context) (sdk.Conn, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			c := s.queue[0]
			s.queue = s.queue[1:]
			more := len(s.queue) > 0
			s.mu.Unlock()
			if more {
				s.signal() // another waiting call may take the next one
			}
			return c, nil
		}
		err := s.err
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case <-s.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// putBack returns a connection whose call was given up on to the front
// of the queue.
func (s *servedListener) putBack(c sdk.Conn) {
	s.mu.Lock()
	s.queue = append([]sdk.Conn{c}, s.queue...)
	s.mu.Unlock()
	s.signal()
}

// drop closes the connections nobody accepted; the listener itself is
// closed by its owner.
func (s *servedListener) drop() {
	s.mu.Lock()
	q := s.queue
	s.queue = nil
	s.mu.Unlock()
	for _, c := range q {
		c.Close()
	}
}

// unclaimedConn is a connection waiting for its Stream call.
type unclaimedConn struct {
	conn  sdk.Conn
	timer *time.Timer // closes the connection if no Stream claims it
}

func newTransportServer(srv *server) pb.TransportServer {
	return &transportServer{
		srv:          srv,
		claimTimeout: claimTimeout,
		listeners:    make(map[uint64]*servedListener),
		unclaimed:    make(map[uint64]*unclaimedConn),
	}
}

func (t *transportServer) impl() (sdk.Transport, error) {
	impl, err := t.srv.get()
	if err != nil {
		return nil, err
	}
	return impl.(sdk.Transport), nil
}

func (t *transportServer) CanDial(_ context.Context, req *pb.Addr) (*pb.CanDialResponse, error) {
	tr, err := t.impl()
	if err != nil {
		return nil, err
	}
	addr, err := ma.NewMultiaddrBytes(req.GetMultiaddr())
	if err != nil {
		return &pb.CanDialResponse{}, nil
	}
	return &pb.CanDialResponse{Ok: tr.CanDial(addr)}, nil
}

func (t *transportServer) Dial(ctx context.Context, req *pb.Addr) (*pb.ConnInfo, error) {
	tr, err := t.impl()
	if err != nil {
		return nil, err
	}
	addr, err := parseAddrBytes(req.GetMultiaddr())
	if err != nil {
		return nil, toStatus(err)
	}
	conn, err := tr.Dial(ctx, addr)
	if err != nil {
		return nil, toStatus(err)
	}
	return t.offer(ctx, conn)
}

func (t *transportServer) Listen(ctx context.Context, req *pb.Addr) (*pb.ListenerInfo, error) {
	tr, err := t.impl()
	if err != nil {
		return nil, err
	}
	addr, err := parseAddrBytes(req.GetMultiaddr())
	if err != nil {
		return nil, toStatus(err)
	}
	l, err := tr.Listen(ctx, addr)
	if err != nil {
		return nil, toStatus(err)
	}
	if ctx.Err() != nil {
		// The host gave up on the call: nobody will ever close this one.
		l.Close()
		return nil, toStatus(ctx.Err())
	}
	t.mu.Lock()
	t.lastID++
	id := t.lastID
	t.listeners[id] = newServedListener(l)
	t.mu.Unlock()
	return &pb.ListenerInfo{Listener: id, Addr: l.Addr().Bytes()}, nil
}

func (t *transportServer) Accept(ctx context.Context, req *pb.IDRequest) (*pb.ConnInfo, error) {
	t.mu.Lock()
	l := t.listeners[req.GetId()]
	t.mu.Unlock()
	if l == nil {
		return nil, toStatus(errListenerGone(req.GetId()))
	}
	conn, err := l.next(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	if err := ctx.Err(); err != nil {
		l.putBack(conn) // for the next Accept
		return nil, toStatus(err)
	}
	return t.offer(ctx, conn)
}

// CloseListener closes a listener. Ids are never reused, so an unknown one
// is a listener closed already (by CloseListener or Close), and closing it
// again does nothing.
func (t *transportServer) CloseListener(_ context.Context, req *pb.IDRequest) (*pb.Empty, error) {
	t.mu.Lock()
	l := t.listeners[req.GetId()]
	delete(t.listeners, req.GetId())
	t.mu.Unlock()
	if l == nil {
		return &pb.Empty{}, nil
	}
	err := l.l.Close()
	l.drop()
	return &pb.Empty{}, toStatus(err)
}

// errListenerGone: ids are never reused, so an unknown one is a listener
// that has been closed (or a host bug).
func errListenerGone(id uint64) error {
	return fmt.Errorf("transport plugin: listener %d is not open: %w", id, sdk.ErrClosed)
}

// offer registers a new connection for a Stream call to claim.
func (t *transportServer) offer(ctx context.Context, conn sdk.Conn) (*pb.ConnInfo, error) {
	// A host that gave up on the call cannot learn the id, so nobody
	// would claim the connection.
	if err := ctx.Err(); err != nil {
		conn.Close()
		return nil, toStatus(err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lastID++
	id := t.lastID
	t.unclaimed[id] = &unclaimedConn{
		conn: conn,
		timer: time.AfterFunc(t.claimTimeout, func() {
			if c := t.claim(id); c != nil {
				c.Close()
			}
		}),
	}
	return &pb.ConnInfo{Conn: id, Local: conn.LocalAddr().Bytes(), Remote: conn.RemoteAddr().Bytes()}, nil
}

// claim takes the connection with the id out of the registry, or returns
// nil if it is not there. Each connection is taken exactly once: by its
// Stream call or by its claim timer.
func (t *transportServer) claim(id uint64) sdk.Conn {
	t.mu.Lock()
	u := t.unclaimed[id]
	delete(t.unclaimed, id)
	t.mu.Unlock()
	if u == nil {
		return nil
	}
	u.timer.Stop()
	return u.conn
}

// Stream pumps one connection: frames from the host to the socket, and
// socket reads to the host. The host's first frame names the connection;
// later frames carry only data. Stream returns, ending the call, when the
// socket reports EOF or an error (the host reads io.EOF or that error), or
// when the host ends the call, which closes the socket.
func (t *transportServer) Stream(stream pb.Transport_StreamServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	if len(first.GetData()) != 0 {
		return toStatus(fmt.Errorf("transport plugin: the first frame of a stream must name a connection and carry no data: %w", sdk.ErrInvalid))
	}
	id := first.GetConn()
	conn := t.claim(id)
	if conn == nil {
		return toStatus(fmt.Errorf("transport plugin: no connection %d is waiting for a stream: %w", id, sdk.ErrNotFound))
	}
	defer conn.Close()

	// Host to socket. Closing the socket when this ends (the host ended
	// the call, or writing failed) also ends the read loop below.
	wrote := make(chan error, 1)
	go func() {
		wrote <- streamToConn(stream, conn)
		conn.Close()
	}()
	err = connToStream(conn, stream)
	select {
	case werr := <-wrote:
		// The socket was closed above; a write error is the news, and
		// the read error that followed from the close is not.
		err = werr
	default:
	}
	if err != nil {
		return toStatus(fmt.Errorf("transport plugin: connection %d: %w", id, err))
	}
	return nil
}

// streamToConn writes the host's frames to the socket until the host ends
// the call (nil) or a write fails (its error).
func streamToConn(stream pb.Transport_StreamServer, conn sdk.Conn) error {
	for {
		f, err := stream.Recv()
		if err != nil {
			return nil
		}
		if _, err := conn.Write(f.GetData()); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
}

// connToStream sends what the socket reads to the host until EOF (nil),
// a read error, or a send error.
func connToStream(conn sdk.Conn, stream pb.Transport_StreamServer) error {
	buf := make([]byte, maxFrameData)
	for {
		n, err := conn.Read(buf)
		if n > 0 {
			// gRPC may use a message after Send returns (see SendMsg), so
			// each frame gets its own copy rather than buf.
			if serr := stream.Send(&pb.StreamFrame{Data: bytes.Clone(buf[:n])}); serr != nil {
				return serr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
	}
}

func (t *transportServer) Close(context.Context, *pb.Empty) (*pb.Empty, error) {
	tr, err := t.impl()
	if err != nil {
		return nil, err
	}
	// The transport closes what it opened; the registry just forgets it.
	err = tr.Close()
	t.mu.Lock()
	unclaimed, listeners := t.unclaimed, t.listeners
	t.listeners = make(map[uint64]*servedListener)
	t.unclaimed = make(map[uint64]*unclaimedConn)
	t.mu.Unlock()
	for _, u := range unclaimed {
		u.timer.Stop()
	}
	for _, l := range listeners {
		l.drop()
	}
	return &pb.Empty{}, toStatus(err)
}

// errNoDiscovery is what the plugin answers for Announce and FindPeers
// when its transport does not implement sdk.Discovery.
var errNoDiscovery = status.Error(codes.Unimplemented, "the plugin's transport does not implement discovery")

func (t *transportServer) discovery() (sdk.Discovery, error) {
	tr, err := t.impl()
	if err != nil {
		return nil, err
	}
	d, ok := tr.(sdk.Discovery)
	if !ok {
		return nil, errNoDiscovery
	}
	return d, nil
}

// Announce keeps the announcement up for as long as the call lasts. The
// header it sends tells the host that the transport accepted it.
func (t *transportServer) Announce(req *pb.AnnounceRequest, stream pb.Transport_AnnounceServer) error {
	d, err := t.discovery()
	if err != nil {
		return err
	}
	topic, err := toDiscoveryKey(req.GetTopic())
	if err != nil {
		return toStatus(err)
	}
	self, err := toPeerAddr(req.GetSelf())
	if err != nil {
		return toStatus(err)
	}
	ctx := stream.Context()
	if err := d.Announce(ctx, topic, self); err != nil {
		return toStatus(err)
	}
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// FindPeers streams the peers the transport finds. The header it sends
// first tells the host that the search started.
func (t *transportServer) FindPeers(req *pb.FindPeersRequest, stream pb.Transport_FindPeersServer) error {
	d, err := t.discovery()
	if err != nil {
		return err
	}
	topic, err := toDiscoveryKey(req.GetTopic())
	if err != nil {
		return toStatus(err)
	}
	peers, err := d.FindPeers(stream.Context(), topic)
	if err != nil {
		return toStatus(err)
	}
	if err := stream.SendHeader(nil); err != nil {
		return err
	}
	for p := range peers {
		if err := stream.Send(fromPeerAddr(p)); err != nil {
			return err
		}
	}
	return nil
}

// transportClient is the host's side: sdk.Transport over gRPC. It keeps
// the connections it opened, so that Close closes them here at once
// rather than when the plugin's closing reaches each Stream call.
type transportClient struct {
	c pb.TransportClient

	mu     sync.Mutex
	closed bool
	conns  map[*streamConn]struct{}
}

func (t *transportClient) CanDial(addr ma.Multiaddr) bool {
	r, err := t.c.CanDial(context.Background(), &pb.Addr{Multiaddr: addr.Bytes()})
	return err == nil && r.GetOk()
}

func (t *transportClient) Dial(ctx context.Context, addr ma.Multiaddr) (sdk.Conn, error) {
	info, err := t.c.Dial(ctx, &pb.Addr{Multiaddr: addr.Bytes()})
	if err != nil {
		return nil, fromCall(ctx, err)
	}
	return t.attach(info)
}

func (t *transportClient) Listen(ctx context.Context, addr ma.Multiaddr) (sdk.Listener, error) {
	info, err := t.c.Listen(ctx, &pb.Addr{Multiaddr: addr.Bytes()})
	if err != nil {
		return nil, fromCall(ctx, err)
	}
	laddr, err := ma.NewMultiaddrBytes(info.GetAddr())
	if err != nil {
		return nil, fmt.Errorf("transport plugin: listener %d has a bad address: %w: %w", info.GetListener(), sdk.ErrCorrupt, err)
	}
	return newListenerClient(t, info.GetListener(), laddr), nil
}

// Close closes the connections opened through t, then has the plugin
// close its transport, which closes every listener and connection there.
func (t *transportClient) Close() error {
	t.mu.Lock()
	t.closed = true
	conns := t.conns
	t.conns = nil
	t.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	_, err := t.c.Close(context.Background(), &pb.Empty{})
	return fromStatus(err)
}

// attach opens the Stream call for a connection the plugin dialed or
// accepted. The call gets a context of its own: the connection outlives
// the Dial or Accept call's context.
func (t *transportClient) attach(info *pb.ConnInfo) (sdk.Conn, error) {
	id := info.GetConn()
	local, err := ma.NewMultiaddrBytes(info.GetLocal())
	if err != nil {
		return nil, fmt.Errorf("transport plugin: connection %d has a bad local address: %w: %w", id, sdk.ErrCorrupt, err)
	}
	remote, err := ma.NewMultiaddrBytes(info.GetRemote())
	if err != nil {
		return nil, fmt.Errorf("transport plugin: connection %d has a bad remote address: %w: %w", id, sdk.ErrCorrupt, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := t.c.Stream(ctx)
	if err != nil {
		cancel()
		return nil, fromStatus(err)
	}
	if err := stream.Send(&pb.StreamFrame{Conn: id}); err != nil {
		// Send reports io.EOF when the plugin ended the call; Recv has
		// the reason.
		_, err = stream.Recv()
		cancel()
		return nil, fromStatus(err)
	}
	c := newStreamConn(t, id, local, remote, stream, cancel)
	t.mu.Lock()
	closed := t.closed
	if !closed {
		if t.conns == nil {
			t.conns = make(map[*streamConn]struct{})
		}
		t.conns[c] = struct{}{}
	}
	t.mu.Unlock()
	if closed { // Close ran while the plugin dialed or accepted
		c.Close()
		return nil, fmt.Errorf("transport plugin: connection %d: transport %w", id, sdk.ErrClosed)
	}
	return c, nil
}

func (t *transportClient) forget(c *streamConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.conns, c)
}

// discoveringTransportClient is a transportClient for a plugin whose
// transport also implements sdk.Discovery.
type discoveringTransportClient struct {
	*transportClient
}

// Announce returns once the plugin's transport has accepted the
// announcement, which lasts until ctx is done.
func (d *discoveringTransportClient) Announce(ctx context.Context, topic sdk.DiscoveryKey, self sdk.PeerAddr) error {
	stream, err := d.c.Announce(ctx, &pb.AnnounceRequest{Topic: topic[:], Self: fromPeerAddr(self)})
	if err != nil {
		return discoveryError(err)
	}
	if err := awaitHeader(stream); err != nil {
		return discoveryError(err)
	}
	// The call ends when ctx does; this Recv then returns and releases it.
	go stream.Recv()
	return nil
}

func (d *discoveringTransportClient) FindPeers(ctx context.Context, topic sdk.DiscoveryKey) (<-chan sdk.PeerAddr, error) {
	stream, err := d.c.FindPeers(ctx, &pb.FindPeersRequest{Topic: topic[:]})
	if err != nil {
		return nil, discoveryError(err)
	}
	if err := awaitHeader(stream); err != nil {
		return nil, discoveryError(err)
	}
	peers := make(chan sdk.PeerAddr)
	go func() {
		defer close(peers)
		for {
			m, err := stream.Recv()
			if err != nil {
				return
			}
			p, err := toPeerAddr(m)
			if err != nil {
				continue // one malformed peer from the plugin is not worth ending the search for
			}
			select {
			case peers <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	return peers, nil
}

// awaitHeader waits until the plugin has started a server-streaming call
// by sending its header, and returns the call's error if it failed
// instead.
func awaitHeader[T any](stream grpc.ServerStreamingClient[T]) error {
	if md, _ := stream.Header(); md != nil {
		return nil
	}
	// No header: the call is over, and Recv has its status.
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// discoveryError words a plugin without discovery as errors.ErrUnsupported.
func discoveryError(err error) error {
	if st, ok := status.FromError(err); ok && st.Code() == codes.Unimplemented {
		return fmt.Errorf("transport plugin: %s: %w", st.Message(), errors.ErrUnsupported)
	}
	return fromStatus(err)
}

// listenerClient is a listener in the plugin.
type listenerClient struct {
	t    *transportClient
	id   uint64
	addr ma.Multiaddr

	// One Accept call to the plugin is always under way, from loop, on
	// a context of the listener's own: a caller that gives up on Accept
	// must not make an answer already on its way get lost.
	stop  context.CancelFunc
	conns chan sdk.Conn
	done  chan struct{} // closed when loop ends; err says why
	err   error
}

func newListenerClient(t *transportClient, id uint64, addr ma.Multiaddr) *listenerClient {
	ctx, stop := context.WithCancel(context.Background())
	l := &listenerClient{t: t, id: id, addr: addr, stop: stop, conns: make(chan sdk.Conn), done: make(chan struct{})}
	go l.loop(ctx)
	return l
}

func (l *listenerClient) loop(ctx context.Context) {
	defer close(l.done)
	for {
		info, err := l.t.c.Accept(ctx, &pb.IDRequest{Id: l.id})
		if err != nil {
			l.err = fromCall(ctx, err)
			if ctx.Err() != nil {
				l.err = fmt.Errorf("transport plugin: listener %d: %w", l.id, sdk.ErrClosed)
			}
			return
		}
		c, err := l.t.attach(info)
		if err != nil {
			l.err = err
			return
		}
		select {
		case l.conns <- c:
		case <-ctx.Done():
			c.Close()
			l.err = fmt.Errorf("transport plugin: listener %d: %w", l.id, sdk.ErrClosed)
			return
		}
	}
}

func (l *listenerClient) Accept(ctx context.Context) (sdk.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, l.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (l *listenerClient) Addr() ma.Multiaddr { return l.addr }

func (l *listenerClient) Close() error {
	_, err := l.t.c.CloseListener(context.Background(), &pb.IDRequest{Id: l.id})
	l.stop()
	<-l.done
	return fromStatus(err)
}

// streamConn is a connection in the plugin, reached over its Stream call.
// Besides sdk.Conn it has the deadline methods of net.Conn.
//
// gRPC's Send and Recv cannot be interrupted without ending the call, so
// one goroutine sends and one receives, and Write and Read hand frames to
// and from them through unbuffered channels, waiting on the deadlines as
// well. Each goroutine holds at most one frame.
type streamConn struct {
	t             *transportClient
	id            uint64
	local, remote ma.Multiaddr
	stream        pb.Transport_StreamClient
	cancel        context.CancelFunc // ends the call

	readMu   sync.Mutex // one Read at a time, for pending
	pending  []byte     // the rest of the frame the last Read took
	frames   chan []byte
	recvDone chan struct{} // closed when the call is over, after recvErr is set
	recvErr  error         // io.EOF when the plugin's socket reached EOF

	writeMu  sync.Mutex // one Write at a time, so that frames do not interleave
	sendq    chan outFrame
	sendDone chan struct{} // closed when the sender has returned, after sendErr is set
	sendErr  error

	readDeadline, writeDeadline *deadline

	closeOnce sync.Once
	closed    chan struct{}
}

// outFrame is one frame for the sender, and where it reports sending it.
type outFrame struct {
	data []byte
	sent chan error // buffered, so a Write that stopped waiting costs nothing
}

func newStreamConn(t *transportClient, id uint64, local, remote ma.Multiaddr, stream pb.Transport_StreamClient, cancel context.CancelFunc) *streamConn {
	c := &streamConn{
		t: t, id: id, local: local, remote: remote, stream: stream, cancel: cancel,
		frames:        make(chan []byte),
		recvDone:      make(chan struct{}),
		sendq:         make(chan outFrame),
		sendDone:      make(chan struct{}),
		readDeadline:  newDeadline(),
		writeDeadline: newDeadline(),
		closed:        make(chan struct{}),
	}
	go c.receive()
	go c.send()
	return c
}

// receive takes frames off the call until it ends.
func (c *streamConn) receive() {
	defer c.cancel() // Recv failed, so the call is over: release its context
	for {
		f, err := c.stream.Recv()
		if err != nil {
			c.recvErr = io.EOF
			if !errors.Is(err, io.EOF) {
				c.recvErr = fromStatus(err)
			}
			close(c.recvDone)
			return
		}
		if len(f.GetData()) == 0 {
			continue
		}
		select {
		case c.frames <- f.GetData():
		case <-c.closed:
			// Nobody reads any more, but keep draining, so that the
			// plugin is never stuck sending while it closes the socket.
		}
	}
}

// send puts frames on the call, and half-closes it once the connection is
// closed: the plugin then writes out what it has and closes the socket.
func (c *streamConn) send() {
	defer close(c.sendDone)
	for {
		select {
		case f := <-c.sendq:
			if err := c.stream.Send(&pb.StreamFrame{Data: f.data}); err != nil {
				c.sendErr = c.writeError(err)
				f.sent <- c.sendErr
				return
			}
			f.sent <- nil
		case <-c.closed:
			// The receiver learns how the call ends; CloseSend has
			// nothing to add.
			_ = c.stream.CloseSend()
			return
		case <-c.recvDone:
			// The call is over, and the receiver knows why.
			c.sendErr = c.writeError(c.recvErr)
			return
		}
	}
}

func (c *streamConn) writeError(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("transport plugin: connection %d: write: the remote end closed it: %w", c.id, io.ErrClosedPipe)
	}
	return fromStatus(err)
}

// errClosed is what Read and Write return once the connection is closed,
// as a net.Conn's do.
func (c *streamConn) errClosed() error {
	return fmt.Errorf("transport plugin: connection %d: %w", c.id, net.ErrClosed)
}

func (c *streamConn) isClosed() bool {
	select {
	case <-c.closed:
		return true
	default:
		return false
	}
}

// Read reads what the plugin received on the socket. It returns io.EOF
// once the peer has closed the connection and everything is read, and
// os.ErrDeadlineExceeded (a net.Error whose Timeout is true) when the
// read deadline passes.
func (c *streamConn) Read(p []byte) (int, error) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.isClosed() {
		return 0, c.errClosed()
	}
	if c.readDeadline.passed() {
		return 0, os.ErrDeadlineExceeded
	}
	if len(p) == 0 {
		return 0, nil
	}
	if len(c.pending) == 0 {
		select {
		case c.pending = <-c.frames:
		case <-c.recvDone:
			return 0, c.recvErr
		case <-c.readDeadline.wait():
			return 0, os.ErrDeadlineExceeded
		case <-c.closed:
			return 0, c.errClosed()
		}
	}
	n := copy(p, c.pending)
	c.pending = c.pending[n:]
	return n, nil
}

// Write sends p in frames of at most maxFrameData bytes, each copied, and
// returns once gRPC has taken the last one: it blocks while flow control
// says the peer is not reading. If the write deadline passes while gRPC
// is taking a frame, Write returns os.ErrDeadlineExceeded with that frame
// counted as written: it is committed and will be sent.
func (c *streamConn) Write(p []byte) (int, error) {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	n := 0
	for {
		if c.isClosed() {
			return n, c.errClosed()
		}
		if c.writeDeadline.passed() {
			return n, os.ErrDeadlineExceeded
		}
		if len(p) == 0 {
			return n, nil
		}
		chunk := p[:min(len(p), maxFrameData)]
		f := outFrame{data: bytes.Clone(chunk), sent: make(chan error, 1)}
		select {
		case c.sendq <- f:
		case <-c.sendDone:
			if c.isClosed() {
				return n, c.errClosed()
			}
			return n, c.sendErr
		case <-c.writeDeadline.wait():
			return n, os.ErrDeadlineExceeded
		case <-c.closed:
			return n, c.errClosed()
		}
		select {
		case err := <-f.sent:
			if err != nil {
				return n, err
			}
		case <-c.writeDeadline.wait():
			return n + len(chunk), os.ErrDeadlineExceeded
		case <-c.closed:
			return n + len(chunk), c.errClosed()
		}
		n += len(chunk)
		p = p[len(chunk):]
	}
}

// Close closes the connection at once for Read and Write. What Write
// handed to gRPC still reaches the peer before the plugin closes the
// socket, unless the peer has not read it within closeLinger. Calling
// Close again does nothing.
func (c *streamConn) Close() error {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.t.forget(c)
		time.AfterFunc(closeLinger, c.cancel)
	})
	return nil
}

func (c *streamConn) LocalAddr() ma.Multiaddr  { return c.local }
func (c *streamConn) RemoteAddr() ma.Multiaddr { return c.remote }

// SetDeadline sets the read and write deadlines, as net.Conn's does.
func (c *streamConn) SetDeadline(t time.Time) error {
	if c.isClosed() {
		return c.errClosed()
	}
	c.readDeadline.set(t)
	c.writeDeadline.set(t)
	return nil
}

// SetReadDeadline sets the read deadline, as net.Conn's does.
func (c *streamConn) SetReadDeadline(t time.Time) error {
	if c.isClosed() {
		return c.errClosed()
	}
	c.readDeadline.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline, as net.Conn's does.
func (c *streamConn) SetWriteDeadline(t time.Time) error {
	if c.isClosed() {
		return c.errClosed()
	}
	c.writeDeadline.set(t)
	return nil
}

// deadline is a settable point in time, as a channel that is closed once
// it has passed, for waiters to select on.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	done  chan struct{}
}

func newDeadline() *deadline { return &deadline{done: make(chan struct{})} }

// set moves the deadline; the zero time removes it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.done // the timer fired: wait until it has closed the channel
	}
	d.timer = nil
	closed := isDone(d.done)
	if t.IsZero() {
		if closed {
			d.done = make(chan struct{})
		}
		return
	}
	if dur := time.Until(t); dur > 0 {
		if closed {
			d.done = make(chan struct{})
		}
		done := d.done
		d.timer = time.AfterFunc(dur, func() { close(done) })
		return
	}
	if !closed {
		close(d.done)
	}
}

// wait returns a channel that is closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done
}

func (d *deadline) passed() bool { return isDone(d.wait()) }

func isDone(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func parseAddrBytes(b []byte) (ma.Multiaddr, error) {
	addr, err := ma.NewMultiaddrBytes(b)
	if err != nil {
		return nil, fmt.Errorf("transport plugin: malformed multiaddr %x: %v: %w", b, err, sdk.ErrInvalid)
	}
	return addr, nil
}

func toDiscoveryKey(b []byte) (sdk.DiscoveryKey, error) {
	var k sdk.DiscoveryKey
	if len(b) != len(k) {
		return k, fmt.Errorf("transport plugin: discovery key of %d bytes: %w", len(b), sdk.ErrInvalid)
	}
	copy(k[:], b)
	return k, nil
}

// toPeerAddr decodes a peer address; an empty key is the zero key, a peer
// whose key is not known.
func toPeerAddr(p *pb.PeerAddr) (sdk.PeerAddr, error) {
	var out sdk.PeerAddr
	switch len(p.GetKey()) {
	case 0:
	case len(out.Key):
		copy(out.Key[:], p.GetKey())
	default:
		return out, fmt.Errorf("transport plugin: peer key of %d bytes: %w", len(p.GetKey()), sdk.ErrInvalid)
	}
	for _, b := range p.GetAddrs() {
		addr, err := parseAddrBytes(b)
		if err != nil {
			return out, err
		}
		out.Addrs = append(out.Addrs, addr)
	}
	return out, nil
}

func fromPeerAddr(p sdk.PeerAddr) *pb.PeerAddr {
	out := &pb.PeerAddr{Addrs: make([][]byte, len(p.Addrs))}
	if p.Key != (sdk.PeerKey{}) {
		out.Key = p.Key[:]
	}
	for i, a := range p.Addrs {
		out.Addrs[i] = a.Bytes()
	}
	return out
}
