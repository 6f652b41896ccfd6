package packed

import (
	"errors"
	"fmt"
)

// Error is what a Decoder reports about a frame it refuses: where, and
// what is wrong. Limit is true when the frame is well formed but larger
// than the Decoder's Limits allow (RESOURCE_EXHAUSTED rather than
// INVALID_ARGUMENT).
type Error struct {
	Record int    // index of the record at fault; -1 for the header
	Offset int    // byte offset in the frame where the problem was found
	Limit  bool   // a limit was exceeded; the bytes themselves are well formed
	What   string // what is wrong, for a person
}

func (e *Error) Error() string {
	if e.Record < 0 {
		return fmt.Sprintf("packed frame: header at byte %d: %s", e.Offset, e.What)
	}
	return fmt.Sprintf("packed frame: record %d at byte %d: %s", e.Record, e.Offset, e.What)
}

// ErrFrameFull is wrapped by Encoder.Append's error when the record does
// not fit the frame being built (its limits, or a sourceless frame meeting
// a record with a source, or the reverse). Nothing was appended: finish
// the frame, Reset, and append the record again.
var ErrFrameFull = errors.New("packed: frame full")

// recordError is an Encoder's refusal of a record it can never encode.
func recordError(format string, args ...any) error {
	return fmt.Errorf("packed record: "+format, args...)
}
