package main

// The daemon's control API. The daemon holds the data directory (the
// disk storage is locked to one process), so while it runs the other
// commands go through it: a command line is sent over a Unix socket in
// the data directory, DIR/daemon.sock (0600), as an HTTP request, and
// the daemon runs the same command function on its node.
//
// Request: POST /v1/run with a body of one line of JSON,
//
//	{"args": ["put", KEY, "/a.txt", "-"], "terminal": true, "version": "0.1.0"}
//
// followed by the bytes the command consumes (put's content, read by
// the client from its file or stdin). The whole request is held in
// memory, so it is bounded by maxInput.
//
// Response: 200 and a stream of frames, each a kind byte, a 4-byte
// big-endian length and that many bytes: 'o' for stdout, 'e' for
// stderr, written as the command writes them (so progress reaches the
// client as it happens), and last 'x' with the exit code as 4 bytes.
// A response that ends without 'x' means the daemon went away. A request
// the daemon will not run gets 400 with a one-line reason.
//
// A client that goes away (Ctrl-C) cancels the request's context, which
// stops the command; so does the daemon's shutdown.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/host/node"
)

// socketName is the control socket's file in the data directory.
const socketName = "daemon.sock"

// maxInput bounds what a request carries: put keeps a whole file in
// memory in this version.
const maxInput = 1 << 30

// maxHeader bounds the JSON line of a request.
const maxHeader = 1 << 20

// Frame kinds.
const (
	frameStdout = 'o'
	frameStderr = 'e'
	frameExit   = 'x'
)

// maxFrame bounds one frame; longer writes are split.
const maxFrame = 1 << 20

// controlRequest is the JSON line that starts a request.
type controlRequest struct {
	Args     []string `json:"args"`
	Terminal bool     `json:"terminal"`
	Version  string   `json:"version"`
}

func socketPath(dir string) string { return filepath.Join(dir, socketName) }

// daemonClient sends command lines to the daemon of a data directory.
type daemonClient struct {
	dir string
	hc  *http.Client
}

// findDaemon returns a client of the daemon serving dir, or nil if none
// answers there (no socket, or a stale one left by a daemon that died).
func findDaemon(dir string) *daemonClient {
	sock := socketPath(dir)
	c, err := net.DialTimeout("unix", sock, 2*time.Second)
	if err != nil {
		return nil
	}
	c.Close()
	var d net.Dialer
	return &daemonClient{dir: dir, hc: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		},
		DisableKeepAlives: true,
	}}}
}

// run has the daemon run a command line, copies its output to e as it
// comes, and returns its exit code as an exitCode.
func (d *daemonClient) run(ctx context.Context, e *env, args []string, input []byte) error {
	hdr, err := encodeControlRequest(controlRequest{Args: args, Terminal: e.isTerminal(), Version: builtin.Version})
	if err != nil {
		return err
	}
	body := io.MultiReader(bytes.NewReader(hdr), bytes.NewReader(input))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://codrive/v1/run", body)
	if err != nil {
		return err
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return errors.New("interrupted")
		}
		return fmt.Errorf("the daemon of %s: %w", d.dir, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("the daemon of %s refused the command: %s", d.dir, strings.TrimSpace(string(msg)))
	}
	r := bufio.NewReader(resp.Body)
	for {
		kind, payload, err := readFrame(r)
		if err != nil {
			if ctx.Err() != nil {
				return errors.New("interrupted")
			}
			return fmt.Errorf("lost the connection to the daemon of %s: %w", d.dir, err)
		}
		switch kind {
		case frameStdout:
			if _, err := e.stdout.Write(payload); err != nil {
				return err
			}
		case frameStderr:
			e.stderr.Write(payload)
		case frameExit:
			if len(payload) != 4 {
				return fmt.Errorf("the daemon of %s sent a malformed exit frame", d.dir)
			}
			return exitCode(int32(binary.BigEndian.Uint32(payload)))
		default:
			return fmt.Errorf("the daemon of %s sent a frame of unknown kind %q", d.dir, kind)
		}
	}
}

// encodeControlRequest returns the line of JSON, newline included, that
// starts a request for req. It refuses a request that the daemon would
// not read as sent: JSON strings are text, so an argument that is not
// valid UTF-8 (a file name can be any bytes) would reach the command
// with U+FFFD in place of its invalid bytes; and a line over maxHeader
// would be refused.
func encodeControlRequest(req controlRequest) ([]byte, error) {
	for _, a := range req.Args {
		if !utf8.ValidString(a) {
			return nil, fmt.Errorf("the argument %q is not valid UTF-8, which the daemon's control API can't carry", a)
		}
	}
	hdr, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if len(hdr)+1 > maxHeader {
		return nil, fmt.Errorf("a command line of %d bytes, over the daemon's limit of %d", len(hdr)+1, maxHeader)
	}
	return append(hdr, '\n'), nil
}

