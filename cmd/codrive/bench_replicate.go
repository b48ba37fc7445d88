package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// benchPeerCommand is the hidden subcommand the benchmark runs its other
// process as ("_" keeps it out of codrive help).
const benchPeerCommand = "_bench-peer"

// benchProfileEnv names the file the serving process writes its CPU
// profile to, when bench replicate runs with --cpuprofile. An environment
// variable rather than a flag, since the serving process takes feed
// serve's flags.
const benchProfileEnv = "CODRIVE_BENCH_CPUPROFILE"

// loopbackBytes is how much the raw TCP measurement sends, in writes of
// loopbackWrite bytes.
const (
	loopbackBytes = 256 << 20
	loopbackWrite = 64 << 10
)

// benchCaseTimeout bounds one replication case, so that a stalled sync
// fails the benchmark instead of hanging it.
const benchCaseTimeout = 10 * time.Minute

// replCase is one feed to replicate.
type replCase struct {
	name   string // such as "1KiB/zstd"
	size   int    // bytes per block
	blocks int
	text   bool // compressible text rather than random bytes
	key    sdk.FeedKey
}

// benchTransport is one way of moving bytes: the builtin TCP transport or
// the TCP transport plugin, used by both processes.
type benchTransport struct {
	label string // tcp-builtin or tcp-plugin
	name  string // what --transport gets: "tcp" or the plugin's path
}

