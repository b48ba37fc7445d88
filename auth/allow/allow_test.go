package allow_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/auth/allow"
	"github.com/codrive/codrive/conformance/authtest"
	"github.com/codrive/codrive/conformance/authtest/shipped"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// TestConformance runs the auth suite on the builtin policy.
func TestConformance(t *testing.T) {
	h := shipped.Harness(t, "allow")
	h.Open = func(_ *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error) { return allow.Open(cfg) }
	authtest.Run(t, h)
}

// TestAllow: whatever the configuration and the request, the answer is
// yes, without a reason.
func TestAllow(t *testing.T) {
	tests := []struct {
		name string
		cfg  plugin.Config
		req  sdk.AuthRequest
	}{
		{"no configuration, empty request", nil, sdk.AuthRequest{}},
		{"settings are ignored", plugin.Config{"file": "/nonexistent"}, sdk.AuthRequest{Drive: sdk.FeedKey{1}, Proof: []byte("wrong code")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := allow.Open(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			d, err := p.Authorize(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sdk.AuthDecision{Allow: true}, d); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}
