package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/host/plugins"
	"github.com/codrive/codrive/host/replicate"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/host/swarm"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// defaultListen is where feed serve listens without --listen: loopback
// only, on a port the system picks.
const defaultListen = "/ip4/127.0.0.1/tcp/0"

// defaultTransport is the transport used without --transport.
const defaultTransport = "tcp"

// syncQuiet is how long a replica must stay complete and unchanged before
// feed sync calls it synced. The replicator does not tell what length the
// peers announced, so a pause in arrivals is the sign that nothing more
// is coming.
const syncQuiet = 500 * time.Millisecond

// serveOptions are feed serve's arguments, parsed.
type serveOptions struct {
	dir        string
	listen     []ma.Multiaddr
	peers      []ma.Multiaddr
	transports []string
	pluginDirs []string
	keys       []sdk.FeedKey
}

// parseServe parses feed serve's command line.
func parseServe(e *env, name string, args []string) (serveOptions, error) {
	var o serveOptions
	var listen, peers, transports, pluginDirs stringList
	fs := flags(e, name, &o.dir)
	fs.Var(&listen, "listen", "multiaddr to listen on (repeatable; default "+defaultListen+")")
	fs.Var(&peers, "peer", "multiaddr of a peer to keep a connection to (repeatable)")
	fs.Var(&transports, "transport", "transport: a builtin, a plugin name or a plugin binary's path (repeatable; default tcp)")
	fs.Var(&pluginDirs, "plugin-dir", "directory to search for plugin binaries (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		return o, err
	}
	if len(listen) == 0 {
		listen = stringList{defaultListen}
	}
	if o.listen, err = parseMultiaddrs("--listen", listen); err != nil {
		return o, err
	}
	if o.peers, err = parseMultiaddrs("--peer", peers); err != nil {
		return o, err
	}
	for _, p := range pos {
		k, err := sdk.ParseFeedKey(p)
		if err != nil {
			return o, fmt.Errorf("%w: %v", errUsage, err)
		}
		o.keys = append(o.keys, k)
	}
	o.transports, o.pluginDirs = transportsOrDefault(transports), pluginDirs
	return o, nil
}

func transportsOrDefault(names []string) []string {
	if len(names) == 0 {
		return []string{defaultTransport}
	}
	return names
}

// parseMultiaddrs parses multiaddrs given with a flag or as arguments; a
// malformed one is a usage error.
func parseMultiaddrs(what string, list []string) ([]ma.Multiaddr, error) {
	out := make([]ma.Multiaddr, 0, len(list))
	for _, s := range list {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %q is not a multiaddr (such as /ip4/127.0.0.1/tcp/4100): %v", errUsage, what, s, err)
		}
		out = append(out, a)
	}
	return out, nil
}

// addrError makes an address no transport can use a usage error.
func addrError(err error) error {
	if errors.Is(err, sdk.ErrInvalid) {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return err
}

// signalContext is done on SIGINT or SIGTERM. Once it is, the signals
// get their default action again, so that a second Ctrl-C ends a
// shutdown that hangs.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	context.AfterFunc(ctx, stop)
	return ctx, stop
}

func feedServe(e *env, args []string) error {
	o, err := parseServe(e, "feed serve", args)
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	return serve(ctx, e, o)
}

// serve serves the feeds until ctx is done, then shuts down cleanly.
func serve(ctx context.Context, e *env, o serveOptions) error {
	h, err := startHost(ctx, e, o.dir, o.transports, o.pluginDirs, nil)
	if err != nil {
		return err
	}
	defer h.Close()

	var feeds []*feed.Feed
	if len(o.keys) > 0 {
		// A key the store does not hold yet becomes a replica, filled
		// from the peers.
		for _, k := range o.keys {
			f, err := h.store.Get(ctx, k)
			if err != nil {
				return err
			}
			feeds = append(feeds, f)
		}
	} else {
		keys, err := h.store.List(ctx)
		if err != nil {
			return err
		}
		for _, k := range keys {
			f, err := h.store.Open(ctx, k)
			if err != nil {
				// One damaged feed does not keep the others from being
				// served.
				fmt.Fprintf(e.stderr, "codrive feed serve: not serving %s: %v\n", k, err)
				continue
			}
			feeds = append(feeds, f)
		}
	}
	if len(feeds) == 0 {
		fmt.Fprintln(e.stderr, "codrive feed serve: the store holds no feeds; serving none")
	}
	for _, f := range feeds {
		h.r.Add(f, replicate.FeedOptions{Download: !f.Writable()})
	}

	for _, a := range o.listen {
		bound, err := h.swarm.Listen(ctx, a)
		if err != nil {
			return addrError(err)
		}
		fmt.Fprintln(e.stdout, bound)
	}
	for _, p := range o.peers {
		if err := h.swarm.Connect(p); err != nil {
			return addrError(err)
		}
	}
	if isTerminal(e.stderr) {
		fmt.Fprintf(e.stderr, "serving %d feeds as peer %s; stop with Ctrl-C\n", len(feeds), h.id.PublicKey())
	}
	<-ctx.Done()
	return h.Close()
}

