package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/codrive/codrive/host/builtin"
)

// The control API's decoders: readFrame reads the daemon's response in
// the client, readControlRequest the client's request in the daemon.
// Both ends are this program, but of versions that may differ, over a
// socket that may be cut at any byte.

// frame returns the bytes of one frame, as the daemon writes it.
func frame(kind byte, payload string) string {
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	return string(hdr[:]) + payload
}

// frameHeader returns a frame's header alone, announcing n bytes.
func frameHeader(kind byte, n uint32) string {
	var hdr [5]byte
	hdr[0] = kind
	binary.BigEndian.PutUint32(hdr[1:], n)
	return string(hdr[:])
}

// FuzzReadFrame: any response parses into frames that the frame writer
// writes back as the very bytes read, stopping only at a frame cut short
// (io.ErrUnexpectedEOF) or one longer than maxFrame; and a frame over
// maxFrame is refused before its payload is allocated.
func FuzzReadFrame(f *testing.F) {
	for _, s := range []string{
		"",
		frame(frameExit, "\x00\x00\x00\x00"),
		frame(frameStdout, "hello\n") + frame(frameStderr, "progress\r") + frame(frameStdout, "") + frame(frameExit, "\x00\x00\x00\x01"),
		frame(frameStdout, "hello")[:7], // payload cut short
		frame(frameStdout, "hello")[:3], // header cut short
		frame('?', "unknown kinds are the client's to refuse"),
		frameHeader(frameStdout, maxFrame) + "short",
		frameHeader(frameStdout, maxFrame+1) + "over",
		frameHeader(frameStdout, math.MaxUint32),
		frame(frameExit, "\xff\xff\xff\xfe") + "trailing",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		type read struct {
			kind    byte
			payload []byte
		}
		frames := make([]read, 0, len(data)/5+1) // not counted below
		var err error
		var rest int // bytes left unread
		// At most the bytes there plus one frame (and the reader's
		// buffer): a frame's payload is allocated once its length is
		// known to be within maxFrame, before its bytes are read.
		checkAllocLimit(t, uint64(len(data)+maxFrame+64<<10), func() {
			frames = frames[:0]
			r := bufio.NewReader(bytes.NewReader(data))
			for {
				var kind byte
				var payload []byte
				if kind, payload, err = readFrame(r); err != nil {
					break
				}
				frames = append(frames, read{kind, payload})
			}
			rest = r.Buffered()
		})

		// Written again, the frames are the bytes they were read from.
		rec := httptest.NewRecorder()
		fw := &frameWriter{w: rec, rc: http.NewResponseController(rec)}
		for _, fr := range frames {
			if len(fr.payload) > maxFrame {
				t.Fatalf("a frame of %d bytes, over %d", len(fr.payload), maxFrame)
			}
			if err := fw.frame(fr.kind, fr.payload); err != nil {
				t.Fatalf("frame: %v", err)
			}
		}
		consumed := rec.Body.Bytes()
		if !bytes.HasPrefix(data, consumed) {
			t.Fatalf("the frames read from %q write back as %q", data, consumed)
		}

		// What stopped the reading: the end of the bytes, within a frame
		// or between two (a response ends with its exit frame, not at
		// EOF), or a length over maxFrame.
		left := data[len(consumed):]
		switch {
		case len(left) >= 5 && binary.BigEndian.Uint32(left[1:5]) > maxFrame:
			if err == nil || !strings.Contains(err.Error(), "over") {
				t.Fatalf("a frame announcing %d bytes: error %v", binary.BigEndian.Uint32(left[1:5]), err)
			}
		case err != io.ErrUnexpectedEOF:
			t.Fatalf("%q: stopped %d bytes before the end with %v, want io.ErrUnexpectedEOF", data, len(left), err)
		case len(left) >= 5 && uint64(len(left)-5) >= uint64(binary.BigEndian.Uint32(left[1:5])):
			t.Fatalf("%q: a whole frame of %d bytes left unread", data, len(left))
		case rest != 0:
			t.Fatalf("%q: %d bytes buffered after the end", data, rest)
		}
	})
}

