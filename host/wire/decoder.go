package wire

import (
	"encoding/binary"
	"fmt"
)

// decoder reads fields from buf, remembering the first error; once err is
// set every read returns zero values. Each read names its field, so that
// the error says where the body went wrong.
type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail(field, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
	}
}

func (d *decoder) byte(field string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.buf) == 0 {
		d.fail(field, "truncated")
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.buf)
	switch {
	case n == 0:
		d.fail(field, "truncated")
		return 0
	case n < 0:
		d.fail(field, "varint overflows 64 bits")
		return 0
	case n > 1 && d.buf[n-1] == 0:
		// Only the shortest form is accepted, so that every value has
		// one encoding and a decoded body re-encodes to the same bytes.
		d.fail(field, "varint not in its shortest form")
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

// count reads a number of items, each at least minSize bytes, and refuses
// a count the rest of the body can't hold, so that a hostile count never
// causes a large allocation.
func (d *decoder) count(field string, minSize int) int {
	n := d.uvarint(field)
	if d.err == nil && n > uint64(len(d.buf)/minSize) {
		d.fail(field, "count %d too large for the %d bytes left", n, len(d.buf))
		return 0
	}
	return int(n)
}

// bytes reads a length-prefixed byte string. The result aliases the body;
// it is nil if empty.
func (d *decoder) bytes(field string) []byte {
	n := d.uvarint(field)
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.buf)) {
		d.fail(field, "length %d exceeds the %d bytes left", n, len(d.buf))
		return nil
	}
	if n == 0 {
		return nil
	}
	b := d.buf[:n:n]
	d.buf = d.buf[n:]
	return b
}

// fixed fills dst from the body.
func (d *decoder) fixed(field string, dst []byte) {
	if d.err != nil {
		return
	}
	if len(d.buf) < len(dst) {
		d.fail(field, "truncated")
		return
	}
	copy(dst, d.buf)
	d.buf = d.buf[len(dst):]
}
