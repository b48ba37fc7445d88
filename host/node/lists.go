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

// readList returns the content of the list file at path. A missing file
// is an empty list.
func readList(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return data, err
}

// listLines returns the lines of a list file's content that are neither
// blank nor comments (#), trimmed, with their line numbers.
func listLines(data []byte) (lines []string, numbers []int) {
	for i, l := range strings.Split(string(data), "\n") {
		if l, _, _ = strings.Cut(l, "#"); strings.TrimSpace(l) != "" {
			lines = append(lines, strings.TrimSpace(l))
			numbers = append(numbers, i+1)
		}
	}
	return lines, numbers
}

// loadKeys reads a list of co-drive keys. A malformed line is an error
// naming it: the list is only written by this package, so a bad line
// means damage the user should see rather than a co-drive silently
// dropped.
func loadKeys(path string) ([]sdk.FeedKey, error) {
	data, err := readList(path)
	if err != nil {
		return nil, err
	}
	return parseKeys(path, data)
}

// parseKeys parses the content of a list of co-drive keys, the file
// name for errors. See loadKeys.
func parseKeys(name string, data []byte) ([]sdk.FeedKey, error) {
	lines, numbers := listLines(data)
	keys := make([]sdk.FeedKey, 0, len(lines))
	for i, l := range lines {
		k, err := sdk.ParseFeedKey(l)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, numbers[i], err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

func saveKeys(path string, keys []sdk.FeedKey) error {
	return writeAtomic(path, formatKeys(keys))
}

// formatKeys returns the content of a list of co-drive keys, one a line.
func formatKeys(keys []sdk.FeedKey) []byte {
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintln(&b, k)
	}
	return b.Bytes()
}

// loadPeers reads a list of multiaddrs.
func loadPeers(path string) ([]ma.Multiaddr, error) {
	data, err := readList(path)
	if err != nil {
		return nil, err
	}
	return parsePeers(path, data)
}

// parsePeers parses the content of a list of multiaddrs, the file name
// for errors.
func parsePeers(name string, data []byte) ([]ma.Multiaddr, error) {
	lines, numbers := listLines(data)
	addrs := make([]ma.Multiaddr, 0, len(lines))
	for i, l := range lines {
		a, err := ma.NewMultiaddr(l)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not a multiaddr: %w", name, numbers[i], l, err)
		}
		if !listable(a) {
			// Such as /dns/ /, whose value is a space: read, it could
			// not be written again, and every later save would fail.
			return nil, fmt.Errorf("%s:%d: %q is a multiaddr the list can't hold: written, it would read back as %q", name, numbers[i], l, listText(a))
		}
		addrs = append(addrs, a)
	}
	return addrs, nil
}

func savePeers(path string, addrs []ma.Multiaddr) error {
	data, err := formatPeers(addrs)
	if err != nil {
		return err
	}
	return writeAtomic(path, data)
}

// formatPeers returns the content of a list of multiaddrs, one a line.
// It refuses, with an error wrapping ErrAddress and sdk.ErrInvalid, an
// address that is not listable, rather than write a line that reads
// back as another address or as none, changing the list silently or
// stopping the node from opening.
func formatPeers(addrs []ma.Multiaddr) ([]byte, error) {
	var b bytes.Buffer
	for _, a := range addrs {
		if !listable(a) {
			return nil, fmt.Errorf("%w: %q can't be kept in the list of peers: %w", ErrAddress, a.String(), sdk.ErrInvalid)
		}
		b.WriteString(a.String())
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// listable reports whether a, written as a line of a list, reads back as
// a: a component such as /unix or /dns can hold a newline, a # or
// spaces at its end, which listLines cuts.
func listable(a ma.Multiaddr) bool {
	s := a.String()
	back, err := ma.NewMultiaddr(s)
	return listText(a) == s && err == nil && back.Equal(a)
}

// listText returns what a list reads of a line holding a's text, or ""
// if not one line.
func listText(a ma.Multiaddr) string {
	lines, _ := listLines([]byte(a.String()))
	if len(lines) != 1 {
		return ""
	}
	return lines[0]
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
