package plugin

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin/internal/pb"
)

// ServeStorage serves a storage plugin until the host stops it. open is called
// once the host sends its configuration, and again if the host restarts
// the plugin.
func ServeStorage(info Info, open func(Config) (sdk.Storage, error)) {
	serve(KindStorage, info, func(c Config) (any, error) { return open(c) })
}

// ServeTransport serves a transport plugin until the host stops it. If the
// transport also implements sdk.Discovery, add FeatureDiscovery to
// info.Features.
func ServeTransport(info Info, open func(Config) (sdk.Transport, error)) {
	serve(KindTransport, info, func(c Config) (any, error) { return open(c) })
}

// ServeResolver serves a conflict-resolver plugin until the host stops it.
func ServeResolver(info Info, open func(Config) (sdk.Resolver, error)) {
	serve(KindResolver, info, func(c Config) (any, error) { return open(c) })
}

// ServeAuthPolicy serves an auth-policy plugin until the host stops it.
func ServeAuthPolicy(info Info, open func(Config) (sdk.AuthPolicy, error)) {
	serve(KindAuth, info, func(c Config) (any, error) { return open(c) })
}

// stderr is the process's real standard error, kept before go-plugin
// replaces os.Stderr with a pipe the host does not log.
var stderr = os.Stderr

// Logger returns the logger a plugin should use: JSON on stderr, which the
// host re-levels and tags with the plugin's name.
func Logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Level:      hclog.Trace, // the host decides what to keep
		Output:     stderr,
		JSONFormat: true,
	})
}

// Slog returns a log/slog logger that writes what go-plugin expects from
// a plugin (hclog's JSON: @level, @message, @timestamp) to stderr, so that
// the host re-logs each record at its level. Serve makes it slog's
// default, for implementations that log through slog.
func Slog() *slog.Logger {
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				return slog.String("@level", strings.ToLower(a.Value.String()))
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	}))
}

func serve(kind Kind, info Info, open func(Config) (any, error)) {
	info.Kind = kind
	slog.SetDefault(Slog())
	srv := &server{info: info, open: open}
	go exitWithParent(os.Getppid())
	// CODRIVE_PLUGIN_CPUPROFILE starts the name of a CPU profile of the
	// plugin, written when the host stops it (plugins run in their own
	// process, out of reach of go test -cpuprofile). Kind, name and pid
	// complete it, so plugins and restarts don't overwrite each other.
	if prefix := os.Getenv("CODRIVE_PLUGIN_CPUPROFILE"); prefix != "" {
		path := fmt.Sprintf("%s.%s-%s.%d", prefix, kind, info.Name, os.Getpid())
		if f, err := os.Create(path); err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		VersionedPlugins: map[int]goplugin.PluginSet{
			ProtocolVersion: {string(kind): &grpcPlugin{kind: kind, srv: srv}},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, serverOptions...)...)
		},
		Logger: Logger(),
	})
}

// exitWithParent ends the plugin when the host that started it dies: the
// plugin is then adopted by another process and its parent pid changes.
// go-plugin stops plugins on a clean host exit, but not on a crash or
// SIGKILL of the host.
func exitWithParent(ppid int) {
	for range time.Tick(500 * time.Millisecond) {
		if os.Getppid() != ppid {
			Logger().Info("host process is gone; exiting")
			os.Exit(1)
		}
	}
}

// server is the plugin side of the Plugin service and holds the
// implementation once Init has made it.
type server struct {
	pb.UnimplementedPluginServer
	info Info
	open func(Config) (any, error)

	mu   sync.Mutex
	impl any
}

func (s *server) Info(context.Context, *pb.Empty) (*pb.InfoResponse, error) {
	return &pb.InfoResponse{Name: s.info.Name, Kind: string(s.info.Kind), Version: s.info.Version, Features: s.info.Features}, nil
}

func (s *server) Init(_ context.Context, req *pb.InitRequest) (*pb.Empty, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.impl != nil {
		return nil, toStatus(fmt.Errorf("plugin %s-%s: already initialized: %w", s.info.Kind, s.info.Name, sdk.ErrInvalid))
	}
	impl, err := s.open(req.Config)
	if err != nil {
		return nil, toStatus(fmt.Errorf("plugin %s-%s: init: %w", s.info.Kind, s.info.Name, err))
	}
	s.impl = impl
	slog.Info("plugin initialized", "kind", s.info.Kind, "name", s.info.Name, "version", s.info.Version)
	return &pb.Empty{}, nil
}

// get returns the implementation, or ErrNotInitialized before Init.
func (s *server) get() (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.impl == nil {
		return nil, toStatus(fmt.Errorf("plugin %s-%s: %w", s.info.Kind, s.info.Name, ErrNotInitialized))
	}
	return s.impl, nil
}

// NewTestServer returns a go-plugin plugin set serving impl in-process,
// for tests that exercise the gRPC adapters without starting a binary
// (with go-plugin's TestPluginGRPCConn).
func NewTestServer(kind Kind, impl any) goplugin.PluginSet {
	srv := &server{info: Info{Name: "test", Kind: kind}, impl: impl}
	return goplugin.PluginSet{string(kind): &grpcPlugin{kind: kind, srv: srv}}
}
