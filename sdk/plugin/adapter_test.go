package plugin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/codrive/codrive/conformance/storagetest"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/disk"
	"github.com/codrive/codrive/storage/memory"
)

// dispense serves impl over a real gRPC connection on loopback, with the
// server and dial options a plugin process and its host use, and returns
// the host's client for it. The connection lives until t ends.
func dispense(t *testing.T, kind Kind, impl any) *Client {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(serverOptions...)
	p := NewTestServer(kind, impl)[string(kind)].(*grpcPlugin)
	if err := p.GRPCServer(nil, s); err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	conn, err := grpc.NewClient(ln.Addr().String(), append(DialOptions, grpc.WithTransportCredentials(insecure.NewCredentials()))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		s.Stop()
	})
	raw, err := p.GRPCClient(context.Background(), nil, conn)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*Client)
}

// TestStorageAdapter runs the storage conformance suite through the gRPC
// adapters, for both storages. Connections outlive each subtest (they end
// with the outer test), since the suite closes storages in its own
// cleanups.
func TestStorageAdapter(t *testing.T) {
	outer := t
	t.Run("memory", func(t *testing.T) {
		storagetest.Run(t, storagetest.Harness{
			Open: func(*testing.T, string) (sdk.Storage, error) {
				return dispense(outer, KindStorage, memory.New()).Storage(), nil
			},
		})
	})
	t.Run("disk", func(t *testing.T) {
		storagetest.Run(t, storagetest.Harness{
			Open: func(_ *testing.T, dir string) (sdk.Storage, error) {
				st, err := disk.Open(dir, disk.Options{})
				if err != nil {
					return nil, err
				}
				return dispense(outer, KindStorage, st).Storage(), nil
			},
			Persistent: true,
		})
	})
}

// failingStorage fails every call with err.
type failingStorage struct {
	sdk.Storage
	err error
}

func (f failingStorage) Load(context.Context, sdk.FeedKey) (*sdk.FeedState, error) {
	return nil, f.err
}

func TestErrorsKeepIdentity(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want error
	}{
		{"not found", sdk.ErrNotFound, sdk.ErrNotFound},
		{"exists", sdk.ErrExists, sdk.ErrExists},
		{"closed", sdk.ErrClosed, sdk.ErrClosed},
		{"invalid", sdk.ErrInvalid, sdk.ErrInvalid},
		{"corrupt", sdk.ErrCorrupt, sdk.ErrCorrupt},
		{"wrapped twice", fmt.Errorf("outer: %w", fmt.Errorf("inner: %w", sdk.ErrNotFound)), sdk.ErrNotFound},
		{"deadline", context.DeadlineExceeded, context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := dispense(t, KindStorage, failingStorage{err: tt.err}).Storage()
			_, err := st.Load(context.Background(), sdk.FeedKey{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if err.Error() != tt.err.Error() {
				t.Errorf("message %q, want the plugin's %q", err, tt.err)
			}
		})
	}
	st := dispense(t, KindStorage, failingStorage{err: errors.New("disk on fire")}).Storage()
	if _, err := st.Load(context.Background(), sdk.FeedKey{}); err == nil || err.Error() != "disk on fire" {
		t.Errorf("plain error: %v", err)
	}
}

func TestNotInitialized(t *testing.T) {
	// Through go-plugin's own test connection, with no implementation yet.
	// Closing the client also stops the server, through go-plugin.
	client, _ := goplugin.TestPluginGRPCConn(t, false, NewTestServer(KindStorage, nil))
	defer client.Close()
	raw, _ := client.Dispense(string(KindStorage))
	if _, err := raw.(*Client).Storage().Feeds(context.Background()); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("call before Init: %v, want ErrNotInitialized", err)
	}
}

// recordingResolver answers with fixed resolutions and keeps what it got.
type recordingResolver struct {
	got  [][]sdk.Candidate
	res  []sdk.Resolution
	fail error
}

func (r *recordingResolver) Resolve(_ context.Context, sets [][]sdk.Candidate) ([]sdk.Resolution, error) {
	r.got = sets
	return r.res, r.fail
}

func TestResolverAdapter(t *testing.T) {
	sets := [][]sdk.Candidate{
		{
			{Writer: sdk.FeedKey{1}, Seq: 7, WallClock: -5, Clock: sdk.VectorClock{{Writer: sdk.FeedKey{1}, Length: 7}, {Writer: sdk.FeedKey{2}, Length: 3}}},
			{Writer: sdk.FeedKey{2}, Seq: 3, WallClock: 1 << 62, Tombstone: true},
		},
		{{Writer: sdk.FeedKey{3}}},
	}
	rr := &recordingResolver{res: []sdk.Resolution{{Winner: 1, Concurrent: []int{0}}, {Winner: 0}}}
	res, err := dispense(t, KindResolver, rr).Resolver().Resolve(context.Background(), sets)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sets, rr.got); diff != "" {
		t.Errorf("candidates crossed the boundary changed (-sent +received):\n%s", diff)
	}
	if diff := cmp.Diff(rr.res, res); diff != "" {
		t.Errorf("resolutions (-want +got):\n%s", diff)
	}

	bad := &recordingResolver{res: []sdk.Resolution{{Winner: 5}, {Winner: 0}}}
	if _, err := dispense(t, KindResolver, bad).Resolver().Resolve(context.Background(), sets); err == nil {
		t.Error("a winner out of range was accepted from the plugin")
	}
	short := &recordingResolver{res: []sdk.Resolution{{Winner: 0}}}
	if _, err := dispense(t, KindResolver, short).Resolver().Resolve(context.Background(), sets); err == nil {
		t.Error("too few resolutions were accepted from the plugin")
	}
}

type recordingPolicy struct {
	got sdk.AuthRequest
}

func (p *recordingPolicy) Authorize(_ context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
	p.got = req
	return sdk.AuthDecision{Allow: false, Reason: "not on the list"}, nil
}

func TestAuthAdapter(t *testing.T) {
	p := &recordingPolicy{}
	req := sdk.AuthRequest{Drive: sdk.FeedKey{1}, Writer: sdk.FeedKey{2}, Peer: sdk.PeerKey{3}, Proof: []byte("invite-42")}
	d, err := dispense(t, KindAuth, p).AuthPolicy().Authorize(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(req, p.got); diff != "" {
		t.Errorf("request (-sent +received):\n%s", diff)
	}
	if d.Allow || d.Reason != "not on the list" {
		t.Errorf("decision %+v", d)
	}
}

func TestPackingRejectsBadSizes(t *testing.T) {
	if _, err := unpackNodes(make([]byte, nodeSize+1)); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("unpackNodes of a partial node: %v", err)
	}
	nodes := []sdk.Node{{Index: 1, Size: 2, Hash: sdk.Hash{3}}, {Index: 1 << 60, Size: 1 << 40}}
	got, err := unpackNodes(packNodes(nodes))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(nodes, got); diff != "" {
		t.Errorf("nodes round trip (-want +got):\n%s", diff)
	}
}
