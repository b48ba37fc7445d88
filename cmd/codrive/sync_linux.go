package main

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data, as the disk storage does after each batch.
func fdatasync(f *os.File) error { return syscall.Fdatasync(int(f.Fd())) }
