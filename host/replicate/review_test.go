package replicate

// Tests for the findings of a review of the replication layer: each one
// failed before the fix it names.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/secure"
	"github.com/codrive/codrive/host/wire"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/memory"
	"github.com/codrive/codrive/transports/tcp"
)

// raw is a hand-driven peer whose incoming messages are read in the
// background, so a test can wait for one with a deadline or check that
// none of a kind arrives.
type raw struct {
	sc   *secure.Conn
	msgs chan rawMsg
}

type rawMsg struct {
	ch  uint64
	m   wire.Message
	err error
}

func newRaw(t *testing.T, to *host) *raw {
	t.Helper()
	sc := rawPeer(t, to)
	r := &raw{sc: sc, msgs: make(chan rawMsg, 1<<18)}
	go func() {
		for {
			body, err := sc.ReadMessage()
			if err != nil {
				r.msgs <- rawMsg{err: err}
				return
			}
			ch, m, err := wire.Decode(body, false)
			r.msgs <- rawMsg{ch: ch, m: m, err: err}
			if err != nil {
				return
			}
		}
	}()
	return r
}

func (r *raw) send(t *testing.T, ch uint64, ms ...wire.Message) {
	t.Helper()
	for _, m := range ms {
		body, err := wire.Append(nil, ch, m, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.sc.WriteMessage(body); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.sc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// until returns the messages received up to and including the first that
// match says is the one; it fails the test if the connection ends or ten
// seconds pass first.
func (r *raw) until(t *testing.T, what string, match func(uint64, wire.Message) bool) []rawMsg {
	t.Helper()
	var got []rawMsg
	deadline := time.After(10 * time.Second)
	for {
		select {
		case m := <-r.msgs:
			if m.err != nil {
				t.Fatalf("waiting for %s: connection ended: %v (after %s)", what, m.err, describe(got))
			}
			got = append(got, m)
			if match(m.ch, m.m) {
				return got
			}
		case <-deadline:
			t.Fatalf("waiting for %s: timed out after %s", what, describe(got))
		}
	}
}

// quiet fails the test if a message that bad matches arrives within d,
// and returns the others. It is for checking that something does not
// happen; d only bounds how long the test looks.
func (r *raw) quiet(t *testing.T, d time.Duration, what string, bad func(uint64, wire.Message) bool) []rawMsg {
	t.Helper()
	var got []rawMsg
	deadline := time.After(d)
	for {
		select {
		case m := <-r.msgs:
			if m.err != nil {
				t.Fatalf("connection ended: %v", m.err)
			}
			if bad(m.ch, m.m) {
				t.Fatalf("%s: got %s", what, describe([]rawMsg{m}))
			}
			got = append(got, m)
		case <-deadline:
			return got
		}
	}
}

// sentinel asks the honest host something it answers at once (an OPEN of
// a key it does not serve) and reads up to the answer. The host handles a
// connection's messages in order, so everything it did for the messages
// before is done by then. It returns the messages read.
func (r *raw) sentinel(t *testing.T) []rawMsg {
	t.Helper()
	dk := sdk.DiscoveryKey{0xee, 0xee}
	r.send(t, 0, &wire.Open{ID: 1 << 40, Kind: wire.KindFeed, DiscoveryKey: dk})
	return r.until(t, "the answer to the sentinel OPEN", func(_ uint64, m wire.Message) bool {
		if e, ok := m.(*wire.Error); ok {
			t.Fatalf("the host closed the connection: %s", e.Reason)
		}
		rej, ok := m.(*wire.Reject)
		return ok && rej.DiscoveryKey == dk
	})
}

// errorReason reads until the host's ERROR and returns its reason.
func (r *raw) errorReason(t *testing.T) string {
	t.Helper()
	msgs := r.until(t, "an ERROR", func(_ uint64, m wire.Message) bool { _, ok := m.(*wire.Error); return ok })
	return msgs[len(msgs)-1].m.(*wire.Error).Reason
}

func describe(msgs []rawMsg) string {
	var b strings.Builder
	for i, m := range msgs {
		if i == 8 {
			fmt.Fprintf(&b, " ... (%d in all)", len(msgs))
			break
		}
		fmt.Fprintf(&b, " [%d %T %.120s]", m.ch, m.m, fmt.Sprintf("%+v", m.m))
	}
	return b.String()
}

func isType[T wire.Message](_ uint64, m wire.Message) bool { _, ok := m.(T); return ok }

// open opens channel id for f on the honest host, proving the key.
func (r *raw) open(t *testing.T, id uint64, kind wire.Kind, key sdk.FeedKey) {
	t.Helper()
	capa := wire.Capability(key, r.sc.HandshakeHash(), true)
	r.send(t, 0, &wire.Open{ID: id, Kind: kind, DiscoveryKey: feed.DiscoveryKey(key), Capability: capa})
}

// stubGroup is a GroupHandler holding a fixed list.
type stubGroup struct {
	keys []sdk.FeedKey
	mu   sync.Mutex
	got  []sdk.FeedKey
}

func (g *stubGroup) Feeds() []sdk.FeedKey { return g.keys }
func (g *stubGroup) AddFeeds(_ sdk.PeerKey, keys []sdk.FeedKey) {
	g.mu.Lock()
	g.got = append(g.got, keys...)
	g.mu.Unlock()
}

// Finding: OPEN was followed at once by FEEDS (the member feed keys of a
// group, which are read capabilities) and by SYNC/HAVE, to any peer that
// connected, before it proved it knows the group or feed key.
func TestNothingBeforeTheKeyIsProven(t *testing.T) {
	a := newHost(t)
	w := writer(t, 20, 10)
	a.r.Add(w, FeedOptions{})
	groupKey := sdk.FeedKey{0x61}
	member := sdk.FeedKey{0x62}
	a.r.AddGroup(groupKey, &stubGroup{keys: []sdk.FeedKey{member}})

	r := newRaw(t, a)
	for _, m := range r.sentinel(t) {
		switch m.m.(type) {
		case *wire.Feeds, *wire.Sync, *wire.Have:
			t.Fatalf("a peer that proved no key got %s", describe([]rawMsg{m}))
		}
	}

	// Once the peer proves the keys, it gets the announcements.
	r.open(t, 1, wire.KindGroup, groupKey)
	msgs := r.until(t, "the group's feeds", isType[*wire.Feeds])
	if got := msgs[len(msgs)-1].m.(*wire.Feeds).Keys; !cmp.Equal(got, []sdk.FeedKey{member}) {
		t.Errorf("FEEDS lists %v, want %v", got, member)
	}
	r.open(t, 2, wire.KindFeed, w.Key())
	msgs = r.until(t, "the feed's HAVE", isType[*wire.Have])
	if got := msgs[len(msgs)-1].m.(*wire.Have).Ranges; !cmp.Equal(got, []sdk.Range{{Start: 0, End: 10}}) {
		t.Errorf("HAVE lists %v, want [0, 10)", got)
	}
}

// Finding: HAVE ranges went into a paged bitfield, 4 KiB per 32,768
// indexes touched, so one message announcing a long range or many
// scattered ones made the host allocate without bound (2^63 blocks: all
// memory).
func TestHaveCostsLittleMemory(t *testing.T) {
	tests := []struct {
		name   string
		ranges []sdk.Range
	}{
		{"one long range", []sdk.Range{{Start: 0, End: 1 << 30}}},
		{"scattered ranges", func() []sdk.Range {
			var rs []sdk.Range
			for i := uint64(0); i < 20000; i++ {
				rs = append(rs, sdk.Range{Start: i << 16, End: i<<16 + 1})
			}
			return rs
		}()},
		{"everything", []sdk.Range{{Start: 0, End: 1<<64 - 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newHost(t)
			w := writer(t, 21, 10)
			rep := replica(t, w.Key())
			b.r.Add(rep, FeedOptions{Download: true})
			r := newRaw(t, b)
			r.open(t, 1, wire.KindFeed, w.Key())
			r.sentinel(t)

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			r.send(t, 1, &wire.Sync{Length: 1<<64 - 1}, &wire.Have{Ranges: tt.ranges})
			r.sentinel(t)
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
				t.Fatalf("the host allocated %d MiB for one HAVE", n>>20)
			}
		})
	}
}

// Finding: after Remove, the peer's next SYNC or HAVE on its channel,
// which is still open (CLOSE only ends the sender's side), was "a message
// on a channel the peer never opened": the connection was dropped. And
// adding the feed again did not replicate it on that connection.
func TestRemoveKeepsTheConnection(t *testing.T) {
	a, b := newHost(t), newHost(t)
	w := writer(t, 22, 100)
	r := replica(t, w.Key())
	a.r.Add(w, FeedOptions{})
	b.r.Add(r, FeedOptions{Download: true})
	b.dial(t, a)
	waitFor(t, r, "the first 100 blocks", func() bool { return r.Has(0, 100) && r.Length() == 100 })

	b.r.Remove(w.Key())
	appendN(t, w, 100, 200) // a announces on its channel, which b closed
	b.r.Add(r, FeedOptions{Download: true})
	waitFor(t, r, "the blocks appended meanwhile", func() bool { return r.Has(0, 200) && r.Length() == 200 })
	if n := len(a.r.Peers()); n != 1 {
		t.Errorf("%d peers, want 1", n)
	}
}

// Finding: after Remove, the messages of the peer's channel, still open,
// must be ignored, not treated as a protocol error.
func TestMessagesAfterOurCloseAreIgnored(t *testing.T) {
	a := newHost(t)
	w := writer(t, 23, 10)
	a.r.Add(w, FeedOptions{})
	r := newRaw(t, a)
	r.open(t, 1, wire.KindFeed, w.Key())
	r.until(t, "the host's OPEN", isType[*wire.Open])
	a.r.Remove(w.Key())
	r.until(t, "the host's CLOSE", isType[*wire.Close])
	r.send(t, 1, &wire.Sync{Length: 10}, &wire.Have{Ranges: []sdk.Range{{Start: 0, End: 10}}}, &wire.Request{ID: 1, Start: 0, End: 1})
	r.sentinel(t)
}

// Finding: a request was answered by reading every block it named, up to
// 1,024 blocks of 8 MiB, and halving the proof until it fit in a message:
// a peer could make the host read gigabytes per request.
func TestAnswerReadsLittle(t *testing.T) {
	a := newHost(t)
	st := &readRecorder{Storage: memory.New()}
	w, err := feed.Create(ctx, st, ed25519.NewKeyFromSeed(bytes.Repeat([]byte{24}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	const blocks = 48
	big := bytes.Repeat([]byte{'x'}, 1<<20)
	for range blocks / 8 {
		if _, err := w.Append(ctx, big, big, big, big, big, big, big, big); err != nil {
			t.Fatal(err)
		}
	}
	st.reset()
	a.r.Add(w, FeedOptions{})
	r := newRaw(t, a)
	r.open(t, 1, wire.KindFeed, w.Key())
	r.send(t, 1, &wire.Request{ID: 1, Start: 0, End: blocks})
	msgs := r.until(t, "the answer", func(_ uint64, m wire.Message) bool {
		switch m := m.(type) {
		case *wire.Data:
			return m.ID == 1
		case *wire.NoData:
			t.Fatal("NODATA")
		}
		return false
	})
	p, err := feed.DecodeProof(msgs[len(msgs)-1].m.(*wire.Data).Proof)
	if err != nil {
		t.Fatal(err)
	}
	if p.Start != 0 || len(p.Blocks) == 0 {
		t.Fatalf("the answer covers %d blocks from %d, want a prefix of the request", len(p.Blocks), p.Start)
	}
	if most := st.most(); most > answerBytes+len(big) {
		t.Errorf("one read of %d MiB for one answer, want at most %d", most>>20, (answerBytes+len(big))>>20)
	}
}

// readRecorder remembers the most bytes one ReadBlocks returned.
type readRecorder struct {
	sdk.Storage
	mu      sync.Mutex
	largest int
}

func (s *readRecorder) ReadBlocks(ctx context.Context, key sdk.FeedKey, start, end uint64) ([][]byte, error) {
	blocks, err := s.Storage.ReadBlocks(ctx, key, start, end)
	n := 0
	for _, b := range blocks {
		n += len(b)
	}
	s.mu.Lock()
	s.largest = max(s.largest, n)
	s.mu.Unlock()
	return blocks, err
}

func (s *readRecorder) most() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.largest
}

func (s *readRecorder) reset() {
	s.mu.Lock()
	s.largest = 0
	s.mu.Unlock()
}

// Finding: a host queued the requests of all channels of a connection
// together, 16 at most, and answered the rest with NODATA, so a peer
// that kept within the limit of 16 per channel on two channels was told
// that blocks the host holds are not available.
func TestRequestLimitIsPerChannel(t *testing.T) {
	a := newHost(t)
	w1, w2 := writer(t, 25, 20), writer(t, 26, 20)
	a.r.Add(w1, FeedOptions{})
	a.r.Add(w2, FeedOptions{})
	r := newRaw(t, a)
	r.open(t, 1, wire.KindFeed, w1.Key())
	r.open(t, 2, wire.KindFeed, w2.Key())
	var reqs []wire.Message
	for i := uint64(0); i < maxInflight; i++ {
		reqs = append(reqs, &wire.Request{ID: i + 1, Start: i, End: i + 1})
	}
	r.send(t, 1, reqs...)
	r.send(t, 2, reqs...)
	answers, nodata := 0, 0
	r.until(t, "32 answers", func(_ uint64, m wire.Message) bool {
		switch m.(type) {
		case *wire.Data:
			answers++
		case *wire.NoData:
			answers++
			nodata++
		}
		return answers == 2*maxInflight
	})
	if nodata != 0 {
		t.Errorf("%d requests within the limit answered NODATA", nodata)
	}
}

// Finding: Fetch sent its request whatever the number already
// outstanding on the channel, so with a download running it made a 17th
// and the peer could refuse it, making Fetch fail with "not available".
func TestFetchKeepsTheRequestLimit(t *testing.T) {
	b := newHost(t)
	w := writer(t, 27, 5000)
	rep := replica(t, w.Key())
	b.r.Add(rep, FeedOptions{Download: true})
	r := newRaw(t, b)
	r.open(t, 1, wire.KindFeed, w.Key())
	r.send(t, 1, &wire.Sync{Length: 5000}, &wire.Have{Ranges: []sdk.Range{{Start: 0, End: 5000}}})
	var first *wire.Request
	n := 0
	r.until(t, "the download's requests", func(_ uint64, m wire.Message) bool {
		if req, ok := m.(*wire.Request); ok {
			n++
			if first == nil {
				first = req
			}
		}
		return n == maxInflight
	})

	fetched := make(chan error, 1)
	go func() { fetched <- b.r.Fetch(ctx, w.Key(), 4999, 5000) }()
	r.quiet(t, time.Second, "a request over the limit", isType[*wire.Request])
	r.send(t, 1, &wire.NoData{ID: first.ID})
	msgs := r.until(t, "Fetch's request", isType[*wire.Request])
	req := msgs[len(msgs)-1].m.(*wire.Request)
	if req.Start > 4999 || req.End <= 4999 {
		t.Fatalf("the next request is for [%d, %d), want Fetch's, for block 4999", req.Start, req.End)
	}
	proof, err := w.Proof(ctx, feed.ProofRequest{Start: req.Start, End: req.End, UpgradeFrom: req.UpgradeFrom})
	if err != nil {
		t.Fatal(err)
	}
	r.send(t, 1, &wire.Data{ID: req.ID, Proof: feed.AppendProof(nil, proof)})
	if err := <-fetched; err != nil {
		t.Fatalf("Fetch: %v", err)
	}
}

// Finding: Fetch asked for a run of blocks only from a peer that had all
// of it, so blocks held by two peers between them were "not available".
// A run that no peer has whole still fails at once, fetching nothing (as
// the conformance suite requires).
func TestFetchFromSeveralPeers(t *testing.T) {
	w := writer(t, 28, 10)
	holder := func(t *testing.T, start, end uint64) *host {
		h := newHost(t)
		f := replica(t, w.Key())
		p, err := w.Proof(ctx, feed.ProofRequest{Start: start, End: end})
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Put(ctx, p); err != nil {
			t.Fatal(err)
		}
		h.r.Add(f, FeedOptions{})
		return h
	}
	// fetch retries while the peers' HAVE may still be on its way.
	fetch := func(b *host, start, end uint64) error {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := b.r.Fetch(ctx, w.Key(), start, end)
			if err == nil || time.Now().After(deadline) {
				return err
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	t.Run("split between two peers", func(t *testing.T) {
		b := newHost(t)
		rep := replica(t, w.Key())
		b.r.Add(rep, FeedOptions{})
		b.dial(t, holder(t, 0, 5))
		b.dial(t, holder(t, 5, 10))
		if err := fetch(b, 0, 10); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]sdk.Range{{Start: 0, End: 10}}, rep.Present()); diff != "" {
			t.Errorf("held (-want +got):\n%s", diff)
		}
	})
	t.Run("part of the run", func(t *testing.T) {
		b := newHost(t)
		rep := replica(t, w.Key())
		b.r.Add(rep, FeedOptions{})
		b.dial(t, holder(t, 0, 5))
		if err := fetch(b, 0, 1); err != nil {
			t.Fatal(err)
		}
		if err := b.r.Fetch(ctx, w.Key(), 3, 8); !errors.Is(err, ErrNotAvailable) {
			t.Fatalf("Fetch [3, 8) = %v, want ErrNotAvailable", err)
		}
		if diff := cmp.Diff([]sdk.Range{{Start: 0, End: 1}}, rep.Present()); diff != "" {
			t.Errorf("held (-want +got):\n%s", diff)
		}
	})
}

// Finding: a peer whose head is behind ours answers with proofs against
// its older head, which we may be unable to relate to ours (ErrStale);
// the download asked again at once, forever, at full speed.
func TestStaleAnswersAreNotAskedAgain(t *testing.T) {
	w := writer(t, 29, 100)
	old, err := w.Proof(ctx, feed.ProofRequest{Start: 0, End: 100})
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, w, 100, 200)
	rep := replica(t, w.Key())
	p, err := w.Proof(ctx, feed.ProofRequest{Start: 150, End: 151})
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.Put(ctx, p); err != nil {
		t.Fatal(err)
	}

	b := newHost(t)
	b.r.Add(rep, FeedOptions{Download: true})
	r := newRaw(t, b)
	r.open(t, 1, wire.KindFeed, w.Key())
	r.send(t, 1, &wire.Sync{Length: 100}, &wire.Have{Ranges: []sdk.Range{{Start: 0, End: 100}}})
	msgs := r.until(t, "a request", isType[*wire.Request])
	req := msgs[len(msgs)-1].m.(*wire.Request)
	if req.Start != 0 || req.End != 100 {
		t.Fatalf("request for [%d, %d), want [0, 100)", req.Start, req.End)
	}
	r.send(t, 1, &wire.Data{ID: req.ID, Proof: feed.AppendProof(nil, old)})
	r.quiet(t, time.Second, "asked again for what the peer can't prove against our head", isType[*wire.Request])
}

// Finding: an OPEN could reuse the id of another open channel of the
// peer's; the first channel then pointed at an id that now meant another
// feed.
func TestChannelIDReuseIsAnError(t *testing.T) {
	a := newHost(t)
	w1, w2 := writer(t, 30, 1), writer(t, 31, 1)
	a.r.Add(w1, FeedOptions{})
	a.r.Add(w2, FeedOptions{})
	r := newRaw(t, a)
	r.open(t, 1, wire.KindFeed, w1.Key())
	r.open(t, 1, wire.KindFeed, w2.Key())
	if reason := r.errorReason(t); !strings.Contains(reason, "channel 1") {
		t.Errorf("reason %q", reason)
	}
}

// Finding: the ids of channels opened for keys the host does not serve
// were remembered without limit, so a stream of OPENs grew a map forever.
func TestRejectedChannelsAreBounded(t *testing.T) {
	a := newHost(t)
	r := newRaw(t, a)
	const batch = 4096
	for sent := 0; sent <= maxRejected; sent += batch {
		var opens []wire.Message
		for i := sent; i < sent+batch; i++ {
			opens = append(opens, &wire.Open{ID: uint64(i + 1), Kind: wire.KindFeed, DiscoveryKey: sdk.DiscoveryKey{byte(i), byte(i >> 8), byte(i >> 16), 1}})
		}
		if err := writeAll(r.sc, 0, opens); err != nil {
			break // the host gave up on us
		}
	}
	if reason := r.errorReason(t); !strings.Contains(reason, "channels") {
		t.Errorf("reason %q", reason)
	}
}

func writeAll(sc *secure.Conn, ch uint64, ms []wire.Message) error {
	for _, m := range ms {
		body, err := wire.Append(nil, ch, m, false)
		if err != nil {
			return err
		}
		if err := sc.WriteMessage(body); err != nil {
			return err
		}
	}
	return sc.Flush()
}

// Finding: DATA answering a request that was never made was dropped
// silently; the protocol allows DATA only in answer to a REQUEST.
func TestUnsolicitedDataIsAnError(t *testing.T) {
	a := newHost(t)
	w := writer(t, 32, 10)
	a.r.Add(w, FeedOptions{})
	r := newRaw(t, a)
	r.open(t, 1, wire.KindFeed, w.Key())
	p, _ := w.Proof(ctx, feed.ProofRequest{Start: 0, End: 1})
	r.send(t, 1, &wire.Data{ID: 999, Proof: feed.AppendProof(nil, p)})
	if reason := r.errorReason(t); !strings.Contains(reason, "request 999") {
		t.Errorf("reason %q", reason)
	}
}

// Finding: an answer was stored whatever blocks it covered, so a peer
// could answer with another range, with no block at all (the download
// then asked again at once, forever), or with more than was asked.
func TestAnswersMustMatchTheRequest(t *testing.T) {
	tests := []struct {
		name  string
		start func(req *wire.Request) uint64
		end   func(req *wire.Request) uint64
	}{
		{"another range", func(req *wire.Request) uint64 { return req.Start + 1 }, func(req *wire.Request) uint64 { return req.End }},
		{"no block", func(req *wire.Request) uint64 { return req.Start }, func(req *wire.Request) uint64 { return req.Start }},
		{"more than asked", func(req *wire.Request) uint64 { return req.Start }, func(req *wire.Request) uint64 { return req.End + 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newHost(t)
			w := writer(t, 33, 20)
			rep := replica(t, w.Key())
			b.r.Add(rep, FeedOptions{Download: true})
			sc := rawPeer(t, b)
			req := openAsEvil(t, sc, w, 10)
			proof, err := w.Proof(ctx, feed.ProofRequest{Start: tt.start(req), End: tt.end(req), UpgradeFrom: req.UpgradeFrom})
			if err != nil {
				t.Fatal(err)
			}
			sendRaw(t, sc, 1, &wire.Data{ID: req.ID, Proof: feed.AppendProof(nil, proof)})
			if reason := readUntilError(t, sc); !strings.Contains(reason, "protocol error") {
				t.Fatalf("honest host's reason: %q", reason)
			}
			if rep.Length() != 0 || len(rep.Present()) != 0 {
				t.Fatalf("a wrong answer left length %d, present %v", rep.Length(), rep.Present())
			}
		})
	}
}

// Finding: SendExtension returned nil for a message the wire refuses (an
// empty or long name, more than 16 MiB), which was then dropped.
func TestSendExtensionRefusesInvalidMessages(t *testing.T) {
	a, b := newHost(t), newHost(t)
	w := writer(t, 34, 1)
	rep := replica(t, w.Key())
	a.r.Add(w, FeedOptions{})
	b.r.Add(rep, FeedOptions{})
	b.dial(t, a)
	deadline := time.Now().Add(10 * time.Second)
	for b.r.SendExtension(w.Key(), "ok", nil, []byte("hi")) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the channel did not open")
		}
		time.Sleep(10 * time.Millisecond)
	}
	tests := []struct {
		name, ext string
		msg       []byte
	}{
		{"empty name", "", nil},
		{"long name", strings.Repeat("n", wire.MaxExtensionNameSize+1), nil},
		{"too large", "big", make([]byte, wire.MaxBodySize)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := b.r.SendExtension(w.Key(), tt.ext, nil, tt.msg); !errors.Is(err, sdk.ErrInvalid) {
				t.Errorf("SendExtension = %v, want ErrInvalid", err)
			}
		})
	}
}

// Finding: the peer's ERROR reason, up to 16 MiB, went whole into the
// error Handle returns and into logs.
func TestPeerReasonIsCut(t *testing.T) {
	id, _ := secure.NewIdentity()
	hr := New(Config{Identity: id})
	t.Cleanup(func() { hr.Close() })
	tr := tcp.New()
	t.Cleanup(func() { tr.Close() })
	ln, err := tr.Listen(ctx, ma.StringCast("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	handled := make(chan error, 1)
	go func() {
		c, err := ln.Accept(ctx)
		if err != nil {
			handled <- err
			return
		}
		handled <- hr.Handle(ctx, c, false)
	}()
	r := newRaw(t, &host{r: hr, addr: ln.Addr()})
	// A reason longer than the 1 KiB the protocol allows, sent raw.
	reason := bytes.Repeat([]byte{'r'}, 100<<10)
	body := append(binary.AppendUvarint([]byte{0, byte(wire.TypeError)}, uint64(len(reason))), reason...)
	if err := r.sc.WriteMessage(body); err != nil {
		t.Fatal(err)
	}
	r.sc.Flush()
	select {
	case err := <-handled:
		if n := len(err.Error()); n > 1200 || !utf8.ValidString(err.Error()) {
			t.Errorf("Handle's error is %d bytes (valid UTF-8: %v)", n, utf8.ValidString(err.Error()))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Handle did not return")
	}
}

func TestTruncateKeepsUTF8(t *testing.T) {
	for _, s := range []string{strings.Repeat("é", 600), strings.Repeat("a", 1023) + "€", "short"} {
		got := truncate(s, 1024)
		if len(got) > 1024 || !utf8.ValidString(got) || !strings.HasPrefix(s, got) {
			t.Errorf("truncate(%q...) = %d bytes, valid %v", s[:8], len(got), utf8.ValidString(got))
		}
	}
}

// Finding: requests already queued when a feed was removed were still
// answered, on the channel the host had just closed.
func TestNothingSentAfterClose(t *testing.T) {
	a := newHost(t)
	w, err := feed.Create(ctx, memory.New(), ed25519.NewKeyFromSeed(bytes.Repeat([]byte{35}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte{'y'}, 1<<20)
	for range 8 {
		if _, err := w.Append(ctx, big, big, big, big, big, big, big, big); err != nil {
			t.Fatal(err)
		}
	}
	a.r.Add(w, FeedOptions{})
	r := newRaw(t, a)
	r.open(t, 1, wire.KindFeed, w.Key())
	var reqs []wire.Message
	for i := uint64(0); i < maxInflight; i++ {
		reqs = append(reqs, &wire.Request{ID: i + 1, Start: 4 * i, End: 4*i + 4})
	}
	r.send(t, 1, reqs...)
	msgs := r.until(t, "the first answer", isType[*wire.Data])
	var hostID uint64
	for _, m := range msgs {
		if o, ok := m.m.(*wire.Open); ok {
			hostID = o.ID
		}
	}
	a.r.Remove(w.Key())
	r.until(t, "the host's CLOSE", isType[*wire.Close])
	r.quiet(t, time.Second, "a message on the closed channel", func(ch uint64, _ wire.Message) bool { return ch == hostID })
}

// TestNoGoroutineLeft: once both replicators are closed, every goroutine
// of their sessions (readers, writers, servers, ingests) ends.
func TestNoGoroutineLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	t.Run("replicate", func(t *testing.T) { // its cleanups close the listeners
		a, b := newHost(t), newHost(t)
		w := writer(t, 41, 2000)
		rep := replica(t, w.Key())
		a.r.Add(w, FeedOptions{})
		b.r.Add(rep, FeedOptions{Download: true})
		b.dial(t, a)
		waitFor(t, rep, "the download", func() bool { return rep.Has(0, 2000) })
	})
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
