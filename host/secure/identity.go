package secure

import (
	"bytes"
	"crypto/rand"
	"fmt"

	"github.com/flynn/noise"
	"github.com/zeebo/blake3"

	"github.com/codrive/codrive/sdk"
)

// identityContext is the BLAKE3 derive-key context that turns a master
// seed into the identity's private key, so the seed's other uses never
// yield the same bytes.
const identityContext = "codrive identity v1"

// minSeedSize is the shortest seed IdentityFromSeed accepts: 256 bits.
const minSeedSize = 32

// Identity is a host's static Noise key pair, an X25519 key pair whose
// public half is the host's [sdk.PeerKey]. The zero Identity is not
// usable; make one with [NewIdentity] or [IdentityFromSeed].
type Identity struct {
	key noise.DHKey
}

// NewIdentity returns a random identity.
func NewIdentity() (Identity, error) {
	k, err := noise.DH25519.GenerateKeypair(rand.Reader)
	if err != nil {
		return Identity{}, fmt.Errorf("secure: new identity: %w", err)
	}
	return Identity{key: k}, nil
}

// IdentityFromSeed derives an identity from a secret seed of at least 32
// bytes, such as the host's master seed: the X25519 private
// key is BLAKE3 derive-key over the seed with the context
// "codrive identity v1". The same seed always gives the same identity.
func IdentityFromSeed(seed []byte) (Identity, error) {
	if len(seed) < minSeedSize {
		return Identity{}, fmt.Errorf("secure: identity seed is %d bytes, want at least %d: %w", len(seed), minSeedSize, sdk.ErrInvalid)
	}
	var priv [32]byte
	blake3.DeriveKey(identityContext, seed, priv[:])
	// X25519 clamps any 32 bytes into a valid scalar, so the derived
	// bytes are the private key as they are.
	k, err := noise.DH25519.GenerateKeypair(bytes.NewReader(priv[:]))
	if err != nil {
		return Identity{}, fmt.Errorf("secure: identity from seed: %w", err)
	}
	return Identity{key: k}, nil
}

// PublicKey is the identity's public key: the sdk.PeerKey peers see.
func (id Identity) PublicKey() sdk.PeerKey {
	var k sdk.PeerKey
	copy(k[:], id.key.Public)
	return k
}

func (id Identity) valid() bool {
	return len(id.key.Private) == 32 && len(id.key.Public) == 32
}
