// Command codrive-plugin-auth-invite serves, as a codrive plugin, the
// auth policy that admits whoever presents a drive's invite code (package
// auth/invite, whose documentation walks through writing a policy; its
// settings are "secret" or "secret-file").
//
// This is all a plugin's main needs: a name, a version, and the function
// that builds the policy from the host's settings. The host sends the
// settings once the plugin has started, and again after a restart.
package main

import (
	"github.com/codrive/codrive/auth/invite"
	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/sdk/plugin"
)

func main() {
	plugin.ServeAuthPolicy(plugin.Info{Name: "invite", Version: builtin.Version}, invite.Open)
}
