package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	co "github.com/codrive/codrive/host/codrive"
	"github.com/codrive/codrive/host/node"
	"github.com/codrive/codrive/sdk"
)

// nodeCommand is a command on the co-drives of a data directory. Each is
// one function of a *node.Node, so that it has one implementation
// wherever it runs: when a daemon serves the directory, the command line
// is sent to it over the control API and the daemon runs the function on
// its node; otherwise the function runs here, on the directory opened
// directly.
type nodeCommand struct {
	usage, short string
	// min and max bound the number of positional arguments.
	min, max int
	// key says the first positional argument is a co-drive key.
	key bool
	// network: run here, the command needs replication, so the node is
	// opened with networking (dialing out to the remembered peers) for
	// as long as the command runs.
	network bool
	// authTimeout: run here, the command's --timeout flag also bounds
	// the node's authorization requests.
	authTimeout bool
	// setup registers the command's flags and returns its action, which
	// runs once they are parsed.
	setup func(fs *flag.FlagSet) func(c *call) error
	// input, if set, reads what the command consumes (put's content)
	// where the command line runs: the daemon does not share the
	// client's stdin, and may not be allowed to read its files.
	input func(e *env, pos []string) ([]byte, error)
}

// call is one run of a nodeCommand's action.
type call struct {
	ctx   context.Context
	e     *env
	n     *node.Node
	pos   []string
	input []byte
}

// command makes nc an entry of the command table.
func (nc nodeCommand) command(name string) command {
	return command{usage: strings.TrimSpace(name + " [--dir DIR] " + nc.usage), short: nc.short, run: func(e *env, args []string) error {
		return nc.run(e, name, args)
	}}
}

func (nc nodeCommand) run(e *env, name string, args []string) error {
	var dir string
	fs := flags(e, name, &dir)
	action := nc.setup(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) < nc.min:
		return fmt.Errorf("%w: missing arguments", errUsage)
	case len(pos) > nc.max:
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[nc.max])
	}
	if nc.key {
		if _, err := sdk.ParseFeedKey(pos[0]); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	c := &call{e: e, pos: pos}
	if e.node != nil {
		// In the daemon, for a client.
		c.ctx, c.n, c.input = e.ctx, e.node, e.input
		if c.ctx == nil {
			c.ctx = context.Background()
		}
		return action(c)
	}
	ctx := e.ctx
	if ctx == nil {
		var stop context.CancelFunc
		ctx, stop = signalContext()
		defer stop()
	}
	c.ctx = ctx
	if nc.input != nil {
		if c.input, err = nc.input(e, pos); err != nil {
			return err
		}
	}
	dir = dataDir(e, dir)
	if d := findDaemon(dir); d != nil {
		return d.run(ctx, e, append(strings.Fields(name), args...), c.input)
	}
	loader := newLoader(e, nil)
	defer loader.Close()
	cfg := node.Config{Dir: dir, Network: nc.network, Loader: loader, Logger: cliLogger(e)}
	if f := fs.Lookup("timeout"); nc.authTimeout && f != nil {
		cfg.AuthTimeout = f.Value.(flag.Getter).Get().(time.Duration)
	}
	n, err := node.Open(ctx, cfg)
	if err != nil {
		return nodeError(err)
	}
	defer n.Close()
	c.n = n
	if err := action(c); err != nil {
		return err
	}
	return n.Close()
}

// nodeError makes an address no transport can use a usage error.
func nodeError(err error) error {
	if errors.Is(err, node.ErrAddress) {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return err
}

// key parses the positional argument i as a key (checked already for
// the co-drive key).
func (c *call) key(i int, what string) (sdk.FeedKey, error) {
	k, err := sdk.ParseFeedKey(c.pos[i])
	if err != nil {
		return k, fmt.Errorf("%w: %s: %v", errUsage, what, err)
	}
	return k, nil
}

// codrive returns the co-drive named by the first argument.
func (c *call) codrive() (*co.CoDrive, error) {
	k, err := c.key(0, "KEY")
	if err != nil {
		return nil, err
	}
	return c.n.Get(c.ctx, k)
}

// arg returns positional argument i, or def if there are fewer.
func (c *call) arg(i int, def string) string {
	if i < len(c.pos) {
		return c.pos[i]
	}
	return def
}
