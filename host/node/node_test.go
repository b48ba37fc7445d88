package node_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/host/node"
	"github.com/codrive/codrive/host/plugins"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// wait bounds every wait for replication.
const wait = 30 * time.Second

func open(t *testing.T, cfg node.Config) *node.Node {
	t.Helper()
	n, err := node.Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// online opens dir with networking, listening on loopback.
func online(t *testing.T, dir string, peers ...ma.Multiaddr) *node.Node {
	t.Helper()
	return open(t, node.Config{Dir: dir, Network: true, Auth: "allow",
		Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")}, Peers: peers})
}

func TestCreateAndReopen(t *testing.T) {
	dir := t.TempDir()
	n := open(t, node.Config{Dir: dir})
	c, err := n.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := c.View().WriteFile(t.Context(), "/a.txt", []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	key := c.Key()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Get(t.Context(), key); !errors.Is(err, node.ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}

	for _, name := range []string{node.CoDrivesFile, node.SeedFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, mode %v; want a private file", name, err, fi.Mode().Perm())
		}
	}
	n = open(t, node.Config{Dir: dir})
	if diff := cmp.Diff([]sdk.FeedKey{key}, n.Keys()); diff != "" {
		t.Errorf("keys after reopening (-want +got):\n%s", diff)
	}
	c, err = n.Get(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := c.View().ReadFile(t.Context(), "/a.txt"); err != nil || string(b) != "a" {
		t.Errorf("file after reopening: %q, %v", b, err)
	}
	if !c.IsWriter() {
		t.Error("the creator is not a writer after reopening")
	}
	if c2, err := n.Get(t.Context(), key); err != nil || c2 != c {
		t.Errorf("a second Get opened the co-drive again: %v", err)
	}
	if _, err := n.Get(t.Context(), sdk.FeedKey{1}); !errors.Is(err, node.ErrUnknown) || !errors.Is(err, sdk.ErrNotFound) {
		t.Errorf("Get of a key the directory does not have: %v", err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  node.Config
		is   error
		want string
	}{
		{"no dir", node.Config{}, sdk.ErrInvalid, "no data directory"},
		{"unknown storage", node.Config{Storage: "tape"}, plugins.ErrUnknownPlugin, `no storage plugin named "tape"`},
		{"unknown resolver", node.Config{Resolver: "coinflip"}, plugins.ErrUnknownPlugin, `no resolver plugin named "coinflip"`},
		{"unknown auth", node.Config{Auth: "bribe"}, plugins.ErrUnknownPlugin, `no auth plugin named "bribe"`},
		{"allowlist without a file", node.Config{Auth: "allowlist"}, sdk.ErrInvalid, `"file" setting is required`},
		{"allowlist with a missing file", node.Config{Auth: "allowlist", AuthConfig: plugin.Config{"file": "/nonexistent/list"}}, sdk.ErrInvalid, "no such file"},
		{"unknown transport", node.Config{Network: true, Transports: []string{"pigeon"}}, plugins.ErrUnknownPlugin, `no transport plugin named "pigeon"`},
		{"listen on udp", node.Config{Network: true, Listen: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/udp/0")}}, node.ErrAddress, "listen on /ip4/127.0.0.1/udp/0"},
		{"peer over udp", node.Config{Network: true, Peers: []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/udp/1")}}, node.ErrAddress, "connect to /ip4/127.0.0.1/udp/1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Dir == "" && tt.name != "no dir" {
				tt.cfg.Dir = t.TempDir()
			}
			n, err := node.Open(t.Context(), tt.cfg)
			if err == nil {
				n.Close()
				t.Fatal("opened")
			}
			if !errors.Is(err, tt.is) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q: want one matching %v and mentioning %q", err, tt.is, tt.want)
			}
		})
	}
}

func TestListsAreChecked(t *testing.T) {
	tests := []struct {
		file, content, want string
	}{
		{node.CoDrivesFile, "# mine\n\n" + strings.Repeat("ab", 32) + "\nnot a key\n", "codrives:4: invalid feed key"},
		{node.PeersFile, "/ip4/127.0.0.1/tcp/1  # a comment\n/ip4/nowhere\n", `peers:2: "/ip4/nowhere" is not a multiaddr`},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, tt.file), []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			n, err := node.Open(t.Context(), node.Config{Dir: dir})
			if err == nil {
				n.Close()
				t.Fatal("opened a directory with a malformed list")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not mention %q", err, tt.want)
			}
		})
	}
}

func TestOfflineNode(t *testing.T) {
	n := open(t, node.Config{Dir: t.TempDir()})
	c, err := n.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Connect(ma.StringCast("/ip4/127.0.0.1/tcp/1")); !errors.Is(err, node.ErrOffline) {
		t.Errorf("Connect: %v, want ErrOffline", err)
	}
	if _, err := n.WaitSynced(t.Context(), c, 0, nil); !errors.Is(err, node.ErrOffline) {
		t.Errorf("WaitSynced: %v, want ErrOffline", err)
	}
	if n.Networked() || n.Addrs() != nil || n.Connected() != nil || n.PeerKey() != (sdk.PeerKey{}) {
		t.Error("an offline node reports networking")
	}
	// Peers are remembered even offline: a daemon connects to them later.
	p := ma.StringCast("/ip4/127.0.0.1/tcp/4100")
	for range 2 {
		if err := n.RememberPeers(p); err != nil {
			t.Fatal(err)
		}
	}
	if got := n.Peers(); len(got) != 1 || !got[0].Equal(p) {
		t.Errorf("remembered peers: %v", got)
	}
}

// A clone fetches the original's files, remembers its peer, and is
// replicated again by a node reopened on its directory; a forgotten clone
// leaves nothing in the store.
func TestCloneAcrossNodes(t *testing.T) {
	a := online(t, t.TempDir())
	orig, err := a.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := orig.View().WriteFile(t.Context(), "/hello.txt", []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := a.Addrs()[0]

	dirB := t.TempDir()
	b := online(t, dirB)
	clone, added, err := b.Add(t.Context(), orig.Key())
	if err != nil || !added {
		t.Fatalf("Add: %v, added %v", err, added)
	}
	if err := b.Connect(addr); err != nil {
		t.Fatal(err)
	}
	if err := b.RememberPeers(addr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	st, err := b.WaitSynced(ctx, clone, 50*time.Millisecond, nil)
	if err != nil {
		t.Fatalf("WaitSynced: %v (%+v)", err, st)
	}
	if !st.Complete || st.Writers != 1 || st.Held != st.Length || st.Peers != 1 {
		t.Errorf("status %+v", st)
	}
	if data, err := clone.View().ReadFile(t.Context(), "/hello.txt"); err != nil || string(data) != "hi" {
		t.Fatalf("clone reads %q, %v", data, err)
	}
	if _, added, err := b.Add(t.Context(), orig.Key()); err != nil || added {
		t.Errorf("a second Add: %v, added %v", err, added)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopened, the directory replicates with its remembered peer by
	// itself: a new file arrives.
	if err := orig.View().WriteFile(t.Context(), "/later.txt", []byte("later"), 0o644); err != nil {
		t.Fatal(err)
	}
	b = online(t, dirB)
	if got := b.Dialing(); len(got) != 1 || !got[0].Equal(addr) {
		t.Errorf("dialing %v, want the remembered %v", got, addr)
	}
	clone, err = b.Get(t.Context(), orig.Key())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new file at the reopened clone", func() bool {
		data, err := clone.View().ReadFile(t.Context(), "/later.txt")
		return err == nil && string(data) == "later"
	})

	// A clone forgotten in the process that added it leaves no feeds.
	c := online(t, t.TempDir())
	if _, _, err := c.Add(t.Context(), orig.Key()); err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(addr); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the third peer to fetch the primary", func() bool {
		keys, _ := c.Store().List(t.Context())
		return slices.Contains(keys, orig.Key())
	})
	if err := c.Forget(t.Context(), orig.Key()); err != nil {
		t.Fatal(err)
	}
	if keys, err := c.Store().List(t.Context()); err != nil || len(keys) != 0 {
		t.Errorf("feeds left after Forget: %v, %v", keys, err)
	}
	if len(c.Keys()) != 0 {
		t.Errorf("co-drives after Forget: %v", c.Keys())
	}
	if err := c.Forget(t.Context(), orig.Key()); !errors.Is(err, node.ErrUnknown) {
		t.Errorf("Forget twice: %v", err)
	}
}

func TestWaitSyncedWithoutPeers(t *testing.T) {
	n := open(t, node.Config{Dir: t.TempDir(), Network: true})
	c, err := n.Create(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	var calls int
	st, err := n.WaitSynced(ctx, c, 0, func(node.SyncStatus) { calls++ })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitSynced with no peer: %v", err)
	}
	// Complete (the creator holds all of it), yet not synced: nobody
	// was there to say so.
	if !st.Complete || st.Peers != 0 || calls == 0 {
		t.Errorf("status %+v after %d progress calls", st, calls)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
