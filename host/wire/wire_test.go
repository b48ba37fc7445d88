package wire_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/host/wire"
	"github.com/codrive/codrive/sdk"
)

const maxU = math.MaxUint64

// sample is a message and the channel it goes on.
type sample struct {
	name    string
	channel uint64
	msg     wire.Message
}

// samples covers every message type with edge values; the fuzz targets
// use them as seeds.
func samples() []sample {
	dk := sdk.DiscoveryKey(fill(0x11))
	return []sample{
		{"open feed", 0, &wire.Open{ID: 1, Kind: wire.KindFeed, DiscoveryKey: dk, Capability: fill(0x22)}},
		{"open group max id", 0, &wire.Open{ID: maxU, Kind: wire.KindGroup}},
		{"close 1", 0, &wire.Close{ID: 1}},
		{"close max", 0, &wire.Close{ID: maxU}},
		{"reject", 0, &wire.Reject{DiscoveryKey: dk}},
		{"error empty", 0, &wire.Error{}},
		{"error utf-8", 0, &wire.Error{Reason: "protocol version mismatch: we speak 1-1 (codrive/0.1.0) — ✓"}},
		{"error longest reason", 0, &wire.Error{Reason: strings.Repeat("r", wire.MaxReasonSize)}},
		{"sync zero", 1, &wire.Sync{}},
		{"sync max", maxU, &wire.Sync{Fork: maxU, Length: maxU}},
		{"have none", 1, &wire.Have{}},
		{"have one", 1, &wire.Have{Ranges: []sdk.Range{{Start: 0, End: 1}}}},
		{"have unsorted overlapping", 2, &wire.Have{Ranges: []sdk.Range{{Start: 9, End: 20}, {Start: 0, End: 3}, {Start: 2, End: 10}}}},
		{"have last block", 1, &wire.Have{Ranges: []sdk.Range{{Start: maxU - 1, End: maxU}}}},
		{"have everything", 1, &wire.Have{Ranges: []sdk.Range{{Start: 0, End: maxU}}}},
		{"request upgrade only", 1, &wire.Request{ID: 0, Start: 7, End: 7, UpgradeFrom: 7}},
		{"request 1024 blocks", 1, &wire.Request{ID: 3, Start: 0, End: wire.MaxRequestBlocks}},
		{"request max", maxU, &wire.Request{ID: maxU, Start: maxU - wire.MaxRequestBlocks, End: maxU, UpgradeFrom: maxU}},
		{"data empty proof", 1, &wire.Data{ID: maxU}},
		{"data", 1, &wire.Data{ID: 5, Proof: bytes.Repeat([]byte("proof"), 200)}},
		{"nodata", 1, &wire.NoData{ID: 0}},
		{"nodata max", 1, &wire.NoData{ID: maxU}},
		{"cancel", 1, &wire.Cancel{ID: 12}},
		{"extension empty message", 1, &wire.Extension{Name: "x"}},
		{"extension longest name", 3, &wire.Extension{Name: strings.Repeat("n", wire.MaxExtensionNameSize), Message: []byte{0}}},
		{"extension utf-8 name", 3, &wire.Extension{Name: "chat/übung", Message: []byte("hello")}},
		{"feeds none", 2, &wire.Feeds{}},
		{"feeds", 2, &wire.Feeds{Keys: []sdk.FeedKey{fill(1), fill(2), fill(0xff)}}},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, s := range samples() {
		t.Run(s.name, func(t *testing.T) {
			body, err := wire.Append(nil, s.channel, s.msg, false)
			if err != nil {
				t.Fatal(err)
			}
			for _, allow := range []bool{false, true} {
				ch, m, err := wire.Decode(body, allow)
				if err != nil {
					t.Fatalf("Decode(%x): %v", body, err)
				}
				if ch != s.channel {
					t.Errorf("channel %d, want %d", ch, s.channel)
				}
				if diff := cmp.Diff(s.msg, m); diff != "" {
					t.Errorf("decoded message (-want +got):\n%s", diff)
				}
				again, err := wire.Append(nil, ch, m, false)
				if err != nil || !bytes.Equal(again, body) {
					t.Errorf("re-encoded to %x, %v; want %x", again, err, body)
				}
			}
		})
	}
}

// TestGolden pins the encoding byte for byte, as PROTOCOL.md describes it.
func TestGolden(t *testing.T) {
	tests := []struct {
		channel uint64
		msg     wire.Message
		hex     string
	}{
		{0, &wire.Open{ID: 1, Kind: wire.KindFeed, DiscoveryKey: fill(0x11), Capability: fill(0x22)},
			"000101" + "01" + strings.Repeat("11", 32) + strings.Repeat("22", 32)},
		{0, &wire.Close{ID: 300}, "0002ac02"},
		{0, &wire.Reject{DiscoveryKey: fill(0xab)}, "0003" + strings.Repeat("ab", 32)},
		{0, &wire.Error{Reason: "no"}, "0004" + "026e6f"},
		{1, &wire.Sync{Fork: 1, Length: 128}, "0110" + "01" + "8001"},
		{1, &wire.Have{Ranges: []sdk.Range{{Start: 5, End: 8}, {Start: 0, End: 1}}}, "0111" + "02" + "0503" + "0001"},
		{3, &wire.Request{ID: 1, Start: 2, End: 5}, "0312" + "01020500"},
		{2, &wire.Data{ID: 9, Proof: []byte("hi")}, "0213" + "09" + "026869"},
		{1, &wire.NoData{ID: 4}, "0114" + "04"},
		{1, &wire.Cancel{ID: 4}, "0115" + "04"},
		{7, &wire.Extension{Name: "ab", Message: []byte("xyz")}, "0716" + "026162" + "0378797a"},
		{200, &wire.Feeds{Keys: []sdk.FeedKey{fill(0xcd)}}, "c801" + "20" + "01" + strings.Repeat("cd", 32)},
	}
	for _, tt := range tests {
		t.Run(tt.msg.Type().String(), func(t *testing.T) {
			got, err := wire.Append(nil, tt.channel, tt.msg, false)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != tt.hex {
				t.Errorf("Append = %x, want %s", got, tt.hex)
			}
		})
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	buf := []byte("prefix")
	buf, err := wire.Append(buf, 1, &wire.Cancel{ID: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := "prefix\x01\x15\x01"; string(buf) != want {
		t.Errorf("Append = %q, want %q", buf, want)
	}
}

func TestAppendRefuses(t *testing.T) {
	tests := []struct {
		name    string
		channel uint64
		msg     wire.Message
		want    string
	}{
		{"control off channel 0", 1, &wire.Close{ID: 1}, "wire: CLOSE: control message on channel 1"},
		{"feed message on channel 0", 0, &wire.Sync{}, "wire: SYNC: not a control message, on channel 0"},
		{"open id 0", 0, &wire.Open{Kind: wire.KindFeed}, "wire: OPEN: channel id 0, which is the control channel"},
		{"open kind 0", 0, &wire.Open{ID: 1}, "wire: OPEN: unknown channel kind 0"},
		{"open kind 3", 0, &wire.Open{ID: 1, Kind: 3}, "wire: OPEN: unknown channel kind 3"},
		{"close id 0", 0, &wire.Close{}, "wire: CLOSE: channel id 0, which is the control channel"},
		{"error not utf-8", 0, &wire.Error{Reason: "\xff"}, "wire: ERROR: reason is not valid UTF-8"},
		{"error reason too long", 0, &wire.Error{Reason: strings.Repeat("r", wire.MaxReasonSize+1)}, "wire: ERROR: reason of 1025 bytes, more than 1024"},
		{"have empty range", 1, &wire.Have{Ranges: []sdk.Range{{Start: 0, End: 1}, {Start: 4, End: 4}}}, "wire: HAVE: range 1: end 4 not after start 4"},
		{"have reversed range", 1, &wire.Have{Ranges: []sdk.Range{{Start: 9, End: 3}}}, "wire: HAVE: range 0: end 3 not after start 9"},
		{"request end before start", 1, &wire.Request{Start: 9, End: 5}, "wire: REQUEST: end 5 before start 9"},
		{"request 1025 blocks", 1, &wire.Request{Start: 10, End: 10 + wire.MaxRequestBlocks + 1}, "wire: REQUEST: 1025 blocks, more than 1024"},
		{"extension empty name", 1, &wire.Extension{}, "wire: EXTENSION: empty name"},
		{"extension name too long", 1, &wire.Extension{Name: strings.Repeat("n", wire.MaxExtensionNameSize+1)}, "wire: EXTENSION: name of 257 bytes, more than 256"},
		{"extension name not utf-8", 1, &wire.Extension{Name: "a\xc0"}, `wire: EXTENSION: name "a\xc0" is not valid UTF-8`},
		{"body too large", 1, &wire.Data{Proof: make([]byte, wire.MaxBodySize)}, "wire: DATA: body of 16777223 bytes, more than 16777216"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			buf := []byte("keep")
			got, err := wire.Append(buf, tt.channel, tt.msg, false)
			if err == nil || err.Error() != tt.want {
				t.Errorf("Append error = %v, want %q", err, tt.want)
			}
			if !errors.Is(err, wire.ErrMalformed) {
				t.Errorf("error %v does not wrap ErrMalformed", err)
			}
			if string(got) != "keep" {
				t.Errorf("Append returned %q, want the buffer unchanged", got)
			}
		})
	}
}

// malformedBodies lists bodies Decode must refuse, with a part of the
// error each must give. allow is the allowCompressed argument.
func malformedBodies(t testing.TB) []struct {
	name  string
	body  []byte
	allow bool
	want  string
} {
	key := bytes.Repeat([]byte{7}, 32)
	open := cat([]byte{0, 1, 1, 1}, key, key)
	return []struct {
		name  string
		body  []byte
		allow bool
		want  string
	}{
		{"empty body", nil, false, "wire: empty body"},
		{"body too large", make([]byte, wire.MaxBodySize+1), false, "wire: body of 16777217 bytes, more than 16777216"},
		{"channel truncated", []byte{0x80}, false, "wire: channel: truncated"},
		{"channel overlong", []byte{0x81, 0x00, 0x10, 0, 0}, false, "wire: channel: varint not in its shortest form"},
		{"channel overflow", cat(bytes.Repeat([]byte{0xff}, 9), []byte{0x02, 0x10}), false, "wire: channel: varint overflows 64 bits"},
		{"type missing", []byte{1}, false, "wire: type: truncated"},
		{"type 0", []byte{0, 0}, false, "wire: unknown message type 0 on channel 0"},
		{"unknown control type", []byte{0, 5}, false, "wire: unknown message type 5 on channel 0"},
		{"unknown feed type", []byte{3, 99, 1}, false, "wire: unknown message type 99 on channel 3"},
		{"open on feed channel", cat([]byte{1}, open[1:]), false, "wire: OPEN: control message on channel 1"},
		{"error on feed channel", []byte{9, 4, 0}, false, "wire: ERROR: control message on channel 9"},
		{"sync on control channel", []byte{0, 16, 0, 0}, false, "wire: SYNC: not a control message, on channel 0"},
		{"feeds on control channel", []byte{0, 32, 0}, false, "wire: FEEDS: not a control message, on channel 0"},
		{"extension on control channel", []byte{0, 22, 1, 'x', 0}, false, "wire: EXTENSION: not a control message, on channel 0"},

		{"open id truncated", []byte{0, 1}, false, "wire: OPEN: id: truncated"},
		{"open id overlong", cat([]byte{0, 1, 0x81, 0x00, 1}, key, key), false, "wire: OPEN: id: varint not in its shortest form"},
		{"open kind missing", []byte{0, 1, 1}, false, "wire: OPEN: kind: truncated"},
		{"open capability truncated", open[:len(open)-1], false, "wire: OPEN: capability: truncated"},
		{"open kind 0", cat([]byte{0, 1, 1, 0}, key, key), false, "wire: OPEN: unknown channel kind 0"},
		{"open kind 3", cat([]byte{0, 1, 1, 3}, key, key), false, "wire: OPEN: unknown channel kind 3"},
		{"open id 0", cat([]byte{0, 1, 0, 1}, key, key), false, "wire: OPEN: channel id 0, which is the control channel"},
		{"open trailing byte", cat(open, []byte{0}), false, "wire: OPEN: 1 bytes after the end"},
		{"close id 0", []byte{0, 2, 0}, false, "wire: CLOSE: channel id 0"},
		{"close empty", []byte{0, 2}, false, "wire: CLOSE: id: truncated"},
		{"close trailing", []byte{0, 2, 1, 1, 1}, false, "wire: CLOSE: 2 bytes after the end"},
		{"reject truncated", cat([]byte{0, 3}, key[1:]), false, "wire: REJECT: discovery key: truncated"},
		{"error length past end", []byte{0, 4, 5, 'a', 'b'}, false, "wire: ERROR: reason: length 5 exceeds the 2 bytes left"},
		{"error not utf-8", []byte{0, 4, 2, 0xc3, 0x28}, false, "wire: ERROR: reason is not valid UTF-8"},
		{"error trailing", []byte{0, 4, 0, 0}, false, "wire: ERROR: 1 bytes after the end"},
		{"error reason too long", cat([]byte{0, 4}, uv(1025), bytes.Repeat([]byte{'r'}, 1025)), false, "wire: ERROR: reason of 1025 bytes, more than 1024"},

		{"sync empty", []byte{1, 16}, false, "wire: SYNC: fork: truncated"},
		{"sync length truncated", []byte{1, 16, 5, 0x80}, false, "wire: SYNC: length: truncated"},
		{"sync fork overlong", []byte{1, 16, 0x80, 0x80, 0x00, 1}, false, "wire: SYNC: fork: varint not in its shortest form"},
		{"have empty", []byte{1, 17}, false, "wire: HAVE: ranges: truncated"},
		{"have count too large", []byte{1, 17, 3, 0, 1, 2, 1}, false, "wire: HAVE: ranges: count 3 too large for the 4 bytes left"},
		{"have hostile count", cat([]byte{1, 17}, uv(1<<62), []byte{0, 1}), false, "wire: HAVE: ranges: count 4611686018427387904 too large for the 2 bytes left"},
		{"have range truncated", []byte{1, 17, 2, 0, 1, 5, 0x80}, false, "wire: HAVE: range count: truncated"},
		{"have zero count", []byte{1, 17, 2, 0, 1, 5, 0}, false, "wire: HAVE: ranges: range 1 has count 0"},
		{"have overflow", cat([]byte{1, 17, 1}, uv(maxU-1), uv(2)), false, "wire: HAVE: ranges: range 0: start 18446744073709551614 + count 2 overflows"},
		{"have trailing", []byte{1, 17, 1, 0, 1, 0}, false, "wire: HAVE: 1 bytes after the end"},
		{"request end before start", []byte{1, 18, 1, 9, 5, 0}, false, "wire: REQUEST: end 5 before start 9"},
		{"request 1025 blocks", cat([]byte{1, 18, 1, 0}, uv(1025), []byte{0}), false, "wire: REQUEST: 1025 blocks, more than 1024"},
		{"request upgrade missing", []byte{1, 18, 1, 0, 1}, false, "wire: REQUEST: upgrade from: truncated"},
		{"request trailing", []byte{1, 18, 1, 0, 1, 0, 0}, false, "wire: REQUEST: 1 bytes after the end"},
		{"data proof missing", []byte{1, 19, 1}, false, "wire: DATA: proof: truncated"},
		{"data proof past end", []byte{1, 19, 1, 4, 1, 2, 3}, false, "wire: DATA: proof: length 4 exceeds the 3 bytes left"},
		{"data hostile proof length", cat([]byte{1, 19, 1}, uv(maxU)), false, "wire: DATA: proof: length 18446744073709551615 exceeds the 0 bytes left"},
		{"data trailing", []byte{1, 19, 1, 1, 1, 1}, false, "wire: DATA: 1 bytes after the end"},
		{"nodata empty", []byte{1, 20}, false, "wire: NODATA: request id: truncated"},
		{"nodata trailing", []byte{1, 20, 1, 1}, false, "wire: NODATA: 1 bytes after the end"},
		{"cancel overlong", []byte{1, 21, 0x80, 0}, false, "wire: CANCEL: request id: varint not in its shortest form"},
		{"extension empty name", []byte{1, 22, 0, 0}, false, "wire: EXTENSION: empty name"},
		{"extension name too long", cat([]byte{1, 22}, uv(257), bytes.Repeat([]byte{'n'}, 257), []byte{0}), false, "wire: EXTENSION: name of 257 bytes, more than 256"},
		{"extension name not utf-8", []byte{1, 22, 1, 0xff, 0}, false, `wire: EXTENSION: name "\xff" is not valid UTF-8`},
		{"extension message missing", []byte{1, 22, 1, 'x'}, false, "wire: EXTENSION: message: truncated"},
		{"extension message past end", []byte{1, 22, 1, 'x', 2, 0}, false, "wire: EXTENSION: message: length 2 exceeds the 1 bytes left"},
		{"feeds count too large", cat([]byte{2, 32, 2}, key, key[1:]), false, "wire: FEEDS: keys: count 2 too large for the 63 bytes left"},
		{"feeds trailing", cat([]byte{2, 32, 1}, key, []byte{0}), false, "wire: FEEDS: 1 bytes after the end"},

		{"compressed not negotiated", cat([]byte{1, 19 | 0x80}, compress(t, []byte{1, 0})), false, "wire: DATA: compressed, but zstd was not negotiated"},
		{"compressed sync", cat([]byte{1, 16 | 0x80}, compress(t, []byte{1, 1})), true, "wire: SYNC: compressed, but only DATA may be"},
		{"compressed open", []byte{0, 1 | 0x80}, true, "wire: OPEN: compressed, but only DATA may be"},
		{"compressed unknown type", []byte{1, 0xff}, true, "wire: type 127: compressed, but only DATA may be"},
		{"compressed on control channel", cat([]byte{0, 19 | 0x80}, compress(t, []byte{1, 0})), true, "wire: DATA: not a control message, on channel 0"},
		{"corrupt zstd", cat([]byte{1, 19 | 0x80}, []byte("not a zstd frame")), true, "wire: DATA: zstd: "},
		{"truncated zstd", cat([]byte{1, 19 | 0x80}, truncate(compress(t, bytes.Repeat([]byte{1, 2, 3}, 1000)))), true, "wire: DATA: zstd: "},
		{"empty zstd", []byte{1, 19 | 0x80}, true, "wire: DATA: request id: truncated"},
		{"zstd trailing", cat([]byte{1, 19 | 0x80}, compress(t, []byte{1, 0, 0})), true, "wire: DATA: 1 bytes after the end"},
		{"zstd bad proof length", cat([]byte{1, 19 | 0x80}, compress(t, []byte{1, 5, 0})), true, "wire: DATA: proof: length 5 exceeds the 1 bytes left"},
		{"zstd window too large", cat([]byte{1, 19 | 0x80}, zstdFrame(25, []byte{1, 0})), true, "wire: DATA: zstd window larger than 16777216 bytes"},
		{"zstd bomb, declared size", cat([]byte{1, 19 | 0x80}, compress(t, make([]byte, wire.MaxBodySize+1))), true, "wire: DATA: zstd payload decompresses to more than 16777216 bytes"},
		{"zstd bomb, undeclared size", cat([]byte{1, 19 | 0x80}, compressStream(t, make([]byte, wire.MaxBodySize+1))), true, "wire: DATA: zstd payload decompresses to more than 16777216 bytes"},
		{"zstd bomb, two frames", cat([]byte{1, 19 | 0x80}, compress(t, make([]byte, wire.MaxBodySize/2+1)), compress(t, make([]byte, wire.MaxBodySize/2))), true, "wire: DATA: zstd payload decompresses to more than 16777216 bytes"},
	}
}

func TestDecodeMalformed(t *testing.T) {
	for _, tt := range malformedBodies(t) {
		t.Run(tt.name, func(t *testing.T) {
			ch, m, err := wire.Decode(tt.body, tt.allow)
			if err == nil {
				t.Fatalf("Decode(%x) = %d, %#v; want an error", head(tt.body), ch, m)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode error = %q, want it to contain %q", err, tt.want)
			}
			checkError(t, err)
			if ch != 0 || m != nil {
				t.Errorf("Decode returned %d, %#v with its error", ch, m)
			}
		})
	}
}

// checkError checks what every error of this package must be: one line,
// starting "wire: ", wrapping ErrMalformed.
func checkError(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("error %q does not wrap ErrMalformed", err)
	}
	if s := err.Error(); !strings.HasPrefix(s, "wire: ") || strings.Contains(s, "\n") {
		t.Errorf("error %q is not one line starting with \"wire: \"", s)
	}
}

func TestDecodeAliasesBody(t *testing.T) {
	body, err := wire.Append(nil, 1, &wire.Data{ID: 1, Proof: []byte("proof")}, false)
	if err != nil {
		t.Fatal(err)
	}
	_, m, err := wire.Decode(body, false)
	if err != nil {
		t.Fatal(err)
	}
	body[len(body)-1] = '!'
	if got := string(m.(*wire.Data).Proof); got != "proo!" {
		t.Errorf("Proof = %q after changing the body, want it to alias the body", got)
	}
}

func TestCompression(t *testing.T) {
	compressible := bytes.Repeat([]byte("the same sixty-four bytes, over and over and over again......\n"), 1024)
	random := make([]byte, 64<<10)
	rand.NewChaCha8([32]byte{1}).Read(random)

	t.Run("shrinks compressible data", func(t *testing.T) {
		m := &wire.Data{ID: 7, Proof: compressible}
		plain, _ := wire.Append(nil, 1, m, false)
		small, err := wire.Append(nil, 1, m, true)
		if err != nil {
			t.Fatal(err)
		}
		if small[1] != byte(wire.TypeData)|0x80 {
			t.Errorf("type byte %#x, want the compressed bit set", small[1])
		}
		if len(small) > len(plain)/10 {
			t.Errorf("compressed body is %d bytes, uncompressed %d", len(small), len(plain))
		}
		checkDecodes(t, small, 1, m)
	})
	t.Run("skips incompressible data", func(t *testing.T) {
		m := &wire.Data{ID: 7, Proof: random}
		plain, _ := wire.Append(nil, 1, m, false)
		got, err := wire.Append(nil, 1, m, true)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("Append with compression = %d bytes, %v; want the %d uncompressed bytes", len(got), err, len(plain))
		}
	})
	t.Run("only DATA is compressed", func(t *testing.T) {
		m := &wire.Extension{Name: "x", Message: compressible}
		plain, _ := wire.Append(nil, 1, m, false)
		got, err := wire.Append(nil, 1, m, true)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("EXTENSION with compression = %d bytes, %v; want the %d uncompressed bytes", len(got), err, len(plain))
		}
	})
	t.Run("keeps the prefix", func(t *testing.T) {
		m := &wire.Data{ID: 7, Proof: compressible}
		for _, spare := range []int{0, 1 << 20} {
			buf := append(make([]byte, 0, 3+spare), "abc"...)
			got, err := wire.Append(buf, maxU, m, true)
			if err != nil {
				t.Fatal(err)
			}
			if string(got[:3]) != "abc" {
				t.Fatalf("prefix became %q", got[:3])
			}
			checkDecodes(t, got[3:], maxU, m)
		}
	})
	t.Run("large but compressible", func(t *testing.T) {
		// Over MaxBodySize uncompressed, well under it compressed: valid.
		m := &wire.Data{ID: 1, Proof: make([]byte, wire.MaxBodySize-16)}
		body, err := wire.Append(nil, 1, m, true)
		if err != nil {
			t.Fatal(err)
		}
		checkDecodes(t, body, 1, m)
	})
	t.Run("large random data is not compressed", func(t *testing.T) {
		big := make([]byte, 4<<20)
		rand.NewChaCha8([32]byte{2}).Read(big)
		m := &wire.Data{ID: 7, Proof: big}
		plain, _ := wire.Append(nil, 1, m, false)
		got, err := wire.Append(nil, 1, m, true)
		if err != nil || !bytes.Equal(got, plain) {
			t.Errorf("Append with compression = %d bytes, %v; want the %d uncompressed bytes", len(got), err, len(plain))
		}
	})
	t.Run("large compressible data is compressed", func(t *testing.T) {
		var big []byte
		for len(big) < 4<<20 {
			big = append(big, compressible...)
		}
		m := &wire.Data{ID: 7, Proof: big}
		got, err := wire.Append(nil, 1, m, true)
		if err != nil || len(got) > len(big)/10 {
			t.Fatalf("Append with compression = %d bytes, %v; want it compressed", len(got), err)
		}
		checkDecodes(t, got, 1, m)
	})
	t.Run("window of 16 MiB", func(t *testing.T) {
		// Another encoder may pick any window up to the payload limit.
		body := cat([]byte{1, 19 | 0x80}, zstdFrame(24, []byte{1, 0}))
		checkDecodes(t, body, 1, &wire.Data{ID: 1})
	})
	t.Run("concurrent", func(t *testing.T) {
		// The zstd encoder and decoder are shared; run under -race.
		done := make(chan error)
		for i := range 8 {
			go func() {
				m := &wire.Data{ID: uint64(i), Proof: compressible[i:]}
				body, err := wire.Append(nil, 1, m, true)
				if err == nil {
					_, _, err = wire.Decode(body, true)
				}
				done <- err
			}()
		}
		for range 8 {
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	})
}

// checkDecodes checks that body decodes to channel and want.
func checkDecodes(t *testing.T, body []byte, channel uint64, want wire.Message) {
	t.Helper()
	ch, m, err := wire.Decode(body, true)
	if err != nil {
		t.Fatal(err)
	}
	if ch != channel {
		t.Errorf("channel %d, want %d", ch, channel)
	}
	// bytes.Equal, because cmp compares large slices element by element.
	if diff := cmp.Diff(want, m, cmp.Comparer(bytes.Equal)); diff != "" {
		t.Errorf("decoded message (-want +got):\n%s", diff)
	}
}

// TestEncodeData: EncodeData makes the body Append makes of the same
// DATA, compressed or not.
func TestEncodeData(t *testing.T) {
	compressible := bytes.Repeat([]byte("sixty-four bytes of text that repeat, over and over and again.\n"), 2048)
	random := make([]byte, 256<<10)
	rand.NewChaCha8([32]byte{3}).Read(random)
	tests := []struct {
		name     string
		channel  uint64
		id       uint64
		proof    []byte
		compress bool
		size     int
	}{
		{"empty", 1, 0, nil, false, 0},
		{"small", 300, 1 << 40, []byte("proof"), false, 5},
		{"size too small", 1, 1, random, false, 10},
		{"random, compression tried", maxU, maxU, random, true, len(random)},
		{"compressible", 2, 9, compressible, true, len(compressible)},
		{"compressible, not compressed", 2, 9, compressible, false, len(compressible)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &wire.Data{ID: tt.id, Proof: tt.proof}
			want, err := wire.Append(nil, tt.channel, m, tt.compress)
			if err != nil {
				t.Fatal(err)
			}
			got, err := wire.EncodeData(tt.channel, tt.id, tt.compress, tt.size, func(b []byte) []byte { return append(b, tt.proof...) })
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("EncodeData = %d bytes %x..., Append = %d bytes %x...", len(got), head(got), len(want), head(want))
			}
			checkDecodes(t, got, tt.channel, m)
		})
	}
	t.Run("refuses", func(t *testing.T) {
		for _, tc := range []struct {
			channel uint64
			proof   []byte
			want    string
		}{
			{0, nil, "wire: DATA: not a control message, on channel 0"},
			{1, make([]byte, wire.MaxBodySize), "wire: DATA: body of 16777223 bytes, more than 16777216"},
		} {
			_, err := wire.EncodeData(tc.channel, 1, false, 0, func(b []byte) []byte { return append(b, tc.proof...) })
			if err == nil || err.Error() != tc.want {
				t.Errorf("EncodeData error = %v, want %q", err, tc.want)
			}
			checkError(t, err)
		}
	})
}

func TestStrings(t *testing.T) {
	for _, tt := range []struct{ got, want string }{
		{wire.TypeOpen.String(), "OPEN"},
		{wire.TypeNoData.String(), "NODATA"},
		{wire.TypeFeeds.String(), "FEEDS"},
		{wire.Type(5).String(), "type 5"},
		{wire.Type(200).String(), "type 200"},
		{wire.KindFeed.String(), "feed"},
		{wire.KindGroup.String(), "group"},
		{wire.Kind(0).String(), "kind 0"},
	} {
		if tt.got != tt.want {
			t.Errorf("String() = %q, want %q", tt.got, tt.want)
		}
	}
}

func fill(b byte) (k [32]byte) {
	for i := range k {
		k[i] = b
	}
	return k
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func uv(v uint64) []byte { return binary.AppendUvarint(nil, v) }

func truncate(b []byte) []byte { return b[:len(b)-1] }

// head returns the start of b, for messages about huge bodies.
func head(b []byte) []byte { return b[:min(len(b), 64)] }
