package storagetest

import (
	"testing"

	"github.com/codrive/codrive/sdk"
)

// testPersistence checks, for a persistent storage, that everything
// written survives Close and a new Open on the same directory: headers with
// their secret keys, heads, blocks, nodes, present ranges, evidence,
// truncations and deletions.
func testPersistence(t *testing.T, h Harness) {
	t.Run("Empty", func(t *testing.T) {
		e := newEnv(t, h)
		e.reopen()
		e.checkKeys(nil)
	})

	t.Run("Everything", func(t *testing.T) {
		e := newEnv(t, h)
		models := make(map[sdk.FeedKey]*feedModel)
		create := func(hd sdk.FeedHeader) *feedModel {
			m := e.create(hd)
			models[hd.Key] = m
			return m
		}
		const window, far = 5_000_000, 1 << 40

		writer := create(header(1, true))
		e.write(writer, &sdk.Batch{Blocks: blocks(0, 50, 1, 500), Nodes: nodes(0, 99, 1), Head: head(0, 50), Evidence: []byte("evidence 1")})
		reader := create(header(2, false))
		e.write(reader, &sdk.Batch{Blocks: blocks(window, window+10, 1, 300), Nodes: nodes(2*window, 2*window+19, 1), Head: head(0, window+10)})
		e.write(reader, &sdk.Batch{Blocks: blocks(far, far+3, 1, 300), Nodes: nodes(2*far, 2*far+5, 1)})
		doomed := create(header(3, true))
		e.write(doomed, &sdk.Batch{Blocks: blocks(0, 8, 1, 100), Nodes: nodes(0, 15, 1), Head: head(0, 8), Evidence: []byte("doomed")})
		create(header(4, false)) // stays empty
		e.reopen()
		e.checkFeeds(models)

		// A fork: truncate and write a new history, in one batch.
		e.write(writer, &sdk.Batch{
			Truncate:   true,
			TruncateTo: 30,
			Blocks:     blocks(30, 35, 2, 700),
			Nodes:      nodes(60, 69, 2),
			Head:       head(1, 35),
			Evidence:   []byte("evidence 2"),
		})
		e.write(reader, &sdk.Batch{Blocks: blocks(window+10, window+20, 1, 300), Head: head(0, window+20)})
		e.delete(doomed.header.Key)
		delete(models, doomed.header.Key)
		e.reopen()
		e.checkFeeds(models)

		// The deleted key comes back as a new, read-only feed, with none of
		// the old blocks or nodes.
		recreated := create(header(3, false))
		recreated.written = doomed.written
		e.write(recreated, &sdk.Batch{Blocks: blocks(4, 6, 3, 100)})
		e.reopen()
		e.checkFeeds(models)

		// Opening again without writing changes nothing.
		e.reopen()
		e.checkFeeds(models)
	})
}