// controlSeeds are request bodies valid and invalid.
var controlSeeds = []string{
	"",
	"\n",
	"no header line",
	`{"args":["list"],"terminal":false,"version":"0.1.0"}` + "\n",
	`{"args":["put","3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29","/a.txt","-"],"terminal":true,"version":"0.1.0"}` + "\nthe file's\ncontent\x00\xff",
	`{"args":["put","k","/` + strings.Repeat("long/", 900) + `a.txt","-"],"terminal":true,"version":"0.1.0"}` + "\ncontent",
	`{"args":["ca\u0000t","\ud800","\n"],"version":"9"}` + "\n",
	`{"args":["list"]}` + "\r\n",
	`{"ARGS":["list"],"Terminal":true,"unknown":{}}` + "\n",
	`{"args":null}` + "\n",
	`{"args":[]}` + "\n",
	"null\n",
	"{}\n",
	`{"args":"list"}` + "\n",
	`{"args":[1]}` + "\n",
	`{"args":["list"]} {"args":["init"]}` + "\n",
	`{"args":["list"]` + "\n" + `}`,
	"\"\xff\"\n",
	"[" + strings.Repeat(`"",`, 100) + `""]` + "\n",
}

// FuzzControlRequest: the daemon reads any request body without panic,
// allocating in proportion to it, and either refuses it with a reason or
// gets a request that the client's encoder writes back as a line that
// reads the same, with the input after the line left intact.
func FuzzControlRequest(f *testing.F) {
	for _, s := range controlSeeds {
		f.Add([]byte(s))
	}
	cmds := map[string]command{}
	for name, nc := range nodeCommands() {
		cmds[name] = nc.command(name)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req controlRequest
		var err error
		var br *bufio.Reader
		checkAllocLimit(t, uint64(64*len(data)+64<<10), func() {
			br = bufio.NewReader(bytes.NewReader(data))
			req, err = readControlRequest(br)
		})
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "the request has no header line") &&
				!strings.HasPrefix(msg, "malformed request header: ") &&
				!strings.HasPrefix(msg, "the request's header line is over") {
				t.Fatalf("%q: error %q is not a reason the daemon gives", data, msg)
			}
			var want controlRequest
			if line, _, ok := bytes.Cut(data, []byte("\n")); ok && len(line)+1 <= maxHeader && json.Unmarshal(line, &want) == nil {
				t.Fatalf("a header line of %d bytes that is a request, %+v, refused: %v", len(line)+1, want, err)
			}
			return
		}
		line, input, ok := bytes.Cut(data, []byte("\n"))
		if !ok {
			t.Fatalf("%q: a request without a newline", data)
		}
		if len(line)+1 > maxHeader {
			t.Fatalf("a header line of %d bytes, over %d", len(line)+1, maxHeader)
		}
		if rest, _ := io.ReadAll(br); !bytes.Equal(rest, input) {
			t.Fatalf("%q: the input after the line is %q, want %q", data, rest, input)
		}
		lookup(cmds, req.Args) // what the daemon does next

		hdr, err := encodeControlRequest(req)
		if err != nil {
			t.Fatalf("%q: the request read, %+v, does not encode: %v", data, req, err)
		}
		again, err := readControlRequest(bufio.NewReader(bytes.NewReader(hdr)))
		if err != nil || !reflect.DeepEqual(again, req) {
			t.Fatalf("%+v encodes as %q, which reads as %+v, %v", req, hdr, again, err)
		}
	})
}

// handlerTransport serves HTTP requests with a handler, in-process.
type handlerTransport http.HandlerFunc

func (h handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	h(rec, req)
	return rec.Result(), nil
}

