package feed

import (
	"crypto/ed25519"
	"encoding/binary"
	"runtime"
	"sync"

	"github.com/zeebo/blake3"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
)

// Leaves, parents and tree hashes are BLAKE3 hashes under three different
// keys, so that none can be passed off as another (second-preimage
// protection) without adding bytes to the input: a 1 KiB block stays one
// BLAKE3 chunk. BLAKE3 commits to the input length, so a leaf commits to
// its block's size.
var (
	leafKey   = deriveKey("codrive tree leaf v1")
	parentKey = deriveKey("codrive tree parent v1")
	treeKey   = deriveKey("codrive tree roots v1")
)

func deriveKey(context string) []byte {
	k := make([]byte, 32)
	blake3.DeriveKey(context, nil, k)
	return k
}

// signContext prefixes every signed message so that a feed signature can't
// be replayed as a signature over anything else the key signs.
const signContext = "codrive feed head v1\x00"

// discoveryContext is the message hashed with the feed key as the BLAKE3
// key to derive the discovery key.
const discoveryContext = "codrive discovery key v1"

// hasher holds keyed BLAKE3 states for leaves and parents; Reset keeps the
// key, so pooling them saves setting up a keyed state per node.
type hasher struct {
	leaf, parent *blake3.Hasher
}

var hasherPool = sync.Pool{New: func() any {
	l, _ := blake3.NewKeyed(leafKey)
	p, _ := blake3.NewKeyed(parentKey)
	return &hasher{leaf: l, parent: p}
}}

// LeafHash returns the tree node of a block at index i.
func LeafHash(i uint64, data []byte) sdk.Node {
	h := hasherPool.Get().(*hasher)
	defer hasherPool.Put(h)
	return h.leafNode(i, data)
}

func (h *hasher) leafNode(i uint64, data []byte) sdk.Node {
	h.leaf.Reset()
	h.leaf.Write(data)
	n := sdk.Node{Index: 2 * i, Size: uint64(len(data))}
	h.leaf.Sum(n.Hash[:0])
	return n
}

// ParentHash returns the parent of two sibling nodes, left first.
func ParentHash(parent uint64, left, right sdk.Node) sdk.Node {
	h := hasherPool.Get().(*hasher)
	defer hasherPool.Put(h)
	return h.parentNode(parent, left, right)
}

func (h *hasher) parentNode(parent uint64, left, right sdk.Node) sdk.Node {
	// Both sizes are hashed, not just their sum: otherwise size could be
	// moved from one child to the other without changing the parent, and
	// a proof could carry sizes the writer never signed.
	var buf [16 + 2*sdk.KeySize]byte
	binary.LittleEndian.PutUint64(buf[:], left.Size)
	binary.LittleEndian.PutUint64(buf[8:], right.Size)
	copy(buf[16:], left.Hash[:])
	copy(buf[16+sdk.KeySize:], right.Hash[:])
	h.parent.Reset()
	h.parent.Write(buf[:])
	n := sdk.Node{Index: parent, Size: left.Size + right.Size}
	h.parent.Sum(n.Hash[:0])
	return n
}

// addLeaf grows a tree by one leaf: roots are the tree's roots, with
// strictly decreasing depths, and the leaf merges with every root of its
// own depth, as a carry does in binary addition. It returns the new roots
// and out with the leaf and every parent it made appended.
func (h *hasher) addLeaf(roots []sdk.Node, leaf sdk.Node, out []sdk.Node) ([]sdk.Node, []sdk.Node) {
	out = append(out, leaf)
	roots = append(roots, leaf)
	for n := len(roots); n >= 2 && flattree.Depth(roots[n-2].Index) == flattree.Depth(roots[n-1].Index); n = len(roots) {
		p := h.parentNode(flattree.Parent(roots[n-2].Index), roots[n-2], roots[n-1])
		out = append(out, p)
		roots = append(roots[:n-2], p)
	}
	return roots, out
}

// TreeHash returns the hash of a tree given its roots, left to right. It is
// what a feed's signature covers, with the fork id and the length.
func TreeHash(roots []sdk.Node) sdk.Hash {
	buf := make([]byte, 0, len(roots)*(16+sdk.KeySize))
	for _, r := range roots {
		buf = binary.LittleEndian.AppendUint64(buf, r.Index)
		buf = binary.LittleEndian.AppendUint64(buf, r.Size)
		buf = append(buf, r.Hash[:]...)
	}
	h, _ := blake3.NewKeyed(treeKey)
	h.Write(buf)
	var out sdk.Hash
	h.Sum(out[:0])
	return out
}

