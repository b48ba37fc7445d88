//go:build !linux

package disk

import "os"

// fdatasync flushes f to stable storage. Outside Linux it is a full fsync
// (on macOS, os.File.Sync asks the drive to flush its cache too).
func fdatasync(f *os.File) error {
	return f.Sync()
}
