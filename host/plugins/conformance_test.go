package plugins_test

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/conformance/transporttest"
	"github.com/codrive/codrive/host/plugins"
	"github.com/codrive/codrive/internal/plugintest"
	"github.com/codrive/codrive/sdk"
)

const tcpTransportPlugin = "github.com/codrive/codrive/plugins/codrive-plugin-transport-tcp"

// TestTransportConformance runs the transport suite against the TCP
// transport through its plugin binary: every transport the suite makes
// is a plugin process of its own, started by a Loader.
func TestTransportConformance(t *testing.T) {
	bin := plugintest.Build(t, tcpTransportPlugin)
	l := newLoader(t, plugins.Config{})
	transporttest.Run(t, transporttest.Harness{
		New: func(t *testing.T) (sdk.Transport, error) {
			return l.Transport(t.Context(), bin, nil)
		},
		ListenAddr: ma.StringCast("/ip4/127.0.0.1/tcp/0"),
	})
}
