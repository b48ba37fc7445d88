package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	co "github.com/codrive/codrive/host/codrive"
	"github.com/codrive/codrive/host/node"
	"github.com/codrive/codrive/sdk/plugin"
)

// authSetting is the configuration key that an auth policy's ARG in
// --auth NAME:ARG sets, for the builtins that take one; any other policy
// gets ARG as "arg". Both builtin settings are files, made absolute so
// that they mean the same to a plugin process.
var authSetting = map[string]struct {
	key  string
	path bool
}{
	"allowlist": {"file", true},
	"invite":    {"secret-file", true},
}

// parseAuth parses --auth NAME[:ARG] into a policy name and its
// configuration.
func parseAuth(s string) (string, plugin.Config, error) {
	name, arg, hasArg := strings.Cut(s, ":")
	if name == "" {
		return "", nil, fmt.Errorf("%w: --auth %q: want NAME or NAME:ARG", errUsage, s)
	}
	if !hasArg {
		return name, nil, nil
	}
	set, ok := authSetting[name]
	if !ok {
		return name, plugin.Config{"arg": arg}, nil
	}
	if set.path && arg != "" {
		abs, err := filepath.Abs(arg)
		if err != nil {
			return "", nil, err
		}
		arg = abs
	}
	return name, plugin.Config{set.key: arg}, nil
}

// daemonCommand runs the host in the foreground: it replicates every
// co-drive of the data directory and serves the other commands on the
// control socket, until SIGINT or SIGTERM.
func daemonCommand(e *env, args []string) error {
	var dir, storage, resolver, auth string
	var authTimeout time.Duration
	var listen, peers, transports, pluginDirs stringList
	fs := flags(e, "daemon", &dir)
	fs.Var(&listen, "listen", "multiaddr to listen on (repeatable; default "+defaultListen+")")
	fs.Var(&peers, "peer", "multiaddr of a peer to keep a connection to, besides the remembered ones (repeatable)")
	fs.StringVar(&storage, "storage", node.DefaultStorage, "feed storage: a builtin, a plugin name or a plugin binary's path")
	fs.Var(&transports, "transport", "transport: a builtin, a plugin name or a plugin binary's path (repeatable; default tcp)")
	fs.StringVar(&resolver, "resolver", node.DefaultResolver, "conflict resolver")
	fs.StringVar(&auth, "auth", node.DefaultAuth, "auth policy deciding requests to become a writer: NAME or NAME:ARG (allowlist:FILE, invite:SECRET_FILE)")
	fs.DurationVar(&authTimeout, "auth-timeout", co.DefaultAuthTimeout, "the longest this peer's authorization requests (request-auth) wait")
	fs.Var(&pluginDirs, "plugin-dir", "directory to search for plugin binaries (repeatable)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	if authTimeout <= 0 {
		return fmt.Errorf("%w: --auth-timeout must be positive", errUsage)
	}
	if len(listen) == 0 {
		listen = stringList{defaultListen}
	}
	listenAddrs, err := parseMultiaddrs("--listen", listen)
	if err != nil {
		return err
	}
	peerAddrs, err := parseMultiaddrs("--peer", peers)
	if err != nil {
		return err
	}
	authName, authCfg, err := parseAuth(auth)
	if err != nil {
		return err
	}
	dir = dataDir(e, dir)
	// Checked before the storage is opened, for a clearer message than
	// the storage lock's.
	if findDaemon(dir) != nil {
		return fmt.Errorf("a daemon already serves %s", dir)
	}

	ctx := e.ctx
	if ctx == nil {
		var stop context.CancelFunc
		ctx, stop = signalContext()
		defer stop()
	}
	loader := newLoader(e, pluginDirs)
	defer loader.Close()
	log := cliLogger(e)
	n, err := node.Open(ctx, node.Config{
		Dir: dir, Storage: storage, Resolver: resolver, Auth: authName, AuthConfig: authCfg, AuthTimeout: authTimeout,
		Network: true, Transports: transportsOrDefault(transports), Listen: listenAddrs, Peers: peerAddrs,
		Loader: loader, Logger: log,
	})
	if err != nil {
		return nodeError(err)
	}
	defer n.Close()
	control, err := startControl(dir, n, e, log)
	if err != nil {
		return err
	}
	defer control.Close()
	// Addresses are printed once the control socket is up, so that
	// whoever waits for them can run commands right away.
	for _, a := range n.Addrs() {
		fmt.Fprintln(e.stdout, a)
	}
	if e.isTerminal() {
		fmt.Fprintf(e.stderr, "codrive daemon: %d co-drives in %s, as peer %s; stop with Ctrl-C\n", len(n.Keys()), dir, n.PeerKey())
	}
	<-ctx.Done()
	if err := control.Close(); err != nil {
		log.Warn("daemon: stopping the control API", "err", err)
	}
	return n.Close()
}
