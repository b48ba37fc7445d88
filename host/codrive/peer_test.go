package codrive_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/codrive/codrive/conflict/vclock"
	"github.com/codrive/codrive/host/codrive"
	"github.com/codrive/codrive/internal/loopback"
	"github.com/codrive/codrive/sdk"
)

// wait bounds every wait for replication.
const wait = 20 * time.Second

// host is one peer on loopback TCP, stopped when the test ends.
type host struct {
	*loopback.Host
	t   *testing.T
	ctx context.Context
}

func newHost(t *testing.T, name string) *host {
	t.Helper()
	h, err := loopback.New(name, loopback.Options{Logger: testLogger(t, name), RequestTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return &host{Host: h, t: t, ctx: t.Context()}
}

func (h *host) connect(other *host) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, wait)
	defer cancel()
	if err := h.Connect(ctx, other.Host); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) disconnect(other *host) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, wait)
	defer cancel()
	if err := h.Disconnect(ctx, other.Host); err != nil {
		h.t.Fatal(err)
	}
}

func (h *host) config(auth sdk.AuthPolicy) codrive.Config {
	return codrive.Config{Store: h.Store, Replicator: h.Replicator, Resolver: vclock.New(), Auth: auth,
		AuthTimeout: 10 * time.Second, Logger: testLogger(h.t, h.Name)}
}

// create makes a new co-drive on h.
func (h *host) create(auth sdk.AuthPolicy) *codrive.CoDrive {
	h.t.Helper()
	c, err := codrive.Create(h.ctx, h.config(auth))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

// open opens the co-drive key on h.
func (h *host) open(key sdk.FeedKey, auth sdk.AuthPolicy) *codrive.CoDrive {
	h.t.Helper()
	c, err := codrive.Open(h.ctx, h.config(auth), key)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	return c
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := loopback.WaitFor(ctx, what, cond); err != nil {
		t.Fatal(err)
	}
}

// waitFile waits until the file at p reads want on c ("" waits until it
// does not exist).
func waitFile(t *testing.T, c *codrive.CoDrive, name, p, want string) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%s to read %q at %s", name, want, p), func() bool {
		b, err := c.View().ReadFile(t.Context(), p)
		if err != nil {
			return want == "" && strings.Contains(err.Error(), "not exist")
		}
		return want != "" && string(b) == want
	})
}

func testLogger(t *testing.T, name string) *slog.Logger {
	if os.Getenv("CODRIVE_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("peer", name)
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}
