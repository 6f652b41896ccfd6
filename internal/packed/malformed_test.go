package packed

import (
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// cat joins byte strings and single bytes into a frame.
func cat(parts ...any) []byte {
	var b []byte
	for _, p := range parts {
		switch v := p.(type) {
		case int:
			b = append(b, byte(v))
		case string:
			b = append(b, v...)
		case []byte:
			b = append(b, v...)
		}
	}
	return b
}

// hdr is a header with count records, no sources and the given topics (base 0).
func hdr(count int, topics ...string) []byte {
	b := []byte{Version, byte(count), 0, 0, byte(len(topics))}
	for _, t := range topics {
		b = append(append(append(b, byte(len(t))), t...), 0)
	}
	return b
}

// topics300 is a header with count records, no sources and 300 topics
// named "0" to "299", each base 1: indexes from 128 on take two bytes.
func topics300(count int) []byte {
	b := []byte{Version, byte(count), 0, 0, 0xac, 0x02}
	for i := range 300 {
		name := strconv.Itoa(i)
		b = append(append(append(b, byte(len(name))), name...), 1)
	}
	return b
}

// sourced is a header with count records, source "n1" epoch 0 base 1 and topic "t" base 1.
func sourced(count int) []byte {
	return cat(Version, count, 0, 1, 2, "n1", 0, 1, 1, 1, "t", 1)
}

func TestMalformedFramesAreRefusedByName(t *testing.T) {
	for _, c := range []struct {
		name   string
		frame  []byte
		limits Limits
		record int
		limit  bool
		want   string
	}{
		{"empty", nil, Limits{}, -1, false, "empty frame"},
		{"version", cat(2, 0, 0, 0, 0), Limits{}, -1, false, "version 2"},
		{"count over limit", cat(hdr(5, "t"), 2, 0, 0, 2, 0, 0), Limits{MaxRecords: 1}, -1, true, "5 records: the limit is 1"},
		{"count over bytes", cat(hdr(9, "t"), 2, 0, 0), Limits{}, -1, false, "9 records cannot fit"},
		{"count short", cat(hdr(1, "t"), 2, 0, 0, 2, 0, 0), Limits{}, -1, false, "3 bytes after the last of 1 records"},
		{"truncated record", cat(hdr(1, "t"), 5, 0, 0, "ab"), Limits{}, 0, false, "runs past the end of the frame"},
		{"zero-length record", cat(hdr(1, "t"), 0, 0, 0), Limits{}, 0, false, "record length 0"},
		{"topic index", cat(hdr(1, "t"), 2, 0, 1), Limits{}, 0, false, "topic index 1 is out of range: the topic table has 1 entries"},
		{"no topics", cat(hdr(1), 2, 0, 0), Limits{}, -1, false, "empty topic table"},
		{"unknown flags", cat(hdr(1, "t"), 4, 0x80, 0x80, 0x01, 0), Limits{}, 0, false, "unknown flag bits 0x4000"},
		{"empty reply_to", cat(hdr(1, "t"), 4, 0x80, flagReplyTo>>7, 0, 0), Limits{}, 0, false, "reply_to is empty"},
		{"long reply_to", cat(hdr(1, "t"), 6, 0x80, flagReplyTo>>7, 0, 2, "ab"), Limits{MaxTopicBytes: 1}, 0, true, "reply_to is 2 bytes: the limit is 1"},
		{"no groups", cat(hdr(1, "t"), 4, 0x80, flagGroups>>7, 0, 0), Limits{}, 0, false, "a count of 0"},
		{"too many groups", cat(hdr(1, "t"), 8, 0x80, flagGroups>>7, 0, 2, 1, "a", 1, "b"), Limits{MaxGroups: 1}, 0, true, "2 queue groups: the limit is 1"},
		{"empty group", cat(hdr(1, "t"), 5, 0x80, flagGroups>>7, 0, 1, 0), Limits{}, 0, false, "queue group name is empty"},
		{"long group", cat(hdr(1, "t"), 7, 0x80, flagGroups>>7, 0, 1, 2, "ab"), Limits{MaxGroupBytes: 1}, 0, true, "queue group is 2 bytes: the limit is 1"},
		{"group past record", cat(hdr(1, "t"), 6, 0x80, flagGroups>>7, 0, 1, 5, "a"), Limits{}, 0, false, "queue group of 5 bytes runs past the end of the record"},
		{"bad utf-8 group", cat(hdr(1, "t"), 6, 0x80, flagGroups>>7, 0, 1, 1, 0xff), Limits{}, 0, false, "is not valid UTF-8"},
		{"overlong flags", cat(hdr(1, "t"), 3, 0x80, 0x00, 0), Limits{}, 0, false, "overlong varint"},
		{"overlong count", cat(Version, 0x81, 0x00, 0, 0, 0), Limits{}, -1, false, "record count: overlong varint"},
		{"huge varint", cat(Version, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), Limits{}, -1, false, "longer than 64 bits"},
		{"truncated header", cat(Version, 0x81), Limits{}, -1, false, "truncated varint"},
		{"duplicate topic", cat(hdr(0, "t", "u", "t")), Limits{}, -1, false, `topic "t" appears twice`},
		{"empty topic", cat(hdr(0, "")), Limits{}, -1, false, "topic 0 is empty"},
		{"long topic", cat(hdr(0, "abc")), Limits{MaxTopicBytes: 2}, -1, true, "topic 0 is 3 bytes: the limit is 2"},
		{"bad utf-8 topic", cat(hdr(0, "a\xffb")), Limits{}, -1, false, "not valid UTF-8"},
		{"too many topics", cat(hdr(0, "a", "b", "c")), Limits{MaxTopics: 2}, -1, true, "3 topics: the limit is 2"},
		{"frame too big", cat(hdr(1, "t"), 5, 0, 0, "abc"), Limits{MaxFrameBytes: 10}, -1, true, "frame is 14 bytes: the limit is 10"},
		{"payload too big", cat(hdr(1, "t"), 5, 0, 0, "abc"), Limits{MaxPayloadBytes: 2}, 0, true, "payload is 3 bytes: the limit is 2"},
		{"source index without sources", cat(hdr(1, "t"), 3, flagSource, 0, 0), Limits{}, 0, false, "source index 0 is out of range"},
		{"number without sources", cat(hdr(1, "t"), 3, flagNumber, 0, 2), Limits{}, 0, false, "number delta in a frame without a source table"},
		{"source index", cat(sourced(1), 3, flagSource, 0, 1), Limits{}, 0, false, "source index 1 is out of range: the source table has 1 entries"},
		{"duplicate source", cat(Version, 0, 0, 2, 2, "n1", 5, 1, 2, "n1", 5, 9, 0), Limits{}, -1, false, `source "n1" epoch 5 appears twice`},
		{"same source, two epochs", cat(Version, 0, 0, 2, 2, "n1", 5, 1, 2, "n1", 6, 9, 0), Limits{}, -1, false, ""},
		{"number zero", cat(sourced(1), 3, flagNumber, 0, 1), Limits{}, 0, false, "number 0 is outside 1..281474976710655"},
		{"number too big", cat(Version, 1, 0, 1, 2, "n1", 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 1, 1, "t", 1, 2, 0, 0), Limits{}, 0, false, "number 281474976710656 is outside"},
		{"number with explicit id", cat(sourced(1), 6, 0x84, 0x04, 0, 2, 1, "x"), Limits{}, 0, false, "number delta on a record with an explicit message id"},
		{"empty explicit id", cat(sourced(1), 4, 0x80|flagID&0x7f, flagID>>7, 0, 0), Limits{}, 0, false, "explicit message id is empty"},
		{"prev not below seq", cat(sourced(1), 4, 0x80, 2, 0, 1), Limits{}, 0, false, "previous sequence 1 is not below the record's sequence 1"},
		{"prev without seq", cat(hdr(1, "t"), 4, 0x80, 2, 0, 1), Limits{}, 0, false, "previous sequence 1 on a record without a sequence"},
		{"dropped above prev", cat(sourced(1), 4, 0x80, 8, 0, 1), Limits{}, 0, false, "dropped_from 1 is above the previous sequence 0"},
		{"ttl overflow", cat(hdr(1, "t"), 13, 0x80, 1, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), Limits{}, 0, false, "does not fit a signed 64-bit integer"},
		{"string past record", cat(hdr(1, "t"), 4, flagContentType, 0, 5, "a"), Limits{}, 0, false, "content type of 5 bytes runs past the end of the record"},
		{"long correlation", cat(hdr(1, "t"), 6, flagCorrelation, 0, 3, "abc"), Limits{MaxCorrelationBytes: 2}, 0, true, "correlation id is 3 bytes: the limit is 2"},
		{"bad utf-8 content type", cat(hdr(1, "t"), 4, flagContentType, 0, 1, 0xff), Limits{}, 0, false, "content type \"\\xff\" is not valid UTF-8"},
		{"truncated delta", cat(hdr(1, "t"), 3, flagTimestamp, 0, 0x80), Limits{}, 0, false, "timestamp delta: truncated varint"},
		{"second record", cat(hdr(2, "t"), 2, 0, 0, 2, 0, 3), Limits{}, 1, false, "topic index 3"},
		{"overlong plain length", cat(hdr(1, "t"), 0x82, 0x00, 0, 0), Limits{}, 0, false, "record length: overlong varint"},
		{"plain payload too big", cat(hdr(2, "t"), 2, 0, 0, 0x83, 0x01, 0, 0, strings.Repeat("x", 129)), Limits{MaxPayloadBytes: 128}, 1, true, "payload is 129 bytes: the limit is 128"},
		{"prev after a two-byte topic index", cat(topics300(3), 3, 0, 0xab, 0x01, 3, 0, 0xab, 0x02, 5, 0x80, 0x02, 0xab, 0x01, 2), Limits{}, 2, false, "previous sequence 2 is not below the record's sequence 2"},
		{"plain record past MaxNumber", cat(Version, 2, 0, 1, 2, "n1", 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f, 1, 1, "t", 1, 2, 0, 0, 2, 0, 0), Limits{}, 1, false, "number 281474976710656 is outside"},
	} {
		var d Decoder
		d.Limits = c.limits
		err := d.Reset(c.frame)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
			}
			continue
		}
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("%s: %v, want an *Error saying %q", c.name, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || fe.Record != c.record || fe.Limit != c.limit {
			t.Errorf("%s: %v (record %d, limit %v), want %q (record %d, limit %v)", c.name, err, fe.Record, fe.Limit, c.want, c.record, c.limit)
		}
		if d.Next() {
			t.Errorf("%s: Next after a refused frame", c.name)
		}
	}
}

