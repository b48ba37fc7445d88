package feed

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"slices"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/flattree"
)

// Encoding of proofs and fork evidence, used where they are stored or sent.
// All integers are unsigned LEB128 varints; hashes and signatures are raw.
//
//	proof    = version(1) fork length signature(64)
//	           {root: size hash(32)}   one per set bit of length
//	           start nblocks {len data} nnodes {index size hash(32)}
//	evidence = version(1) index len(proof) proof len(proof) proof
const encodingVersion = 1

// maxProofBlocks bounds the blocks of one proof, so a hostile count of
// empty blocks can't make the decoder allocate far more than its input.
const maxProofBlocks = 1 << 16

// errTruncated is returned for input that ends inside a field.
var errTruncated = errors.New("input ends early")

// AppendProof appends the encoding of p to buf.
func AppendProof(buf []byte, p *Proof) []byte {
	// Sized up front: a proof can carry megabytes of blocks, and growing
	// the buffer block by block was most of the cost of sending one.
	size := 1 + 3*binary.MaxVarintLen64 + sdk.SignatureSize +
		len(p.Roots)*(binary.MaxVarintLen64+sdk.KeySize) +
		2*binary.MaxVarintLen64 + len(p.Nodes)*(2*binary.MaxVarintLen64+sdk.KeySize)
	for _, b := range p.Blocks {
		size += binary.MaxVarintLen64 + len(b)
	}
	buf = slices.Grow(buf, size)
	buf = append(buf, encodingVersion)
	buf = binary.AppendUvarint(buf, p.Head.Fork)
	buf = binary.AppendUvarint(buf, p.Head.Length)
	buf = append(buf, p.Head.Signature[:]...)
	for _, r := range p.Roots {
		buf = binary.AppendUvarint(buf, r.Size)
		buf = append(buf, r.Hash[:]...)
	}
	buf = binary.AppendUvarint(buf, p.Start)
	buf = binary.AppendUvarint(buf, uint64(len(p.Blocks)))
	for _, b := range p.Blocks {
		buf = binary.AppendUvarint(buf, uint64(len(b)))
		buf = append(buf, b...)
	}
	buf = binary.AppendUvarint(buf, uint64(len(p.Nodes)))
	for _, n := range p.Nodes {
		buf = binary.AppendUvarint(buf, n.Index)
		buf = binary.AppendUvarint(buf, n.Size)
		buf = append(buf, n.Hash[:]...)
	}
	return buf
}

// DecodeProof decodes a proof encoded by AppendProof; its blocks alias
// data. It checks the encoding only; VerifyProof checks the contents.
func DecodeProof(data []byte) (*Proof, error) {
	d := decoder{buf: data}
	p := d.proof()
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%d bytes after the end", len(d.buf))
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode proof: %w", d.err)
	}
	return p, nil
}

// AppendEvidence appends the encoding of e to buf.
func AppendEvidence(buf []byte, e *ForkEvidence) []byte {
	buf = append(buf, encodingVersion)
	buf = binary.AppendUvarint(buf, e.Index)
	for _, p := range []*Proof{e.A, e.B} {
		enc := AppendProof(nil, p)
		buf = binary.AppendUvarint(buf, uint64(len(enc)))
		buf = append(buf, enc...)
	}
	return buf
}

// DecodeEvidence decodes fork evidence encoded by AppendEvidence. It checks
// the encoding only; ForkEvidence.Verify checks the contents.
func DecodeEvidence(data []byte) (*ForkEvidence, error) {
	d := decoder{buf: data}
	d.version()
	e := &ForkEvidence{Index: d.uvarint()}
	for _, dst := range []**Proof{&e.A, &e.B} {
		enc := d.bytes(^uint64(0))
		if d.err != nil {
			break
		}
		p, err := DecodeProof(enc)
		if err != nil {
			d.err = err
			break
		}
		*dst = p
	}
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%d bytes after the end", len(d.buf))
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode fork evidence: %w", d.err)
	}
	return e, nil
}

// decoder reads fields from buf, remembering the first error; once err is
// set every read returns zero values.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) version() {
	if v := d.byte(); d.err == nil && v != encodingVersion {
		d.err = fmt.Errorf("unknown encoding version %d (this build reads %d)", v, encodingVersion)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) < 1 {
		d.err = errTruncated
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.err = errors.New("bad varint")
		return 0
	}
	// Only the shortest form is accepted, so that every value has one
	// encoding and decoding then encoding gives back the same bytes.
	if n > 1 && d.buf[n-1] == 0 {
		d.err = errors.New("varint not in its shortest form")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// count reads a number of items, each at least minSize bytes, and rejects
// counts the remaining input can't hold, so a hostile count never causes a
// large allocation.
func (d *decoder) count(minSize int) int {
	n := d.uvarint()
	if d.err == nil && n > uint64(len(d.buf)/minSize) {
		d.err = fmt.Errorf("count %d exceeds the remaining %d bytes", n, len(d.buf))
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed byte string of at most limit bytes. The
// result aliases the input.
func (d *decoder) bytes(limit uint64) []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > limit {
		d.err = fmt.Errorf("field of %d bytes exceeds the limit of %d", n, limit)
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.err = errTruncated
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) fixed(dst []byte) {
	if d.err != nil {
		return
	}
	if len(d.buf) < len(dst) {
		d.err = errTruncated
		return
	}
	copy(dst, d.buf)
	d.buf = d.buf[len(dst):]
}

func (d *decoder) proof() *Proof {
	d.version()
	p := &Proof{}
	p.Head.Fork = d.uvarint()
	p.Head.Length = d.uvarint()
	d.fixed(p.Head.Signature[:])
	nroots := bits.OnesCount64(p.Head.Length)
	if d.err != nil {
		return nil
	}
	p.Roots = make([]sdk.Node, nroots)
	for i, idx := range flattree.Roots(p.Head.Length) {
		p.Roots[i] = sdk.Node{Index: idx, Size: d.uvarint()}
		d.fixed(p.Roots[i].Hash[:])
	}
	p.Start = d.uvarint()
	if n := d.count(1); d.err == nil && n > maxProofBlocks {
		d.err = fmt.Errorf("%d blocks in one proof, more than %d", n, maxProofBlocks)
	} else if d.err == nil && n > 0 {
		p.Blocks = make([][]byte, n)
		for i := range p.Blocks {
			p.Blocks[i] = d.bytes(sdk.MaxBlockSize)
		}
	}
	if n := d.count(2 + sdk.KeySize); d.err == nil && n > 0 {
		p.Nodes = make([]sdk.Node, n)
		for i := range p.Nodes {
			p.Nodes[i] = sdk.Node{Index: d.uvarint(), Size: d.uvarint()}
			d.fixed(p.Nodes[i].Hash[:])
		}
	}
	if d.err != nil {
		return nil
	}
	return p
}
