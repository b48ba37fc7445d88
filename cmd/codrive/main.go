// Command codrive creates, clones, reads and writes co-drives, runs the
// daemon that replicates them, and inspects and benchmarks feeds.
//
// Run "codrive help" for the list of commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/codrive/codrive/host/node"
)

// command is one subcommand: run gets the arguments after its name.
type command struct {
	usage string
	short string
	run   func(env *env, args []string) error
}

// env is what commands read and write, so tests can run them in-process.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string

	// ctx bounds the command: the request's in the daemon, or a test's.
	// Nil means the command stops on SIGINT or SIGTERM.
	ctx context.Context

	// The fields below are set when the daemon runs a command for a
	// client (see control.go).

	// node is the daemon's node: co-drive commands run on it rather than
	// looking for a daemon or opening the store.
	node *node.Node
	// input is what the client read for the command (put's content),
	// since the daemon does not share its files or stdin.
	input []byte
	// terminal says the client's stderr is a terminal, for progress.
	terminal bool
}

// isTerminal reports whether the command's stderr reaches a terminal,
// directly or through the daemon's client.
func (e *env) isTerminal() bool { return e.terminal || isTerminal(e.stderr) }

// exitCode is returned by a command that has already reported its
// outcome, such as one the daemon ran, to exit with that code silently.
type exitCode int

func (c exitCode) Error() string { return fmt.Sprintf("exit status %d", int(c)) }

// errUsage marks an error in how a command was called; it exits with 2.
var errUsage = errors.New("usage")

func commands() map[string]command {
	m := map[string]command{
		"feed create": {"feed create [--dir DIR] [--name NAME]", "create a writable feed and print its key", feedCreate},
		"feed append": {"feed append [--dir DIR] KEY [BLOCK...]", "append blocks (arguments, or stdin lines) to a feed", feedAppend},
		"feed get":    {"feed get [--dir DIR] [--raw] KEY INDEX [END]", "print block INDEX, or blocks [INDEX, END)", feedGet},
		"feed info":   {"feed info [--dir DIR] [KEY]", "show one feed, or list all feeds", feedInfo},
		"feed verify": {"feed verify [--dir DIR] KEY", "check every stored block, node and signature of a feed", feedVerify},
		"feed purge":  {"feed purge [--dir DIR] KEY", "delete a feed and free its space", feedPurge},
		"demo":        {"demo [--feeds]", "a narrated tour: three peers share a co-drive (--feeds: the feeds underneath)", demo},
		"plugins":     {"plugins [--plugin-dir DIR]...", "list builtin and external plugins with versions and paths", pluginsList},
		"invite-code": {"invite-code KEY --secret-file FILE", "print a co-drive's invite code under the secret of --auth invite:FILE", inviteCode},
		"feed serve": {"feed serve [--dir DIR] [--listen ADDR]... [--peer ADDR]... [--transport T]... [--plugin-dir DIR]... [KEY...]",
			"serve feeds (all, or the keys given) to peers until stopped; print listen addresses", feedServe},
		"feed sync": {"feed sync [--dir DIR] [--timeout D] [--transport T]... [--plugin-dir DIR]... KEY PEER_ADDR...",
			"download a feed from peers until this store holds all of it", feedSync},
		"bench plugin": {"bench plugin [--json] [--blocks N] [--plugin-dir DIR]...",
			"compare each storage builtin and as a plugin process", benchPlugin},
		"bench append": {"bench append [--json] [--blocks N] [--dir DIR]",
			"measure append and verify throughput, memory and disk", benchAppend},
		"bench live": {"bench live [--json] [--writes N]",
			"time a put on one daemon until it is readable on another, and a request-auth", benchLive},
		"bench drive": {"bench drive [--json] [--files N] [--listing N] [--writers N] [--entries N] [--resolver NAME]",
			"measure the file-system layer: files, stat, merged listings, opening a large drive", benchDrive},
		"bench replicate": {"bench replicate [--json] [--blocks N] [--large M] [--plugin-dir DIR]...",
			"measure replication between two processes over loopback TCP", benchReplicate},
		// The benchmark's second process; hidden from help by the "_".
		benchPeerCommand + " serve": {benchPeerCommand + " serve [feed serve flags]", "", benchPeerServe},
		benchPeerCommand + " sink":  {benchPeerCommand + " sink", "", benchPeerSink},
		"daemon": {"daemon [--dir DIR] [--listen ADDR]... [--peer ADDR]... [--storage S] [--transport T]... [--resolver R] [--auth A[:ARG]] [--auth-timeout D] [--plugin-dir DIR]...",
			"run the host: replicate every co-drive of DIR and serve the other commands", daemonCommand},
	}
	for name, nc := range nodeCommands() {
		m[name] = nc.command(name)
	}
	return m
}

