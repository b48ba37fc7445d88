package union

import (
	"context"

	"github.com/codrive/codrive/host/drive"
	"github.com/codrive/codrive/sdk"
)

// mountKey names a mounted drive at a version (0: its latest).
type mountKey struct {
	key     sdk.FeedKey
	version uint64
}

// mountView returns the read-only view of a mounted drive, made once per
// drive and version and kept until v closes: a live one follows the
// drive's changes like any view, a pinned one is a fixed snapshot.
func (v *View) mountView(ctx context.Context, key sdk.FeedKey, version uint64) (*View, error) {
	mk := mountKey{key, version}
	v.mountMu.Lock()
	defer v.mountMu.Unlock()
	if sub, ok := v.mounts[mk]; ok {
		return sub, nil
	}
	d, err := v.cfg.Mounts(ctx, key)
	if err != nil {
		return nil, err
	}
	sub := &View{
		cfg: Config{Mounts: v.cfg.Mounts, Now: v.cfg.Now, MaxSkew: v.cfg.MaxSkew}, log: v.log, readOnly: true,
		cache: map[string]*state{}, watches: map[*watch]struct{}{},
	}
	s := &source{d: d, key: d.Key(), active: true}
	if version > 0 {
		x, err := d.Snapshot(ctx, version)
		if err != nil {
			return nil, err
		}
		s.fixed.Store(x)
	} else {
		s.cancel = d.Subscribe(func(u drive.Update) { sub.onUpdate(s, u) })
	}
	sub.sources = []*source{s}
	if v.mounts == nil {
		v.mounts = map[mountKey]*View{}
	}
	v.mounts[mk] = sub
	return sub, nil
}

// closeMounts closes the views of mounted drives.
func (v *View) closeMounts() {
	v.mountMu.Lock()
	mounts := v.mounts
	v.mounts = nil
	v.mountMu.Unlock()
	for _, sub := range mounts {
		sub.Close()
	}
}
