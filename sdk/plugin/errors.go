package plugin

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/codrive/codrive/sdk"
)

// ErrUnavailable: the plugin process is gone or unreachable (it crashed,
// was killed, or has not started). The host restarts it on next use.
var ErrUnavailable = errors.New("plugin unavailable")

// ErrNotInitialized: a contract call reached a plugin before Init.
var ErrNotInitialized = errors.New("plugin not initialized")

// errorDomain names the ErrorInfo reasons below.
const errorDomain = "codrive.dev"

// sentinels maps the errors that keep their identity across the process
// boundary to the gRPC code and ErrorInfo reason that carry them.
var sentinels = []struct {
	err    error
	code   codes.Code
	reason string
}{
	{sdk.ErrNotFound, codes.NotFound, "NOT_FOUND"},
	{sdk.ErrExists, codes.AlreadyExists, "EXISTS"},
	{sdk.ErrClosed, codes.FailedPrecondition, "CLOSED"},
	{sdk.ErrInvalid, codes.InvalidArgument, "INVALID"},
	{sdk.ErrCorrupt, codes.DataLoss, "CORRUPT"},
	{ErrNotInitialized, codes.FailedPrecondition, "NOT_INITIALIZED"},
}

// toStatus turns an implementation's error into a gRPC status that keeps
// its message and, for a known sentinel, which one it wraps. A gRPC
// status the implementation got from elsewhere (say, a backend it calls)
// is not passed through as it is: its code would mean something about
// this connection that is not true.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	for _, s := range sentinels {
		if errors.Is(err, s.err) {
			st, derr := status.New(s.code, err.Error()).WithDetails(&errdetails.ErrorInfo{Reason: s.reason, Domain: errorDomain})
			if derr != nil {
				return status.Error(s.code, err.Error())
			}
			return st.Err()
		}
	}
	return status.Error(codes.Unknown, err.Error())
}

// remoteError is an error from the plugin: its text as the plugin wrote
// it, unwrapping to the sentinel it wrapped there.
type remoteError struct {
	msg  string
	wrap error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.wrap }

// fromCall turns the error of a call made with ctx back into the error
// the plugin returned. A cancelled call is the caller's doing only if ctx
// is done; otherwise gRPC gave up on a connection that is closing, which
// means the plugin is gone.
func fromCall(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	if status.Code(err) == codes.Canceled {
		return &remoteError{msg: "plugin unavailable: " + status.Convert(err).Message(), wrap: ErrUnavailable}
	}
	return fromStatus(err)
}

// fromStatus turns a gRPC error back into the error the plugin returned.
func fromStatus(err error) error {
	if err == nil {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch st.Code() {
	case codes.Canceled:
		return &remoteError{msg: st.Message(), wrap: context.Canceled}
	case codes.DeadlineExceeded:
		return &remoteError{msg: st.Message(), wrap: context.DeadlineExceeded}
	case codes.Unavailable:
		return &remoteError{msg: "plugin unavailable: " + st.Message(), wrap: ErrUnavailable}
	case codes.ResourceExhausted:
		// Above all a message over the size limit: an argument the
		// contract can't carry.
		return &remoteError{msg: st.Message(), wrap: sdk.ErrInvalid}
	}
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.Domain != errorDomain {
			continue
		}
		for _, s := range sentinels {
			if s.reason == info.Reason {
				return &remoteError{msg: st.Message(), wrap: s.err}
			}
		}
	}
	return errors.New(st.Message())
}
