package tcp_test

import (
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/codrive/codrive/conformance/transporttest"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/transports/tcp"
)

// TestConformance runs the transport suite against the TCP transport,
// in process, on IPv4 loopback.
func TestConformance(t *testing.T) {
	transporttest.Run(t, transporttest.Harness{
		New: func(t *testing.T) (sdk.Transport, error) {
			return tcp.New(), nil
		},
		ListenAddr: ma.StringCast("/ip4/127.0.0.1/tcp/0"),
	})
}
