// Command codrive-plugin-resolver-vclock serves the causal conflict
// resolver as a codrive plugin.
package main

import (
	"github.com/codrive/codrive/conflict/vclock"
	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

func main() {
	plugin.ServeResolver(plugin.Info{Name: "vclock", Version: builtin.Version}, func(plugin.Config) (sdk.Resolver, error) {
		return vclock.New(), nil
	})
}
