package wire_test

import (
	"bytes"
	"testing"

	lblake3 "lukechampine.com/blake3"

	"github.com/codrive/codrive/host/wire"
)

func TestCapability(t *testing.T) {
	key := fill(0x42)
	h := bytes.Repeat([]byte{0x99}, 64)
	c := wire.Capability(key, h, true)

	if again := wire.Capability(key, h, true); again != c {
		t.Errorf("Capability is not deterministic: %x, then %x", c, again)
	}
	h2 := bytes.Clone(h)
	h2[63] ^= 1
	for name, other := range map[string][32]byte{
		"key":            wire.Capability(fill(0x43), h, true),
		"handshake hash": wire.Capability(key, h2, true),
		"role":           wire.Capability(key, h, false),
	} {
		if other == c {
			t.Errorf("changing the %s does not change the capability", name)
		}
	}

	// An independent BLAKE3 implementation over the input as PROTOCOL.md
	// spells it: "codrive capability v1" || h || byte(role).
	for _, tt := range []struct {
		initiator bool
		role      byte
	}{{true, 0}, {false, 1}} {
		input := append([]byte("codrive capability v1"), h...)
		input = append(input, tt.role)
		hasher := lblake3.New(32, key[:])
		hasher.Write(input)
		var want [32]byte
		copy(want[:], hasher.Sum(nil))
		if got := wire.Capability(key, h, tt.initiator); got != want {
			t.Errorf("Capability(initiator=%v) = %x, want %x", tt.initiator, got, want)
		}
	}
}

func TestVerifyCapability(t *testing.T) {
	key := fill(7)
	h := bytes.Repeat([]byte{3}, 64)
	c := wire.Capability(key, h, false)
	if !wire.VerifyCapability(key, h, false, c) {
		t.Error("VerifyCapability refuses the right capability")
	}
	if wire.VerifyCapability(key, h, true, c) {
		t.Error("VerifyCapability accepts a capability reflected from the other role")
	}
	bad := c
	bad[31] ^= 0x80
	if wire.VerifyCapability(key, h, false, bad) {
		t.Error("VerifyCapability accepts a changed capability")
	}
}
