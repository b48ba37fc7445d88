package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	goplugin "github.com/hashicorp/go-plugin"

	"github.com/codrive/codrive/sdk/plugin"
)

// Restarts after a crash wait minBackoff, doubling with each crash in a
// row up to maxBackoff; a plugin that stays up for stableAfter is
// forgiven its past crashes.
const (
	minBackoff  = 100 * time.Millisecond
	maxBackoff  = 10 * time.Second
	stableAfter = time.Minute
)

// external is one external plugin, started on demand and restarted after
// a crash.
type external struct {
	loader *Loader
	kind   plugin.Kind
	name   string
	path   string
	cfg    plugin.Config

	mu        sync.Mutex
	client    *goplugin.Client
	conn      *plugin.Client
	info      plugin.Info
	impl      any // the contract adapter of the running process
	started   time.Time
	crashes   int
	nextStart time.Time
	lastErr   error
	closed    bool
	stderr    *tailBuffer
}

// label names the plugin in errors and logs.
func (e *external) label() string {
	return fmt.Sprintf("%s plugin %q (%s)", e.kind, e.name, e.path)
}

// start runs the plugin, checks who it is and initializes it. Its
// handshake, Info and Init are bounded by the start timeout and detached
// from any caller's context: a caller in a hurry must not turn a healthy
// start into a crash. e.mu is held, or the plugin is not shared yet.
func (e *external) start() error {
	ctx, cancel := context.WithTimeout(context.Background(), e.loader.cfg.StartTimeout)
	defer cancel()
	if err := e.startClient(ctx); err != nil {
		return err
	}
	if err := e.conn.Init(ctx, e.cfg); err != nil {
		e.stop()
		return fmt.Errorf("%s: init: %w", e.label(), err)
	}
	switch e.kind {
	case plugin.KindStorage:
		e.impl = e.conn.Storage()
	case plugin.KindTransport:
		e.impl = e.conn.Transport(e.info)
	case plugin.KindResolver:
		e.impl = e.conn.Resolver()
	case plugin.KindAuth:
		e.impl = e.conn.AuthPolicy()
	}
	e.started = time.Now()
	return nil
}

// startClient runs the plugin through its handshake and asks for its Info.
func (e *external) startClient(ctx context.Context) error {
	e.stderr = &tailBuffer{max: 2048}
	logger := e.loader.cfg.Logger.Named(string(e.kind) + "-" + e.name)
	client := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		VersionedPlugins: plugin.VersionedPlugins(e.kind),
		Cmd:              exec.Command(e.path),
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		Logger:           logger,
		AutoMTLS:         true,
		StartTimeout:     e.loader.cfg.StartTimeout,
		GRPCDialOptions:  plugin.DialOptions,
		Stderr:           e.stderr,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return e.explainStart(err)
	}
	raw, err := rpc.Dispense(string(e.kind))
	if err != nil {
		client.Kill()
		return fmt.Errorf("%s: %w", e.label(), err)
	}
	conn, ok := raw.(*plugin.Client)
	if !ok {
		client.Kill()
		return fmt.Errorf("%s: unexpected plugin client %T", e.label(), raw)
	}
	info, err := conn.Info(ctx)
	if err != nil {
		client.Kill()
		return fmt.Errorf("%s: info: %w", e.label(), err)
	}
	if info.Kind != e.kind {
		client.Kill()
		return fmt.Errorf("%s: the binary is a %s plugin, not a %s plugin", e.label(), info.Kind, e.kind)
	}
	e.client, e.conn, e.info = client, conn, info
	logger.Debug("plugin started", "path", e.path, "version", info.Version, "protocol", client.NegotiatedVersion())
	return nil
}

