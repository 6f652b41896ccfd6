package packed

import "fmt"

// Acknowledgement of a packed stream (PublishPacked, PushPacked). The
// receiver numbers the records of a stream 0, 1, 2... in the order they
// arrive, across frames. An Ack says how many it has processed so far, in
// total, and which of those failed; every index below Accepted that no
// Ack listed as failed was taken. The same count is the sender's credit:
// it may have sent records up to Accepted+Window, no further.

// InitialWindow is the credit a sender has before the first Ack arrives,
// in records: it may send that many without waiting.
const InitialWindow = 4096

// Ack is one acknowledgement, receiver to sender.
type Ack struct {
	// Accepted is the number of records processed since the stream
	// opened, taken or failed. It never decreases.
	Accepted uint64
	// Window is how many records past Accepted the sender may have sent;
	// 0 stops it until an Ack with a larger Accepted+Window.
	Window uint64
	// Failures are the records that failed since the previous Ack, in
	// ascending Index, each in [previous Accepted, Accepted).
	Failures []Failure
}

// Failure is one record the receiver did not take.
type Failure struct {
	Index  uint64 // position of the record among all records of the stream, from 0
	Code   Code   // why, as a gRPC status code
	Retry  bool   // refused for now: the sender may send it again later, as a new record
	Reason string // for a person; may be empty when an earlier failure of the Ack gave it
}

// Code is a gRPC status code number (google.golang.org/grpc/codes), kept
// here as a plain number so the package does not depend on gRPC.
type Code uint32

// The codes a packed stream reports per record.
const (
	CodeInvalidArgument    Code = 3  // the record is wrong: bad topic, field not allowed on this RPC
	CodeResourceExhausted  Code = 8  // a limit refused it: payload size, retained values, budget
	CodeFailedPrecondition Code = 9  // not now for a reason the sender must fix first
	CodeUnavailable        Code = 14 // refused for now; Retry is set
)

// Limit is the highest record count, exclusive, the sender may have sent.
func (a *Ack) Limit() uint64 { return a.Accepted + a.Window }

// Room is how many more records a sender that has sent sent records may
// send now.
func (a *Ack) Room(sent uint64) uint64 {
	if l := a.Limit(); l > sent {
		return l - sent
	}
	return 0
}

// Check validates a, received after an Ack whose Accepted was prev, by a
// sender that has sent sent records: the count does not go back or past
// what was sent, and the failures are in order and in range.
func (a *Ack) Check(prev, sent uint64) error {
	switch {
	case a.Accepted < prev:
		return fmt.Errorf("packed ack: accepted %d went back from %d", a.Accepted, prev)
	case a.Accepted > sent:
		return fmt.Errorf("packed ack: accepted %d, but only %d records were sent", a.Accepted, sent)
	}
	next := prev
	for i, f := range a.Failures {
		if f.Index < next || f.Index >= a.Accepted {
			return fmt.Errorf("packed ack: failure %d has index %d: it must be in [%d, %d) and above the one before", i, f.Index, next, a.Accepted)
		}
		next = f.Index + 1
	}
	return nil
}
