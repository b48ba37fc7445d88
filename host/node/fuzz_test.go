package node

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/sdk"
)

// The lists of co-drives and peers are read from files in the data
// directory, which other programs, editors and crashes can leave in any
// state; these fuzz targets check that whatever they hold is either read
// faithfully or refused with an error naming the bad line.

// listSeeds are list files valid and invalid, for both lists.
var listSeeds = []string{
	"",
	"\n",
	"# nothing yet\n\n   \n\t# still nothing\n",
	"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29\n",
	"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
	"codrive://9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  # Bob\r\n" +
		"3B6A27BCCEB6A42D62A3A8D02A6F0D73653215771DE243A63AC048A18B59DA29\r\n",
	"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da2\n",   // short
	"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29a\n", // long
	"zz6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29\n",  // not hex
	"\ufeff3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29\n",
	"/ip4/127.0.0.1/tcp/4100\n",
	"/ip4/127.0.0.1/tcp/4100\n/ip6/::1/tcp/4100 # loopback\n/dns4/example.com/tcp/4100\n",
	"/ip4/1.2.3.4/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N\n",
	"/dns4/a#b/tcp/1\n",
	"/unix/tmp/codrive.sock\n",
	"/ip4/127.0.0.1/tcp/99999\n",
	"/ip4/300.0.0.1/tcp/1\n",
	"ip4/127.0.0.1\n",
	"/\n",
	"/ip6zone/x/ip6/fe80::1/tcp/1\n",
	"/dns4/a\u00a0\n",
	"\x00\xff\n\r\n",
}

// FuzzKeys: a list of co-drive keys either parses into keys that write
// back as a list that reads the same, dropping no line, or fails naming
// its first malformed line; and any keys written read back.
func FuzzKeys(f *testing.F) {
	for _, s := range listSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var keys []sdk.FeedKey
		var err error
		checkAlloc(t, len(data), func() { keys, err = parseKeys("codrives", data) })
		checkList(t, data, err, len(keys), func(l string) error { _, err := sdk.ParseFeedKey(l); return err })
		if err == nil {
			roundTripKeys(t, keys)
		}

		// The writer's side: any keys, here cut from data, read back.
		var written []sdk.FeedKey
		for k := range slices.Chunk(data, sdk.KeySize) {
			var key sdk.FeedKey
			copy(key[:], k)
			written = append(written, key)
		}
		roundTripKeys(t, written)
	})
}

// roundTripKeys checks that keys, written as a list, read back the same,
// and that the list is written the same again.
func roundTripKeys(t *testing.T, keys []sdk.FeedKey) {
	t.Helper()
	text := formatKeys(keys)
	again, err := parseKeys("codrives", text)
	if err != nil {
		t.Fatalf("parseKeys(formatKeys(%v)): %v", keys, err)
	}
	if !slices.Equal(again, keys) {
		t.Fatalf("parseKeys(formatKeys(%v)) = %v", keys, again)
	}
	if text2 := formatKeys(again); !bytes.Equal(text2, text) {
		t.Fatalf("formatKeys is not stable: %q then %q", text, text2)
	}
}

// FuzzPeers: a list of multiaddrs either parses into addresses that
// write back as a list that reads the same, dropping no line, or fails
// naming its first malformed line (one that is not a multiaddr, or one
// that could not be written back); and an address given on the command
// line, once remembered, is either read back unchanged or refused by the
// writer, never written as a line that reads differently.
func FuzzPeers(f *testing.F) {
	for _, s := range listSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var addrs []ma.Multiaddr
		var err error
		checkAlloc(t, len(data), func() { addrs, err = parsePeers("peers", data) })
		checkList(t, data, err, len(addrs), func(l string) error {
			a, err := ma.NewMultiaddr(l)
			if err == nil && !listable(a) {
				err = errors.New("not listable")
			}
			return err
		})
		if err == nil {
			if err := roundTripPeers(addrs, true); err != nil {
				t.Fatalf("a list read from %q: %v", data, err)
			}
		}

		// The writer's side: an address as the command line parses it
		// (RememberPeers keeps what a clone was given), and one from
		// bytes.
		if a, err := ma.NewMultiaddr(string(data)); err == nil {
			if err := roundTripPeers([]ma.Multiaddr{a}, false); err != nil {
				t.Fatalf("the address %q: %v", data, err)
			}
		}
		if a, err := ma.NewMultiaddrBytes(data); err == nil {
			if err := roundTripPeers([]ma.Multiaddr{a}, false); err != nil {
				t.Fatalf("the address of bytes %x: %v", data, err)
			}
		}
	})
}

