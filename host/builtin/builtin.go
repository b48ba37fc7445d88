// Package builtin lists the implementations compiled into codrive, and
// opens them from the same configuration the plugin binaries in plugins/
// receive, so a builtin and its plugin behave alike.
package builtin

import (
	"fmt"

	"github.com/codrive/codrive/auth/allow"
	"github.com/codrive/codrive/auth/allowlist"
	"github.com/codrive/codrive/auth/deny"
	"github.com/codrive/codrive/auth/invite"
	"github.com/codrive/codrive/conflict/mtime"
	"github.com/codrive/codrive/conflict/vclock"
	"github.com/codrive/codrive/host/plugins"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
	"github.com/codrive/codrive/storage/disk"
	"github.com/codrive/codrive/storage/memory"
	"github.com/codrive/codrive/transports/tcp"
)

// Version is the version of codrive and of its builtins and plugins.
const Version = "0.1.0"

// Plugins returns every builtin implementation.
func Plugins() []plugins.Builtin {
	return []plugins.Builtin{
		storage("memory", OpenMemory),
		storage("disk", OpenDisk, plugin.FeaturePersistent),
		{
			Info: plugin.Info{Kind: plugin.KindTransport, Name: "tcp", Version: Version},
			Open: func(plugin.Config) (any, error) { return tcp.New(), nil },
		},
		resolver("mtime", mtime.New),
		resolver("vclock", vclock.New),
		auth("deny", deny.Open),
		auth("allow", allow.Open),
		auth("allowlist", allowlist.Open),
		auth("invite", invite.Open),
	}
}

func storage(name string, open func(plugin.Config) (sdk.Storage, error), features ...string) plugins.Builtin {
	return plugins.Builtin{
		Info: plugin.Info{Kind: plugin.KindStorage, Name: name, Version: Version, Features: features},
		Open: func(c plugin.Config) (any, error) { return open(c) },
	}
}

// resolver lists a resolver; none of them takes configuration.
func resolver(name string, newResolver func() sdk.Resolver) plugins.Builtin {
	return plugins.Builtin{
		Info: plugin.Info{Kind: plugin.KindResolver, Name: name, Version: Version},
		Open: func(plugin.Config) (any, error) { return newResolver(), nil },
	}
}

// auth lists an auth policy, opened by its package's Open: deny (the
// default) and allow take no configuration, allowlist takes "file" and
// invite "secret" or "secret-file".
func auth(name string, open func(plugin.Config) (sdk.AuthPolicy, error)) plugins.Builtin {
	return plugins.Builtin{
		Info: plugin.Info{Kind: plugin.KindAuth, Name: name, Version: Version},
		Open: func(c plugin.Config) (any, error) { return open(c) },
	}
}

// OpenMemory opens a memory storage. It takes no configuration.
func OpenMemory(plugin.Config) (sdk.Storage, error) { return memory.New(), nil }

// OpenDisk opens a disk storage. Configuration:
//
//	dir   the storage directory (required)
//	sync  "batch" (the default: sync every batch) or "none"
func OpenDisk(cfg plugin.Config) (sdk.Storage, error) {
	dir := cfg["dir"]
	if dir == "" {
		return nil, fmt.Errorf("disk storage: the \"dir\" setting is required: %w", sdk.ErrInvalid)
	}
	var opts disk.Options
	switch cfg["sync"] {
	case "", "batch":
		opts.Sync = disk.SyncEveryBatch
	case "none":
		opts.Sync = disk.SyncNone
	default:
		return nil, fmt.Errorf("disk storage: sync %q: want \"batch\" or \"none\": %w", cfg["sync"], sdk.ErrInvalid)
	}
	return disk.Open(dir, opts)
}
