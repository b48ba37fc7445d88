// Package wire encodes and decodes the messages of the codrive replication
// protocol: the control, feed and group messages of PROTOCOL.md, sections
// 5 to 7, and the channel capability that proves knowledge of a key.
//
// A message body, as carried by the message stream of section 4, is
//
//	body = uvarint(channel) byte(type) payload
//
// [Append] writes one and [Decode] reads one. The length prefix of the
// stream and the Noise layer below it are not this package's concern.
//
// Decode accepts only what Append can produce, byte for byte: varints in
// their shortest form, no trailing bytes, every field within its rules.
// Decoding a message and appending it again therefore gives back the same
// body, except for a compressed DATA payload, whose zstd encoding is not
// unique.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
)

// MaxBodySize is the largest message body, and the largest payload a
// compressed DATA message may decompress to (PROTOCOL.md, section 4).
const MaxBodySize = 16 << 20

// MaxRequestBlocks is the most blocks one REQUEST may ask for.
const MaxRequestBlocks = 1024

// MaxReasonSize is the longest ERROR reason, in bytes (PROTOCOL.md,
// section 5).
const MaxReasonSize = 1024

// MaxExtensionNameSize is the longest EXTENSION name, in bytes.
// PROTOCOL.md does not bound the name; this does, so that a name stays
// cheap to log and to look up.
const MaxExtensionNameSize = 256

// ErrMalformed is wrapped by every error of Decode and Append: the body
// does not parse, or the message breaks a rule of PROTOCOL.md. Receiving
// one is a protocol error (section 8).
var ErrMalformed = errors.New("wire: malformed message")

// Type is a message type, the byte after the channel id.
type Type byte

// The message types. Types 1-4 go on the control channel, 16-22 on feed
// channels, 32 and 22 on group channels.
const (
	TypeOpen      Type = 1
	TypeClose     Type = 2
	TypeReject    Type = 3
	TypeError     Type = 4
	TypeSync      Type = 16
	TypeHave      Type = 17
	TypeRequest   Type = 18
	TypeData      Type = 19
	TypeNoData    Type = 20
	TypeCancel    Type = 21
	TypeExtension Type = 22
	TypeFeeds     Type = 32
)

// compressedBit is set in the type byte of a DATA message whose payload is
// a zstd frame.
const compressedBit = 0x80

var typeNames = [...]string{
	TypeOpen:      "OPEN",
	TypeClose:     "CLOSE",
	TypeReject:    "REJECT",
	TypeError:     "ERROR",
	TypeSync:      "SYNC",
	TypeHave:      "HAVE",
	TypeRequest:   "REQUEST",
	TypeData:      "DATA",
	TypeNoData:    "NODATA",
	TypeCancel:    "CANCEL",
	TypeExtension: "EXTENSION",
	TypeFeeds:     "FEEDS",
}

// String returns the name PROTOCOL.md gives the type, such as "REQUEST",
// or "type 99" for a type it does not define.
func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	return "type " + strconv.Itoa(int(t))
}

// control reports whether t belongs on the control channel, channel 0.
func (t Type) control() bool { return t >= TypeOpen && t <= TypeError }

// Kind is what a channel carries, as announced by OPEN.
type Kind byte

// The channel kinds.
const (
	KindFeed  Kind = 1
	KindGroup Kind = 2
)

// String returns "feed", "group", or "kind N" for an undefined kind.
func (k Kind) String() string {
	switch k {
	case KindFeed:
		return "feed"
	case KindGroup:
		return "group"
	}
	return "kind " + strconv.Itoa(int(k))
}

// Message is one protocol message: a pointer to one of the message
// structs of this package, such as *Open or *Data, which are its only
// implementations.
type Message interface {
	// Type returns the message's type.
	Type() Type

	// appendPayload appends the encoded payload.
	appendPayload(buf []byte) []byte
	// decode reads the payload's fields from d, which records any error.
	decode(d *decoder)
	// check reports a field that breaks a rule of PROTOCOL.md.
	check() error
}

// newMessage returns a zero message of type t, or nil if t is unknown.
func newMessage(t Type) Message {
	switch t {
	case TypeOpen:
		return new(Open)
	case TypeClose:
		return new(Close)
	case TypeReject:
		return new(Reject)
	case TypeError:
		return new(Error)
	case TypeSync:
		return new(Sync)
	case TypeHave:
		return new(Have)
	case TypeRequest:
		return new(Request)
	case TypeData:
		return new(Data)
	case TypeNoData:
		return new(NoData)
	case TypeCancel:
		return new(Cancel)
	case TypeExtension:
		return new(Extension)
	case TypeFeeds:
		return new(Feeds)
	}
	return nil
}

