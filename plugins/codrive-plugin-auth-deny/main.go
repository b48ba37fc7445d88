// Command codrive-plugin-auth-deny serves, as a codrive plugin, the auth
// policy that denies every request (package auth/deny).
package main

import (
	"github.com/codrive/codrive/auth/deny"
	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/sdk/plugin"
)

func main() {
	plugin.ServeAuthPolicy(plugin.Info{Name: "deny", Version: builtin.Version}, deny.Open)
}
