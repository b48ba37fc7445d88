package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/auth/invite"
	co "github.com/codrive/codrive/host/codrive"
	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/host/node"
	"github.com/codrive/codrive/host/union"
	"github.com/codrive/codrive/sdk"
)

// defaultNetTimeout bounds clone, sync and request-auth without
// --timeout.
const defaultNetTimeout = 60 * time.Second

// nodeCommands are the commands on co-drives, by name.
func nodeCommands() map[string]nodeCommand {
	return map[string]nodeCommand{
		"init": {usage: "", short: "create a co-drive and print its key",
			setup: noFlags(cmdInit)},
		"list": {usage: "", short: "list the co-drives of the data directory",
			setup: noFlags(cmdList)},
		"clone": {usage: "KEY [--peer ADDR]... [--timeout D]", short: "add a co-drive by key and fetch it from peers",
			min: 1, max: 1, key: true, network: true, setup: setupClone},
		"sync": {usage: "KEY [--peer ADDR]... [--timeout D]", short: "wait until this peer holds all that its peers have of a co-drive",
			min: 1, max: 1, key: true, network: true, setup: setupSync},
		"put": {usage: "KEY PATH [FILE|-]", short: "write a file from FILE or stdin (held in memory whole)",
			min: 2, max: 3, key: true, setup: noFlags(cmdPut), input: putInput},
		"cat": {usage: "KEY PATH [--writer WRITER]", short: "print a file, or a writer's conflicting version of it",
			min: 2, max: 2, key: true, setup: setupCat},
		"ls": {usage: "KEY [PATH] [-l]", short: "list a directory (-l: mode, size, time, writer)",
			min: 1, max: 2, key: true, setup: setupLs},
		"rm": {usage: "KEY PATH", short: "remove a file, or an empty directory",
			min: 2, max: 2, key: true, setup: noFlags(cmdRm)},
		"mkdir": {usage: "KEY PATH", short: "make a directory",
			min: 2, max: 2, key: true, setup: noFlags(cmdMkdir)},
		"stat": {usage: "KEY PATH", short: "describe a path: type, size, writer, conflicts",
			min: 2, max: 2, key: true, setup: noFlags(cmdStat)},
		"conflicts": {usage: "KEY [PATH]", short: "list the paths with concurrent versions kept beside the one shown",
			min: 1, max: 2, key: true, setup: noFlags(cmdConflicts)},
		"version": {usage: "KEY", short: "print the co-drive's version: every writer drive's length",
			min: 1, max: 1, key: true, setup: noFlags(cmdVersion)},
		"whoami": {usage: "KEY", short: "print this peer's writer key for a co-drive",
			min: 1, max: 1, key: true, setup: noFlags(cmdWhoami)},
		"writers": {usage: "KEY", short: "list the writer set",
			min: 1, max: 1, key: true, setup: noFlags(cmdWriters)},
		"authorize": {usage: "KEY WRITER", short: "add a writer (this peer must be one)",
			min: 2, max: 2, key: true, setup: noFlags(cmdAuthorize)},
		"deauthorize": {usage: "KEY WRITER [--discard]", short: "remove a writer; --discard hides all of its files too",
			min: 2, max: 2, key: true, setup: setupDeauthorize},
		"request-auth": {usage: "KEY [--invite CODE | --proof STRING] [--peer ADDR]... [--timeout D]", short: "ask the online writers to make this peer a writer",
			min: 1, max: 1, key: true, network: true, authTimeout: true, setup: setupRequestAuth},
	}
}

// noFlags is the setup of a command without flags of its own.
func noFlags(action func(*call) error) func(*flag.FlagSet) func(*call) error {
	return func(*flag.FlagSet) func(*call) error { return action }
}

func cmdInit(c *call) error {
	d, err := c.n.Create(c.ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.e.stdout, d.Key())
	return nil
}

func cmdList(c *call) error {
	var b bytes.Buffer
	for _, k := range c.n.Keys() {
		fmt.Fprintln(&b, k)
	}
	_, err := c.e.stdout.Write(b.Bytes())
	return err
}

// ---- replication ----

// netFlags are the flags of the commands that talk to peers.
type netFlags struct {
	peers   stringList
	timeout time.Duration
}