// Append appends the body of message m, which must not be nil, on channel
// to buf. If compress is set and m is a *Data, the payload is
// zstd-compressed when that makes it smaller; set compress only when zstd
// was negotiated (both hellos listed "zstd").
//
// Append refuses, with an error wrapping ErrMalformed, a message that
// Decode would refuse: a control message off channel 0 or another message
// on it, a field breaking its rule, or a body longer than MaxBodySize. buf
// is then returned unchanged.
func Append(buf []byte, channel uint64, m Message, compress bool) ([]byte, error) {
	t := m.Type()
	if err := checkChannel(channel, t); err != nil {
		return buf, err
	}
	if err := m.check(); err != nil {
		return buf, malformed(t, "%v", err)
	}
	start := len(buf)
	buf = binary.AppendUvarint(buf, channel)
	buf = append(buf, byte(t))
	payload := len(buf)
	buf = m.appendPayload(buf)
	if compress && t == TypeData {
		buf = compressPayload(buf, payload)
	}
	if n := len(buf) - start; n > MaxBodySize {
		return buf[:start], malformed(t, "body of %d bytes, more than %d", n, MaxBodySize)
	}
	return buf, nil
}

// dataHeadroom is room for the part of a DATA body before the proof:
// channel, type, request id and the proof's length.
const dataHeadroom = 3*binary.MaxVarintLen64 + 1

// EncodeData returns the body of a DATA message on channel answering
// request id, whose proof is what appendProof appends to the slice it is
// given, compressed as Append would if compress is set. size is the
// proof's encoded size, or a bound on it, so that the body is allocated
// once.
//
// Append copies a Data's proof into the body; EncodeData has the proof
// encoded in place, which for proofs of megabytes saves a copy as costly
// as the encoding itself. The body may start past the beginning of its
// backing array.
func EncodeData(channel, id uint64, compress bool, size int, appendProof func([]byte) []byte) ([]byte, error) {
	if err := checkChannel(channel, TypeData); err != nil {
		return nil, err
	}
	buf := make([]byte, dataHeadroom, dataHeadroom+max(size, 0))
	buf = appendProof(buf)
	proofLen := len(buf) - dataHeadroom
	var hdr [dataHeadroom]byte
	h := binary.AppendUvarint(hdr[:0], channel)
	h = append(h, byte(TypeData))
	payload := len(h)
	h = binary.AppendUvarint(h, id)
	h = binary.AppendUvarint(h, uint64(proofLen))
	start := dataHeadroom - len(h)
	copy(buf[start:], h)
	body := buf[start:]
	if compress {
		body = compressPayload(body, payload)
	}
	if len(body) > MaxBodySize {
		return nil, malformed(TypeData, "body of %d bytes, more than %d", len(body), MaxBodySize)
	}
	return body, nil
}

// Decode decodes one message body. allowCompressed tells whether zstd was
// negotiated; if not, a compressed DATA is refused.
//
// Every error wraps ErrMalformed. The byte fields of the result
// (Data.Proof, Extension.Message) alias body, except a decompressed DATA
// payload, which is freshly allocated; empty byte fields and lists are nil.
func Decode(body []byte, allowCompressed bool) (channel uint64, m Message, err error) {
	if len(body) == 0 {
		return 0, nil, malformed(0, "empty body")
	}
	if len(body) > MaxBodySize {
		return 0, nil, malformed(0, "body of %d bytes, more than %d", len(body), MaxBodySize)
	}
	d := decoder{buf: body}
	channel = d.uvarint("channel")
	tb := d.byte("type")
	if d.err != nil {
		return 0, nil, malformed(0, "%v", d.err)
	}
	t := Type(tb &^ compressedBit)
	compressed := tb&compressedBit != 0
	if compressed && t != TypeData {
		return 0, nil, malformed(t, "compressed, but only DATA may be")
	}
	if compressed && !allowCompressed {
		return 0, nil, malformed(t, "compressed, but zstd was not negotiated")
	}
	if m = newMessage(t); m == nil {
		return 0, nil, malformed(0, "unknown message type %d on channel %d", t, channel)
	}
	if err := checkChannel(channel, t); err != nil {
		return 0, nil, err
	}
	if compressed {
		if d.buf, err = decompress(d.buf); err != nil {
			return 0, nil, malformed(t, "%v", err)
		}
	}
	m.decode(&d)
	if d.err == nil && len(d.buf) != 0 {
		d.err = fmt.Errorf("%d bytes after the end", len(d.buf))
	}
	if d.err == nil {
		d.err = m.check()
	}
	if d.err != nil {
		return 0, nil, malformed(t, "%v", d.err)
	}
	return channel, m, nil
}

// checkChannel enforces the one channel rule that needs no session state:
// control messages on channel 0, every other message elsewhere. Which
// messages a feed or group channel carries is for the session to check.
func checkChannel(channel uint64, t Type) error {
	switch {
	case t.control() && channel != 0:
		return malformed(t, "control message on channel %d", channel)
	case !t.control() && channel == 0:
		return malformed(t, "not a control message, on channel 0")
	}
	return nil
}

// malformedError is a one-line description of a malformed message.
type malformedError string

func (e malformedError) Error() string { return string(e) }
func (e malformedError) Unwrap() error { return ErrMalformed }

// malformed returns an error naming message type t (none if 0) and the
// problem.
func malformed(t Type, format string, args ...any) error {
	prefix := "wire: "
	if t != 0 {
		prefix += t.String() + ": "
	}
	return malformedError(prefix + fmt.Sprintf(format, args...))
}