// readControlRequest reads the line of JSON that starts a request, of at
// most maxHeader bytes, leaving r at the input that follows it. Its
// errors are the reasons the daemon gives the client.
func readControlRequest(r *bufio.Reader) (controlRequest, error) {
	line, err := r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// Longer than r's buffer: gather it, up to maxHeader. (ReadSlice
		// alone refused any line over 4 KiB, such as a put of a long
		// path.)
		long := slices.Clone(line)
		for err == bufio.ErrBufferFull && len(long) <= maxHeader {
			line, err = r.ReadSlice('\n')
			long = append(long, line...)
		}
		line = long
	}
	if len(line) > maxHeader {
		return controlRequest{}, fmt.Errorf("the request's header line is over %d bytes", maxHeader)
	}
	if err != nil {
		return controlRequest{}, errors.New("the request has no header line")
	}
	var req controlRequest
	if err := json.Unmarshal(line, &req); err != nil {
		return controlRequest{}, errors.New("malformed request header: " + err.Error())
	}
	return req, nil
}

// readFrame reads one frame of a response: its kind and its payload. A
// response cut short, even before the first byte of a frame, is
// io.ErrUnexpectedEOF: the exit frame ends a response, not EOF.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("frame of %d bytes, over %d", n, maxFrame)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, io.ErrUnexpectedEOF
	}
	return hdr[0], payload, nil
}

// frameWriter writes a response's frames, one Write at a time, each
// flushed so that the client sees output as it is written.
type frameWriter struct {
	mu  sync.Mutex
	w   io.Writer
	rc  *http.ResponseController
	err error
}

func (f *frameWriter) frame(kind byte, p []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for first := true; first || len(p) > 0; first = false {
		if f.err != nil {
			return f.err
		}
		n := min(len(p), maxFrame)
		var hdr [5]byte
		hdr[0] = kind
		binary.BigEndian.PutUint32(hdr[1:], uint32(n))
		if _, f.err = f.w.Write(hdr[:]); f.err == nil {
			_, f.err = f.w.Write(p[:n])
		}
		if f.err == nil {
			f.err = f.rc.Flush()
		}
		p = p[n:]
	}
	return f.err
}

// outStream is one of a response's output streams, as an io.Writer.
type outStream struct {
	f    *frameWriter
	kind byte
}

func (s outStream) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := s.f.frame(s.kind, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// controlServer is the daemon's end of the control API.
type controlServer struct {
	sock   string
	n      *node.Node
	getenv func(string) string
	log    *slog.Logger
	cmds   map[string]command
	srv    *http.Server
	cancel context.CancelFunc
	done   chan struct{}

	closeOnce sync.Once
	closeErr  error
}

// startControl listens on dir's control socket and serves n's commands
// there. A socket left by a daemon that died is removed; one that
// answers means another daemon serves dir.
func startControl(dir string, n *node.Node, e *env, log *slog.Logger) (*controlServer, error) {
	sock := socketPath(dir)
	if findDaemon(dir) != nil {
		return nil, fmt.Errorf("a daemon already serves %s (its socket %s answers)", dir, sock)
	}
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("removing the stale control socket: %w", err)
	}
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	// Only this user may run commands: the socket is as private as the
	// data directory (0700) it lives in.
	if err := os.Chmod(sock, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &controlServer{sock: sock, n: n, getenv: e.getenv, log: log, cmds: map[string]command{}, cancel: cancel, done: make(chan struct{})}
	for name, nc := range nodeCommands() {
		s.cmds[name] = nc.command(name)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/run", s.handleRun)
	s.srv = &http.Server{
		Handler:           mux,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control API stopped", "err", err)
		}
	}()
	return s, nil
}

func (s *controlServer) handleRun(w http.ResponseWriter, r *http.Request) {
	br := bufio.NewReader(http.MaxBytesReader(w, r.Body, maxHeader+maxInput))
	req, err := readControlRequest(br)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if _, _, _, ok := lookup(s.cmds, req.Args); !ok {
		http.Error(w, fmt.Sprintf("%q is not a command the daemon runs", strings.Join(req.Args[:min(2, len(req.Args))], " ")), http.StatusBadRequest)
		return
	}
	input, err := io.ReadAll(br)
	if err != nil {
		http.Error(w, "reading the request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if req.Version != builtin.Version {
		s.log.Info("control API: a client of another version", "client", req.Version, "daemon", builtin.Version)
	}
	s.log.Debug("control API: running", "args", req.Args)
	w.Header().Set("Content-Type", "application/octet-stream")
	fw := &frameWriter{w: w, rc: http.NewResponseController(w)}
	e := &env{
		stdin:  bytes.NewReader(nil),
		stdout: outStream{fw, frameStdout}, stderr: outStream{fw, frameStderr},
		getenv: s.getenv,
		ctx:    r.Context(), node: s.n, input: input, terminal: req.Terminal,
	}
	code := runCommands(e, s.cmds, req.Args)
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(int32(code)))
	fw.frame(frameExit, b[:])
}

// Close stops the commands running, waits for them (bounded), and
// removes the socket.
func (s *controlServer) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.closeErr = s.srv.Shutdown(ctx)
		<-s.done
		os.Remove(s.sock) // the listener removes it too; a leftover is stale anyway
	})
	return s.closeErr
}
