package plugins

import (
	"context"
	"errors"
	"fmt"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/sdk"
)

// The supervised types implement a contract by forwarding each call to
// the running plugin process, which external.get restarts after a crash.

// call runs fn against the plugin's current implementation of T.
func call[T any, R any](e *external, fn func(T) (R, error)) (R, error) {
	var zero R
	impl, client, err := e.get()
	if err != nil {
		return zero, err
	}
	r, err := fn(impl.(T))
	return r, e.check(client, err)
}

// run is call for functions with only an error result.
func run[T any](e *external, fn func(T) error) error {
	_, err := call(e, func(t T) (struct{}, error) { return struct{}{}, fn(t) })
	return err
}

// callbackError carries an error of the caller's own callback through a
// plugin call, so that it is never taken for the plugin's failure.
type callbackError struct{ err error }

func (c *callbackError) Error() string { return c.err.Error() }
func (c *callbackError) Unwrap() error { return c.err }

type supervisedStorage struct{ ext *external }

func (s *supervisedStorage) Create(ctx context.Context, h sdk.FeedHeader) error {
	return run(s.ext, func(st sdk.Storage) error { return st.Create(ctx, h) })
}

func (s *supervisedStorage) Feeds(ctx context.Context) ([]sdk.FeedKey, error) {
	return call(s.ext, func(st sdk.Storage) ([]sdk.FeedKey, error) { return st.Feeds(ctx) })
}

func (s *supervisedStorage) Load(ctx context.Context, key sdk.FeedKey) (*sdk.FeedState, error) {
	return call(s.ext, func(st sdk.Storage) (*sdk.FeedState, error) { return st.Load(ctx, key) })
}

func (s *supervisedStorage) Write(ctx context.Context, key sdk.FeedKey, b *sdk.Batch) error {
	return run(s.ext, func(st sdk.Storage) error { return st.Write(ctx, key, b) })
}

func (s *supervisedStorage) ReadBlocks(ctx context.Context, key sdk.FeedKey, start, end uint64) ([][]byte, error) {
	return call(s.ext, func(st sdk.Storage) ([][]byte, error) { return st.ReadBlocks(ctx, key, start, end) })
}

// StreamBlocks implements sdk.BlockStreamer, which every storage plugin
// adapter does. Errors of fn come back as they are.
func (s *supervisedStorage) StreamBlocks(ctx context.Context, key sdk.FeedKey, start, end uint64, fn func(uint64, [][]byte) error) error {
	err := run(s.ext, func(st sdk.Storage) error {
		return st.(sdk.BlockStreamer).StreamBlocks(ctx, key, start, end, func(first uint64, b [][]byte) error {
			if err := fn(first, b); err != nil {
				return &callbackError{err}
			}
			return nil
		})
	})
	var cb *callbackError
	if errors.As(err, &cb) {
		return cb.err
	}
	return err
}

func (s *supervisedStorage) ReadNodes(ctx context.Context, key sdk.FeedKey, idx []uint64) ([]sdk.Node, error) {
	return call(s.ext, func(st sdk.Storage) ([]sdk.Node, error) { return st.ReadNodes(ctx, key, idx) })
}

func (s *supervisedStorage) Delete(ctx context.Context, key sdk.FeedKey) error {
	return run(s.ext, func(st sdk.Storage) error { return st.Delete(ctx, key) })
}

// Close closes the plugin's storage and stops its process.
func (s *supervisedStorage) Close() error { return s.ext.close() }

type supervisedResolver struct{ ext *external }

func (r *supervisedResolver) Resolve(ctx context.Context, sets [][]sdk.Candidate) ([]sdk.Resolution, error) {
	return call(r.ext, func(res sdk.Resolver) ([]sdk.Resolution, error) { return res.Resolve(ctx, sets) })
}

type supervisedAuth struct{ ext *external }

func (a *supervisedAuth) Authorize(ctx context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
	return call(a.ext, func(p sdk.AuthPolicy) (sdk.AuthDecision, error) { return p.Authorize(ctx, req) })
}

// supervisedTransport forwards dials and listens. Connections and
// listeners live in the plugin process and end if it crashes; the
// replication layer redials.
type supervisedTransport struct{ ext *external }

func (t *supervisedTransport) CanDial(addr ma.Multiaddr) bool {
	ok, _ := call(t.ext, func(tr sdk.Transport) (bool, error) { return tr.CanDial(addr), nil })
	return ok
}

func (t *supervisedTransport) Dial(ctx context.Context, addr ma.Multiaddr) (sdk.Conn, error) {
	return call(t.ext, func(tr sdk.Transport) (sdk.Conn, error) { return tr.Dial(ctx, addr) })
}

func (t *supervisedTransport) Listen(ctx context.Context, addr ma.Multiaddr) (sdk.Listener, error) {
	return call(t.ext, func(tr sdk.Transport) (sdk.Listener, error) { return tr.Listen(ctx, addr) })
}

// Close closes the plugin's transport and stops its process.
func (t *supervisedTransport) Close() error { return t.ext.close() }

type supervisedDiscoveringTransport struct{ *supervisedTransport }

func (t *supervisedDiscoveringTransport) Announce(ctx context.Context, topic sdk.DiscoveryKey, self sdk.PeerAddr) error {
	return run(t.ext, func(tr sdk.Transport) error {
		d, ok := tr.(sdk.Discovery)
		if !ok {
			return fmt.Errorf("%s: discovery: %w", t.ext.label(), errors.ErrUnsupported)
		}
		return d.Announce(ctx, topic, self)
	})
}

func (t *supervisedDiscoveringTransport) FindPeers(ctx context.Context, topic sdk.DiscoveryKey) (<-chan sdk.PeerAddr, error) {
	return call(t.ext, func(tr sdk.Transport) (<-chan sdk.PeerAddr, error) {
		d, ok := tr.(sdk.Discovery)
		if !ok {
			return nil, fmt.Errorf("%s: discovery: %w", t.ext.label(), errors.ErrUnsupported)
		}
		return d.FindPeers(ctx, topic)
	})
}
