// Package allowlist is the auth policy that admits the peers and writers
// listed in a file.
//
// The file holds one key a line, as 64 lowercase hex characters,
// optionally written as codrive://<hex>. A # starts a comment that runs
// to the end of the line; blank lines are ignored:
//
//	# Alice's laptop (peer key)
//	3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29
//	codrive://9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  # Bob's writer feed
//
// A request is allowed when its Peer key or its Writer key is listed.
// Listing a peer key admits any writer that peer asks for; listing a
// writer key admits that writer whichever peer brings the request.
//
// The file is read when the policy is opened, and again whenever it
// changes: every Authorize stats it (a few microseconds) and reads it
// again if its modification time, size or identity (a new file renamed
// over it, as editors do) differ from what was read last. A file
// modified in the last two seconds, or stamped in the future, is read
// on every call, because a second write within one tick of a coarse
// file-system clock could leave both its time and size unchanged.
//
// A file that can't be read or holds a malformed line is a
// configuration error: Open fails with an error wrapping sdk.ErrInvalid
// that names the line, and Authorize fails (and the host denies) until
// the file is fixed. Authorize never falls back to an older list.
package allowlist

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// racyWindow is how recently a file may have been modified for its stat
// to be trusted no further: longer than the coarsest file-system clock
// in common use (FAT's two seconds).
const racyWindow = 2 * time.Second

// key is a peer or writer key; both are 32 bytes.
type key = [sdk.KeySize]byte

// Policy allows the keys listed in a file. It is safe for concurrent
// calls.
type Policy struct {
	path string

	mu    sync.Mutex
	keys  map[key]struct{}
	stamp os.FileInfo // the file as it was when keys were read
	racy  bool        // stamp was too recent to rule out a later change
	loads int         // how many times the file was read, for tests
}

// New returns a policy that allows the keys listed in the file at path.
// It reads the file now, and fails with an error wrapping sdk.ErrInvalid
// if the file can't be read or a line is not a key.
func New(path string) (*Policy, error) {
	p := &Policy{path: path}
	fi, err := os.Stat(path)
	if err == nil {
		err = p.load(fi)
	}
	if err != nil {
		return nil, fmt.Errorf("allowlist: %w: %w", err, sdk.ErrInvalid)
	}
	return p, nil
}

// Open returns a policy configured by cfg:
//
//	file  the file of allowed keys (required)
func Open(cfg plugin.Config) (sdk.AuthPolicy, error) {
	path := cfg["file"]
	if path == "" {
		return nil, fmt.Errorf("allowlist: the \"file\" setting is required: %w", sdk.ErrInvalid)
	}
	p, err := New(path)
	if err != nil {
		return nil, err // not p: a nil *Policy would make a non-nil interface
	}
	return p, nil
}

// Authorize allows req if its Peer or Writer key is in the file, reading
// the file again first if it has changed. It fails if the file can no
// longer be read or has become malformed.
func (p *Policy) Authorize(_ context.Context, req sdk.AuthRequest) (sdk.AuthDecision, error) {
	// Stat outside the lock: it is the one system call every request
	// makes, and it needs nothing from the policy.
	fi, err := os.Stat(p.path)
	p.mu.Lock()
	defer p.mu.Unlock()
	if err == nil && (p.racy || !same(p.stamp, fi)) {
		err = p.load(fi)
	}
	if err != nil {
		// Forget the list, so that the next call tries again rather
		// than trusting a stamp of a file that is gone or broken.
		p.keys, p.stamp = nil, nil
		return sdk.AuthDecision{}, fmt.Errorf("allowlist: %w", err)
	}
	_, peer := p.keys[req.Peer]
	_, writer := p.keys[req.Writer]
	if peer || writer {
		return sdk.AuthDecision{Allow: true}, nil
	}
	return sdk.AuthDecision{Reason: fmt.Sprintf("peer %s… is not on the allow list", req.Peer.String()[:8])}, nil
}

// same reports whether two stats describe the same, unmodified file.
func same(a, b os.FileInfo) bool {
	return a != nil && b != nil && os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// load reads the keys from the file, which fi describes. It is called
// with p.mu held, or before p is shared.
func (p *Policy) load(fi os.FileInfo) error {
	// Refuse anything but a regular file before opening it: opening a
	// named pipe would block until someone writes to it.
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", p.path)
	}
	f, err := os.Open(p.path)
	if err != nil {
		return err
	}
	defer f.Close()
	// The stamp comes from the open file, so that it describes the bytes
	// read even if the file is replaced meanwhile.
	if fi, err = f.Stat(); err != nil {
		return err
	}
	data, err := io.ReadAll(f)
	if err != nil {
		return err
	}
	p.loads++
	keys, err := parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", p.path, err)
	}
	p.keys, p.stamp = keys, fi
	p.racy = time.Since(fi.ModTime()) < racyWindow
	return nil
}

// parse reads a key file, naming the first malformed line.
func parse(data []byte) (map[key]struct{}, error) {
	keys := make(map[key]struct{})
	for i, line := range strings.Split(string(data), "\n") {
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		k, err := parseKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		keys[k] = struct{}{}
	}
	return keys, nil
}

// parseKey parses one key, strictly: keys are printed in lowercase, so
// anything else is more likely a mistake than a key.
func parseKey(s string) (key, error) {
	var k key
	h := strings.TrimPrefix(s, sdk.URIScheme)
	if len(h) != hex.EncodedLen(len(k)) || strings.ContainsFunc(h, func(r rune) bool {
		return (r < '0' || r > '9') && (r < 'a' || r > 'f')
	}) {
		return k, fmt.Errorf("%q is not a key: want %d lowercase hex characters, optionally after %s", s, hex.EncodedLen(len(k)), sdk.URIScheme)
	}
	hex.Decode(k[:], []byte(h)) // checked above; can't fail
	// A request with unset keys would match it, and no real peer or feed
	// has it: it can only be a placeholder left in the file.
	if k == (key{}) {
		return k, fmt.Errorf("the all-zero key is not a peer or writer key")
	}
	return k, nil
}
