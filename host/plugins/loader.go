// Package plugins turns plugin names into implementations of the sdk
// contracts: a builtin compiled into the host, or an external binary run
// through hashicorp/go-plugin. Callers get the same Go interface either
// way.
//
// A name resolves in this order: a name containing a path separator is the
// path of a plugin binary; a builtin of that kind and name; a binary named
// codrive-plugin-<kind>-<name> in the first plugin directory that has one.
//
// External plugins are supervised: if one crashes, the calls in flight
// fail with an error naming it, and the next call starts it again (after
// a backoff that grows with repeated crashes) and re-sends its Init
// configuration. Close stops every plugin process.
package plugins

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// BinaryPrefix starts the file name of every plugin binary:
// codrive-plugin-<kind>-<name>.
const BinaryPrefix = "codrive-plugin-"

// DefaultStartTimeout bounds how long a plugin may take to complete its
// handshake.
const DefaultStartTimeout = 10 * time.Second

// Builtin is an implementation compiled into the host.
type Builtin struct {
	Info plugin.Info
	// Open makes the implementation from its configuration. It returns
	// the contract of Info.Kind: sdk.Storage, sdk.Transport, sdk.Resolver
	// or sdk.AuthPolicy.
	Open func(plugin.Config) (any, error)
}

// Config configures a Loader.
type Config struct {
	// Builtins are the implementations compiled in.
	Builtins []Builtin
	// Dirs are searched in order for plugin binaries.
	Dirs []string
	// Logger receives the host's plugin events and every plugin's log
	// lines, under the plugin's name. Nil discards them.
	Logger hclog.Logger
	// StartTimeout bounds a plugin's handshake; zero means
	// DefaultStartTimeout.
	StartTimeout time.Duration
}

// Loader resolves plugin names and owns the plugin processes it starts.
type Loader struct {
	cfg Config

	mu       sync.Mutex
	running  []*external
	isClosed bool
}

// New returns a loader.
func New(cfg Config) *Loader {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	return &Loader{cfg: cfg}
}

// DefaultDirs returns the plugin directories used when none are given:
// each entry of $CODRIVE_PLUGIN_DIR (a path list), the directory of the
// running executable (where "go build -o bin/ ./cmd/codrive ./plugins/..."
// puts them), then the plugins directory under the user's config
// directory.
func DefaultDirs(getenv func(string) string) []string {
	var dirs []string
	if env := getenv("CODRIVE_PLUGIN_DIR"); env != "" {
		dirs = append(dirs, filepath.SplitList(env)...)
	}
	if exe, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(exe))
	}
	if cfg, err := os.UserConfigDir(); err == nil {
		dirs = append(dirs, filepath.Join(cfg, "codrive", "plugins"))
	}
	return dirs
}

// Dirs returns the plugin directories, in search order.
func (l *Loader) Dirs() []string { return slices.Clone(l.cfg.Dirs) }

// ErrUnknownPlugin: no builtin or binary goes by the name asked for.
var ErrUnknownPlugin = errors.New("unknown plugin")

// Storage returns the storage plugin called name, initialized with cfg.
func (l *Loader) Storage(ctx context.Context, name string, cfg plugin.Config) (sdk.Storage, error) {
	impl, ext, err := l.load(ctx, plugin.KindStorage, name, cfg)
	if err != nil {
		return nil, err
	}
	if ext != nil {
		return &supervisedStorage{ext: ext}, nil
	}
	return impl.(sdk.Storage), nil
}

// Resolver returns the conflict-resolver plugin called name.
func (l *Loader) Resolver(ctx context.Context, name string, cfg plugin.Config) (sdk.Resolver, error) {
	impl, ext, err := l.load(ctx, plugin.KindResolver, name, cfg)
	if err != nil {
		return nil, err
	}
	if ext != nil {
		return &supervisedResolver{ext: ext}, nil
	}
	return impl.(sdk.Resolver), nil
}

// AuthPolicy returns the auth-policy plugin called name.
func (l *Loader) AuthPolicy(ctx context.Context, name string, cfg plugin.Config) (sdk.AuthPolicy, error) {
	impl, ext, err := l.load(ctx, plugin.KindAuth, name, cfg)
	if err != nil {
		return nil, err
	}
	if ext != nil {
		return &supervisedAuth{ext: ext}, nil
	}
	return impl.(sdk.AuthPolicy), nil
}

// Transport returns the transport plugin called name. The result also
// implements sdk.Discovery if the transport does.
func (l *Loader) Transport(ctx context.Context, name string, cfg plugin.Config) (sdk.Transport, error) {
	impl, ext, err := l.load(ctx, plugin.KindTransport, name, cfg)
	if err != nil {
		return nil, err
	}
	if ext == nil {
		return impl.(sdk.Transport), nil
	}
	t := &supervisedTransport{ext: ext}
	if ext.info.Has(plugin.FeatureDiscovery) {
		return &supervisedDiscoveringTransport{t}, nil
	}
	return t, nil
}

