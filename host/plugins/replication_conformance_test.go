package plugins_test

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/conformance/replicationtest"
	"github.com/codrive/codrive/host/plugins"
	"github.com/codrive/codrive/internal/plugintest"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/storage/disk"
	"github.com/codrive/codrive/storage/memory"
	"github.com/codrive/codrive/transports/tcp"
)

// TestReplicationConformance runs the replication suite over each
// storage with each transport: in memory and on disk, over TCP in
// process and over TCP through its plugin binary, where every host's
// transport is a plugin process of its own.
func TestReplicationConformance(t *testing.T) {
	bin := plugintest.Build(t, tcpTransportPlugin)
	l := newLoader(t, plugins.Config{})
	storages := []struct {
		name string
		open func(t *testing.T, dir string) (sdk.Storage, error)
	}{
		{"memory", func(*testing.T, string) (sdk.Storage, error) { return memory.New(), nil }},
		{"disk", func(_ *testing.T, dir string) (sdk.Storage, error) { return disk.Open(dir, disk.Options{}) }},
	}
	transports := []struct {
		name string
		new  func(t *testing.T) (sdk.Transport, error)
	}{
		{"tcp", func(*testing.T) (sdk.Transport, error) { return tcp.New(), nil }},
		{"tcp-plugin", func(t *testing.T) (sdk.Transport, error) { return l.Transport(t.Context(), bin, nil) }},
	}
	for _, st := range storages {
		for _, tr := range transports {
			t.Run(st.name+"/"+tr.name, func(t *testing.T) {
				replicationtest.Run(t, replicationtest.Harness{
					Storage:    st.open,
					Transport:  tr.new,
					ListenAddr: ma.StringCast("/ip4/127.0.0.1/tcp/0"),
				})
			})
		}
	}
}
