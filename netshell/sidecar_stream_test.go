package netshell

import (
	"errors"
	"reflect"
	"testing"
	"unsafe"

	"github.com/nexusd/nexusd/state"
)

// A stream item gives back the Out it was made from, whatever its kind;
// a live message travels as its pointer alone.
func TestStreamItemKeepsTheOut(t *testing.T) {
	m := &state.Message{Envelope: state.Envelope{Topic: "a/b", Payload: []byte("x")}}
	for _, o := range []state.Out{
		{Kind: state.OutMessage, Msg: m},
		{Kind: state.OutReplay, Msg: m},
		{Kind: state.OutRetained, Msg: m},
		{Kind: state.OutInfo, Info: &state.SubscriptionInfo{SubID: "s1"}},
		{Kind: state.OutReplayComplete, Done: &state.ReplayDone{Topic: "a/b", Count: 2}},
		{Kind: state.OutHeartbeat, WallMs: 1234},
		{Kind: state.OutWarning, Warning: &state.Warning{}},
	} {
		it := outItem(o)
		if got := *it.out(); !reflect.DeepEqual(got, o) {
			t.Errorf("%v came back as %v", o, got)
		}
		if it.kind() != o.Kind || it.message() != o.Msg || it.ended() {
			t.Errorf("%v: kind %v, message %p, ended %v", o, it.kind(), it.message(), it.ended())
		}
		if live := o.Kind == state.OutMessage; it.live() != live || (it.rare == nil) != live {
			t.Errorf("%v: live %v, rare %v", o, it.live(), it.rare)
		}
	}
	end := endItem(errors.New("gone"))
	if !end.ended() || end.endErr().Error() != "gone" || end.live() {
		t.Errorf("end item: ended %v, err %v, live %v", end.ended(), end.endErr(), end.live())
	}
	if size := unsafe.Sizeof(streamItem{}); size > 24 {
		t.Errorf("a stream item takes %d bytes; the loop, the mailbox and the sender copy each live message's (or run's)", size)
	}
}
