// Command codrive-plugin-auth-stall is an auth policy plugin for tests
// that never decides: every request waits until the host gives up on it,
// so that a requester's timeout is what ends it.
package main

import (
	"context"
	"time"

	"github.com/codrive/codrive/sdk"
	"github.com/codrive/codrive/sdk/plugin"
)

type stall struct{}

// Authorize waits for the host to cancel, or a minute as a bound.
func (stall) Authorize(ctx context.Context, _ sdk.AuthRequest) (sdk.AuthDecision, error) {
	select {
	case <-ctx.Done():
		return sdk.AuthDecision{}, ctx.Err()
	case <-time.After(time.Minute):
		return sdk.AuthDecision{Reason: "stalled for a minute"}, nil
	}
}

func main() {
	plugin.ServeAuthPolicy(plugin.Info{Name: "stall", Version: "0.1.0"},
		func(plugin.Config) (sdk.AuthPolicy, error) { return stall{}, nil })
}
