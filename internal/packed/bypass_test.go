//go:build nexusd_bypass

package packed

import (
	"bytes"
	"fmt"
	"testing"
)

// A plain one-topic frame's records, under BypassHeader, decode to the
// same payloads on the topic, numbered from the source's given number.
func TestBypassSendsAPlainRunOnUnderItsOwnHeader(t *testing.T) {
	var e Encoder
	for i := range 5 {
		if err := e.Append(&Record{Topic: "bench/t", Payload: fmt.Appendf(nil, "payload %d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	var d Decoder
	if err := d.Reset(e.AppendFrame(nil)); err != nil {
		t.Fatal(err)
	}
	recs, ok := d.BypassRun()
	if !ok {
		t.Fatal("a plain one-topic frame was not taken as a run")
	}
	frame := append(BypassHeader(nil, d.Count(), 1234, "bypass", 1, 10, d.Topic(0), 20), recs...)
	var out Decoder
	if err := out.Reset(frame); err != nil {
		t.Fatalf("the bypass frame does not decode: %v", err)
	}
	for i := 0; out.Next(); i++ {
		r := out.Record()
		if !bytes.Equal(r.Payload, fmt.Appendf(nil, "payload %d", i)) || r.Topic != "bench/t" || r.Number != 10+uint64(i) || r.Seq != 20+uint64(i) || r.Source != "bypass" {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
}

// A frame with a record that sets a flag is not a run to send on as it is.
func TestBypassRefusesAFrameWithFlags(t *testing.T) {
	var e Encoder
	e.Append(&Record{Topic: "bench/t", Payload: []byte("a")})
	e.Append(&Record{Topic: "bench/t", Payload: []byte("b"), Retain: true})
	var d Decoder
	if err := d.Reset(e.AppendFrame(nil)); err != nil {
		t.Fatal(err)
	}
	if _, ok := d.BypassRun(); ok {
		t.Fatal("a frame with a retained record was taken as a plain run")
	}
}
