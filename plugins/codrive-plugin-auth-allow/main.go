// Command codrive-plugin-auth-allow serves, as a codrive plugin, the auth
// policy that allows every request (package auth/allow).
package main

import (
	"github.com/codrive/codrive/auth/allow"
	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/sdk/plugin"
)

func main() {
	plugin.ServeAuthPolicy(plugin.Info{Name: "allow", Version: builtin.Version}, allow.Open)
}
