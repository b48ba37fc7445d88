package loopback

import (
	"context"
	"testing"
	"time"
)

func TestConnectDisconnect(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	a, err := New("a", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := New("b", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Connected(b) || b.Connected(a) {
		t.Fatal("connected before Connect")
	}
	if err := a.Connect(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := a.Disconnect(ctx, b); err != nil {
		t.Fatal(err)
	}
	// Connections can be made again after a cut.
	if err := b.Connect(ctx, a); err != nil {
		t.Fatal(err)
	}
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if err := WaitFor(short, "never", func() bool { return false }); err == nil {
		t.Error("WaitFor returned nil for a condition that never holds")
	}
}
