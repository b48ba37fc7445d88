package secure

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/sdk"
)

// pattern returns n bytes that differ with seed.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + seed*7 + i>>11)
	}
	return b
}

// send writes bodies and flushes, in the background; the returned channel
// gets the result.
func send(c *Conn, bodies ...[]byte) <-chan error {
	errc := make(chan error, 1)
	go func() {
		for _, b := range bodies {
			if err := c.WriteMessage(b); err != nil {
				errc <- err
				return
			}
		}
		errc <- c.Flush()
	}()
	return errc
}

func TestMessageSizes(t *testing.T) {
	sizes := []int{1, 2, 127, 128, maxPlain - 3, maxPlain, maxPlain + 1, 1 << 20, MaxMessage}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c, s := connected(t, tr.pair)
			var bodies [][]byte
			for i, n := range sizes {
				bodies = append(bodies, pattern(n, i))
			}
			errc := send(c, bodies...)
			for i, want := range bodies {
				got, err := s.ReadMessage()
				if err != nil {
					t.Fatalf("message %d of %d bytes: %v", i, len(want), err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("message %d of %d bytes: got %d bytes, not the ones sent", i, len(want), len(got))
				}
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			// A returned body is the caller's: reading more leaves it alone.
			first := bodies[0]
			errc = send(c, []byte("x"), []byte("y"))
			kept, _ := s.ReadMessage()
			if _, err := s.ReadMessage(); err != nil {
				t.Fatal(err)
			}
			if err := <-errc; err != nil {
				t.Fatal(err)
			}
			if string(kept) != "x" || len(first) != 1 {
				t.Errorf("an earlier body changed to %q", kept)
			}
		})
	}
}

