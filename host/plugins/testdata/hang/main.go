// Command hang is a plugin binary that never completes its handshake.
package main

import "time"

func main() { time.Sleep(time.Hour) }
