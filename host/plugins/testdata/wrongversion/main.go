// Command wrongversion serves the storage contract under a plugin protocol
// version no host speaks.
package main

import (
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/codrive/codrive/sdk/plugin"
	"github.com/codrive/codrive/storage/memory"
)

func main() {
	hs := plugin.Handshake
	hs.ProtocolVersion = 99
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: map[int]goplugin.PluginSet{99: plugin.NewTestServer(plugin.KindStorage, memory.New())},
	})
}
