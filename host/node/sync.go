package node

import (
	"context"
	"time"

	"github.com/codrive/codrive/host/codrive"
	"github.com/codrive/codrive/host/feed"
)

// DefaultQuiet is how long a co-drive must stay complete and unchanged
// before WaitSynced calls it synced. The replicator does not tell what
// lengths the peers announced, so a pause in arrivals is the sign that
// nothing more is coming (the rule of codrive feed sync).
const DefaultQuiet = 500 * time.Millisecond

// pollInterval is how often WaitSynced looks at the co-drive's feeds.
// Polling rather than waiting on each feed's Changed keeps up with
// writers added while it waits.
const pollInterval = 50 * time.Millisecond

// SyncStatus is how much of a co-drive this peer holds.
type SyncStatus struct {
	// Peers is the number of peers connected.
	Peers int
	// Writers is the number of drives in the co-drive's view.
	Writers int
	// Held and Length count blocks over every drive feed and content
	// feed of the view: those held here, and those the heads known here
	// cover.
	Held, Length uint64
	// Complete: the primary drive has arrived and every feed holds every
	// block up to its known length.
	Complete bool
}

// Status returns how much of c this peer holds now.
func (n *Node) Status(c *codrive.CoDrive) SyncStatus {
	st := SyncStatus{Peers: len(n.Connected()), Complete: true}
	havePrimary := false
	for _, d := range c.View().Drives() {
		st.Writers++
		feeds := []*feed.Feed{d.Feed()}
		if cf := d.ContentFeed(); cf != nil {
			feeds = append(feeds, cf)
		}
		if d.Key() == c.Key() && d.Feed().Length() > 0 {
			havePrimary = true
		}
		for _, f := range feeds {
			length := f.Length()
			st.Length += length
			for _, r := range f.Present() {
				st.Held += min(r.End, length) - min(r.Start, length)
			}
			if !f.Has(0, length) {
				st.Complete = false
			}
		}
	}
	st.Complete = st.Complete && havePrimary
	return st
}

// WaitSynced waits until this peer holds everything its connected peers
// have announced of c: at least one peer is connected, the co-drive is
// complete (see SyncStatus) and nothing has changed for quiet (zero means
// DefaultQuiet) since a peer connected. It returns the last status, with
// ctx's error if ctx ends first, or ErrOffline without networking. It
// calls progress, if not nil, about every 100 ms.
func (n *Node) WaitSynced(ctx context.Context, c *codrive.CoDrive, quiet time.Duration, progress func(SyncStatus)) (SyncStatus, error) {
	if !n.Networked() {
		return n.Status(c), ErrOffline
	}
	if quiet <= 0 {
		quiet = DefaultQuiet
	}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last SyncStatus
	var lastChange, lastProgress time.Time
	connected := false
	for {
		st := n.Status(c)
		now := time.Now()
		if !connected && st.Peers > 0 {
			connected, lastChange = true, now
		}
		if st.Writers != last.Writers || st.Held != last.Held || st.Length != last.Length {
			lastChange = now
		}
		last = st
		if connected && st.Peers > 0 && st.Complete && now.Sub(lastChange) >= quiet {
			return st, nil
		}
		if progress != nil && now.Sub(lastProgress) >= 100*time.Millisecond {
			progress(st)
			lastProgress = now
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
	}
}
