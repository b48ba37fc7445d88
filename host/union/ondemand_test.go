package union_test

import (
	"slices"
	"testing"
)

// Content is fetched from peers when a file is opened, not before.
func TestContentOnDemand(t *testing.T) {
	a := newPeerSparse(t, "a", resolvers[1].new(), epoch, true)
	b := newPeerSparse(t, "b", resolvers[1].new(), epoch, true)
	mesh(a, b)
	data := make([]byte, 10_000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	if err := a.v.WriteFile(testContext(t), "/big", data, 0o644); err != nil {
		t.Fatal(err)
	}
	converge(t, a, b)
	var content interface{ Has(uint64, uint64) bool }
	for _, d := range b.v.Drives() {
		if d.Key() == a.d.Key() {
			content = d.ContentFeed()
		}
	}
	if content == nil {
		t.Fatal("b has no content feed for a's drive")
	}
	if content.Has(0, 1) {
		t.Error("content was downloaded before anyone read it")
	}
	got, err := b.v.ReadFile(testContext(t), "/big")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, data) {
		t.Error("content fetched on demand differs")
	}

	// Offline, a block nobody holds fails fast with "not available".
	a.disconnect(b)
	mustWrite(t, a.v, "/later", "x")
	if _, err := b.v.ReadFile(testContext(t), "/later"); err == nil {
		t.Error("read of a file b never received succeeded")
	}
}
