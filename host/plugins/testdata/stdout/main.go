// Command stdout prints to stdout before serving, which breaks the
// go-plugin handshake.
package main

import (
	"fmt"

	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/sdk/plugin"
)

func main() {
	fmt.Println("hello from a chatty plugin")
	plugin.ServeStorage(plugin.Info{Name: "stdout"}, builtin.OpenMemory)
}
