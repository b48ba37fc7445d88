package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/codrive/codrive/auth/invite"
	"github.com/codrive/codrive/conflict/vclock"
	co "github.com/codrive/codrive/host/codrive"
	"github.com/codrive/codrive/internal/loopback"
	"github.com/codrive/codrive/sdk"
)

// demoPeer is one host of the co-drive demo: memory storage and
// replication over TCP on loopback, with the vclock resolver.
type demoPeer struct {
	*loopback.Host
	log *slog.Logger
}

func (p demoPeer) config(auth sdk.AuthPolicy) co.Config {
	return co.Config{Store: p.Store, Replicator: p.Replicator, Resolver: vclock.New(), Auth: auth, AuthTimeout: 10 * time.Second, Logger: p.log}
}

// demoTimeout bounds every wait of the demo.
const demoTimeout = 20 * time.Second

func (p demoPeer) connect(o demoPeer) error {
	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	return p.Connect(ctx, o.Host)
}

func (p demoPeer) disconnect(o demoPeer) error {
	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	return p.Disconnect(ctx, o.Host)
}

// demoWait polls cond for up to demoTimeout.
func demoWait(what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), demoTimeout)
	defer cancel()
	return loopback.WaitFor(ctx, what, cond)
}

// demoCoDrive is the main job of the README: three peers share a
// co-drive on loopback, narrated step by step.
func demoCoDrive(ctx context.Context, out io.Writer, log *slog.Logger) (err error) {
	say := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	short := func(k sdk.FeedKey) string { return k.String()[:8] }
	var peers []demoPeer
	defer func() {
		for _, p := range peers {
			p.Close()
		}
	}()
	for _, name := range []string{"alice", "bob", "carol"} {
		plog := log.With("peer", name)
		h, err := loopback.New(name, loopback.Options{Logger: plog})
		if err != nil {
			return err
		}
		peers = append(peers, demoPeer{h, plog})
	}
	alice, bob, carol := peers[0], peers[1], peers[2]

	say("Three peers start on this machine, each with its own storage, listening on loopback:")
	for _, p := range peers {
		say("  %-6s %s  (peer key %s…)", p.Name, p.Addr(), p.PeerKey().String()[:8])
	}
	say("alice and bob connect, and bob and carol: carol never meets alice.")
	if err := alice.connect(bob); err != nil {
		return err
	}
	if err := bob.connect(carol); err != nil {
		return err
	}

	secret := make([]byte, 32)
	rand.Read(secret)
	policy, err := invite.New(secret)
	if err != nil {
		return err
	}
	say("\n1. alice creates a co-drive. Her auth policy admits whoever brings its invite code.")
	a, err := co.Create(ctx, alice.config(policy))
	if err != nil {
		return err
	}
	defer a.Close()
	key := a.Key()
	code := invite.Code(secret, key)
	say("   co-drive key: codrive://%s", key)
	say("   invite code:  %s (alice shares both with bob)", code)
	if err := a.View().WriteFile(ctx, "/plans/trip.txt", []byte("day 1: the lake\n"), 0o644); err != nil {
		return err
	}
	say("   alice writes /plans/trip.txt: %q", "day 1: the lake")

	say("\n2. bob opens the co-drive by its key and reads alice's file.")
	b, err := co.Open(ctx, bob.config(nil), key)
	if err != nil {
		return err
	}
	defer b.Close()
	if err := demoWaitFile(ctx, b, "/plans/trip.txt", "day 1: the lake\n"); err != nil {
		return err
	}
	say("   bob reads /plans/trip.txt: %q", "day 1: the lake")
	err = b.View().WriteFile(ctx, "/plans/bob.txt", nil, 0o644)
	say("   bob tries to write: %v", firstLine(err))

	say("\n3. bob asks to write, with the invite code bound to his request (so a peer that")
	say("   sees the request cannot reuse it). alice's policy checks it,")
	say("   alice's host writes the authorization, and bob believes it when it reaches him.")
	proof, err := invite.Proof(code, key, b.LocalWriter(), b.PeerKey())
	if err != nil {
		return err
	}
	if err := b.RequestAuthorization(ctx, []byte(proof)); err != nil {
		return err
	}
	say("   granted: bob's writer key %s… is in the writer set.", short(b.LocalWriter()))
	if err := b.View().WriteFile(ctx, "/plans/bob.txt", []byte("bring the canoe\n"), 0o644); err != nil {
		return err
	}
	say("   bob writes /plans/bob.txt: %q", "bring the canoe")
	if err := demoWaitFile(ctx, a, "/plans/bob.txt", "bring the canoe\n"); err != nil {
		return err
	}
	say("   alice reads it back.")

	say("\n4. carol, connected only to bob, opens the co-drive: both writers' files reach her through bob.")
	c, err := co.Open(ctx, carol.config(nil), key)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := demoWaitFile(ctx, c, "/plans/bob.txt", "bring the canoe\n"); err != nil {
		return err
	}
	if err := demoWaitFile(ctx, c, "/plans/trip.txt", "day 1: the lake\n"); err != nil {
		return err
	}
	names, err := c.View().ReadDirNames(ctx, "/plans")
	if err != nil {
		return err
	}
	say("   carol lists /plans: %s", strings.Join(names, ", "))
	err = c.RequestAuthorization(ctx, []byte("not-the-code"))
	say("   carol asks to write. The one writer she can reach is bob, whose host runs")
	say("   the default policy: %v", err)

	say("\n5. alice and bob lose their connection and both edit the plan.")
	if err := alice.disconnect(bob); err != nil {
		return err
	}
	if err := a.View().WriteFile(ctx, "/plans/trip.txt", []byte("day 1: the lake\nday 2: the mountain\n"), 0o644); err != nil {
		return err
	}
	if err := b.View().WriteFile(ctx, "/plans/trip.txt", []byte("day 1: the lake\nday 2: the beach\n"), 0o644); err != nil {
		return err
	}
	say("   alice writes \"day 2: the mountain\"; bob writes \"day 2: the beach\".")
	if err := alice.connect(bob); err != nil {
		return err
	}
	if err := demoWait("both edits to reach everyone", func() bool {
		for _, x := range []*co.CoDrive{a, b, c} {
			cs, err := x.View().Conflicts(ctx, "/plans/trip.txt")
			if err != nil || len(cs) != 1 {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	say("   They reconnect. The edits were concurrent (neither had seen the other), so the")
	say("   vclock resolver picks one the same way on every peer, and keeps the other:")
	for _, x := range []struct {
		name string
		c    *co.CoDrive
	}{{"alice", a}, {"bob", b}, {"carol", c}} {
		data, err := x.c.View().ReadFile(ctx, "/plans/trip.txt")
		if err != nil {
			return err
		}
		cs, _ := x.c.View().Conflicts(ctx, "/plans/trip.txt")
		say("   %-5s shows %q, and keeps the version of %s… as a conflict", x.name, lastLine(data), short(cs[0].Versions[0].Writer))
	}
	say("   alice merges: she writes the file again, having seen both, and the conflict is settled.")
	if err := a.View().WriteFile(ctx, "/plans/trip.txt", []byte("day 1: the lake\nday 2: the mountain\nday 3: the beach\n"), 0o644); err != nil {
		return err
	}
	if err := demoWait("the merge to reach everyone", func() bool {
		for _, x := range []*co.CoDrive{a, b, c} {
			cs, err := x.View().Conflicts(ctx, "/plans")
			if err != nil || len(cs) != 0 {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}
	data, err := c.View().ReadFile(ctx, "/plans/trip.txt")
	if err != nil {
		return err
	}
	say("   carol reads: %q", string(data))

	say("\n6. alice removes bob from the writer set. His files written so far stay;")
	say("   anything he writes after what alice had seen of his drive is ignored by every peer.")
	if err := a.Deauthorize(ctx, b.LocalWriter(), false); err != nil {
		return err
	}
	if err := demoWait("everyone to learn of the removal", func() bool { return !b.IsWriter() && len(writerList(c, true)) == 1 }); err != nil {
		return err
	}
	err = b.View().WriteFile(ctx, "/plans/bob.txt", []byte("too late"), 0o644)
	say("   bob tries to write: %v", firstLine(err))
	for _, x := range []struct {
		name string
		c    *co.CoDrive
	}{{"alice", a}, {"bob", b}, {"carol", c}} {
		say("   %-5s sees writers %s, removed %s", x.name, strings.Join(writerList(x.c, true), ","), strings.Join(writerList(x.c, false), ","))
	}
	if err := demoWaitFile(ctx, c, "/plans/bob.txt", "bring the canoe\n"); err != nil {
		return err
	}
	say("   carol still reads bob's /plans/bob.txt: %q", "bring the canoe")
	say("\nDone. Try it across machines with `codrive init`, `codrive daemon` and `codrive clone` (see README.md).")
	return nil
}

func demoWaitFile(ctx context.Context, c *co.CoDrive, p, want string) error {
	return demoWait(p+" to arrive", func() bool {
		b, err := c.View().ReadFile(ctx, p)
		return err == nil && string(b) == want
	})
}

func writerList(c *co.CoDrive, members bool) []string {
	var out []string
	for _, w := range c.Writers() {
		if w.Member == members {
			out = append(out, w.Key.String()[:8]+"…")
		}
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}

func firstLine(err error) string {
	if err == nil {
		return "ok"
	}
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