// load resolves name and returns either a builtin implementation or a
// started external plugin.
func (l *Loader) load(ctx context.Context, kind plugin.Kind, name string, cfg plugin.Config) (any, *external, error) {
	if err := l.check(); err != nil {
		return nil, nil, err
	}
	if !strings.ContainsRune(name, os.PathSeparator) {
		if b, ok := l.builtin(kind, name); ok {
			impl, err := b.Open(cfg)
			if err != nil {
				return nil, nil, fmt.Errorf("%s plugin %q (builtin): %w", kind, name, err)
			}
			return impl, nil, nil
		}
	}
	path, err := l.find(kind, name)
	if err != nil {
		return nil, nil, err
	}
	if _, n, ok := parseBinaryName(filepath.Base(path)); ok {
		name = n // a path: name the plugin as its binary does
	}
	ext := &external{loader: l, kind: kind, name: name, path: path, cfg: maps.Clone(cfg)}
	// Registered before it starts, so that Close stops it even while its
	// start is under way.
	l.mu.Lock()
	if l.isClosed {
		l.mu.Unlock()
		return nil, nil, errClosed
	}
	l.running = append(l.running, ext)
	l.mu.Unlock()
	ext.mu.Lock()
	err = ext.start()
	if err == nil && ext.closed {
		err = fmt.Errorf("%s: %w", ext.label(), errClosed)
	}
	if err != nil {
		ext.stop()
		ext.closed = true
	}
	ext.mu.Unlock()
	if err != nil {
		return nil, nil, err
	}
	return nil, ext, nil
}

func (l *Loader) builtin(kind plugin.Kind, name string) (Builtin, bool) {
	for _, b := range l.cfg.Builtins {
		if b.Info.Kind == kind && b.Info.Name == name {
			return b, true
		}
	}
	return Builtin{}, false
}

// Find returns the plugin binary that name resolves to, ignoring
// builtins: name itself if it is a path, else the first
// codrive-plugin-<kind>-<name> in the plugin directories.
func (l *Loader) Find(kind plugin.Kind, name string) (string, error) {
	return l.find(kind, name)
}

// find locates the binary for name: a path, or a file in a plugin dir.
func (l *Loader) find(kind plugin.Kind, name string) (string, error) {
	if strings.ContainsRune(name, os.PathSeparator) {
		return name, checkExecutable(kind, name, name)
	}
	file := BinaryPrefix + string(kind) + "-" + name
	for _, dir := range l.cfg.Dirs {
		path := filepath.Join(dir, file)
		if _, err := os.Stat(path); err == nil {
			return path, checkExecutable(kind, name, path)
		}
	}
	var builtins []string
	for _, b := range l.cfg.Builtins {
		if b.Info.Kind == kind {
			builtins = append(builtins, b.Info.Name)
		}
	}
	sort.Strings(builtins)
	return "", fmt.Errorf("%w: no %s plugin named %q: the builtins are %s, and no %s was found in the plugin directories %s (add one with --plugin-dir or CODRIVE_PLUGIN_DIR)",
		ErrUnknownPlugin, kind, name, orNone(builtins), file, orNone(l.cfg.Dirs))
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "(none)"
	}
	return strings.Join(list, ", ")
}

// checkExecutable explains, before anything is started, why a plugin file
// can't be run.
func checkExecutable(kind plugin.Kind, name, path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w: %s plugin %q: %s does not exist", ErrUnknownPlugin, kind, name, path)
	case err != nil:
		return fmt.Errorf("%s plugin %q: %w", kind, name, err)
	case fi.IsDir():
		return fmt.Errorf("%s plugin %q: %s is a directory, not a plugin binary", kind, name, path)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%s plugin %q: %s is not executable (chmod +x it)", kind, name, path)
	}
	return nil
}

// Available describes one plugin the loader can resolve.
type Available struct {
	Info plugin.Info
	// Path is the binary, or "builtin".
	Path string
	// Err says why an external plugin could not be queried.
	Err error
}

// Available lists every builtin and every plugin binary in the plugin
// directories, starting each binary briefly to ask for its Info. A binary
// shadowed by a builtin or an earlier directory is listed too, so the
// listing explains what a name resolves to: the first entry of a kind and
// name wins.
func (l *Loader) Available(ctx context.Context) []Available {
	var out []Available
	for _, b := range l.cfg.Builtins {
		out = append(out, Available{Info: b.Info, Path: "builtin"})
	}
	for _, dir := range l.cfg.Dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			continue // a missing default directory is normal
		}
		for _, e := range entries {
			kind, name, ok := parseBinaryName(e.Name())
			if !ok || e.IsDir() {
				continue
			}
			path := filepath.Join(dir, e.Name())
			a := Available{Info: plugin.Info{Kind: kind, Name: name}, Path: path}
			if err := checkExecutable(kind, name, path); err != nil {
				a.Err = err
			} else {
				ext := &external{loader: l, kind: kind, name: name, path: path}
				qctx, cancel := context.WithTimeout(ctx, l.cfg.StartTimeout)
				err := ext.startClient(qctx)
				cancel()
				if err != nil {
					a.Err = err
				} else {
					a.Info = ext.info
				}
				ext.stop()
			}
			out = append(out, a)
		}
	}
	return out
}

// parseBinaryName splits codrive-plugin-<kind>-<name>.
func parseBinaryName(file string) (plugin.Kind, string, bool) {
	rest, ok := strings.CutPrefix(file, BinaryPrefix)
	if !ok {
		return "", "", false
	}
	kind, name, ok := strings.Cut(rest, "-")
	if !ok || name == "" || !slices.Contains(plugin.Kinds, plugin.Kind(kind)) {
		return "", "", false
	}
	return plugin.Kind(kind), name, true
}

// errClosed is returned once the loader or the plugin is closed; it
// matches sdk.ErrClosed, as the contracts require.
var errClosed = fmt.Errorf("plugin closed: %w", sdk.ErrClosed)

func (l *Loader) check() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.isClosed {
		return errClosed
	}
	return nil
}

// Close stops every plugin process the loader started. Implementations
// obtained from it fail afterwards.
func (l *Loader) Close() error {
	l.mu.Lock()
	running := l.running
	l.running, l.isClosed = nil, true
	l.mu.Unlock()
	for _, ext := range running {
		ext.close()
	}
	return nil
}
