package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"text/tabwriter"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/disk"
)

// openStore opens the feed store kept in dir: the master seed in
// dir/seed and the feeds in dir/feeds.
func openStore(dir string) (*feedstore.Store, error) {
	seed, err := feedstore.LoadOrCreateSeed(filepath.Join(dir, "seed"))
	if err != nil {
		return nil, err
	}
	st, err := disk.Open(filepath.Join(dir, "feeds"), disk.Options{})
	if err != nil {
		var inUse *disk.InUseError
		if errors.As(err, &inUse) && findDaemon(dir) != nil {
			err = fmt.Errorf("%w: the codrive daemon serves %s; feed commands need it stopped", err, dir)
		}
		return nil, err
	}
	return feedstore.New(st, seed)
}

// withFeed opens the store in the command's data directory and the feed
// named by the key argument, runs fn and closes the store.
func withFeed(e *env, dir, keyArg string, fn func(*feedstore.Store, *feed.Feed) error) error {
	key, err := sdk.ParseFeedKey(keyArg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	s, err := openStore(dataDir(e, dir))
	if err != nil {
		return err
	}
	defer s.Close()
	f, err := s.Open(context.Background(), key)
	if err != nil {
		return err
	}
	return fn(s, f)
}

func feedCreate(e *env, args []string) error {
	var dir, name string
	fs := flags(e, "feed create", &dir)
	fs.StringVar(&name, "name", "", "derive the key from the master seed and this name")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	s, err := openStore(dataDir(e, dir))
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	var f *feed.Feed
	if name != "" {
		f, err = s.Writer(ctx, name)
	} else {
		f, err = s.CreateRandom(ctx)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, f.Key())
	return nil
}

func feedAppend(e *env, args []string) error {
	var dir string
	fs := flags(e, "feed append", &dir)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 1 {
		return fmt.Errorf("%w: missing KEY", errUsage)
	}
	var blocks [][]byte
	for _, b := range pos[1:] {
		blocks = append(blocks, []byte(b))
	}
	if len(pos) == 1 {
		sc := bufio.NewScanner(e.stdin)
		sc.Buffer(make([]byte, 64<<10), sdk.MaxBlockSize)
		for sc.Scan() {
			blocks = append(blocks, append([]byte(nil), sc.Bytes()...))
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read stdin: %w", err)
		}
	}
	return withFeed(e, dir, pos[0], func(_ *feedstore.Store, f *feed.Feed) error {
		// One batch per 1,000 blocks: one signature and one sync each.
		ctx := context.Background()
		for len(blocks) > 0 {
			n := min(len(blocks), 1000)
			if _, err := f.Append(ctx, blocks[:n]...); err != nil {
				return err
			}
			blocks = blocks[n:]
		}
		fmt.Fprintln(e.stdout, f.Length())
		return nil
	})
}

func feedGet(e *env, args []string) error {
	var dir string
	var raw bool
	fs := flags(e, "feed get", &dir)
	fs.BoolVar(&raw, "raw", false, "write blocks as they are, without a newline after each")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) < 2 || len(pos) > 3 {
		return fmt.Errorf("%w: want KEY INDEX [END]", errUsage)
	}
	start, err := strconv.ParseUint(pos[1], 10, 64)
	if err != nil {
		return fmt.Errorf("%w: bad INDEX %q", errUsage, pos[1])
	}
	end := start + 1
	if len(pos) == 3 {
		if end, err = strconv.ParseUint(pos[2], 10, 64); err != nil || end < start {
			return fmt.Errorf("%w: bad END %q", errUsage, pos[2])
		}
	}
	return withFeed(e, dir, pos[0], func(_ *feedstore.Store, f *feed.Feed) error {
		blocks, err := f.GetRange(context.Background(), start, end)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(e.stdout)
		for _, b := range blocks {
			w.Write(b)
			if !raw {
				w.WriteByte('\n')
			}
		}
		return w.Flush()
	})
}

func feedInfo(e *env, args []string) error {
	var dir string
	fs := flags(e, "feed info", &dir)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return fmt.Errorf("%w: want at most one KEY", errUsage)
	}
	if len(pos) == 1 {
		return withFeed(e, dir, pos[0], func(_ *feedstore.Store, f *feed.Feed) error {
			h := f.Head()
			w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintf(w, "key\t%s\n", f.Key())
			fmt.Fprintf(w, "discovery key\t%s\n", f.DiscoveryKey())
			fmt.Fprintf(w, "writable\t%v\n", f.Writable())
			fmt.Fprintf(w, "length\t%d blocks\n", h.Length)
			fmt.Fprintf(w, "bytes\t%d\n", f.ByteLength())
			fmt.Fprintf(w, "fork\t%d\n", h.Fork)
			fmt.Fprintf(w, "present\t%s\n", formatRanges(f.Present()))
			if ev := f.Evidence(); ev != nil {
				fmt.Fprintf(w, "FORKED\tthe writer signed two versions of tree node %d\n", ev.Index)
			}
			return w.Flush()
		})
	}
	s, err := openStore(dataDir(e, dir))
	if err != nil {
		return err
	}
	defer s.Close()
	ctx := context.Background()
	keys, err := s.List(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "KEY\tWRITABLE\tLENGTH\tBYTES\tFORK")
	for _, k := range keys {
		f, err := s.Open(ctx, k)
		if err != nil {
			fmt.Fprintf(w, "%s\terror: %v\n", k, err)
			continue
		}
		fmt.Fprintf(w, "%s\t%v\t%d\t%d\t%d\n", k, f.Writable(), f.Length(), f.ByteLength(), f.Head().Fork)
	}
	return w.Flush()
}

func formatRanges(rs []sdk.Range) string {
	if len(rs) == 0 {
		return "none"
	}
	s := ""
	for i, r := range rs {
		if i == 8 {
			return s + fmt.Sprintf(" … (%d ranges)", len(rs))
		}
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("[%d,%d)", r.Start, r.End)
	}
	return s
}

func feedVerify(e *env, args []string) error {
	var dir string
	fs := flags(e, "feed verify", &dir)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want KEY", errUsage)
	}
	return withFeed(e, dir, pos[0], func(_ *feedstore.Store, f *feed.Feed) error {
		if err := f.Verify(context.Background()); err != nil {
			return err
		}
		var held uint64
		for _, r := range f.Present() {
			held += r.Len()
		}
		fmt.Fprintf(e.stdout, "ok: %d of %d blocks held and verified, head signed at fork %d\n", held, f.Length(), f.Head().Fork)
		return nil
	})
}

func feedPurge(e *env, args []string) error {
	var dir string
	fs := flags(e, "feed purge", &dir)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: want KEY", errUsage)
	}
	return withFeed(e, dir, pos[0], func(s *feedstore.Store, f *feed.Feed) error {
		return s.Purge(context.Background(), f.Key())
	})
}
