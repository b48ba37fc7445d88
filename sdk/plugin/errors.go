package plugin

import (
	"context"
	"errors"

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
// its message and, for a known sentinel, which one it wraps.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
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
