package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/codrive/codrive/host/feed"
	"github.com/codrive/codrive/host/feedstore"
	"github.com/codrive/codrive/storage/memory"
)

// demo walks through what a feed gives: a writer's signed log on disk, kept
// across restarts, proven block by block to a sparse reader that rejects
// anything forged.
//
// Without --feeds it runs the co-drive tour instead: the main job of the
// README.
func demo(e *env, args []string) error {
	var dir string
	var feeds bool
	fs := flags(e, "demo", &dir)
	fs.BoolVar(&feeds, "feeds", false, "tour the feeds underneath instead of co-drives")
	if pos, err := parse(fs, args); err != nil {
		return err
	} else if len(pos) != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, pos[0])
	}
	if !feeds {
		return demoCoDrive(context.Background(), e.stdout, cliLogger(e))
	}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "codrive-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	ctx := context.Background()
	say := func(format string, a ...any) { fmt.Fprintf(e.stdout, format+"\n", a...) }

	say("1. A writer opens a feed store in %s:", dir)
	say("   a master seed (%s) and crash-safe disk storage (%s).", filepath.Join(dir, "seed"), filepath.Join(dir, "feeds"))
	store, err := openStore(dir)
	if err != nil {
		return err
	}
	journal, err := store.Writer(ctx, "journal")
	if err != nil {
		store.Close()
		return err
	}
	say("   Its feed \"journal\" has key %s,", journal.Key())
	say("   derived from the seed and the name; peers find it by discovery key %s.", journal.DiscoveryKey())

	say("\n2. It appends three entries in one batch (one signature), then 1,000 more in batches of 100.")
	if _, err := journal.Append(ctx, []byte("monday: planted tomatoes"), []byte("tuesday: rain"), []byte("wednesday: first sprouts")); err != nil {
		store.Close()
		return err
	}
	for i := 0; i < 10; i++ {
		batch := make([][]byte, 100)
		for j := range batch {
			batch[j] = fmt.Appendf(nil, "reading %d: %d.%d °C", 100*i+j, 15+j%10, j%7)
		}
		if _, err := journal.Append(ctx, batch...); err != nil {
			store.Close()
			return err
		}
	}
	say("   Length %d blocks, %d bytes, head signed at fork %d.", journal.Length(), journal.ByteLength(), journal.Head().Fork)
	if err := store.Close(); err != nil {
		return err
	}

	say("\n3. The writer restarts: the same name gives the same key, and the feed checks out.")
	store, err = openStore(dir)
	if err != nil {
		return err
	}
	defer store.Close()
	journal, err = store.Writer(ctx, "journal")
	if err != nil {
		return err
	}
	if err := journal.Verify(ctx); err != nil {
		return err
	}
	say("   Reopened %s: %d blocks, every block, node and the signature verified.", short(journal.Key().String()), journal.Length())

	say("\n4. A reader that holds nothing asks for block 700 alone.")
	readers, err := feedstore.New(memory.New(), feedstore.NewSeed())
	if err != nil {
		return err
	}
	defer readers.Close()
	replica, err := readers.Get(ctx, journal.Key())
	if err != nil {
		return err
	}
	proof, err := journal.Proof(ctx, feed.ProofRequest{Start: 700, End: 701})
	if err != nil {
		return err
	}
	if err := replica.Put(ctx, proof); err != nil {
		return err
	}
	got, err := replica.Get(ctx, 700)
	if err != nil {
		return err
	}
	say("   The proof carries %d tree nodes and %d roots for a feed of %d blocks; the reader checks it", len(proof.Nodes), len(proof.Roots), proof.Head.Length)
	say("   against the key alone and stores %q. It holds %s of %d blocks.", got, formatRanges(replica.Present()), replica.Length())

	say("\n5. Someone in between alters the block. The reader refuses it and stores nothing.")
	forged, err := journal.Proof(ctx, feed.ProofRequest{Start: 2, End: 3})
	if err != nil {
		return err
	}
	forged.Blocks[0] = []byte("wednesday: hail destroyed everything")
	err = replica.Put(ctx, forged)
	say("   Put: %v", err)
	if err == nil {
		return fmt.Errorf("a forged block was accepted")
	}
	say("   Block 2 held: %v.", replica.Has(2, 3))

	say("\n6. The writer truncates to 3 blocks; the fork id goes up, so readers see a truncation, not a fork.")
	if err := journal.Truncate(ctx, 3); err != nil {
		return err
	}
	proof, err = journal.Proof(ctx, feed.ProofRequest{Start: 0, End: 3})
	if err != nil {
		return err
	}
	if err := replica.Put(ctx, proof); err != nil {
		return err
	}
	say("   Writer and reader now agree: length %d, fork %d; the reader holds %s.", replica.Length(), replica.Head().Fork, formatRanges(replica.Present()))

	say("\nTry the command line on the same kind of store:")
	say("   codrive feed create --name notes   # prints the key")
	say("   codrive feed append KEY 'first entry' 'second entry'")
	say("   codrive feed get KEY 0 2")
	say("   codrive feed verify KEY")
	return nil
}

func short(s string) string { return s[:8] + "…" }
