package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/codrive/codrive/sdk"
)

// Open opens the sender's channel ID for a feed or a group (section 5).
//
//	payload = id byte(kind) key(discovery_key) key(capability)
type Open struct {
	// ID is the sender's id for the channel. It is never 0, the control
	// channel.
	ID uint64
	// Kind is KindFeed or KindGroup.
	Kind Kind
	// DiscoveryKey names the feed or group.
	DiscoveryKey sdk.DiscoveryKey
	// Capability proves that the sender knows the feed or group key; see
	// [Capability].
	Capability [32]byte
}

// Type returns TypeOpen.
func (*Open) Type() Type { return TypeOpen }

func (m *Open) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	b = append(b, byte(m.Kind))
	b = append(b, m.DiscoveryKey[:]...)
	return append(b, m.Capability[:]...)
}

func (m *Open) decode(d *decoder) {
	m.ID = d.uvarint("id")
	m.Kind = Kind(d.byte("kind"))
	d.fixed("discovery key", m.DiscoveryKey[:])
	d.fixed("capability", m.Capability[:])
}

func (m *Open) check() error {
	if m.ID == 0 {
		return errors.New("channel id 0, which is the control channel")
	}
	if m.Kind != KindFeed && m.Kind != KindGroup {
		return fmt.Errorf("unknown channel kind %d", m.Kind)
	}
	return nil
}

// Close says the sender will send no more on its channel ID.
//
//	payload = id
type Close struct {
	// ID is the sender's id for the channel, never 0.
	ID uint64
}

// Type returns TypeClose.
func (*Close) Type() Type { return TypeClose }

func (m *Close) appendPayload(b []byte) []byte { return binary.AppendUvarint(b, m.ID) }
func (m *Close) decode(d *decoder)             { m.ID = d.uvarint("id") }

func (m *Close) check() error {
	if m.ID == 0 {
		return errors.New("channel id 0, which is the control channel")
	}
	return nil
}

// Reject says the sender holds nothing under a discovery key.
//
//	payload = key(discovery_key)
type Reject struct {
	DiscoveryKey sdk.DiscoveryKey
}

// Type returns TypeReject.
func (*Reject) Type() Type { return TypeReject }

func (m *Reject) appendPayload(b []byte) []byte { return append(b, m.DiscoveryKey[:]...) }
func (m *Reject) decode(d *decoder)             { d.fixed("discovery key", m.DiscoveryKey[:]) }
func (m *Reject) check() error                  { return nil }

// Error carries the reason for a protocol error, sent just before the
// sender closes the connection.
//
//	payload = string(reason)
type Error struct {
	// Reason is UTF-8 text for logs and people, not to be parsed: at
	// most MaxReasonSize bytes.
	Reason string
}

// Type returns TypeError.
func (*Error) Type() Type { return TypeError }

func (m *Error) appendPayload(b []byte) []byte { return appendString(b, m.Reason) }
func (m *Error) decode(d *decoder)             { m.Reason = string(d.bytes("reason")) }

func (m *Error) check() error {
	if len(m.Reason) > MaxReasonSize {
		return fmt.Errorf("reason of %d bytes, more than %d", len(m.Reason), MaxReasonSize)
	}
	if !utf8.ValidString(m.Reason) {
		return errors.New("reason is not valid UTF-8")
	}
	return nil
}

// Sync announces the sender's latest signed head of a feed.
//
//	payload = fork length
type Sync struct {
	Fork, Length uint64
}

// Type returns TypeSync.
func (*Sync) Type() Type { return TypeSync }

func (m *Sync) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.Fork)
	return binary.AppendUvarint(b, m.Length)
}

func (m *Sync) decode(d *decoder) {
	m.Fork = d.uvarint("fork")
	m.Length = d.uvarint("length")
}

func (m *Sync) check() error { return nil }

// Have announces blocks the sender holds, in addition to those it
// announced before.
//
//	payload = n n*(start count)
//
// Ranges may come in any order and may overlap or touch; each holds at
// least one block and ends at most at 2^64-1.
type Have struct {
	Ranges []sdk.Range
}

// Type returns TypeHave.
func (*Have) Type() Type { return TypeHave }

func (m *Have) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(m.Ranges)))
	for _, r := range m.Ranges {
		b = binary.AppendUvarint(b, r.Start)
		b = binary.AppendUvarint(b, r.Len())
	}
	return b
}

func (m *Have) decode(d *decoder) {
	n := d.count("ranges", 2)
	if n == 0 {
		return
	}
	m.Ranges = make([]sdk.Range, n)
	for i := range m.Ranges {
		start, count := d.uvarint("range start"), d.uvarint("range count")
		switch {
		case d.err != nil:
			return
		case count == 0:
			d.fail("ranges", "range %d has count 0", i)
		case count > math.MaxUint64-start:
			d.fail("ranges", "range %d: start %d + count %d overflows", i, start, count)
		}
		m.Ranges[i] = sdk.Range{Start: start, End: start + count}
	}
}

