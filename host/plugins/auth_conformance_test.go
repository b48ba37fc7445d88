package plugins_test

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/conformance/authtest"
	"github.com/codrive/codrive/conformance/authtest/shipped"
	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/host/plugins"
	"github.com/codrive/codrive/internal/plugintest"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// authPluginPkg is the import path of the plugin binary of the auth
// policy called name.
func authPluginPkg(name string) string {
	return "github.com/codrive/codrive/plugins/codrive-plugin-auth-" + name
}

// TestAuthConformance runs the auth suite against each shipped policy
// through its plugin binary, found by name in a plugin directory. Every
// policy the suite opens is a plugin process of its own, started by a
// loader that stops it when the subtest that opened it ends, so that
// processes don't pile up over the suite.
func TestAuthConformance(t *testing.T) {
	for _, name := range shipped.Names {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Dir(plugintest.Build(t, authPluginPkg(name)))
			h := shipped.Harness(t, name)
			h.Open = func(t *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error) {
				// No builtins, so that the name can only mean the binary.
				l := newLoader(t, plugins.Config{Builtins: []plugins.Builtin{}, Dirs: []string{dir}})
				return l.AuthPolicy(t.Context(), name, cfg)
			}
			authtest.Run(t, h)
		})
	}
}

// TestAuthPluginsListed: the auth binaries describe themselves as the
// builtins they serve do.
func TestAuthPluginsListed(t *testing.T) {
	var dir string
	for _, name := range shipped.Names {
		dir = filepath.Dir(plugintest.Build(t, authPluginPkg(name))) // one directory for all
	}
	l := newLoader(t, plugins.Config{Builtins: []plugins.Builtin{}, Dirs: []string{dir}})
	got := map[string]plugin.Info{}
	for _, a := range l.Available(t.Context()) {
		if a.Err != nil {
			t.Errorf("%s: %v", a.Path, a.Err)
			continue
		}
		if a.Info.Kind == plugin.KindAuth {
			got[a.Info.Name] = plugin.Info{Kind: a.Info.Kind, Name: a.Info.Name, Version: a.Info.Version}
		}
	}
	want := map[string]plugin.Info{}
	for _, b := range builtin.Plugins() {
		if b.Info.Kind == plugin.KindAuth {
			want[b.Info.Name] = b.Info
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("auth plugins against builtins (-builtin +plugin):\n%s", diff)
	}
}
