package plugins_test

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/conformance/resolvertest"
	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/host/plugins"
	"github.com/codrive/codrive/internal/plugintest"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

const (
	mtimeResolverPlugin  = "github.com/codrive/codrive/plugins/codrive-plugin-resolver-mtime"
	vclockResolverPlugin = "github.com/codrive/codrive/plugins/codrive-plugin-resolver-vclock"
)

// resolverPlugins are the resolver plugin binaries and what each
// promises the suite.
var resolverPlugins = []struct {
	name string
	pkg  string
	opts resolvertest.Options
}{
	{"mtime", mtimeResolverPlugin, resolvertest.Options{Causal: true}},
	{"vclock", vclockResolverPlugin, resolvertest.Options{Causal: true, CausalUnderSkew: true}},
}

// TestResolverConformance runs the resolver suite against each resolver
// through its plugin binary, found by name in a plugin directory. A
// resolver keeps no state, so one plugin process serves all of a
// resolver's subtests: that keeps the suite quick under -race.
func TestResolverConformance(t *testing.T) {
	for _, rp := range resolverPlugins {
		t.Run(rp.name, func(t *testing.T) {
			bin := plugintest.Build(t, rp.pkg)
			// No builtins, so that the name can only mean the binary.
			l := newLoader(t, plugins.Config{Builtins: []plugins.Builtin{}, Dirs: []string{filepath.Dir(bin)}})
			r, err := l.Resolver(t.Context(), rp.name, nil)
			if err != nil {
				t.Fatal(err)
			}
			resolvertest.Run(t, func(*testing.T) sdk.Resolver { return r }, rp.opts)
		})
	}
}

// TestResolverPluginsListed: the resolver binaries describe themselves as
// the builtins they serve do.
func TestResolverPluginsListed(t *testing.T) {
	var dir string
	for _, rp := range resolverPlugins {
		dir = filepath.Dir(plugintest.Build(t, rp.pkg)) // one directory for all
	}
	l := newLoader(t, plugins.Config{Builtins: []plugins.Builtin{}, Dirs: []string{dir}})
	got := map[string]plugin.Info{}
	for _, a := range l.Available(t.Context()) {
		if a.Err != nil {
			t.Errorf("%s: %v", a.Path, a.Err)
			continue
		}
		if a.Info.Kind == plugin.KindResolver {
			got[a.Info.Name] = plugin.Info{Kind: a.Info.Kind, Name: a.Info.Name, Version: a.Info.Version}
		}
	}
	want := map[string]plugin.Info{}
	for _, b := range builtin.Plugins() {
		if b.Info.Kind == plugin.KindResolver {
			want[b.Info.Name] = b.Info
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("resolver plugins against builtins (-builtin +plugin):\n%s", diff)
	}
}
