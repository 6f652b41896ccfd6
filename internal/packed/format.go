package packed

// Version is the first byte of every frame.
const Version = 1

// Record flag bits, in the order their fields follow the topic index. A
// flag without a field (retain, sync-only) is only the bit.
const (
	flagTimestamp   = 1 << 0  // zigzag varint: timestamp delta from the previous record
	flagSeq         = 1 << 1  // zigzag varint: sequence delta from the topic's next
	flagNumber      = 1 << 2  // zigzag varint: number delta from the source's next
	flagSource      = 1 << 3  // uvarint: source index (absent: 0)
	flagRetain      = 1 << 4  // retain
	flagContentType = 1 << 5  // uvarint length, bytes
	flagCorrelation = 1 << 6  // uvarint length, bytes
	flagTTL         = 1 << 7  // uvarint: ttl in milliseconds
	flagPrev        = 1 << 8  // uvarint: previous sequence (absent: seq-1, or 0 when seq is 0)
	flagID          = 1 << 9  // uvarint length, bytes: explicit message id
	flagDroppedFrom = 1 << 10 // uvarint: dropped_from
	flagSyncOnly    = 1 << 11 // sync-only
	flagReplyTo     = 1 << 12 // uvarint length, bytes: where a reply goes
	flagGroups      = 1 << 13 // uvarint count, then that many strings: queue groups chosen
	flagsKnown      = 1<<14 - 1
)

// MaxNumber is the largest number a derived message id can hold (48 bits).
// A source that reaches it must move to a new epoch.
const MaxNumber = 1<<48 - 1

// Limits bound what a Decoder accepts and what an Encoder puts in one
// frame. The zero value of a field means its DefaultLimits value.
type Limits struct {
	MaxFrameBytes       int // whole frame, header included
	MaxRecords          int // records in one frame
	MaxTopics           int // entries in the topic table
	MaxSources          int // entries in the source table
	MaxPayloadBytes     int // one record's payload
	MaxTopicBytes       int // one topic
	MaxSourceIDBytes    int // one source node id
	MaxIDBytes          int // one explicit message id
	MaxContentTypeBytes int // one content type
	MaxCorrelationBytes int // one correlation id
	MaxGroups           int // queue groups on one record
	MaxGroupBytes       int // one queue group's name
}

// DefaultLimits returns the limits a daemon uses unless configured
// otherwise.
func DefaultLimits() Limits {
	return Limits{
		MaxFrameBytes:       4 << 20, // gRPC's default largest received message
		MaxRecords:          65536,   // 4 MiB of empty-payload records is ~1M; this bounds per-frame work
		MaxTopics:           1024,    // a frame of 1024 one-record topics is already a poor frame
		MaxSources:          256,     // a subscriber's frame mixes the sources that publish to it
		MaxPayloadBytes:     1 << 20, // the daemon's default payload limit (1 MiB)
		MaxTopicBytes:       256,     // the daemon's topic limit (docs/protocol.md §4.1)
		MaxSourceIDBytes:    64,      // as the core's limit on node ids
		MaxIDBytes:          128,     // as the core's limit on message ids
		MaxContentTypeBytes: 256,     // as the core's limit
		MaxCorrelationBytes: 1024,    // as the core's limit
		MaxGroups:           64,      // groups one message is chosen for at one daemon
		MaxGroupBytes:       128,     // as the core's limit on a group's name
	}
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&l.MaxFrameBytes, d.MaxFrameBytes)
	set(&l.MaxRecords, d.MaxRecords)
	set(&l.MaxTopics, d.MaxTopics)
	set(&l.MaxSources, d.MaxSources)
	set(&l.MaxPayloadBytes, d.MaxPayloadBytes)
	set(&l.MaxTopicBytes, d.MaxTopicBytes)
	set(&l.MaxSourceIDBytes, d.MaxSourceIDBytes)
	set(&l.MaxIDBytes, d.MaxIDBytes)
	set(&l.MaxContentTypeBytes, d.MaxContentTypeBytes)
	set(&l.MaxCorrelationBytes, d.MaxCorrelationBytes)
	set(&l.MaxGroups, d.MaxGroups)
	set(&l.MaxGroupBytes, d.MaxGroupBytes)
	return l
}
