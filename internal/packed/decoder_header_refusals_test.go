package packed

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// refusedAs decodes frame under lim and checks it is refused with an
// *Error saying want, at record rec, as a limit or not.
func refusedAs(t *testing.T, name string, lim Limits, frame []byte, rec int, limit bool, want string) {
	t.Helper()
	d := Decoder{Limits: lim}
	err := d.Reset(frame)
	var fe *Error
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), want) || fe.Record != rec || fe.Limit != limit {
		t.Errorf("%s: %v, want an *Error saying %q (record %d, limit %v)", name, err, want, rec, limit)
	}
}

// accepted decodes frame under lim and checks it is taken.
func accepted(t *testing.T, name string, lim Limits, frame []byte) {
	t.Helper()
	d := Decoder{Limits: lim}
	if err := d.Reset(frame); err != nil {
		t.Errorf("%s: %v, want the frame taken", name, err)
	}
}

// Version 0 is refused like any version other than 1.
func TestAFrameOfVersionZeroIsRefused(t *testing.T) {
	refusedAs(t, "version 0", Limits{}, cat(0, 0, 0, 0, 0), -1, false, "version 0")
}

// The record count may reach MaxRecords, not pass it.
func TestTheRecordCountMayReachItsLimitButNotPassIt(t *testing.T) {
	lim := Limits{MaxRecords: 2}
	accepted(t, "2 records", lim, cat(hdr(2, "t"), 2, 0, 0, 2, 0, 0))
	refusedAs(t, "3 records", lim, cat(hdr(3, "t"), 2, 0, 0, 2, 0, 0, 2, 0, 0), -1, true, "3 records: the limit is 2")
}

// A frame may be exactly MaxFrameBytes long, not one byte longer.
func TestAFrameMayBeExactlyItsByteLimitButNotLonger(t *testing.T) {
	f := cat(hdr(1, "t"), 3, 0, 0, "x")
	accepted(t, "at the limit", Limits{MaxFrameBytes: len(f)}, f)
	refusedAs(t, "one byte over", Limits{MaxFrameBytes: len(f) - 1}, f, -1, true, fmt.Sprintf("frame is %d bytes: the limit is %d", len(f), len(f)-1))
}

// A source table longer than MaxSources is refused as a limit.
func TestASourceTablePastItsLimitIsRefused(t *testing.T) {
	f := cat(Version, 0, 0, 2, 2, "n1", 0, 1, 2, "n2", 0, 1, 0)
	accepted(t, "2 sources, limit 2", Limits{MaxSources: 2}, f)
	refusedAs(t, "2 sources, limit 1", Limits{MaxSources: 1}, f, -1, true, "2 sources: the limit is 1")
}

// A source's node id may not be empty.
func TestASourceWithAnEmptyNodeIDIsRefused(t *testing.T) {
	refusedAs(t, "empty node id", Limits{}, cat(Version, 0, 0, 1, 0, 0, 1, 0), -1, false, "source 0 node id is empty")
}

// Duplicates are refused in tables of more than 16 entries too (where the
// decoder looks them up in a map instead of comparing pairs).
func TestADuplicateInALargeTableIsRefused(t *testing.T) {
	var names []string
	for i := range 17 {
		names = append(names, fmt.Sprint("t", i))
	}
	accepted(t, "17 distinct topics", Limits{}, hdr(0, names...))
	refusedAs(t, "17 topics, one twice", Limits{}, hdr(0, append(names[:16:16], "t3")...), -1, false, `topic "t3" appears twice`)

	sources := func(last string, epoch int) []byte {
		b := cat(Version, 0, 0, 17)
		for i := range 16 {
			name := fmt.Sprint("n", i)
			b = cat(b, len(name), name, 0, 1)
		}
		return cat(b, len(last), last, epoch, 1, 0)
	}
	accepted(t, "17 distinct sources", Limits{}, sources("n3", 1))
	refusedAs(t, "17 sources, one twice", Limits{}, sources("n3", 0), -1, false, `source "n3" epoch 0 appears twice`)
}