// explainStart turns go-plugin's start errors into advice.
func (e *external) explainStart(err error) error {
	msg := err.Error()
	stderr := e.stderr.String()
	if stderr != "" {
		stderr = "; its last stderr output: " + stderr
	}
	switch {
	case strings.Contains(strings.ToLower(msg), "incompatible api version"):
		return fmt.Errorf("%s speaks another codrive plugin protocol (this host speaks version %d): rebuild it against this version of codrive: %v",
			e.label(), plugin.ProtocolVersion, firstLine(msg))
	case strings.Contains(msg, "timeout while waiting for plugin to start"):
		return fmt.Errorf("%s did not complete its handshake within %s: is it a codrive plugin, and is it stuck at start?%s",
			e.label(), e.loader.cfg.StartTimeout, stderr)
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		line := strings.TrimSpace(strings.TrimPrefix(firstLine(msg), "Unrecognized remote plugin message:"))
		if line == "" {
			return fmt.Errorf("%s exited without a plugin handshake: is it a codrive plugin (built with sdk/plugin)?%s", e.label(), stderr)
		}
		return fmt.Errorf("%s printed %q on stdout instead of its handshake: it is not a codrive plugin, or it writes to stdout before serving (plugins must log to stderr)",
			e.label(), line)
	case strings.Contains(msg, "plugin exited before we could connect"):
		return fmt.Errorf("%s exited during its handshake: is it a codrive plugin (built with sdk/plugin)?%s", e.label(), stderr)
	}
	return fmt.Errorf("%s: %w", e.label(), err)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// get returns the running plugin's contract adapter and the process it
// talks to, restarting a crashed plugin if its backoff has passed.
func (e *external) get() (any, *goplugin.Client, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, nil, fmt.Errorf("%s: %w", e.label(), errClosed)
	}
	if e.client != nil && !e.client.Exited() {
		return e.impl, e.client, nil
	}
	if e.client != nil {
		e.noteCrash(errors.New("the process exited"))
	}
	if e.kind == plugin.KindStorage && !e.info.Has(plugin.FeaturePersistent) {
		// Restarting would hand out an empty storage as if it were the
		// old one: lost data must be an error, not a surprise.
		return nil, nil, fmt.Errorf("%s crashed (%v) and keeps its data in memory, which is lost: it is not restarted: %w", e.label(), e.lastErr, plugin.ErrUnavailable)
	}
	if wait := time.Until(e.nextStart); wait > 0 {
		return nil, nil, fmt.Errorf("%s crashed (%v); restarting in %s: %w", e.label(), e.lastErr, wait.Round(time.Millisecond), plugin.ErrUnavailable)
	}
	e.loader.cfg.Logger.Warn("restarting plugin", "plugin", e.label(), "crashes", e.crashes)
	features := e.info.Features
	if err := e.start(); err != nil {
		e.noteCrash(err)
		return nil, nil, err
	}
	if !slices.Equal(features, e.info.Features) {
		err := fmt.Errorf("%s came back with features %v instead of %v: the binary changed; restart the host", e.label(), e.info.Features, features)
		e.noteCrash(err)
		return nil, nil, err
	}
	return e.impl, e.client, nil
}

// noteCrash records a crash and schedules the next start; e.mu is held.
func (e *external) noteCrash(err error) {
	if e.client != nil {
		e.client.Kill()
		e.client, e.conn, e.impl = nil, nil, nil
	}
	if !e.started.IsZero() && time.Since(e.started) > stableAfter {
		e.crashes = 0 // it had been up a good while: start the backoff over
	}
	e.started = time.Time{}
	e.crashes++
	e.lastErr = err
	backoff := minBackoff << min(e.crashes-1, 10)
	e.nextStart = time.Now().Add(min(backoff, maxBackoff))
	e.loader.cfg.Logger.Error("plugin crashed", "plugin", e.label(), "error", err, "crashes", e.crashes)
}

// exitGrace is how long check waits, after a call lost its connection,
// for the process's exit to be noticed.
const exitGrace = 200 * time.Millisecond

// check inspects the error of a call made on client. Only a process that
// really exited counts as a crash, and only if it is still the current
// one: a late error from a process already replaced must not kill its
// successor, and errors of the call itself (a deadline, a storage error)
// say nothing about the process.
func (e *external) check(client *goplugin.Client, err error) error {
	if err == nil {
		return nil
	}
	e.mu.Lock()
	closed := e.closed
	e.mu.Unlock()
	if closed && errors.Is(err, plugin.ErrUnavailable) {
		return fmt.Errorf("%s: %w", e.label(), errClosed)
	}
	if !errors.Is(err, plugin.ErrUnavailable) {
		return err
	}
	// The connection broke; the exit itself is noticed a moment later.
	for deadline := time.Now().Add(exitGrace); !client.Exited() && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if !client.Exited() {
		return fmt.Errorf("%s is unreachable: %w", e.label(), err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.client == client {
		e.noteCrash(err)
	}
	return fmt.Errorf("%s crashed during the call; it restarts on next use: %w", e.label(), err)
}

// stop kills the process, for a plugin that never got into service.
func (e *external) stop() {
	if e.client != nil {
		e.client.Kill()
	}
}

// closeTimeout bounds a plugin's own Close (a storage flushing) before
// its process is stopped anyway.
const closeTimeout = 10 * time.Second

// close shuts the plugin down for good: the contract's own Close first,
// so a storage can flush, then the process. It returns the contract's
// Close error.
func (e *external) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if e.client == nil {
		return nil
	}
	var err error
	if c, ok := e.impl.(interface{ Close() error }); ok && !e.client.Exited() {
		done := make(chan error, 1)
		go func() { done <- c.Close() }()
		select {
		case err = <-done:
		case <-time.After(closeTimeout):
			err = fmt.Errorf("%s did not close within %s", e.label(), closeTimeout)
		}
		if err != nil {
			e.loader.cfg.Logger.Warn("plugin close", "plugin", e.label(), "error", err)
		}
	}
	e.client.Kill()
	e.client, e.conn, e.impl = nil, nil, nil
	return err
}

// tailBuffer keeps the last bytes a plugin wrote to stderr, for errors.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}