func feedSync(e *env, args []string) error {
	var dir string
	var timeout time.Duration
	var transports, pluginDirs stringList
	fs := flags(e, "feed sync", &dir)
	fs.DurationVar(&timeout, "timeout", 60*time.Second, "give up after this long")
	fs.Var(&transports, "transport", "transport: a builtin, a plugin name or a plugin binary's path (repeatable; default tcp)")
	fs.Var(&pluginDirs, "plugin-dir", "directory to search for plugin binaries (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 {
		return fmt.Errorf("%w: want KEY and at least one PEER_MULTIADDR", errUsage)
	}
	if timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	key, err := sdk.ParseFeedKey(pos[0])
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	peers, err := parseMultiaddrs("peer", pos[1:])
	if err != nil {
		return err
	}

	sigCtx, stop := signalContext()
	defer stop()
	h, err := startHost(sigCtx, e, dir, transportsOrDefault(transports), pluginDirs, nil)
	if err != nil {
		return err
	}
	defer h.Close()
	f, err := h.store.Open(sigCtx, key)
	created := errors.Is(err, sdk.ErrNotFound)
	if created {
		f, err = h.store.Get(sigCtx, key)
	}
	if err != nil {
		return err
	}
	if f.Writable() {
		return fmt.Errorf("feed %s is writable here: this store is its writer, there is nothing to fetch (serve it with feed serve instead)", key)
	}
	synced := false
	defer func() {
		// A replica this sync created and got nothing into is not worth
		// keeping: feed info would list an empty feed.
		if held, _ := holding(f); created && !synced && held == 0 {
			h.swarm.Close()
			h.r.Close()
			h.store.Purge(context.Background(), key)
		}
	}()
	h.r.Add(f, replicate.FeedOptions{Download: true})
	for _, p := range peers {
		if err := h.swarm.Connect(p); err != nil {
			return addrError(err)
		}
	}

	ctx, cancel := context.WithTimeout(sigCtx, timeout)
	defer cancel()
	var progress func(held, length uint64)
	if isTerminal(e.stderr) {
		progress = func(held, length uint64) {
			pct := 0.0
			if length > 0 {
				pct = 100 * float64(held) / float64(length)
			}
			n, peers := len(h.r.Peers()), "peers"
			if n == 1 {
				peers = "peer"
			}
			fmt.Fprintf(e.stderr, "\r\x1b[Ksyncing %s: %d of %d blocks (%.0f%%), %d %s", shortKey(key), held, length, pct, n, peers)
		}
		defer fmt.Fprint(e.stderr, "\r\x1b[K")
	}
	connected, err := waitSynced(ctx, h.r, f, progress)
	held, length := holding(f)
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && sigCtx.Err() == nil:
		why := ""
		switch {
		case !connected:
			why = fmt.Sprintf(": could not connect to any of the %d peers (CODRIVE_LOG_LEVEL=debug shows why)", len(peers))
		case length == 0:
			why = ": the connected peers have none of this feed"
		}
		return fmt.Errorf("timed out after %s: holding %d of %d blocks%s", timeout, held, length, why)
	default:
		return fmt.Errorf("interrupted: holding %d of %d blocks", held, length)
	}
	synced = true
	if progress != nil {
		fmt.Fprint(e.stderr, "\r\x1b[K")
	}
	fmt.Fprintf(e.stdout, "synced %s: %d blocks, head at fork %d\n", key, length, f.Head().Fork)
	return h.Close()
}

