// Command notplugin is an ordinary program, not a plugin.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "notplugin: I only print this and exit")
	os.Exit(3)
}
