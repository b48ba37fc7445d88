package allowlist

import (
	"encoding/hex"
	"fmt"
	"maps"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/codrive/codrive/sdk"
)

// FuzzParse: any allowlist file either parses into keys, each from a
// line that holds exactly its canonical text (lowercase hex, optionally
// after codrive://), none dropped, that a file written back lists the
// same; or fails naming its first malformed line. Parsing n bytes
// allocates in proportion to n.
func FuzzParse(f *testing.F) {
	const (
		alice = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
		bob   = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	)
	for _, s := range []string{
		"",
		"\n",
		"# nobody yet\n\n   \n\t# still nobody\n",
		alice + "\n",
		alice,
		alice + "\r\n" + bob + "\r\n",
		sdk.URIScheme + alice + " # alice\n\t" + bob + "#bob",
		alice + "\n" + alice + "\n",
		"\u00a0" + alice + "\u2028\n",
		"\ufeff" + alice + "\n",
		strings.ToUpper(alice) + "\n",
		alice[:63] + "\n",
		alice + "0\n",
		strings.Repeat("g", 64),
		strings.Repeat("0", 64),
		alice + " " + bob,
		"hyper://" + alice,
		sdk.URIScheme + sdk.URIScheme + alice,
		alice[:32] + "#" + alice[32:],
		"\xff\xfe" + alice[2:],
		"#\n#\n" + alice[:62] + "é",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var keys map[key]struct{}
		var err error
		checkAlloc(t, len(data), func() { keys, err = parse(data) })

		// The lines that hold something, as the format defines them.
		var lines []string
		var numbers []int
		for i, l := range strings.Split(string(data), "\n") {
			l, _, _ = strings.Cut(l, "#")
			if l = strings.TrimSpace(l); l != "" {
				lines, numbers = append(lines, l), append(numbers, i+1)
			}
		}
		// canonical reports whether l is a key as the format writes it,
		// and returns the key.
		canonical := func(l string) (key, bool) {
			var k key
			h := strings.TrimPrefix(l, sdk.URIScheme)
			if hex.DecodedLen(len(h)) != len(k) {
				return k, false
			}
			_, err := hex.Decode(k[:], []byte(h))
			return k, err == nil && hex.EncodeToString(k[:]) == h && k != key{}
		}

		if err != nil {
			for i, l := range lines {
				if _, ok := canonical(l); ok {
					continue
				}
				if want := fmt.Sprintf("line %d: ", numbers[i]); !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("%q: error %q does not start with %q, the first bad line", data, err, want)
				}
				return
			}
			t.Fatalf("%q: error %q, but every line is a key", data, err)
		}

		want := map[key]struct{}{}
		for _, l := range lines {
			k, ok := canonical(l)
			if !ok {
				t.Fatalf("%q: parsed, but the line %q is not a key as written", data, l)
			}
			want[k] = struct{}{}
		}
		if !maps.Equal(keys, want) {
			t.Fatalf("%q: parsed %d keys, want the %d on its lines", data, len(keys), len(want))
		}

		// Written back, in both forms, with a comment, the keys read the
		// same.
		var b strings.Builder
		for i, k := range slices.SortedFunc(maps.Keys(keys), func(a, b key) int { return strings.Compare(string(a[:]), string(b[:])) }) {
			if i%2 == 1 {
				b.WriteString(sdk.URIScheme)
			}
			fmt.Fprintf(&b, "%s  # key %d\n", sdk.PeerKey(k), i)
		}
		again, err := parse([]byte(b.String()))
		if err != nil || !maps.Equal(again, keys) {
			t.Fatalf("%q: the keys, written as %q, read back as %d keys, %v", data, b.String(), len(again), err)
		}
	})
}

// Allocation bounds: parsing n bytes may allocate allocPerByte*n plus
// allocSlack bytes at most. Cutting a file into lines costs a string
// header (16 bytes) for each, and the error quotes a line, so the factor
// is well above 1; what it rules out is allocating for a count or a
// length the bytes do not hold.
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
