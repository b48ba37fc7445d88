// Command codrive-plugin-storage-memory serves the memory storage as a
// codrive plugin.
package main

import (
	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/sdk/plugin"
)

func main() {
	plugin.ServeStorage(plugin.Info{Name: "memory", Version: builtin.Version}, builtin.OpenMemory)
}