// roundTripPeers checks that addrs, written as a list, read back as the
// same addresses, and that the list is written the same again. The
// writer may refuse addresses unless mustWrite, as for addresses read
// from a list: the node must be able to save again what it loaded.
func roundTripPeers(addrs []ma.Multiaddr, mustWrite bool) error {
	text, err := formatPeers(addrs)
	if err != nil {
		if mustWrite {
			return fmt.Errorf("not written: %v", err)
		}
		return nil
	}
	again, err := parsePeers("peers", text)
	if err != nil {
		return fmt.Errorf("written as %q, which reads back as an error: %v", text, err)
	}
	if !slices.EqualFunc(again, addrs, ma.Multiaddr.Equal) {
		return fmt.Errorf("written as %q, which reads back as %v", text, again)
	}
	text2, err := formatPeers(again)
	if err != nil || !bytes.Equal(text2, text) {
		return fmt.Errorf("written as %q, then as %q, %v", text, text2, err)
	}
	return nil
}

// checkList checks the outcome of parsing the list data into n items:
// no line dropped if it parsed, or an error naming the first line that
// valid rejects.
func checkList(t *testing.T, data []byte, err error, n int, valid func(string) error) {
	t.Helper()
	var lines []string
	var numbers []int
	for i, l := range strings.Split(string(data), "\n") {
		if c := strings.IndexByte(l, '#'); c >= 0 {
			l = l[:c]
		}
		if l = strings.TrimSpace(l); l != "" {
			lines, numbers = append(lines, l), append(numbers, i+1)
		}
	}
	if err == nil {
		if n != len(lines) {
			t.Fatalf("%q: %d items from %d lines", data, n, len(lines))
		}
		return
	}
	for i, l := range lines {
		if valid(l) == nil {
			continue
		}
		if want := fmt.Sprintf(":%d: ", numbers[i]); !strings.Contains(err.Error(), want) {
			t.Fatalf("%q: error %q does not name line %d, the first bad one", data, err, numbers[i])
		}
		return
	}
	t.Fatalf("%q: error %q, but every line is valid", data, err)
}

// Allocation bounds: reading n bytes may allocate allocPerByte*n plus
// allocSlack bytes at most. Cutting a list into lines costs a string
// header (16 bytes) and a line number (8) for each, so the factor is
// well above 1; what it rules out is a parser trusting a count or a
// length and allocating for it before the bytes are there.
const (
	allocPerByte = 64
	allocSlack   = 64 << 10
)

// checkAlloc fails t if f allocates more than the bound for n bytes.
// The heap is measured again before failing, up to three times: another
// test's goroutine allocating meanwhile would not do so every time,
// while a parser allocating too much does.
func checkAlloc(t *testing.T, n int, f func()) {
	t.Helper()
	limit := uint64(allocPerByte*n + allocSlack)
	least := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		if least = min(least, after.TotalAlloc-before.TotalAlloc); least <= limit {
			return
		}
	}
	t.Fatalf("parsing %d bytes allocated %d bytes, over %d", n, least, limit)
}

// TestFormatPeers: the writer keeps the addresses a list can hold and
// refuses those it can't, which FuzzPeers found written as lines that
// read back as other addresses.
func TestFormatPeers(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"/ip4/127.0.0.1/tcp/4100", true},
		{"/ip6/::1/tcp/4100", true},
		{"/dns4/example.com/tcp/4100", true},
		{"/unix/tmp/codrive.sock", true},
		{"/ip4/1.2.3.4/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", true},
		{"/unix/tmp/codrive.sock\n", false},         // two lines
		{"/dns4/a#b/tcp/1", false},                  // read back as /dns4/a
		{"/dns4/a\u00a0", false},                    // read back as /dns4/a
		{"/unix/a ", false},                         // read back as /unix/a
		{"/dns4/#/tcp/1", false},                    // read back as /dns4/, an error
		{"/unix/x\n/ip4/127.0.0.1/tcp/4100", false}, // two addresses
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.addr), func(t *testing.T) {
			a, err := ma.NewMultiaddr(tt.addr)
			if err != nil {
				t.Fatalf("NewMultiaddr: %v", err)
			}
			data, err := formatPeers([]ma.Multiaddr{a})
			if !tt.ok {
				if err == nil || !errors.Is(err, ErrAddress) || !errors.Is(err, sdk.ErrInvalid) {
					t.Fatalf("formatPeers = %q, %v; want an error wrapping ErrAddress and sdk.ErrInvalid", data, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("formatPeers: %v", err)
			}
			if err := roundTripPeers([]ma.Multiaddr{a}, true); err != nil {
				t.Fatal(err)
			}
		})
	}
}
