// Package deny is the auth policy that turns every request down: a
// drive's writer set stays as its owner made it. It is the default, and
// what a host with no policy configured does anyway.
package deny

import (
	"context"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

// Reason is the Reason of every decision the policy makes.
const Reason = "this drive does not accept new writers"

// Policy denies every request. The zero value is ready to use and safe
// for concurrent calls.
type Policy struct{}

// New returns the deny policy.
func New() sdk.AuthPolicy { return Policy{} }

// Open returns the deny policy. It takes no configuration and ignores
// any it is given.
func Open(plugin.Config) (sdk.AuthPolicy, error) { return New(), nil }

// Authorize denies req.
func (Policy) Authorize(context.Context, sdk.AuthRequest) (sdk.AuthDecision, error) {
	return sdk.AuthDecision{Reason: Reason}, nil
}
