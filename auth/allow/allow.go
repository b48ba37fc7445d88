// Package allow is the auth policy that lets every peer add a writer.
// Anyone who knows a drive's key can then write to it, so it suits tests
// and networks where reaching the drive at all is the access control.
package allow

import (
	"context"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// Policy allows every request. The zero value is ready to use and safe
// for concurrent calls.
type Policy struct{}

// New returns the allow policy.
func New() sdk.AuthPolicy { return Policy{} }

// Open returns the allow policy. It takes no configuration and ignores
// any it is given.
func Open(plugin.Config) (sdk.AuthPolicy, error) { return New(), nil }

// Authorize allows req.
func (Policy) Authorize(context.Context, sdk.AuthRequest) (sdk.AuthDecision, error) {
	return sdk.AuthDecision{Allow: true}, nil
}
