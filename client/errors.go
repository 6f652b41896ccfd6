package client

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Kinds of error. Every error the client returns for a refused or failed
// call is an *Error that matches one of these with errors.Is (a bad topic
// matches both ErrInvalidTopic and ErrInvalidArgument).
var (
	// ErrInvalidArgument: the daemon (or the client, before sending)
	// refused a request as malformed: INVALID_ARGUMENT.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrInvalidTopic: the topic or pattern breaks the topic rules
	// (docs/protocol.md §4.1): empty, too long, too many levels, a control
	// character, or a wildcard where none is allowed.
	ErrInvalidTopic = errors.New("invalid topic")
	// ErrNotFound: the subscription is unknown to the daemon (ended, or
	// its pause ran out): NOT_FOUND.
	ErrNotFound = errors.New("not found")
	// ErrUnavailable: the daemon cannot be reached or is shutting down:
	// UNAVAILABLE. Also returned once reconnection gave up (StateFailed).
	ErrUnavailable = errors.New("unavailable")
	// ErrLimit: a daemon limit was reached (subscriptions, patterns,
	// retained values): RESOURCE_EXHAUSTED.
	ErrLimit = errors.New("limit reached")
	// ErrUnauthenticated: the daemon wants a token (--app-token) and the
	// client sent none or a wrong one (see WithToken): UNAUTHENTICATED.
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrClosed: the client was closed.
	ErrClosed = errors.New("client closed")
)

// Error is a failed call. It wraps the call's gRPC status (GRPCStatus, so
// status.FromError and status.Code work on it) and its kind.
type Error struct {
	Op     string         // what the client was doing: "publish", "subscribe", ...
	Kind   error          // ErrInvalidArgument, ErrNotFound, ...; nil for other codes
	Status *status.Status // the daemon's answer, or the client's own equivalent
	Err    error          // the underlying error (a context error, a transport error), if any

	topic bool // the invalid argument is a topic or pattern
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("nexusd: ")
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	switch {
	case e.Status != nil && e.Status.Message() != "":
		if e.Kind != nil && !strings.HasPrefix(e.Status.Message(), kindName(e)) {
			b.WriteString(kindName(e))
			b.WriteString(": ")
		}
		b.WriteString(e.Status.Message())
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	case e.Kind != nil:
		b.WriteString(kindName(e))
	default:
		b.WriteString(e.Status.Code().String())
	}
	return b.String()
}

func kindName(e *Error) string {
	if e.topic {
		return ErrInvalidTopic.Error()
	}
	return e.Kind.Error()
}

// Unwrap gives errors.Is and errors.As the kind, the status error and the
// underlying error.
func (e *Error) Unwrap() []error {
	out := make([]error, 0, 4)
	if e.Kind != nil {
		out = append(out, e.Kind)
	}
	if e.topic {
		out = append(out, ErrInvalidTopic)
	}
	if e.Err != nil {
		out = append(out, e.Err)
	}
	if e.Status != nil {
		out = append(out, e.Status.Err())
	}
	return out
}

// GRPCStatus is the call's gRPC status, for status.FromError and
// status.Code.
func (e *Error) GRPCStatus() *status.Status {
	if e.Status == nil {
		return status.New(codes.Unknown, e.Error())
	}
	return e.Status
}

// Code is the gRPC code of err: codes.OK for nil, codes.Unknown for an
// error that carries none.
func Code(err error) codes.Code { return status.Code(err) }

// wrapErr turns a gRPC call's error into an *Error for op.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Op == "" {
			e.Op = op
		}
		return e
	}
	st, ok := status.FromError(err)
	if !ok {
		switch {
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return &Error{Op: op, Status: status.FromContextError(err), Err: err}
		}
		return &Error{Op: op, Kind: ErrUnavailable, Status: status.New(codes.Unavailable, err.Error()), Err: err}
	}
	e = &Error{Op: op, Status: st}
	switch st.Code() {
	case codes.InvalidArgument:
		e.Kind, e.topic = ErrInvalidArgument, aboutTopic(st.Message())
	case codes.NotFound:
		e.Kind = ErrNotFound
	case codes.Unavailable:
		e.Kind = ErrUnavailable
	case codes.ResourceExhausted:
		e.Kind = ErrLimit
	case codes.Unauthenticated, codes.PermissionDenied:
		e.Kind = ErrUnauthenticated
	case codes.Canceled:
		e.Err = context.Canceled
	case codes.DeadlineExceeded:
		e.Err = context.DeadlineExceeded
	}
	return e
}

// aboutTopic reports whether an INVALID_ARGUMENT message from the daemon
// is about a topic or pattern (the core's messages name it first).
func aboutTopic(msg string) bool {
	for _, p := range []string{`topic "`, "topic is empty", `pattern "`, "pattern is empty", "no topics given", "topic %"} {
		if strings.HasPrefix(msg, p) {
			return true
		}
	}
	return false
}

// topicError is the client's own refusal of a topic or pattern, as the
// daemon would have answered it.
func topicError(op string, err error) error {
	return &Error{Op: op, Kind: ErrInvalidArgument, topic: true, Status: status.New(codes.InvalidArgument, err.Error())}
}

// argError is the client's own refusal of an argument.
func argError(op, format string, args ...any) error {
	return &Error{Op: op, Kind: ErrInvalidArgument, Status: status.New(codes.InvalidArgument, fmt.Sprintf(format, args...))}
}

// closedError is what calls on a closed client return.
func closedError(op string) error {
	return &Error{Op: op, Kind: ErrClosed, Status: status.New(codes.Canceled, "the client is closed")}
}

// publisherClosedError is what a Publisher's calls return after its Close.
func publisherClosedError(op string) error {
	return &Error{Op: op, Kind: ErrClosed, Status: status.New(codes.Canceled, "the publisher is closed")}
}

// unsettledError is the failure of a message a Publisher sent and the
// daemon had not acknowledged when the publisher stopped for cause (its
// context ended, it or its client closed): cause's error, saying that the
// message may or may not have been published.
func unsettledError(op string, cause error) error {
	e := &Error{Status: status.New(codes.Unknown, fmt.Sprint(cause))}
	if errors.As(callErr(op, cause), &e) && e.Status == nil {
		e.Status = status.New(codes.Unknown, fmt.Sprint(cause))
	}
	cp := *e
	cp.Status = status.New(e.Status.Code(), e.Status.Message()+", before the daemon acknowledged this message: it may or may not have been published")
	return &cp
}

// failedError is what calls return once reconnection gave up.
func failedError(op string, cause error) error {
	msg := "the daemon could not be reached and reconnection gave up (see WithMaxRetries)"
	if cause != nil {
		msg += ": " + cause.Error()
	}
	return &Error{Op: op, Kind: ErrUnavailable, Status: status.New(codes.Unavailable, msg), Err: cause}
}

func statusUnavailable(msg string) *status.Status { return status.New(codes.Unavailable, msg) }

// retryable reports whether a subscription or publisher stream that ended
// with err should be opened again: the daemon went away or is restarting,
// or the transport broke; not when the request itself was refused.
func retryable(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Unauthenticated, codes.PermissionDenied, codes.ResourceExhausted,
		codes.Unimplemented, codes.FailedPrecondition, codes.OutOfRange, codes.AlreadyExists:
		return false
	}
	return true
}
