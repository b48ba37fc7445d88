//go:build !(darwin || dragonfly || freebsd || linux || netbsd || openbsd)

package disk

import (
	"errors"
	"fmt"
	"os"
	"runtime"
)

// tryLock fails: this platform has no flock, and a storage that cannot
// keep a second process out is not safe to open.
func tryLock(*os.File) (bool, error) {
	return false, fmt.Errorf("locking a storage directory is not implemented on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}