// signable returns the message a head's signature covers.
func signable(fork, length uint64, tree sdk.Hash) []byte {
	buf := make([]byte, 0, len(signContext)+16+sdk.KeySize)
	buf = append(buf, signContext...)
	buf = binary.LittleEndian.AppendUint64(buf, fork)
	buf = binary.LittleEndian.AppendUint64(buf, length)
	return append(buf, tree[:]...)
}

// signHead signs the state described by fork, length and roots.
func signHead(secret ed25519.PrivateKey, fork, length uint64, roots []sdk.Node) sdk.Head {
	h := sdk.Head{Fork: fork, Length: length}
	copy(h.Signature[:], ed25519.Sign(secret, signable(fork, length, TreeHash(roots))))
	return h
}

// verifyHead reports whether head's signature covers roots under key.
func verifyHead(key sdk.FeedKey, head sdk.Head, roots []sdk.Node) bool {
	return ed25519.Verify(key[:], signable(head.Fork, head.Length, TreeHash(roots)), head.Signature[:])
}

// DiscoveryKey returns the discovery key of a feed: a BLAKE3 hash keyed by
// the feed key, so it can be announced without revealing the key.
func DiscoveryKey(key sdk.FeedKey) sdk.DiscoveryKey {
	h, err := blake3.NewKeyed(key[:])
	if err != nil {
		panic(err) // unreachable: the key is always 32 bytes
	}
	h.WriteString(discoveryContext)
	var d sdk.DiscoveryKey
	h.Sum(d[:0])
	return d
}

// parallelMin is the batch size from which leaves are hashed on several
// cores; below it, starting goroutines costs more than it saves.
const parallelMin = 64

// hashLeaves returns the leaf nodes of blocks numbered from start, hashing
// large batches on every available core.
func hashLeaves(start uint64, blocks [][]byte) []sdk.Node {
	leaves := make([]sdk.Node, len(blocks))
	workers := min(runtime.GOMAXPROCS(0), len(blocks)/(parallelMin/2))
	if workers < 2 {
		h := hasherPool.Get().(*hasher)
		for k, data := range blocks {
			leaves[k] = h.leafNode(start+uint64(k), data)
		}
		hasherPool.Put(h)
		return leaves
	}
	var wg sync.WaitGroup
	per := (len(blocks) + workers - 1) / workers
	for lo := 0; lo < len(blocks); lo += per {
		hi := min(lo+per, len(blocks))
		wg.Go(func() {
			h := hasherPool.Get().(*hasher)
			for k := lo; k < hi; k++ {
				leaves[k] = h.leafNode(start+uint64(k), blocks[k])
			}
			hasherPool.Put(h)
		})
	}
	wg.Wait()
	return leaves
}

// messageContext starts every message signed with SignMessage; heads'
// signatures start with signContext instead, so neither can be passed off
// as the other.
const messageContext = "codrive feed message v1\x00"

func messageSignable(context string, msg []byte) []byte {
	buf := make([]byte, 0, len(messageContext)+binary.MaxVarintLen64+len(context)+len(msg))
	buf = append(buf, messageContext...)
	buf = binary.AppendUvarint(buf, uint64(len(context)))
	buf = append(buf, context...)
	return append(buf, msg...)
}

// SignMessage signs msg with the feed's secret key, for the purpose that
// context names (such as "codrive auth request"), so that the holder of
// the feed's key can prove it outside the feed. It fails with
// ErrReadOnly if this host does not hold the key.
func (f *Feed) SignMessage(context string, msg []byte) ([]byte, error) {
	if f.secret == nil {
		return nil, ErrReadOnly
	}
	return ed25519.Sign(f.secret, messageSignable(context, msg)), nil
}

// VerifyMessage reports whether sig is the signature SignMessage makes of
// msg for context with the secret key of the feed key.
func VerifyMessage(key sdk.FeedKey, context string, msg, sig []byte) bool {
	return len(sig) == ed25519.SignatureSize && ed25519.Verify(key[:], messageSignable(context, msg), sig)
}
