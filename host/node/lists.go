package node

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/sdk"
)

// readLines returns the lines of the file at path that are neither blank
// nor comments (#), trimmed, with their line numbers. A missing file has
// none.
func readLines(path string) (lines []string, numbers []int, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	for i, l := range strings.Split(string(data), "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
			numbers = append(numbers, i+1)
		}
	}
	return lines, numbers, nil
}

// loadKeys reads a list of co-drive keys. A malformed line is an error
// naming it: the list is only written by this package, so a bad line
// means damage the user should see rather than a co-drive silently
// dropped.
func loadKeys(path string) ([]sdk.FeedKey, error) {
	lines, numbers, err := readLines(path)
	if err != nil {
		return nil, err
	}
	keys := make([]sdk.FeedKey, 0, len(lines))
	for i, l := range lines {
		k, err := sdk.ParseFeedKey(l)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, numbers[i], err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func saveKeys(path string, keys []sdk.FeedKey) error {
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintln(&b, k)
	}
	return writeAtomic(path, b.Bytes())
}

// loadPeers reads a list of multiaddrs.
func loadPeers(path string) ([]ma.Multiaddr, error) {
	lines, numbers, err := readLines(path)
	if err != nil {
		return nil, err
	}
	addrs := make([]ma.Multiaddr, 0, len(lines))
	for i, l := range lines {
		a, err := ma.NewMultiaddr(l)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a multiaddr: %w", path, numbers[i], l, err)
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

func savePeers(path string, addrs []ma.Multiaddr) error {
	var b bytes.Buffer
	for _, a := range addrs {
		fmt.Fprintln(&b, a)
	}
	return writeAtomic(path, b.Bytes())
}

// writeAtomic replaces the file at path with data: written to a
// temporary file in the same directory, synced, then renamed over it, so
// that a crash leaves the old content or the new, never a part.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return err
	}
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced; not every
	// system can sync a directory, and the data is safe either way.
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
