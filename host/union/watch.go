package union

import (
	"context"
	"strings"
	"sync"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/sdk"
)

// EventType says what an Event reports.
type EventType int

const (
	// EventChange: a drive applied an entry at Path.
	EventChange EventType = iota + 1
	// EventDriveAdded: Drive joined the view.
	EventDriveAdded
	// EventDriveRemoved: Drive left the view.
	EventDriveRemoved
)

func (t EventType) String() string {
	switch t {
	case EventChange:
		return "change"
	case EventDriveAdded:
		return "drive-added"
	case EventDriveRemoved:
		return "drive-removed"
	}
	return "unknown"
}

// Event is one change seen by a View.
type Event struct {
	Type EventType
	// Drive is the drive that changed, joined or left.
	Drive sdk.FeedKey
	// Path, Seq and Kind describe the entry of an EventChange: what the
	// drive wrote, before resolution (the path may still show another
	// writer's version).
	Path string
	Seq  uint64
	Kind drive.Kind
}

// watch is one Watch call: a queue that never blocks the drives, drained
// by its own goroutine into the caller's channel.
type watch struct {
	prefix string
	mu     sync.Mutex
	queue  []Event
	wake   chan struct{}
	done   chan struct{}
	once   sync.Once
}

// Watch delivers the view's events until ctx ends or the view closes,
// then closes the channel: every change at or beneath prefix, from any
// drive, as it is applied, and every drive joining or leaving. Events
// queue without bound rather than holding up replication, so a watcher
// should keep reading.
func (v *View) Watch(ctx context.Context, prefix string) (<-chan Event, error) {
	p, err := clean("watch", prefix)
	if err != nil {
		return nil, err
	}
	w := &watch{prefix: p, wake: make(chan struct{}, 1), done: make(chan struct{})}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return nil, sdk.ErrClosed
	}
	v.watches[w] = struct{}{}
	v.mu.Unlock()
	out := make(chan Event)
	go func() {
		defer close(out)
		defer func() {
			v.mu.Lock()
			delete(v.watches, w)
			v.mu.Unlock()
		}()
		for {
			w.mu.Lock()
			q := w.queue
			w.queue = nil
			w.mu.Unlock()
			for _, e := range q {
				select {
				case out <- e:
				case <-ctx.Done():
					return
				case <-w.done:
					return
				}
			}
			select {
			case <-w.wake:
			case <-ctx.Done():
				return
			case <-w.done:
				return
			}
		}
	}()
	return out, nil
}

func (w *watch) matches(e Event) bool {
	if e.Type != EventChange || w.prefix == "/" {
		return true
	}
	return e.Path == w.prefix || strings.HasPrefix(e.Path, w.prefix+"/")
}

func (w *watch) push(e Event) {
	w.mu.Lock()
	w.queue = append(w.queue, e)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *watch) close() { w.once.Do(func() { close(w.done) }) }

// notify queues e for every matching watch.
func (v *View) notify(e Event) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	for w := range v.watches {
		if w.matches(e) {
			w.push(e)
		}
	}
}
