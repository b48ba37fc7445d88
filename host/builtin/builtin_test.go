package builtin_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/conformance/authtest"
	"github.com/codrive/codrive/conformance/authtest/shipped"
	"github.com/codrive/codrive/conformance/resolvertest"
	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/host/plugins"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// TestResolvers: the builtin resolvers are listed under their names and
// pass the resolver suite as the loader hands them out.
func TestResolvers(t *testing.T) {
	tests := []struct {
		name string
		opts resolvertest.Options
	}{
		{"mtime", resolvertest.Options{Causal: true}},
		{"vclock", resolvertest.Options{Causal: true, CausalUnderSkew: true}},
	}
	l := plugins.New(plugins.Config{Builtins: builtin.Plugins()})
	t.Cleanup(func() { l.Close() })
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, ok := find(plugin.KindResolver, tt.name)
			if !ok {
				t.Fatalf("no builtin resolver %q", tt.name)
			}
			if diff := cmp.Diff(plugin.Info{Kind: plugin.KindResolver, Name: tt.name, Version: builtin.Version}, info); diff != "" {
				t.Errorf("Info (-want +got):\n%s", diff)
			}
			resolvertest.Run(t, func(t *testing.T) sdk.Resolver {
				r, err := l.Resolver(t.Context(), tt.name, nil)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}, tt.opts)
		})
	}
}

// TestAuthPolicies: the builtin auth policies are listed under their
// names and pass the auth suite as the loader hands them out, opened
// from configuration.
func TestAuthPolicies(t *testing.T) {
	l := plugins.New(plugins.Config{Builtins: builtin.Plugins()})
	t.Cleanup(func() { l.Close() })
	for _, name := range shipped.Names {
		t.Run(name, func(t *testing.T) {
			info, ok := find(plugin.KindAuth, name)
			if !ok {
				t.Fatalf("no builtin auth policy %q", name)
			}
			if diff := cmp.Diff(plugin.Info{Kind: plugin.KindAuth, Name: name, Version: builtin.Version}, info); diff != "" {
				t.Errorf("Info (-want +got):\n%s", diff)
			}
			h := shipped.Harness(t, name)
			h.Open = func(t *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error) {
				return l.AuthPolicy(t.Context(), name, cfg)
			}
			authtest.Run(t, h)
		})
	}
}

// TestAuthPoliciesListed: every auth builtin is one the suite knows,
// so none goes unchecked.
func TestAuthPoliciesListed(t *testing.T) {
	var got []string
	for _, b := range builtin.Plugins() {
		if b.Info.Kind == plugin.KindAuth {
			got = append(got, b.Info.Name)
		}
	}
	if diff := cmp.Diff(shipped.Names, got); diff != "" {
		t.Errorf("auth builtins (-shipped +builtin):\n%s", diff)
	}
}

// find returns the Info of the builtin of that kind and name.
func find(kind plugin.Kind, name string) (plugin.Info, bool) {
	for _, b := range builtin.Plugins() {
		if b.Info.Kind == kind && b.Info.Name == name {
			return b.Info, true
		}
	}
	return plugin.Info{}, false
}

// TestUniqueNames: no two builtins share a kind and name, which would
// make one of them unreachable.
func TestUniqueNames(t *testing.T) {
	seen := map[string]bool{}
	for _, b := range builtin.Plugins() {
		key := string(b.Info.Kind) + "/" + b.Info.Name
		if seen[key] {
			t.Errorf("two builtins named %s", key)
		}
		seen[key] = true
	}
}
