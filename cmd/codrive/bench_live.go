package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// benchLive starts two daemons on loopback, shares a co-drive between
// them and measures how long a file put on one takes to be readable on
// the other, and the round trip of an authorization request.
func benchLive(e *env, args []string) error {
	var asJSON bool
	var writes int
	fs := flags(e, "bench live", nil)
	fs.BoolVar(&asJSON, "json", false, "print one JSON object per line")
	fs.IntVar(&writes, "writes", 100, "files to put and wait for")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) != 0 || writes < 10 {
		return fmt.Errorf("%w: --writes must be at least 10", errUsage)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "codrive-bench-live-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	dirA, dirB := filepath.Join(tmp, "a"), filepath.Join(tmp, "b")
	a, err := startBenchDaemon(ctx, exe, dirA, "--auth", "allow")
	if err != nil {
		return err
	}
	defer a.stop()
	key, err := a.run(ctx, nil, "init")
	if err != nil {
		return err
	}
	key = strings.TrimSpace(key)
	b, err := startBenchDaemon(ctx, exe, dirB, "--peer", a.addr)
	if err != nil {
		return err
	}
	defer b.stop()
	if _, err := b.run(ctx, nil, "clone", key); err != nil {
		return err
	}
	start := time.Now()
	if out, err := b.run(ctx, nil, "request-auth", key); err != nil || strings.TrimSpace(out) != "granted" {
		return fmt.Errorf("bench live: request-auth: %q, %v", out, err)
	}
	authMS := float64(time.Since(start).Microseconds()) / 1e3

	lat := make([]time.Duration, writes)
	for i := range lat {
		p := fmt.Sprintf("/live/%04d.txt", i)
		data := fmt.Sprintf("write %d at %s", i, time.Now().Format(time.RFC3339Nano))
		t0 := time.Now()
		if _, err := a.run(ctx, []byte(data), "put", key, p, "-"); err != nil {
			return err
		}
		for {
			out, err := b.run(ctx, nil, "cat", key, p)
			if err == nil && out == data {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("bench live: %s never became readable on the second daemon", p)
			}
			if time.Since(t0) > 30*time.Second {
				return fmt.Errorf("bench live: %s not readable on the second daemon after 30 s (last: %v)", p, err)
			}
		}
		lat[i] = time.Since(t0)
	}
	slices.Sort(lat)
	r := newReporter(e.stdout, asJSON)
	r.add("live/put-visible/p50", float64(lat[writes/2].Microseconds())/1e3, "ms")
	r.add("live/put-visible/p99", float64(lat[writes*99/100].Microseconds())/1e3, "ms")
	r.add("live/request-auth", authMS, "ms")
	// What one command through the control API costs, measured the same
	// way, bounds the figures from below.
	t0 := time.Now()
	const rounds = 50
	for range rounds {
		if _, err := b.run(ctx, nil, "version", key); err != nil {
			return err
		}
	}
	r.add("limit/control-round-trip", float64(time.Since(t0).Microseconds())/1e3/rounds, "ms")
	return nil
}

// benchDaemon is a codrive daemon in a child process.
type benchDaemon struct {
	dir    string
	addr   string
	cmd    *exec.Cmd
	client *daemonClient
}

func startBenchDaemon(ctx context.Context, exe, dir string, extra ...string) (*benchDaemon, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	args := append([]string{"daemon", "--dir", dir, "--listen", "/ip4/127.0.0.1/tcp/0"}, extra...)
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &benchDaemon{dir: dir, cmd: cmd}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		d.stop()
		return nil, fmt.Errorf("bench live: the daemon in %s printed no address: %v", dir, err)
	}
	d.addr = strings.TrimSpace(line)
	go io.Copy(io.Discard, out)
	deadline := time.Now().Add(20 * time.Second)
	for d.client = findDaemon(dir); d.client == nil; d.client = findDaemon(dir) {
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("bench live: the daemon in %s does not answer on its socket", dir)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return d, nil
}

// run has the daemon run a command and returns its standard output.
func (d *benchDaemon) run(ctx context.Context, input []byte, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, getenv: os.Getenv, ctx: ctx}
	err := d.client.run(ctx, e, append(args, "--dir", d.dir), input)
	var code exitCode
	if errors.As(err, &code) && code == 0 {
		err = nil
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("%s: %w (%s)", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

func (d *benchDaemon) stop() {
	if d.cmd.Process != nil {
		d.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			d.cmd.Process.Kill()
			<-done
		}
	}
}
