// Package plugin serves the sdk contracts from a separate process, and
// connects to such processes, over hashicorp/go-plugin and gRPC.
//
// A plugin is a binary named codrive-plugin-<kind>-<name> whose main
// calls one Serve helper:
//
//	func main() {
//		plugin.ServeStorage(plugin.Info{Name: "mystore", Version: "0.1.0"},
//			func(cfg plugin.Config) (sdk.Storage, error) {
//				return mystore.Open(cfg["dir"])
//			})
//	}
//
// The host starts the binary, negotiates the protocol version, calls Init
// with its configuration and then uses the contract through a client
// adapter that implements the same Go interface as a builtin, so the host
// cannot tell the two apart. Errors keep their identity across the
// boundary: errors.Is(err, sdk.ErrNotFound) works on the host side for an
// error the plugin wrapped around sdk.ErrNotFound.
//
// The plugin logs through go-hclog as JSON on stderr; the host re-logs
// each line at its level under the plugin's name. A plugin exits by
// itself when its host process dies.
package plugin

import (
	"context"
	"errors"
	"fmt"
	"slices"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin/internal/pb"
)

// Kind is one of the four contracts a plugin can implement.
type Kind string

// The plugin kinds.
const (
	KindStorage   Kind = "storage"
	KindTransport Kind = "transport"
	KindResolver  Kind = "resolver"
	KindAuth      Kind = "auth"
)

// Kinds lists every kind, in a stable order.
var Kinds = []Kind{KindStorage, KindTransport, KindResolver, KindAuth}

// ProtocolVersion is the newest version of the plugin protocol this
// package speaks. go-plugin negotiates it in the handshake.
const ProtocolVersion = 1

// Handshake is the go-plugin handshake shared by the host and every
// plugin. The cookie only tells a plugin binary that it was started by a
// codrive host, not a person; it is not a secret.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   "CODRIVE_PLUGIN",
	MagicCookieValue: "8d0b3f7e-codrive-plugin-protocol",
}

// MaxMessageSize bounds one gRPC message either way. A storage Write
// carries a whole batch, so it is sized for batches of large blocks;
// block reads stream in smaller chunks.
const MaxMessageSize = 256 << 20

// flowWindow is the HTTP/2 flow-control window of plugin connections.
// gRPC starts at 64 KiB, which stalls every batch-sized message on a
// window update; the peer is a local process, so memory, not the network,
// is what the window spends.
const flowWindow = 4 << 20

// ioBuffer is the size of each connection's read and write buffers, so
// that a batch-sized message takes a few syscalls rather than dozens.
const ioBuffer = 512 << 10

// The options both sides use: message size limits, flow windows and I/O
// buffers.
var (
	serverOptions = []grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize),
		grpc.InitialWindowSize(flowWindow), grpc.InitialConnWindowSize(flowWindow),
		grpc.ReadBufferSize(ioBuffer), grpc.WriteBufferSize(ioBuffer),
	}
	// DialOptions are the options the host dials plugins with.
	DialOptions = []grpc.DialOption{
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageSize), grpc.MaxCallSendMsgSize(MaxMessageSize)),
		grpc.WithInitialWindowSize(flowWindow), grpc.WithInitialConnWindowSize(flowWindow),
		grpc.WithReadBufferSize(ioBuffer), grpc.WithWriteBufferSize(ioBuffer),
	}
)

// Info describes a plugin.
type Info struct {
	// Name is the plugin's name within its kind, such as "disk".
	Name string
	// Kind is filled in by the Serve helper.
	Kind Kind
	// Version is the plugin's own version.
	Version string
	// Features lists optional capabilities, such as "discovery" for a
	// transport that implements sdk.Discovery.
	Features []string
}

// Has reports whether the plugin has a feature.
func (i Info) Has(feature string) bool { return slices.Contains(i.Features, feature) }

// Config is the host's configuration for a plugin, passed to its factory
// on Init: for example "dir", the data directory of a storage.
type Config map[string]string

// VersionedPlugins returns the plugin sets to serve or request for kind,
// by protocol version.
func VersionedPlugins(kind Kind) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		ProtocolVersion: {string(kind): &grpcPlugin{kind: kind}},
	}
}

// grpcPlugin is the go-plugin glue for one kind. On the plugin side srv
// serves it; on the host side it makes a *Client.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	kind Kind
	srv  *server
}

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	if p.srv == nil {
		return errors.New("codrive plugin: no implementation to serve")
	}
	pb.RegisterPluginServer(s, p.srv)
	switch p.kind {
	case KindStorage:
		pb.RegisterStorageServer(s, &storageServer{srv: p.srv})
	case KindTransport:
		pb.RegisterTransportServer(s, newTransportServer(p.srv))
	case KindResolver:
		pb.RegisterResolverServer(s, &resolverServer{srv: p.srv})
	case KindAuth:
		pb.RegisterAuthPolicyServer(s, &authServer{srv: p.srv})
	default:
		return fmt.Errorf("codrive plugin: unknown kind %q", p.kind)
	}
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{kind: p.kind, conn: conn, plugin: pb.NewPluginClient(conn)}, nil
}

// Client is the host's connection to one running plugin.
type Client struct {
	kind   Kind
	conn   *grpc.ClientConn
	plugin pb.PluginClient
}

// Info asks the plugin who it is.
func (c *Client) Info(ctx context.Context) (Info, error) {
	r, err := c.plugin.Info(ctx, &pb.Empty{})
	if err != nil {
		return Info{}, fromCall(ctx, err)
	}
	return Info{Name: r.Name, Kind: Kind(r.Kind), Version: r.Version, Features: r.Features}, nil
}

// Init hands the plugin its configuration. Contract calls fail until it
// has succeeded.
func (c *Client) Init(ctx context.Context, cfg Config) error {
	_, err := c.plugin.Init(ctx, &pb.InitRequest{Config: cfg})
	return fromCall(ctx, err)
}

// Storage returns the storage the plugin serves.
func (c *Client) Storage() sdk.Storage { return &storageClient{c: pb.NewStorageClient(c.conn)} }

// Resolver returns the resolver the plugin serves.
func (c *Client) Resolver() sdk.Resolver { return &resolverClient{c: pb.NewResolverClient(c.conn)} }

// AuthPolicy returns the auth policy the plugin serves.
func (c *Client) AuthPolicy() sdk.AuthPolicy { return &authClient{c: pb.NewAuthPolicyClient(c.conn)} }

// Transport returns the transport the plugin serves. If info lists the
// "discovery" feature, the result also implements sdk.Discovery.
func (c *Client) Transport(info Info) sdk.Transport {
	t := &transportClient{c: pb.NewTransportClient(c.conn)}
	if info.Has(FeatureDiscovery) {
		return &discoveringTransportClient{transportClient: t}
	}
	return t
}

// Features a plugin can list in its Info.
const (
	// FeatureDiscovery marks a transport that implements sdk.Discovery.
	FeatureDiscovery = "discovery"
	// FeaturePersistent marks a storage whose data survives a restart of
	// its process. The host restarts a crashed storage plugin only if it
	// has this feature; restarting one that kept its data in memory
	// would silently hand out an empty storage.
	FeaturePersistent = "persistent"
)
