// Command codrive-plugin-storage-disk serves the disk storage as a codrive
// plugin. The host passes the storage directory as the "dir" setting.
package main

import (
	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/sdk/plugin"
)

func main() {
	plugin.ServeStorage(plugin.Info{Name: "disk", Version: builtin.Version, Features: []string{plugin.FeaturePersistent}}, builtin.OpenDisk)
}