// Every cut of a valid frame is refused, and no flipped byte panics.
func TestDamagedFramesNeverPanic(t *testing.T) {
	frame, _ := hex.DecodeString(goldenFrames[1].hex)
	var d Decoder
	for n := range len(frame) {
		if err := d.Reset(frame[:n]); err == nil {
			t.Errorf("frame cut to %d of %d bytes decoded", n, len(frame))
		}
	}
	buf := make([]byte, len(frame))
	for i := range frame {
		for v := range 256 {
			copy(buf, frame)
			buf[i] = byte(v)
			if d.Reset(buf) == nil {
				for d.Next() {
					d.Record().MessageID()
				}
			}
		}
	}
}

func TestEncoderRefusesWhatNoFrameHolds(t *testing.T) {
	for _, c := range []struct {
		r    Record
		want string
	}{
		{Record{}, "empty topic"},
		{Record{Topic: "t", TTLMs: -1}, "ttl -1 ms is negative"},
		{Record{Topic: "t", PrevSeq: 1}, "previous sequence 1 on a record without a sequence"},
		{Record{Topic: "t", Seq: 3, PrevSeq: 3}, "previous sequence 3 is not below"},
		{Record{Topic: "t", Seq: 3, PrevSeq: 1, DroppedFrom: 2}, "dropped_from 2 is above"},
		{Record{Topic: "t", Number: 1}, "without a source"},
		{Record{Topic: "t", Source: "n", ID: "x", Number: 1}, "one or the other"},
		{Record{Topic: "t", Source: "n"}, "number 0 is outside"},
		{Record{Topic: "t", Source: "n", Number: MaxNumber + 1}, "outside 1..281474976710655"},
		{Record{Topic: "t\xff"}, "not valid UTF-8"},
		{Record{Topic: "t", Payload: make([]byte, 2<<20)}, "payload is 2097152 bytes"},
		{Record{Topic: strings.Repeat("t", 257)}, "topic is 257 bytes"},
	} {
		var e Encoder
		err := e.Append(&c.r)
		if err == nil || isFull(err) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.r, err, c.want)
		}
		if e.Count() != 0 {
			t.Errorf("%+v: appended", c.r)
		}
	}
	// One record larger than a whole frame may be is not "full": it never fits.
	e := Encoder{Limits: Limits{MaxFrameBytes: 100}}
	if err := e.Append(&Record{Topic: "t", Payload: make([]byte, 200)}); err == nil || isFull(err) {
		t.Errorf("oversize record: %v", err)
	}
}
