package wire

import (
	"crypto/subtle"

	"github.com/zeebo/blake3"
)

// capabilityContext starts the input of every capability, so that it can't
// collide with another keyed hash made with the same key.
const capabilityContext = "codrive capability v1"

// Capability returns the capability that the side sending OPEN puts in it
// (PROTOCOL.md, section 5): BLAKE3 keyed with the feed or group key, over
// "codrive capability v1", the Noise handshake hash h and the sender's role
// byte, 0 if initiator is set (the sender was the Noise initiator) and 1
// otherwise. h binds the capability to one connection and the role stops a
// peer from reflecting the other side's capability back.
//
// h has the fixed length of the handshake's hash function (64 bytes for
// BLAKE2b), so the concatenation is unambiguous.
func Capability(key [32]byte, h []byte, initiator bool) [32]byte {
	hash, err := blake3.NewKeyed(key[:])
	if err != nil {
		panic(err) // unreachable: the key is always 32 bytes
	}
	role := byte(1)
	if initiator {
		role = 0
	}
	hash.WriteString(capabilityContext)
	hash.Write(h)
	hash.Write([]byte{role})
	var c [32]byte
	hash.Sum(c[:0])
	return c
}

// VerifyCapability reports whether got is the capability for key, h and
// the sender's role, in constant time so that timing reveals nothing of the
// expected value. initiator tells whether the side that sent the OPEN, the
// peer, was the Noise initiator.
func VerifyCapability(key [32]byte, h []byte, initiator bool, got [32]byte) bool {
	want := Capability(key, h, initiator)
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}
