package netshell

import (
	"fmt"
	"strings"
	"testing"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// A subscription stream gives back the byte credit of every event it
// sends, retained values and replays included, not only live messages: a
// client that reads on is never stalled by StreamWindowBytes, however many
// bytes of retained values its subscription begins with.
func TestRetainedValuesGiveBackTheirByteCredit(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.StreamWindowBytes = 1 << 10 })
	ctx := ctx5(t)
	payload := strings.Repeat("v", 600)
	const topics = 8 // 4.8 KB of retained values through a 1 KiB byte window
	for i := range topics {
		if _, err := ts.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: fmt.Sprint("r/", i), Payload: []byte(payload), Retain: true}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"r/#"}, ReceiveRetained: true})
	if err != nil {
		t.Fatal(err)
	}
	evs := recvUntil(t, st, 1+topics)
	for _, ev := range evs[1:] {
		if m := ev.GetRetainedMessage(); m == nil || len(m.GetPayload()) != len(payload) {
			t.Fatalf("event %v, want a retained value", ev)
		}
	}
}
