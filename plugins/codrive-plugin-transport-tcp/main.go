// Command codrive-plugin-transport-tcp serves the TCP transport as a
// codrive plugin, for hosts that run transports out of process.
package main

import (
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
	"github.com/codrive/codrive/transports/tcp"
)

func main() {
	plugin.ServeTransport(plugin.Info{Name: "tcp", Version: "0.1.0"},
		func(plugin.Config) (sdk.Transport, error) { return tcp.New(), nil })
}