func main() {
	e := &env{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(run(e, os.Args[1:]))
}

// run executes one command line and returns the exit code.
func run(e *env, args []string) int { return runCommands(e, commands(), args) }

// runCommands executes one command line of the table cmds and returns
// the exit code.
func runCommands(e *env, cmds map[string]command, args []string) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printHelp(e, cmds)
		return 0
	}
	name, c, rest, ok := lookup(cmds, args)
	if !ok {
		fmt.Fprintf(e.stderr, "codrive: unknown command %q; run \"codrive help\" for the list\n", strings.Join(args[:min(2, len(args))], " "))
		return 2
	}
	err := c.run(e, rest)
	var code exitCode
	switch {
	case err == nil:
		return 0
	case errors.As(err, &code):
		return int(code)
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(e.stderr, "codrive %s: %v\nusage: codrive %s\n", name, strings.TrimPrefix(err.Error(), "usage: "), c.usage)
		return 2
	default:
		fmt.Fprintf(e.stderr, "codrive %s: %v\n", name, err)
		return 1
	}
}

// lookup finds the command a command line names, by its first word or its
// first two, and returns the arguments after the name.
func lookup(cmds map[string]command, args []string) (string, command, []string, bool) {
	if len(args) == 0 {
		return "", command{}, nil, false
	}
	if c, ok := cmds[args[0]]; ok {
		return args[0], c, args[1:], true
	}
	if len(args) > 1 {
		name := args[0] + " " + args[1]
		if c, ok := cmds[name]; ok {
			return name, c, args[2:], true
		}
	}
	return "", command{}, nil, false
}

func printHelp(e *env, cmds map[string]command) {
	w := e.stdout
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		if !strings.HasPrefix(n, "_") { // internal commands
			names = append(names, n)
		}
	}
	sort.Strings(names)
	fmt.Fprintln(w, "codrive: multi-writer, peer-to-peer shared drives over signed feeds.")
	fmt.Fprintln(w, "\nCommands:")
	for _, n := range names {
		if u := cmds[n].usage; len(u) > 51 {
			// Too long for the column: the description goes below.
			fmt.Fprintf(w, "  codrive %s\n      %s\n", u, cmds[n].short)
		} else {
			fmt.Fprintf(w, "  codrive %-52s %s\n", u, cmds[n].short)
		}
	}
	fmt.Fprintln(w, "\nThe data directory is --dir, else $CODRIVE_DIR, else", defaultDataDir(e.getenv))
}

// flags returns a flag set for a command that reports errors as errUsage
// instead of exiting, with the common --dir flag.
func flags(e *env, name string, dir *string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if dir != nil {
		fs.StringVar(dir, "dir", "", "data directory")
	}
	return fs
}

// parse parses args with fs, turning flag errors into usage errors. Flags
// may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// dataDir returns the directory commands work in: --dir, else
// $CODRIVE_DIR, else the user's data directory.
func dataDir(e *env, flagDir string) string {
	if flagDir != "" {
		return flagDir
	}
	if d := e.getenv("CODRIVE_DIR"); d != "" {
		return d
	}
	return defaultDataDir(e.getenv)
}

// defaultDataDir follows each platform's convention for application data.
func defaultDataDir(getenv func(string) string) string {
	home := getenv("HOME")
	switch runtime.GOOS {
	case "darwin":
		return filepath.Join(home, "Library", "Application Support", "codrive")
	case "windows":
		return filepath.Join(getenv("LocalAppData"), "codrive")
	}
	if x := getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "codrive")
	}
	return filepath.Join(home, ".local", "share", "codrive")
}