// FuzzControlRoundTrip: a command line sent by the client reaches the
// command the daemon runs as it was sent, with its input; and what the
// command writes, and its exit code, reach the client as written. If the
// client can't send a command line faithfully, it refuses to send it.
func FuzzControlRoundTrip(f *testing.F) {
	key := "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29"
	f.Add("", false, []byte(nil), int32(0))
	f.Add("put\x00"+key+"\x00/a.txt\x00-", true, []byte("the file's content\n"), int32(0))
	f.Add("cat\x00"+key+"\x00/a b/\"c\"\n\\.txt", false, []byte{}, int32(1))
	f.Add("put\x00"+key+"\x00/"+strings.Repeat("long/", 800)+"a.txt\x00-", false, []byte("x"), int32(0))
	f.Add("--dir\x00/tmp/d\x00\x01\u2028\ufeff", false, []byte("\x00\xff"), int32(-1))
	f.Add("\x00\x00", true, bytes.Repeat([]byte("0123456789abcdef"), 1000), int32(math.MinInt32))
	f.Fuzz(func(t *testing.T, joined string, terminal bool, input []byte, code int32) {
		args := []string{"echo"}
		if joined != "" {
			// Command-line arguments can't hold a NUL, so it separates them.
			args = append(args, strings.Split(joined, "\x00")...)
		}
		type ran struct {
			args     []string
			input    []byte
			terminal bool
		}
		var got *ran
		s := &controlServer{
			log:    slog.New(slog.DiscardHandler),
			getenv: func(string) string { return "" },
			cmds: map[string]command{"echo": {run: func(e *env, rest []string) error {
				got = &ran{rest, e.input, e.terminal}
				e.stdout.Write(e.input)
				io.WriteString(e.stderr, strings.Join(rest, "\x00"))
				return exitCode(code)
			}}},
		}
		d := &daemonClient{dir: "DIR", hc: &http.Client{Transport: handlerTransport(s.handleRun)}}
		var stdout, stderr bytes.Buffer
		e := &env{stdout: &stdout, stderr: &stderr, terminal: terminal, getenv: s.getenv}
		err := d.run(context.Background(), e, args, input)

		if _, encErr := encodeControlRequest(controlRequest{Args: args, Terminal: terminal, Version: builtin.Version}); encErr != nil {
			if got != nil || err == nil || err.Error() != encErr.Error() {
				t.Fatalf("%q: the encoder refuses it (%v), yet run sent it or failed otherwise: %v", args, encErr, err)
			}
			return
		}
		var exit exitCode
		if !errors.As(err, &exit) || int32(exit) != code {
			t.Fatalf("%q: run = %v, want exit status %d", args, err, code)
		}
		if got == nil {
			t.Fatalf("%q: the command did not run", args)
		}
		if !reflect.DeepEqual(got.args, args[1:]) || got.terminal != terminal || !bytes.Equal(got.input, input) {
			t.Fatalf("sent %q, terminal %v, %d bytes of input; the command got %q, %v, %d bytes", args, terminal, len(input), got.args, got.terminal, len(got.input))
		}
		if !bytes.Equal(stdout.Bytes(), input) {
			t.Fatalf("the command wrote %d bytes to stdout; the client got %d", len(input), stdout.Len())
		}
		if want := strings.Join(args[1:], "\x00"); stderr.String() != want {
			t.Fatalf("the command wrote %q to stderr; the client got %q", want, stderr.String())
		}
	})
}

// checkAllocLimit fails t if f allocates more than limit bytes. The heap
// is measured again before failing, up to three times: another test's
// goroutine allocating meanwhile would not do so every time, while a
// decoder allocating too much does. f must be repeatable.
func checkAllocLimit(t *testing.T, limit uint64, f func()) {
	t.Helper()
	least := uint64(math.MaxUint64)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		if least = min(least, after.TotalAlloc-before.TotalAlloc); least <= limit {
			return
		}
	}
	t.Fatalf("allocated %d bytes, over %d", least, limit)
}