func (m *Have) check() error {
	for i, r := range m.Ranges {
		if r.End <= r.Start {
			return fmt.Errorf("range %d: end %d not after start %d", i, r.End, r.Start)
		}
	}
	return nil
}

// Request asks for a proof of blocks [Start, End), against the receiver's
// latest head.
//
//	payload = req start end upgrade_from
type Request struct {
	// ID is chosen by the requester, unique among its outstanding
	// requests on the channel.
	ID uint64
	// Start and End bound the blocks asked for: End >= Start, and at most
	// MaxRequestBlocks of them.
	Start, End uint64
	// UpgradeFrom is the length whose roots the proof should show, 0 for
	// none.
	UpgradeFrom uint64
}

// Type returns TypeRequest.
func (*Request) Type() Type { return TypeRequest }

func (m *Request) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	b = binary.AppendUvarint(b, m.Start)
	b = binary.AppendUvarint(b, m.End)
	return binary.AppendUvarint(b, m.UpgradeFrom)
}

func (m *Request) decode(d *decoder) {
	m.ID = d.uvarint("request id")
	m.Start = d.uvarint("start")
	m.End = d.uvarint("end")
	m.UpgradeFrom = d.uvarint("upgrade from")
}

func (m *Request) check() error {
	if m.End < m.Start {
		return fmt.Errorf("end %d before start %d", m.End, m.Start)
	}
	if n := m.End - m.Start; n > MaxRequestBlocks {
		return fmt.Errorf("%d blocks, more than %d", n, MaxRequestBlocks)
	}
	return nil
}

// Data answers a request with a proof.
//
//	payload = req bytes(proof)
type Data struct {
	// ID is the id of the request answered.
	ID uint64
	// Proof is encoded as by host/feed.AppendProof; this package does not
	// look inside.
	Proof []byte
}

// Type returns TypeData.
func (*Data) Type() Type { return TypeData }

func (m *Data) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, m.ID)
	return appendBytes(b, m.Proof)
}

func (m *Data) decode(d *decoder) {
	m.ID = d.uvarint("request id")
	m.Proof = d.bytes("proof")
}

func (m *Data) check() error { return nil }

// NoData says the sender can't answer a request.
//
//	payload = req
type NoData struct {
	// ID is the id of the request refused.
	ID uint64
}

// Type returns TypeNoData.
func (*NoData) Type() Type { return TypeNoData }

func (m *NoData) appendPayload(b []byte) []byte { return binary.AppendUvarint(b, m.ID) }
func (m *NoData) decode(d *decoder)             { m.ID = d.uvarint("request id") }
func (m *NoData) check() error                  { return nil }

// Cancel withdraws a request.
//
//	payload = req
type Cancel struct {
	// ID is the id of the request withdrawn.
	ID uint64
}

// Type returns TypeCancel.
func (*Cancel) Type() Type { return TypeCancel }

func (m *Cancel) appendPayload(b []byte) []byte { return binary.AppendUvarint(b, m.ID) }
func (m *Cancel) decode(d *decoder)             { m.ID = d.uvarint("request id") }
func (m *Cancel) check() error                  { return nil }

// Extension carries an application message on a feed or group channel
// (section 7).
//
//	payload = string(name) bytes(message)
type Extension struct {
	// Name selects the handler: 1 to MaxExtensionNameSize bytes of UTF-8.
	Name string
	// Message is opaque to the protocol; it may be empty.
	Message []byte
}

// Type returns TypeExtension.
func (*Extension) Type() Type { return TypeExtension }

func (m *Extension) appendPayload(b []byte) []byte {
	b = appendString(b, m.Name)
	return appendBytes(b, m.Message)
}

func (m *Extension) decode(d *decoder) {
	m.Name = string(d.bytes("name"))
	m.Message = d.bytes("message")
}

func (m *Extension) check() error {
	switch {
	case m.Name == "":
		return errors.New("empty name")
	case len(m.Name) > MaxExtensionNameSize:
		return fmt.Errorf("name of %d bytes, more than %d", len(m.Name), MaxExtensionNameSize)
	case !utf8.ValidString(m.Name):
		return fmt.Errorf("name %q is not valid UTF-8", m.Name)
	}
	return nil
}

// Feeds lists feeds the sender holds in a group, in addition to those it
// listed before.
//
//	payload = n n*key
type Feeds struct {
	Keys []sdk.FeedKey
}

// Type returns TypeFeeds.
func (*Feeds) Type() Type { return TypeFeeds }

func (m *Feeds) appendPayload(b []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(m.Keys)))
	for _, k := range m.Keys {
		b = append(b, k[:]...)
	}
	return b
}

func (m *Feeds) decode(d *decoder) {
	n := d.count("keys", sdk.KeySize)
	if n == 0 {
		return
	}
	m.Keys = make([]sdk.FeedKey, n)
	for i := range m.Keys {
		d.fixed("keys", m.Keys[i][:])
	}
}

func (m *Feeds) check() error { return nil }

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
