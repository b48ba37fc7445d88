package storagetest

import (
	"context"
	"errors"
	"testing"

	"github.com/codrive/codrive/sdk"
	"github.com/google/go-cmp/cmp"
)

// The tests in this file cover the life of feeds: Create, Load, Feeds,
// Delete and Close.

func testCreateLoad(t *testing.T, h Harness) {
	tests := []struct {
		name   string
		header sdk.FeedHeader
	}{
		{"Writable", header(1, true)},
		{"ReadOnly", header(2, false)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, h)
			e.create(tt.header)
			want := sdk.FeedState{Header: tt.header}
			if diff := cmp.Diff(want, *e.load(tt.header.Key), equateEmpty); diff != "" {
				t.Errorf("Load after Create (-want +got):\n%s", diff)
			}
		})
	}
}

func testCreateDuplicate(t *testing.T, h Harness) {
	e := newEnv(t, h)
	readOnly := header(1, false)
	m := e.create(readOnly)
	e.write(m, &sdk.Batch{Blocks: blocks(0, 2, 1, 10), Head: head(0, 2)})

	// The same key with a secret key this time: still a duplicate.
	if err := e.s.Create(e.ctx, header(1, true)); !errors.Is(err, sdk.ErrExists) {
		t.Errorf("second Create error = %v, want ErrExists", err)
	}
	e.checkFeeds(map[sdk.FeedKey]*feedModel{m.header.Key: m})
}

// feedCall is a call of one Storage method, named after it.
type feedCall struct {
	name string
	call func(ctx context.Context, s sdk.Storage, key sdk.FeedKey) error
}

// feedCalls calls every method that takes a feed key.
var feedCalls = []feedCall{
	{"Load", func(ctx context.Context, s sdk.Storage, key sdk.FeedKey) error {
		_, err := s.Load(ctx, key)
		return err
	}},
	{"Write", func(ctx context.Context, s sdk.Storage, key sdk.FeedKey) error {
		return s.Write(ctx, key, &sdk.Batch{Blocks: blocks(0, 1, 1, 10), Head: head(0, 1)})
	}},
	{"ReadBlocks", func(ctx context.Context, s sdk.Storage, key sdk.FeedKey) error {
		_, err := s.ReadBlocks(ctx, key, 0, 1)
		return err
	}},
	{"ReadNodes", func(ctx context.Context, s sdk.Storage, key sdk.FeedKey) error {
		_, err := s.ReadNodes(ctx, key, []uint64{0})
		return err
	}},
	{"Delete", func(ctx context.Context, s sdk.Storage, key sdk.FeedKey) error {
		return s.Delete(ctx, key)
	}},
}

func testMissingFeed(t *testing.T, h Harness) {
	e := newEnv(t, h)
	other := e.create(header(1, true))
	e.write(other, &sdk.Batch{Blocks: blocks(0, 1, 1, 10), Nodes: nodes(0, 1, 1)})
	missing := header(2, true).Key
	for _, c := range feedCalls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(e.ctx, e.s, missing); !errors.Is(err, sdk.ErrNotFound) {
				t.Errorf("%s(missing feed) error = %v, want ErrNotFound", c.name, err)
			}
		})
	}
	// None of the calls may have created the feed or touched the other one.
	e.checkFeeds(map[sdk.FeedKey]*feedModel{other.header.Key: other})
}

func testFeeds(t *testing.T, h Harness) {
	e := newEnv(t, h)
	e.checkKeys(nil)
	a := header(1, true)
	b := header(2, false)
	c := header(3, true)
	for _, hd := range []sdk.FeedHeader{a, b, c} {
		e.create(hd)
	}
	e.checkKeys([]sdk.FeedKey{a.Key, b.Key, c.Key})
	e.delete(b.Key)
	e.checkKeys([]sdk.FeedKey{a.Key, c.Key})
	e.delete(a.Key)
	e.delete(c.Key)
	e.checkKeys(nil)
}

func testDelete(t *testing.T, h Harness) {
	e := newEnv(t, h)
	gone := e.create(header(1, true))
	e.write(gone, &sdk.Batch{Blocks: blocks(0, 4, 1, 100), Nodes: nodes(0, 7, 1), Head: head(0, 4), Evidence: []byte("proof")})
	kept := e.create(header(2, false))
	e.write(kept, &sdk.Batch{Blocks: blocks(0, 3, 2, 100), Nodes: nodes(0, 5, 2), Head: head(0, 3)})

	e.delete(gone.header.Key)
	for _, c := range feedCalls {
		if err := c.call(e.ctx, e.s, gone.header.Key); !errors.Is(err, sdk.ErrNotFound) {
			t.Errorf("%s after Delete: error = %v, want ErrNotFound", c.name, err)
		}
	}
	e.checkFeeds(map[sdk.FeedKey]*feedModel{kept.header.Key: kept})
}

func testDeleteThenCreate(t *testing.T, h Harness) {
	e := newEnv(t, h)
	old := e.create(header(1, true))
	e.write(old, &sdk.Batch{Blocks: blocks(0, 4, 1, 100), Nodes: nodes(0, 7, 1), Head: head(0, 4), Evidence: []byte("proof")})
	e.delete(old.header.Key)

	// Same key, now without the secret key: nothing of the old feed shows.
	m := e.create(header(1, false))
	m.written = old.written // ask for the old nodes too
	e.checkFeeds(map[sdk.FeedKey]*feedModel{m.header.Key: m})

	e.write(m, &sdk.Batch{Blocks: blocks(2, 3, 2, 50), Nodes: nodesAt(2, 4), Head: head(1, 3)})
	e.check(m)
}

func testClosed(t *testing.T, h Harness) {
	e := newEnv(t, h)
	key := e.create(header(1, true)).header.Key
	s := e.close()
	calls := append([]feedCall{
		{"Create", func(ctx context.Context, s sdk.Storage, _ sdk.FeedKey) error {
			return s.Create(ctx, header(2, true))
		}},
		{"Feeds", func(ctx context.Context, s sdk.Storage, _ sdk.FeedKey) error {
			_, err := s.Feeds(ctx)
			return err
		}},
	}, feedCalls...)
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(e.ctx, s, key); !errors.Is(err, sdk.ErrClosed) {
				t.Errorf("%s after Close: error = %v, want ErrClosed", c.name, err)
			}
		})
	}
}