// waitSynced waits until f is complete (it holds every block up to its
// length, which is more than zero) and has not changed for syncQuiet
// since a peer first connected; or until ctx is done, with ctx's error.
// It reports whether any peer connected, and calls progress, if not nil,
// about every 100 ms.
func waitSynced(ctx context.Context, r *replicate.Replicator, f *feed.Feed, progress func(held, length uint64)) (connected bool, err error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	changed := f.Changed()
	var lastChange, lastProgress time.Time
	for {
		if !connected && len(r.Peers()) > 0 {
			connected, lastChange = true, time.Now()
		}
		if connected && time.Since(lastChange) >= syncQuiet {
			if _, length := holding(f); length > 0 && f.Has(0, length) {
				return true, nil
			}
		}
		select {
		case <-ctx.Done():
			return connected, ctx.Err()
		case <-changed:
			changed, lastChange = f.Changed(), time.Now()
		case <-tick.C:
			if progress != nil && time.Since(lastProgress) >= 100*time.Millisecond {
				progress(holding(f))
				lastProgress = time.Now()
			}
		}
	}
}

// holding returns how many blocks f holds and its length.
func holding(f *feed.Feed) (held, length uint64) {
	for _, r := range f.Present() {
		held += r.Len()
	}
	return held, f.Length()
}

func shortKey(k sdk.FeedKey) string { return k.String()[:12] + "…" }

// host is a running codrive host: the store, the replicator with the
// identity derived from the master seed, the transports and the swarm.
type host struct {
	id         secure.Identity
	store      *feedstore.Store
	loader     *plugins.Loader
	transports []sdk.Transport
	r          *replicate.Replicator
	swarm      *swarm.Swarm
	closed     bool
}

// startHost opens the store in dir (or the default data directory) and
// starts the transports named, without listening or connecting yet. If
// wrap is not nil, the swarm uses wrap(transport) instead of each
// transport (the benchmark counts bytes that way).
func startHost(ctx context.Context, e *env, dir string, transports, pluginDirs []string, wrap func(sdk.Transport) sdk.Transport) (*host, error) {
	dir = dataDir(e, dir)
	seed, err := feedstore.LoadOrCreateSeed(filepath.Join(dir, "seed"))
	if err != nil {
		return nil, err
	}
	id, err := secure.IdentityFromSeed(seed)
	if err != nil {
		return nil, err
	}
	store, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	h := &host{id: id, store: store, loader: newLoader(e, pluginDirs)}
	for _, name := range transports {
		tr, err := openTransport(ctx, h.loader, name)
		if err != nil {
			h.Close()
			return nil, err
		}
		h.transports = append(h.transports, tr)
	}
	used := h.transports
	if wrap != nil {
		used = make([]sdk.Transport, len(h.transports))
		for i, tr := range h.transports {
			used[i] = wrap(tr)
		}
	}
	log := cliLogger(e)
	h.r = replicate.New(replicate.Config{Identity: id, Client: "codrive/" + builtin.Version, Logger: log})
	h.swarm = swarm.New(h.r, swarm.Config{Transports: used, Logger: log})
	return h, nil
}

// Close stops the swarm (ending every connection), the replicator, the
// transports and plugins, and closes the store. Calling it again does
// nothing.
func (h *host) Close() error {
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	if h.swarm != nil {
		errs = append(errs, h.swarm.Close())
	}
	if h.r != nil {
		errs = append(errs, h.r.Close())
	}
	for _, tr := range h.transports {
		if err := tr.Close(); err != nil && !errors.Is(err, sdk.ErrClosed) {
			errs = append(errs, err)
		}
	}
	errs = append(errs, h.loader.Close(), h.store.Close())
	return errors.Join(errs...)
}

// openTransport resolves a transport name as the plugin loader does: a
// path, then a builtin (such as "tcp"), then a plugin binary in the plugin
// directories.
func openTransport(ctx context.Context, l *plugins.Loader, name string) (sdk.Transport, error) {
	return l.Transport(ctx, name, plugin.Config{})
}

// cliLogger logs to stderr at $CODRIVE_LOG_LEVEL (trace, debug, info,
// warn or error; default warn), like the plugin loader's log.
func cliLogger(e *env) *slog.Logger {
	level := slog.LevelWarn
	switch strings.ToLower(e.getenv("CODRIVE_LOG_LEVEL")) {
	case "trace", "debug":
		level = slog.LevelDebug
	case "info":
		level = slog.LevelInfo
	case "error":
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: level}))
}

// isTerminal reports whether w is a terminal, for progress lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