func (f *netFlags) register(fs *flag.FlagSet) {
	fs.Var(&f.peers, "peer", "multiaddr of a peer to connect to (repeatable)")
	fs.DurationVar(&f.timeout, "timeout", defaultNetTimeout, "give up after this long")
}

// parse checks the flags and returns the peers.
func (f *netFlags) parse() ([]ma.Multiaddr, error) {
	if f.timeout <= 0 {
		return nil, fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	return parseMultiaddrs("--peer", f.peers)
}

// connect connects the node to peers, and fails if it has no peer at
// all to talk to.
func (f *netFlags) connect(c *call, peers []ma.Multiaddr) error {
	if err := c.n.Connect(peers...); err != nil {
		return nodeError(err)
	}
	if len(c.n.Dialing()) == 0 && len(c.n.Connected()) == 0 {
		return errors.New("no peer to talk to: give one with --peer MULTIADDR (clone remembers the peers it is given)")
	}
	return nil
}

// progress returns a progress reporter for a terminal, or nil, and what
// clears its line.
func syncProgress(c *call, key sdk.FeedKey) (func(node.SyncStatus), func()) {
	if !c.e.isTerminal() {
		return nil, func() {}
	}
	report := func(st node.SyncStatus) {
		pct := 0.0
		if st.Length > 0 {
			pct = 100 * float64(st.Held) / float64(st.Length)
		}
		fmt.Fprintf(c.e.stderr, "\r\x1b[Ksyncing %s: %d of %d blocks (%.0f%%), %d writers, %s", shortKey(key), st.Held, st.Length, pct, st.Writers, pluralize(st.Peers, "peer"))
	}
	return report, func() { fmt.Fprint(c.e.stderr, "\r\x1b[K") }
}

func pluralize(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// syncFailure explains why WaitSynced failed.
func syncFailure(err error, parent context.Context, timeout time.Duration, st node.SyncStatus) error {
	if parent.Err() != nil {
		return fmt.Errorf("interrupted: holding %d of %d blocks", st.Held, st.Length)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	why := ""
	switch {
	case st.Peers == 0:
		why = ": no peer is connected (CODRIVE_LOG_LEVEL=debug shows why dials fail)"
	case st.Length == 0:
		why = ": the connected peers do not have this co-drive"
	}
	return fmt.Errorf("timed out after %s: holding %d of %d blocks%s", timeout, st.Held, st.Length, why)
}

func setupClone(fs *flag.FlagSet) func(*call) error {
	var nf netFlags
	nf.register(fs)
	return func(c *call) error {
		peers, err := nf.parse()
		if err != nil {
			return err
		}
		key, err := c.key(0, "KEY")
		if err != nil {
			return err
		}
		kept := c.n.Dialing()
		d, added, err := c.n.Add(c.ctx, key)
		if err != nil {
			return err
		}
		// A clone that does not get through is undone: no co-drive left
		// in the list that nobody could fill, and no peer remembered
		// that did not serve it.
		undo := func() {
			for _, p := range peers {
				if !containsAddr(kept, p) {
					c.n.Disconnect(p)
				}
			}
			if added {
				c.n.Forget(context.Background(), key)
			}
		}
		if err := nf.connect(c, peers); err != nil {
			undo()
			return err
		}
		ctx, cancel := context.WithTimeout(c.ctx, nf.timeout)
		defer cancel()
		report, clear := syncProgress(c, key)
		st, err := c.n.WaitSynced(ctx, d, 0, report)
		clear()
		if err != nil {
			undo()
			return syncFailure(err, c.ctx, nf.timeout, st)
		}
		if err := c.n.RememberPeers(peers...); err != nil {
			return fmt.Errorf("cloned, but the peers could not be remembered: %w", err)
		}
		fmt.Fprintf(c.e.stdout, "cloned %s: %s, %d blocks\n", key, pluralize(st.Writers, "writer"), st.Length)
		return nil
	}
}

func containsAddr(list []ma.Multiaddr, a ma.Multiaddr) bool {
	for _, x := range list {
		if x.Equal(a) {
			return true
		}
	}
	return false
}

func setupSync(fs *flag.FlagSet) func(*call) error {
	var nf netFlags
	nf.register(fs)
	return func(c *call) error {
		peers, err := nf.parse()
		if err != nil {
			return err
		}
		d, err := c.codrive()
		if err != nil {
			return err
		}
		if err := nf.connect(c, peers); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(c.ctx, nf.timeout)
		defer cancel()
		report, clear := syncProgress(c, d.Key())
		st, err := c.n.WaitSynced(ctx, d, 0, report)
		clear()
		if err != nil {
			return syncFailure(err, c.ctx, nf.timeout, st)
		}
		fmt.Fprintf(c.e.stdout, "synced %s: %s, %d blocks\n", d.Key(), pluralize(st.Writers, "writer"), st.Length)
		return nil
	}
}

func setupRequestAuth(fs *flag.FlagSet) func(*call) error {
	var nf netFlags
	nf.register(fs)
	proof := fs.String("proof", "", "proof for the writers' auth policy, sent as it is")
	code := fs.String("invite", "", "an invite code (for the invite policy), bound to this request")
	return func(c *call) error {
		peers, err := nf.parse()
		if err != nil {
			return err
		}
		if len(*proof) > co.MaxProof {
			return fmt.Errorf("%w: --proof is %d bytes, over %d", errUsage, len(*proof), co.MaxProof)
		}
		if *proof != "" && *code != "" {
			return fmt.Errorf("%w: give --proof or --invite, not both", errUsage)
		}
		d, err := c.codrive()
		if err != nil {
			return err
		}
		if !d.IsWriter() {
			p := []byte(*proof)
			if *code != "" {
				bound, err := invite.Proof(*code, d.Key(), d.LocalWriter(), d.PeerKey())
				if err != nil {
					return fmt.Errorf("%w: --invite: %v", errUsage, err)
				}
				p = []byte(bound)
			}
			if err := requestAuth(c, d, &nf, peers, p); err != nil {
				return err
			}
		}
		fmt.Fprintln(c.e.stdout, "granted")
		return nil
	}
}

func requestAuth(c *call, d *co.CoDrive, nf *netFlags, peers []ma.Multiaddr, proof []byte) error {
	if err := c.n.Connect(peers...); err != nil {
		return nodeError(err)
	}
	if len(c.n.Dialing()) == 0 && len(c.n.Connected()) == 0 {
		return fmt.Errorf("%w: no peers to ask (give one with --peer MULTIADDR)", co.ErrNoWriter)
	}
	// When the co-drive's own bound is no longer than --timeout, it ends
	// the request, and tells a denial from silence (the writers that
	// answered all denied, or none did); the context is only a backstop.
	deadline := nf.timeout
	if c.n.AuthTimeout() <= nf.timeout {
		deadline += time.Second
	}
	ctx, cancel := context.WithTimeout(c.ctx, deadline)
	defer cancel()
	// A node just opened has no connection yet, and a request with none
	// would be answered "no writer online" at once.
	for len(c.n.Connected()) == 0 {
		select {
		case <-ctx.Done():
			if c.ctx.Err() != nil {
				return errors.New("interrupted")
			}
			return fmt.Errorf("%w: could not connect to any peer within %s", co.ErrNoWriter, nf.timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
	err := d.RequestAuthorization(ctx, proof)
	switch {
	case err == nil:
		return nil
	case c.ctx.Err() != nil:
		return errors.New("interrupted")
	case errors.Is(err, context.DeadlineExceeded):
		if len(c.n.Connected()) == 0 {
			return fmt.Errorf("%w: no peers are connected", co.ErrNoWriter)
		}
		return fmt.Errorf("%w after %s", co.ErrAuthTimeout, nf.timeout)
	}
	return err
}

// ---- files ----

// checkWritable refuses paths of the writer set, which only authorize and
// deauthorize should write.
func checkWritable(p string) error {
	c := path.Clean("/" + p)
	if c == co.WritersDir || strings.HasPrefix(c, co.WritersDir+"/") {
		return fmt.Errorf("%s: the co-drive's writer set lives there; change it with authorize and deauthorize", p)
	}
	return nil
}

// fsError words a file-system error for the command line.
func fsError(err error) error {
	if errors.Is(err, union.ErrReadOnly) {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return fmt.Errorf("%s %s: %w", pe.Op, pe.Path, co.ErrNotWriter)
		}
		return co.ErrNotWriter
	}
	return err
}

// putInput reads put's content: FILE, or stdin for "-" or no FILE.
func putInput(e *env, pos []string) ([]byte, error) {
	src := "-"
	if len(pos) > 2 {
		src = pos[2]
	}
	var r io.Reader = e.stdin
	if src != "-" {
		f, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory", src)
		}
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxInput+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxInput {
		return nil, fmt.Errorf("%s is over %d bytes, the most put takes in this version", map[bool]string{true: "stdin", false: src}[src == "-"], maxInput)
	}
	return data, nil
}

func cmdPut(c *call) error {
	p := c.pos[1]
	if err := checkWritable(p); err != nil {
		return err
	}
	d, err := c.codrive()
	if err != nil {
		return err
	}
	return fsError(d.View().WriteFile(c.ctx, p, c.input, 0o644))
}

func setupCat(fs *flag.FlagSet) func(*call) error {
	writer := fs.String("writer", "", "print this writer's version of the file (see conflicts)")
	return func(c *call) error {
		d, err := c.codrive()
		if err != nil {
			return err
		}
		var data []byte
		if *writer == "" {
			data, err = d.View().ReadFile(c.ctx, c.pos[1])
		} else {
			w, perr := sdk.ParseFeedKey(*writer)
			if perr != nil {
				return fmt.Errorf("%w: --writer: %v", errUsage, perr)
			}
			var f *union.File
			if f, err = d.View().OpenVersion(c.ctx, c.pos[1], w); err == nil {
				data, err = io.ReadAll(f)
				f.Close()
			}
		}
		if err != nil {
			return err
		}
		// Written at once, after the whole file was read: an error half
		// way leaves nothing half printed.
		_, err = c.e.stdout.Write(data)
		return err
	}
}

func setupLs(fs *flag.FlagSet) func(*call) error {
	long := fs.Bool("l", false, "long listing: mode, size, modification time, writer")
	return func(c *call) error {
		d, err := c.codrive()
		if err != nil {
			return err
		}
		p := c.arg(1, "/")
		st, err := d.View().Stat(c.ctx, p)
		if err != nil {
			return err
		}
		list := []*union.Stat{st}
		if st.IsDir() {
			if list, err = d.View().ReadDir(c.ctx, p); err != nil {
				return err
			}
		}
		var b bytes.Buffer
		w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, s := range list {
			name := path.Base(s.Path)
			if s.IsDir() {
				name += "/"
			}
			if !*long {
				fmt.Fprintln(w, name)
				continue
			}
			if s.Conflicts > 0 {
				name += fmt.Sprintf("  (%s)", pluralize(s.Conflicts, "conflict"))
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", s.Mode(), lsSize(s), lsModTime(s), lsWriter(s), name)
		}
		w.Flush()
		_, err = c.e.stdout.Write(b.Bytes())
		return err
	}
}

func lsSize(s *union.Stat) string {
	if s.IsDir() {
		return "-"
	}
	return fmt.Sprint(s.Size)
}

func lsModTime(s *union.Stat) string {
	if s.Writer == (sdk.FeedKey{}) { // an implied directory
		return "-"
	}
	return s.ModTime.Local().Format("2006-01-02 15:04")
}

func lsWriter(s *union.Stat) string {
	if s.Writer == (sdk.FeedKey{}) {
		return "-"
	}
	return s.Writer.String()[:12]
}

func cmdRm(c *call) error {
	p := c.pos[1]
	if err := checkWritable(p); err != nil {
		return err
	}
	d, err := c.codrive()
	if err != nil {
		return err
	}
	st, err := d.View().Lstat(c.ctx, p)
	if err != nil {
		return err
	}
	if st.Kind == drive.KindDir {
		return fsError(d.View().Rmdir(c.ctx, p))
	}
	return fsError(d.View().Remove(c.ctx, p))
}

func cmdMkdir(c *call) error {
	p := c.pos[1]
	if err := checkWritable(p); err != nil {
		return err
	}
	d, err := c.codrive()
	if err != nil {
		return err
	}
	return fsError(d.View().Mkdir(c.ctx, p, 0o755))
}

func cmdStat(c *call) error {
	d, err := c.codrive()
	if err != nil {
		return err
	}
	s, err := d.View().Lstat(c.ctx, c.pos[1])
	if err != nil {
		return err
	}
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "path\t%s\n", s.Path)
	fmt.Fprintf(w, "type\t%s\n", s.Kind)
	fmt.Fprintf(w, "mode\t%s\n", s.Mode())
	switch s.Kind {
	case drive.KindFile:
		fmt.Fprintf(w, "size\t%d\n", s.Size)
		fmt.Fprintf(w, "hash\t%s\n", s.Hash)
	case drive.KindSymlink:
		fmt.Fprintf(w, "target\t%s\n", s.Target)
	case drive.KindMount:
		fmt.Fprintf(w, "mount\t%s at version %d\n", s.MountKey, s.MountVersion)
	}
	if s.Writer != (sdk.FeedKey{}) {
		fmt.Fprintf(w, "modified\t%s\n", s.ModTime.Local().Format(time.RFC3339))
		fmt.Fprintf(w, "writer\t%s\n", s.Writer)
		fmt.Fprintf(w, "entry\t%d\n", s.Seq)
	} else {
		fmt.Fprintf(w, "writer\t-\t(a directory that exists because of what it holds)\n")
	}
	fmt.Fprintf(w, "conflicts\t%d\n", s.Conflicts)
	w.Flush()
	_, err = c.e.stdout.Write(b.Bytes())
	return err
}

func cmdConflicts(c *call) error {
	d, err := c.codrive()
	if err != nil {
		return err
	}
	list, err := d.View().Conflicts(c.ctx, c.arg(1, "/"))
	if err != nil {
		return err
	}
	var b bytes.Buffer
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	describe := func(s *union.Stat) string {
		what := s.Kind.String()
		if s.Kind == drive.KindFile {
			what += fmt.Sprintf(", %d bytes", s.Size)
		}
		return fmt.Sprintf("%s\t%s, %s", s.Writer, what, s.ModTime.Local().Format("2006-01-02 15:04:05"))
	}
	for _, cf := range list {
		fmt.Fprintln(w, cf.Path)
		fmt.Fprintf(w, "  shown\t%s\n", describe(cf.Shown))
		for _, v := range cf.Versions {
			fmt.Fprintf(w, "  also\t%s\n", describe(v))
		}
	}
	w.Flush()
	_, err = c.e.stdout.Write(b.Bytes())
	return err
}

func cmdVersion(c *call) error {
	d, err := c.codrive()
	if err != nil {
		return err
	}
	fmt.Fprintln(c.e.stdout, d.View().Version())
	return nil
}

// ---- writers ----

func cmdWhoami(c *call) error {
	d, err := c.codrive()
	if err != nil {
		return err
	}
	fmt.Fprintln(c.e.stdout, d.LocalWriter())
	return nil
}

func cmdWriters(c *call) error {
	d, err := c.codrive()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	for _, w := range d.Writers() {
		status := "writer"
		var notes []string
		if !w.Member {
			status = "removed"
			if w.Discard {
				notes = append(notes, "files discarded")
			} else {
				notes = append(notes, fmt.Sprintf("entries from %d on ignored", w.Cut))
			}
		}
		if w.Primary {
			notes = append(notes, "primary")
		}
		if w.Key == d.LocalWriter() {
			notes = append(notes, "this peer")
		}
		fmt.Fprintln(&b, strings.TrimRight(fmt.Sprintf("%s  %-7s  %s", w.Key, status, strings.Join(notes, ", ")), " "))
	}
	_, err = c.e.stdout.Write(b.Bytes())
	return err
}

func cmdAuthorize(c *call) error {
	w, err := c.key(1, "WRITER")
	if err != nil {
		return err
	}
	d, err := c.codrive()
	if err != nil {
		return err
	}
	if err := d.Authorize(c.ctx, w); err != nil {
		return err
	}
	fmt.Fprintf(c.e.stdout, "authorized %s\n", w)
	return nil
}

func setupDeauthorize(fs *flag.FlagSet) func(*call) error {
	discard := fs.Bool("discard", false, "also hide every file the writer wrote, not only those it writes from now on")
	return func(c *call) error {
		w, err := c.key(1, "WRITER")
		if err != nil {
			return err
		}
		d, err := c.codrive()
		if err != nil {
			return err
		}
		if err := d.Deauthorize(c.ctx, w, *discard); err != nil {
			return err
		}
		if *discard {
			fmt.Fprintf(c.e.stdout, "deauthorized %s, its files discarded\n", w)
		} else {
			fmt.Fprintf(c.e.stdout, "deauthorized %s\n", w)
		}
		return nil
	}
}