func TestWriteLimits(t *testing.T) {
	c, s := connected(t, tcpPair)
	for _, n := range []int{0, MaxMessage + 1} {
		err := c.WriteMessage(make([]byte, n))
		if !errors.Is(err, sdk.ErrInvalid) {
			t.Errorf("WriteMessage of %d bytes: got %v, want an error wrapping sdk.ErrInvalid", n, err)
		}
	}
	if err := c.WriteMessage(nil); !errors.Is(err, sdk.ErrInvalid) {
		t.Errorf("WriteMessage(nil): got %v, want an error wrapping sdk.ErrInvalid", err)
	}
	// Refused messages leave nothing behind and the connection usable.
	errc := send(c, []byte("after"))
	got, err := s.ReadMessage()
	if err != nil || string(got) != "after" {
		t.Fatalf("got %q, %v; want \"after\"", got, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// inject puts raw plaintext into c's stream, bypassing WriteMessage's
// checks, and flushes it.
func inject(t *testing.T, c *Conn, plain []byte) {
	t.Helper()
	c.wmu.Lock()
	err := c.buffer(plain)
	c.wmu.Unlock()
	if err == nil {
		err = c.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
}

func uvarint(v uint64) string { return string(binary.AppendUvarint(nil, v)) }

func TestBadStream(t *testing.T) {
	tests := []struct {
		name    string
		plain   string // put in the sender's plaintext stream
		frame   string // or written as is in place of a Noise message
		close   bool   // the sender closes afterwards
		good    []string
		wantErr error
		want    string
	}{
		{name: "clean end", plain: "\x02ok", close: true, good: []string{"ok"}, wantErr: io.EOF, want: "EOF"},
		{name: "too large", plain: uvarint(MaxMessage+1) + "abc", wantErr: ErrProtocol,
			want: "secure: protocol error: message of 16777217 bytes exceeds the 16 MiB limit"},
		{name: "largest varint", plain: uvarint(math.MaxUint64), wantErr: ErrProtocol,
			want: "message of 18446744073709551615 bytes exceeds the 16 MiB limit"},
		{name: "zero length", plain: "\x02ok\x00", good: []string{"ok"}, wantErr: ErrProtocol, want: "length 0"},
		{name: "non-shortest length", plain: "\x81\x00x", wantErr: ErrProtocol, want: "malformed message length: varint not in shortest form"},
		{name: "varint overflow", plain: strings.Repeat("\xff", 9) + "\x02", wantErr: ErrProtocol, want: "malformed message length: varint overflows 64 bits"},
		{name: "varint too long", plain: strings.Repeat("\xff", 10) + "\x01", wantErr: ErrProtocol, want: "malformed message length: varint longer than 10 bytes"},
		{name: "cut in the body", plain: "\x05ab", close: true, wantErr: io.ErrUnexpectedEOF, want: "ended in the middle of a message"},
		{name: "cut in the length", plain: "\x02ok\x80", close: true, good: []string{"ok"}, wantErr: io.ErrUnexpectedEOF, want: "ended in the middle of a message"},
		{name: "short frame", frame: "\x00\x03abc", wantErr: ErrProtocol, want: "a Noise message of 3 bytes, shorter than its 16-byte tag"},
		{name: "empty frame", frame: "\x00\x00", wantErr: ErrProtocol, want: "a Noise message of 0 bytes"},
		{name: "forged frame", frame: "\x00\x20" + strings.Repeat("\x42", 32), wantErr: ErrProtocol, want: "does not decrypt"},
		{name: "cut frame", frame: "\x00\x40abc", close: true, wantErr: io.ErrUnexpectedEOF, want: "ended in the middle of a Noise message"},
		{name: "cut frame length", frame: "\x00", close: true, wantErr: io.ErrUnexpectedEOF, want: "ended in the middle of a Noise message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, s := connected(t, tcpPair)
			if tc.plain != "" {
				inject(t, c, []byte(tc.plain))
			}
			if tc.frame != "" {
				if _, err := c.conn.Write([]byte(tc.frame)); err != nil {
					t.Fatal(err)
				}
			}
			if tc.close {
				c.Close()
			}
			for _, want := range tc.good {
				got, err := s.ReadMessage()
				if err != nil || string(got) != want {
					t.Fatalf("got %q, %v; want %q", got, err, want)
				}
			}
			body, err := s.ReadMessage()
			if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %q, %v; want an error wrapping %v saying %q", body, err, tc.wantErr, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q is more than one line", err)
			}
			if _, again := s.ReadMessage(); again != err {
				t.Errorf("second read: %v, want the same error again", again)
			}
		})
	}
}

// sliceSource hands out pieces of a stream, then io.EOF or err.
func sliceSource(pieces []string, err error) func() ([]byte, error) {
	return func() ([]byte, error) {
		if len(pieces) == 0 {
			if err != nil {
				return nil, err
			}
			return nil, io.EOF
		}
		p := []byte(pieces[0])
		pieces = pieces[1:]
		return p, nil
	}
}

// readAll reads messages until an error and returns both.
func readAll(r *messageReader) ([]string, error) {
	var msgs []string
	for {
		m, err := r.readMessage()
		if err != nil {
			return msgs, err
		}
		msgs = append(msgs, string(m))
	}
}

func TestMessageReader(t *testing.T) {
	broken := errors.New("broken pipe")
	big := strings.Repeat("m", MaxMessage)
	tests := []struct {
		name    string
		pieces  []string
		srcErr  error // instead of io.EOF at the end
		want    []string
		wantErr error
		errText string
	}{
		{name: "nothing", wantErr: io.EOF},
		{name: "empty pieces only", pieces: []string{"", "", ""}, wantErr: io.EOF},
		{name: "packed", pieces: []string{"\x01a\x02bc\x03def"}, want: []string{"a", "bc", "def"}, wantErr: io.EOF},
		{name: "body split", pieces: []string{"\x04a", "", "bc", "d\x01", "e"}, want: []string{"abcd", "e"}, wantErr: io.EOF},
		{name: "length split", pieces: []string{"\x80", "", "\x01" + strings.Repeat("x", 100), strings.Repeat("x", 28)},
			want: []string{strings.Repeat("x", 128)}, wantErr: io.EOF},
		{name: "largest message", pieces: []string{"\x80\x80\x80", "\x08", big[:1000], big[1000:]}, want: []string{big}, wantErr: io.EOF},
		{name: "one too large", pieces: []string{"\x81\x80\x80\x08"}, wantErr: ErrProtocol, errText: "message of 16777217 bytes exceeds the 16 MiB limit"},
		{name: "zero", pieces: []string{"\x01a\x00"}, want: []string{"a"}, wantErr: ErrProtocol, errText: "length 0"},
		{name: "non-shortest zero", pieces: []string{"\x80\x00"}, wantErr: ErrProtocol, errText: "not in shortest form"},
		{name: "non-shortest one", pieces: []string{"\x81\x80\x00a"}, wantErr: ErrProtocol, errText: "not in shortest form"},
		{name: "overflow in byte 10", pieces: []string{strings.Repeat("\xff", 9) + "\x02"}, wantErr: ErrProtocol, errText: "overflows"},
		{name: "eleven bytes", pieces: []string{strings.Repeat("\x80", 5), strings.Repeat("\x80", 5) + "\x01"}, wantErr: ErrProtocol, errText: "longer than 10 bytes"},
		{name: "cut in the length", pieces: []string{"\x01a\xff"}, want: []string{"a"}, wantErr: io.ErrUnexpectedEOF},
		{name: "cut in the body", pieces: []string{"\x03ab"}, wantErr: io.ErrUnexpectedEOF},
		{name: "source error between messages", pieces: []string{"\x01a"}, srcErr: broken, want: []string{"a"}, wantErr: broken},
		{name: "source error in a body", pieces: []string{"\x02a"}, srcErr: broken, wantErr: broken},
	}
	for _, tc := range tests {
		r := messageReader{next: sliceSource(tc.pieces, tc.srcErr)}
		got, err := readAll(&r)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: messages (-want +got):\n%.300s", tc.name, diff)
		}
		if !errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), tc.errText) {
			t.Errorf("%s: got %v, want an error wrapping %v saying %q", tc.name, err, tc.wantErr, tc.errText)
		}
	}
}

