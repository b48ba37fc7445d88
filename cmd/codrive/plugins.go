package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/hashicorp/go-hclog"

	"github.com/codrive/codrive/host/builtin"
	"github.com/codrive/codrive/host/plugins"
)

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// newLoader returns a plugin loader with the builtins and the plugin
// directories: those given with --plugin-dir, then the default ones. It
// logs plugin events to stderr at $CODRIVE_LOG_LEVEL (default warn).
func newLoader(e *env, dirs []string) *plugins.Loader {
	level := hclog.LevelFromString(e.getenv("CODRIVE_LOG_LEVEL"))
	if level == hclog.NoLevel {
		level = hclog.Warn
	}
	return plugins.New(plugins.Config{
		Builtins: builtin.Plugins(),
		Dirs:     append(append([]string(nil), dirs...), plugins.DefaultDirs(e.getenv)...),
		Logger:   hclog.New(&hclog.LoggerOptions{Name: "codrive", Level: level, Output: e.stderr}),
	})
}

// pluginsList prints every builtin and every plugin binary found, with
// versions and paths.
func pluginsList(e *env, args []string) error {
	var dirs stringList
	fs := flags(e, "plugins", nil)
	fs.Var(&dirs, "plugin-dir", "directory to search for plugin binaries (repeatable)")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	l := newLoader(e, dirs)
	defer l.Close()
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "KIND\tNAME\tVERSION\tFEATURES\tWHERE")
	for _, a := range l.Available(context.Background()) {
		version := a.Info.Version
		if a.Err != nil {
			version = "error: " + a.Err.Error()
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", a.Info.Kind, a.Info.Name, version, strings.Join(a.Info.Features, ","), a.Path)
	}
	fmt.Fprintf(w, "\nsearched: %s\n", strings.Join(l.Dirs(), ", "))
	return w.Flush()
}
