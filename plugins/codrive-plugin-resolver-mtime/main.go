// Command codrive-plugin-resolver-mtime serves the last-writer-wins conflict
// resolver as a codrive plugin.
package main

import (
	"github.com/codrive/codrive/conflict/mtime"
	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

func main() {
	plugin.ServeResolver(plugin.Info{Name: "mtime", Version: builtin.Version}, func(plugin.Config) (sdk.Resolver, error) {
		return mtime.New(), nil
	})
}
