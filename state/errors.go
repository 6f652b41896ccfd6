package state

import "fmt"

// Code classifies a refusal so a shell can map it to its own error space
// (gRPC status codes in the daemon).
type Code uint8

const (
	Invalid     Code = iota + 1 // bad input: topic, payload, argument
	NotFound                    // unknown subscription
	Limit                       // a configured cap refused it
	Unavailable                 // the node cannot do it now
)

var codeNames = [...]string{Invalid: "invalid", NotFound: "not-found", Limit: "limit", Unavailable: "unavailable"}

func (c Code) String() string {
	if int(c) < len(codeNames) && codeNames[c] != "" {
		return codeNames[c]
	}
	return fmt.Sprintf("code(%d)", c)
}

// Error is every refusal the node gives. Msg says what to do about it.
type Error struct {
	Code Code
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errorf(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Msg: fmt.Sprintf(format, args...)}
}

// CodeOf returns the code of err, or 0 when err is nil or not an *Error.
func CodeOf(err error) Code {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return 0
}