func TestEOF(t *testing.T) {
	c, s := connected(t, tcpPair)
	if err := <-send(c, []byte("one"), []byte("two")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	var got []string
	for range 4 {
		m, err := s.ReadMessage()
		if err != nil {
			got = append(got, err.Error())
			continue
		}
		got = append(got, string(m))
	}
	if diff := cmp.Diff([]string{"one", "two", "EOF", "EOF"}, got); diff != "" {
		t.Errorf("reads (-want +got):\n%s", diff)
	}
}

// countingConn counts Write calls: the Conn writes each Noise message
// with one.
type countingConn struct {
	sdk.Conn
	writes atomic.Int64
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(p)
}

func TestPacking(t *testing.T) {
	tests := []struct {
		count, size        int
		beforeFlush, total int64 // Noise messages sent before Flush, and in all
	}{
		{1, 1, 0, 1},
		{1000, 10, 0, 1},          // 11,000 bytes
		{10000, 10, 1, 2},         // 110,000 bytes
		{3, maxPlain - 3, 3, 3},   // with their 3-byte lengths, each fills one exactly
		{7, maxPlain + 1, 7, 8},   // each spills 4 bytes into the next
		{1, 1 << 20, 16, 17},      // a large message streams out as it is written
		{1, MaxMessage, 256, 257}, // 16 MiB and 4 bytes of length
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%dx%d", tc.count, tc.size), func(t *testing.T) {
			dial, accept := tcpPair(t)
			counted := &countingConn{Conn: dial}
			c, s, cerr, serr := connect(t, counted, accept, newSide(t, testHello), newSide(t, testHello))
			if cerr != nil || serr != nil {
				t.Fatalf("client: %v; server: %v", cerr, serr)
			}
			counted.writes.Store(0)

			read := make(chan error, 1)
			go func() {
				for i := range tc.count {
					m, err := s.ReadMessage()
					if err == nil && len(m) != tc.size {
						err = fmt.Errorf("message %d has %d bytes, want %d", i, len(m), tc.size)
					}
					if err != nil {
						read <- err
						return
					}
				}
				read <- nil
			}()
			body := pattern(tc.size, 0)
			for range tc.count {
				if err := c.WriteMessage(body); err != nil {
					t.Fatal(err)
				}
			}
			if got := counted.writes.Load(); got != tc.beforeFlush {
				t.Errorf("%d Noise messages sent before Flush, want %d", got, tc.beforeFlush)
			}
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			if got := counted.writes.Load(); got != tc.total {
				t.Errorf("%d Noise messages sent in all, want %d", got, tc.total)
			}
			if err := <-read; err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestConcurrentWriters(t *testing.T) {
	const writers, perWriter = 8, 200
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c, s := connected(t, tr.pair)
			// Message i of writer w: w, i, then a body whose size varies
			// from a few bytes to more than a Noise message.
			message := func(w, i int) []byte {
				n := 8 + (i*7919+w*104729)%1000
				if i%25 == 0 {
					n = maxPlain + 1000*w
				}
				m := pattern(n, w*perWriter+i)
				binary.BigEndian.PutUint32(m, uint32(w))
				binary.BigEndian.PutUint32(m[4:], uint32(i))
				return m
			}
			var wg sync.WaitGroup
			errs := make(chan error, writers)
			for w := range writers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range perWriter {
						if err := c.WriteMessage(message(w, i)); err != nil {
							errs <- err
							return
						}
						if i%10 == 0 {
							if err := c.Flush(); err != nil {
								errs <- err
								return
							}
						}
					}
					if err := c.Flush(); err != nil {
						errs <- err
					}
				}()
			}
			next := make([]int, writers)
			for range writers * perWriter {
				m, err := s.ReadMessage()
				if err != nil {
					t.Fatal(err)
				}
				w, i := int(binary.BigEndian.Uint32(m)), int(binary.BigEndian.Uint32(m[4:]))
				if w >= writers || i != next[w] {
					t.Fatalf("got message %d of writer %d, want message %d", i, w, next[min(w, writers-1)])
				}
				if !bytes.Equal(m, message(w, i)) {
					t.Fatalf("message %d of writer %d is garbled", i, w)
				}
				next[w]++
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

func TestClose(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			c, s := connected(t, tr.pair)
			// A pending read and a write the peer does not read (a pipe
			// has no buffer; TCP's fills up) both end on Close.
			results := make(chan error, 2)
			go func() {
				_, err := c.ReadMessage()
				results <- err
			}()
			go func() {
				body := make([]byte, MaxMessage)
				for {
					if err := c.WriteMessage(body); err != nil {
						results <- err
						return
					}
				}
			}()
			time.Sleep(10 * time.Millisecond) // likely lets both block first; the test passes either way
			if err := c.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			for range 2 {
				select {
				case err := <-results:
					if !errors.Is(err, sdk.ErrClosed) {
						t.Errorf("got %v, want an error wrapping sdk.ErrClosed", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Close did not unblock a read or write within 5 s")
				}
			}
			if err := c.Flush(); !errors.Is(err, sdk.ErrClosed) {
				t.Errorf("Flush after Close: got %v, want sdk.ErrClosed", err)
			}
			if err := c.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
			// The peer sees the connection end.
			if _, err := s.ReadMessage(); err == nil {
				t.Error("the peer read a message from a closed connection")
			}
		})
	}
}
