//go:build !linux

package main

import "os"

// fdatasync flushes f's data, as the disk storage does after each batch.
func fdatasync(f *os.File) error { return f.Sync() }