// benchReplicate replicates feeds of small and large blocks from a second
// process over loopback TCP, with each transport, and measures raw
// loopback TCP in the same run as the limit.
//
// Both processes offer zstd, as serve does, and a DATA message is
// compressed whenever that makes it smaller: the plain cases replicate
// random bytes (zstd is tried on every message, or on samples of a large
// one, and never pays), the /zstd cases compressible text (it does).
//
// --case and --transport pick cases; --cpuprofile profiles both
// processes, for finding where the time goes.
func benchReplicate(e *env, args []string) error {
	var dir string
	var asJSON bool
	var blocks, large int
	var pluginDirs stringList
	var profile, only, onlyCase string
	fs := flags(e, "bench replicate", nil)
	fs.StringVar(&profile, "cpuprofile", "", "write CPU profiles of the receiving process to FILE.client and of each serving process to FILE.serve-TRANSPORT")
	fs.StringVar(&onlyCase, "case", "", "run only the case with this name, such as 64KiB or 1KiB/zstd (default: all)")
	fs.StringVar(&only, "transport", "", "run only the cases of this transport: tcp-builtin or tcp-plugin (default: both)")
	fs.StringVar(&dir, "dir", "", "directory for the data directories (default: a temporary directory)")
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	fs.IntVar(&blocks, "blocks", 100_000, "blocks of 1 KiB per case (0 skips these cases)")
	fs.IntVar(&large, "large", 5_000, "blocks of 64 KiB per case (0 skips these cases)")
	fs.Var(&pluginDirs, "plugin-dir", "directory to search for plugin binaries (repeatable)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	if blocks < 0 || large < 0 || blocks+large == 0 {
		return fmt.Errorf("%w: --blocks and --large must not be negative, and not both 0", errUsage)
	}
	if only != "" && only != "tcp-builtin" && only != "tcp-plugin" {
		return fmt.Errorf("%w: --transport is tcp-builtin or tcp-plugin, not %q", errUsage, only)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the codrive binary to run the serving process: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, "codrive-bench-replicate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx, stop := signalContext()
	defer stop()

	var transports []benchTransport
	if only != "tcp-plugin" {
		transports = append(transports, benchTransport{"tcp-builtin", "tcp"})
	}
	if only != "tcp-builtin" {
		l := newLoader(e, pluginDirs)
		bin, err := l.Find(plugin.KindTransport, "tcp")
		l.Close()
		if err == nil {
			transports = append(transports, benchTransport{"tcp-plugin", bin})
		} else {
			fmt.Fprintf(e.stderr, "bench replicate: skipping the tcp-plugin cases: no codrive-plugin-transport-tcp in the plugin directories (build it with: go build -o bin/ ./cmd/codrive ./plugins/...)\n")
		}
	}

	r := newReporter(e.stdout, asJSON)
	limit, err := measureLoopback(ctx, exe, e.stderr)
	if err != nil {
		return fmt.Errorf("measure loopback TCP: %w", err)
	}
	r.add("limit/tcp-loopback", limit, "MB/s")
	// The receiver stores into disk storage, which syncs each batch: the
	// synced write rate of its directory bounds what replication can do.
	const syncChunk = 8 << 20
	diskLimit := measureSync(tmp, syncChunk, time.Second) * syncChunk / 1e6
	r.add("limit/disk-sync-8MiB", diskLimit, "MB/s")

	var cases []*replCase
	for _, c := range []replCase{
		{name: "1KiB", size: 1 << 10, blocks: blocks},
		{name: "1KiB/zstd", size: 1 << 10, blocks: blocks, text: true},
		{name: "64KiB", size: 64 << 10, blocks: large},
		{name: "64KiB/zstd", size: 64 << 10, blocks: large, text: true},
	} {
		if c.blocks > 0 && (onlyCase == "" || onlyCase == c.name) {
			cases = append(cases, &c)
		}
	}
	if len(cases) == 0 {
		return fmt.Errorf("%w: no case to run (--case %q)", errUsage, onlyCase)
	}
	serverDir := filepath.Join(tmp, "server")
	if err := prepareFeeds(ctx, serverDir, cases); err != nil {
		return fmt.Errorf("prepare the feeds: %w", err)
	}
	if profile != "" {
		// Only the replication is profiled, not the preparation.
		stop, err := startProfile(profile + ".client")
		if err != nil {
			return err
		}
		defer stop()
	}
	for _, t := range transports {
		if err := benchReplicateOver(ctx, e, r, exe, tmp, serverDir, t, pluginDirs, cases, limit, profile); err != nil {
			return fmt.Errorf("%s: %w", t.label, err)
		}
	}
	return nil
}

// benchReplicateOver starts the serving process with transport t and
// syncs every case from it into a fresh data directory, one connection
// per case.
func benchReplicateOver(ctx context.Context, e *env, r *reporter, exe, tmp, serverDir string, t benchTransport, pluginDirs []string, cases []*replCase, limit float64, profile string) error {
	args := []string{benchPeerCommand, "serve", "--dir", serverDir, "--transport", t.name}
	for _, d := range pluginDirs {
		args = append(args, "--plugin-dir", d)
	}
	var env []string
	if profile != "" {
		env = append(os.Environ(), benchProfileEnv+"="+profile+".serve-"+t.label)
	}
	peer, line, err := startPeerEnv(ctx, exe, e.stderr, env, args...)
	if err != nil {
		return err
	}
	defer peer.stop()
	addr, err := ma.NewMultiaddr(line)
	if err != nil {
		return fmt.Errorf("the serving process printed %q, not its address: %w", line, err)
	}

	for _, c := range cases {
		// A fresh receiver per case, so no case pays for the storage,
		// heap or page cache another one left behind.
		clientDir := filepath.Join(tmp, "client-"+t.label+"-"+strings.ReplaceAll(c.name, "/", "-"))
		m := &meter{}
		h, err := startHost(ctx, e, clientDir, []string{t.name}, pluginDirs, m.wrap)
		if err != nil {
			return err
		}
		err = func() error {
			defer os.RemoveAll(clientDir)
			defer h.Close()
			return replicateCase(ctx, r, h, m, addr, t, c, limit)
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// replicateCase downloads one case's feed into h and reports it.
func replicateCase(ctx context.Context, r *reporter, h *host, m *meter, addr ma.Multiaddr, t benchTransport, c *replCase, limit float64) error {
	{
		f, err := h.store.Get(ctx, c.key)
		if err != nil {
			return err
		}
		h.r.Add(f, replicate.FeedOptions{Download: true})
		m.reset()
		connect := time.Now()
		if err := h.swarm.Connect(addr); err != nil {
			return err
		}
		err = waitHeld(ctx, f, uint64(c.blocks))
		done := time.Now()
		h.swarm.Disconnect(addr)
		h.r.Remove(c.key)
		if err != nil {
			held, _ := holding(f)
			return fmt.Errorf("%s: holding %d of %d blocks: %w", c.name, held, c.blocks, err)
		}
		start := m.firstConn(connect)
		secs := done.Sub(start).Seconds()
		blockBytes := float64(c.blocks) * float64(c.size)
		name := "replicate/" + t.label + "/" + c.name
		r.add(name, float64(c.blocks)/secs, "blocks/s")
		r.add(name+"/throughput", blockBytes/secs/1e6, "MB/s")
		r.add(name+"/wire", float64(m.read.Load())/blockBytes, "ratio")
		if !c.text {
			r.add(name+"/of-limit", blockBytes/secs/1e6/limit, "ratio")
		}
	}
	return nil
}

// waitHeld waits until f holds exactly blocks [0, n), bounded by
// benchCaseTimeout.
func waitHeld(ctx context.Context, f *feed.Feed, n uint64) error {
	ctx, cancel := context.WithTimeout(ctx, benchCaseTimeout)
	defer cancel()
	for {
		changed := f.Changed()
		if f.Length() == n && f.Has(0, n) {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// prepareFeeds creates one writable feed per case in the data directory
// dir, in batches of about 1 MiB.
func prepareFeeds(ctx context.Context, dir string, cases []*replCase) error {
	s, err := openStore(dir)
	if err != nil {
		return err
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	random := rand.NewChaCha8([32]byte{1})
	for _, c := range cases {
		f, err := s.CreateRandom(ctx)
		if err != nil {
			return err
		}
		c.key = f.Key()
		per := max(1, (1<<20)/c.size)
		for i := 0; i < c.blocks; i += per {
			batch := make([][]byte, min(per, c.blocks-i))
			for j := range batch {
				b := make([]byte, c.size)
				if c.text {
					fillText(b, rng)
				} else {
					random.Read(b)
				}
				batch[j] = b
			}
			if _, err := f.Append(ctx, batch...); err != nil {
				return err
			}
		}
	}
	return nil
}

// words make text that compresses about as well as prose or logs do.
var words = []string{
	"the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on",
	"not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they",
	"you", "were", "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more",
	"when", "will", "would", "who", "so", "no", "feed", "block", "peer", "drive", "writer", "replica",
	"request", "proof", "signature", "merkle", "tree", "node", "length", "fork", "head", "append",
	"connection", "transport", "listener", "handshake", "session", "channel", "capability", "timeout",
}

// fillText fills b with lines of words chosen at random, and a number now
// and then.
func fillText(b []byte, rng *rand.Rand) {
	out := b[:0]
	for len(out) < len(b) {
		for i := range 8 + rng.IntN(8) {
			if i > 0 {
				out = append(out, ' ')
			}
			if rng.IntN(10) == 0 {
				out = fmt.Appendf(out, "%d", rng.IntN(100000))
			} else {
				out = append(out, words[rng.IntN(len(words))]...)
			}
		}
		out = append(out, '.', '\n')
	}
	copy(b, out) // out may have grown past b: keep what fits
}

// meter is a transport wrapper that counts the bytes received and notes
// when the first connection was made, for the replication cases.
type meter struct {
	read  atomic.Int64
	first atomic.Int64 // UnixNano of the first dial that succeeded; 0 if none
}

func (m *meter) reset() {
	m.read.Store(0)
	m.first.Store(0)
}

// firstConn returns when the first connection since reset was made, or
// fallback if none was.
func (m *meter) firstConn(fallback time.Time) time.Time {
	if ns := m.first.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return fallback
}

func (m *meter) wrap(t sdk.Transport) sdk.Transport { return &meteredTransport{Transport: t, m: m} }

type meteredTransport struct {
	sdk.Transport
	m *meter
}

func (t *meteredTransport) Dial(ctx context.Context, addr ma.Multiaddr) (sdk.Conn, error) {
	c, err := t.Transport.Dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	t.m.first.CompareAndSwap(0, time.Now().UnixNano())
	return &meteredConn{Conn: c, m: t.m}, nil
}

type meteredConn struct {
	sdk.Conn
	m *meter
}

func (c *meteredConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.m.read.Add(int64(n))
	return n, err
}

// measureLoopback sends loopbackBytes over a plain TCP connection on
// 127.0.0.1 to a sink in a second process, in writes of loopbackWrite
// bytes, and returns MB/s from the dial to the sink's acknowledgement of
// the last byte.
func measureLoopback(ctx context.Context, exe string, stderr io.Writer) (float64, error) {
	peer, addr, err := startPeer(ctx, exe, stderr, benchPeerCommand, "sink")
	if err != nil {
		return 0, err
	}
	defer peer.stop()
	start := time.Now()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	buf := make([]byte, loopbackWrite)
	rand.NewChaCha8([32]byte{2}).Read(buf)
	for sent := 0; sent < loopbackBytes; sent += len(buf) {
		if _, err := c.Write(buf); err != nil {
			return 0, err
		}
	}
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		return 0, err
	}
	var ack [8]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return 0, fmt.Errorf("read the sink's count: %w", err)
	}
	secs := time.Since(start).Seconds()
	if got := binary.BigEndian.Uint64(ack[:]); got != loopbackBytes {
		return 0, fmt.Errorf("the sink received %d bytes, want %d", got, loopbackBytes)
	}
	return loopbackBytes / secs / 1e6, nil
}

// peerProcess is the benchmark's second process. It exits when its stdin
// closes, so it never outlives the benchmark.
type peerProcess struct {
	cmd      *exec.Cmd
	stdin    io.Closer
	drained  chan struct{} // closed when stdout has reached EOF
	stopOnce sync.Once
}

// startPeer runs exe with args and returns the first line it prints,
// which is the address it listens on.
func startPeer(ctx context.Context, exe string, stderr io.Writer, args ...string) (*peerProcess, string, error) {
	return startPeerEnv(ctx, exe, stderr, nil, args...)
}

// startPeerEnv is startPeer with the process's environment; nil means
// this process's.
func startPeerEnv(ctx context.Context, exe string, stderr io.Writer, env []string, args ...string) (*peerProcess, string, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = env
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, "", err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("start %s: %w", exe, err)
	}
	p := &peerProcess{cmd: cmd, stdin: stdin, drained: make(chan struct{})}
	lines := make(chan string, 1)
	go func() {
		defer close(p.drained)
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		if ok {
			return p, line, nil
		}
		err = errors.New("it exited without printing its address")
	case <-time.After(time.Minute):
		err = errors.New("it printed no address within a minute")
	case <-ctx.Done():
		err = ctx.Err()
	}
	werr := p.stop()
	return nil, "", fmt.Errorf("serving process %v: %w (exit: %v)", args, err, werr)
}

// stop closes the process's stdin, which makes it exit, and waits for it;
// a process that has not exited after ten seconds is killed.
func (p *peerProcess) stop() error {
	var err error
	p.stopOnce.Do(func() {
		p.stdin.Close()
		done := make(chan error, 1)
		go func() {
			<-p.drained
			done <- p.cmd.Wait()
		}()
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			p.cmd.Process.Kill()
			err = fmt.Errorf("killed after not exiting: %v", <-done)
		}
	})
	return err
}

// benchPeerServe is "codrive _bench-peer serve": feed serve, until SIGINT,
// SIGTERM or the end of stdin.
func benchPeerServe(e *env, args []string) error {
	o, err := parseServe(e, benchPeerCommand+" serve", args)
	if err != nil {
		return err
	}
	if path := e.getenv(benchProfileEnv); path != "" {
		stop, err := startProfile(path)
		if err != nil {
			return err
		}
		defer stop()
	}
	ctx, stop := signalContext()
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		io.Copy(io.Discard, e.stdin)
		cancel()
	}()
	return serve(ctx, e, o)
}

// benchPeerSink is "codrive _bench-peer sink": it listens on a free port
// of 127.0.0.1, prints the address, reads one connection to its end and
// answers with the number of bytes read, as 8 big-endian bytes. It gives
// up when stdin ends.
func benchPeerSink(e *env, args []string) error {
	if len(args) != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Fprintln(e.stdout, ln.Addr())
	var conn atomic.Pointer[net.Conn]
	go func() {
		io.Copy(io.Discard, e.stdin)
		ln.Close()
		if c := conn.Load(); c != nil {
			(*c).Close()
		}
	}()
	c, err := ln.Accept()
	if err != nil {
		return err
	}
	conn.Store(&c)
	defer c.Close()
	buf := make([]byte, 256<<10)
	var n uint64
	for {
		k, err := c.Read(buf)
		n += uint64(k)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	var ack [8]byte
	binary.BigEndian.PutUint64(ack[:], n)
	_, err = c.Write(ack[:])
	return err
}

// startProfile starts a CPU profile written to path; the function it
// returns stops it and closes the file.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile %s: %w", path, err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}
