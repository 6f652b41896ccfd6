// Package packed is the packed frame format of the fast data path: many
// messages in one byte string, a header with a source table and a topic
// table, then length-prefixed records whose optional fields cost nothing
// when absent. docs/packed.md specifies the bytes; this package writes and
// reads them.
//
// An Encoder appends records to a buffer it reuses from frame to frame; a
// Decoder validates a whole frame and then iterates its records as views
// into the frame's bytes. Neither allocates per record once its buffers
// have grown. Ack and Failure are the acknowledgement of a packed stream:
// a cumulative count that is also the credit window, and failures by index.
//
// The package does no I/O and knows nothing of gRPC or of the proto types:
// netshell and the client carry its frames in a bytes field. Message ids of
// records are derived from (source, epoch, number) unless a record carries
// an explicit one; DeriveID says how, and renders them as UUID strings.
package packed
