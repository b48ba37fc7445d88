// Command codrive-plugin-auth-allowlist serves, as a codrive plugin, the
// auth policy that allows the peers and writers listed in a file (package
// auth/allowlist; its setting "file" names the file).
package main

import (
	"github.com/codrive/codrive/auth/allowlist"
	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/sdk/plugin"
)

func main() {
	plugin.ServeAuthPolicy(plugin.Info{Name: "allowlist", Version: builtin.Version}, allowlist.Open)
}
