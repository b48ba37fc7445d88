package sdk

import (
	"encoding/hex"
	"fmt"
	"strings"
)

// KeySize is the size in bytes of feed keys, discovery keys, peer keys and
// hashes.
const KeySize = 32

// SignatureSize is the size in bytes of an ed25519 signature.
const SignatureSize = 64

// SecretKeySize is the size in bytes of an ed25519 private key (seed and
// public key, as crypto/ed25519 stores it).
const SecretKeySize = 64

// URIScheme is the optional prefix of a key written as text, as in
// codrive://<64 hex characters>.
const URIScheme = "codrive://"

// FeedKey is the ed25519 public key of a feed. It names the feed and
// verifies every signature the feed's writer makes. Knowing it gives read
// access to the feed's data, so it is shared only with readers.
type FeedKey [KeySize]byte

// DiscoveryKey is a keyed hash of a [FeedKey]. Peers announce and look up
// discovery keys, so that knowing one does not reveal the feed key or the
// data.
type DiscoveryKey [KeySize]byte

// PeerKey is the static public key a host uses in its Noise handshakes. It
// identifies a peer on the network, and it is what auth policies see as the
// requesting peer.
type PeerKey [KeySize]byte

// Hash is a 32-byte BLAKE3 digest: a Merkle tree node or a tree hash.
type Hash [KeySize]byte

// Signature is an ed25519 signature over a feed's signed head.
type Signature [SignatureSize]byte

// String returns the key as 64 lowercase hex characters.
func (k FeedKey) String() string { return hex.EncodeToString(k[:]) }

// String returns the key as 64 lowercase hex characters.
func (k DiscoveryKey) String() string { return hex.EncodeToString(k[:]) }

// String returns the key as 64 lowercase hex characters.
func (k PeerKey) String() string { return hex.EncodeToString(k[:]) }

// String returns the hash as 64 lowercase hex characters.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// String returns the signature as 128 lowercase hex characters.
func (s Signature) String() string { return hex.EncodeToString(s[:]) }

// IsZero reports whether the signature is all zeros, which is how an
// unsigned (empty) head is written.
func (s Signature) IsZero() bool { return s == Signature{} }

// ParseFeedKey parses 64 hex characters, with or without the codrive://
// prefix, into a FeedKey.
func ParseFeedKey(s string) (FeedKey, error) {
	var k FeedKey
	err := parseKey(s, k[:], "feed key")
	return k, err
}

// ParsePeerKey parses 64 hex characters, with or without the codrive://
// prefix, into a PeerKey.
func ParsePeerKey(s string) (PeerKey, error) {
	var k PeerKey
	err := parseKey(s, k[:], "peer key")
	return k, err
}

func parseKey(s string, dst []byte, what string) error {
	t := strings.TrimPrefix(strings.TrimSpace(s), URIScheme)
	if len(t) != 2*len(dst) {
		return fmt.Errorf("invalid %s %q: want %d hex characters, got %d", what, s, 2*len(dst), len(t))
	}
	if _, err := hex.Decode(dst, []byte(t)); err != nil {
		return fmt.Errorf("invalid %s %q: not hex", what, s)
	}
	return nil
}
