package deny_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/codrive/codrive/auth/deny"
	"github.com/codrive/codrive/conformance/authtest"
	"github.com/codrive/codrive/conformance/authtest/shipped"
	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// TestConformance runs the auth suite on the builtin policy.
func TestConformance(t *testing.T) {
	h := shipped.Harness(t, "deny")
	h.Open = func(_ *testing.T, cfg plugin.Config) (sdk.AuthPolicy, error) { return deny.Open(cfg) }
	authtest.Run(t, h)
}

// TestDeny: whatever the configuration and the request, the answer is
// the same denial.
func TestDeny(t *testing.T) {
	tests := []struct {
		name string
		cfg  plugin.Config
		req  sdk.AuthRequest
	}{
		{"no configuration, empty request", nil, sdk.AuthRequest{}},
		{"settings are ignored", plugin.Config{"file": "/nonexistent"}, sdk.AuthRequest{Drive: sdk.FeedKey{1}, Proof: []byte("let me in")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := deny.Open(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			d, err := p.Authorize(t.Context(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(sdk.AuthDecision{Reason: deny.Reason}, d); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}
