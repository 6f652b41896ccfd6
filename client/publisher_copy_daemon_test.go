package client_test

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/nexusd/nexusd/client"
)

// TestAPublisherMayReuseItsBuffer: an application that publishes from
// one buffer, rewriting it after every Publish, gets every message as it
// was when published, on either wire.
func TestAPublisherMayReuseItsBuffer(t *testing.T) {
	d := daemon(t)
	for _, packed := range []bool{true, false} {
		c := dial(t, d.App, client.WithPacked(packed))
		ctx := ctxT(t, 30*time.Second)
		topic := "reuse/v1"
		if packed {
			topic = "reuse/packed"
		}
		sub, err := c.Subscribe(ctx, []string{topic}, client.BackpressurePolicy(client.Block))
		if err != nil {
			t.Fatal(err)
		}
		p, err := c.Publisher(ctx)
		if err != nil {
			t.Fatal(err)
		}
		const n = 5000
		buf := make([]byte, 8)
		for i := range n {
			binary.BigEndian.PutUint64(buf, uint64(i))
			if _, err := p.Publish(ctx, topic, buf); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Close(ctx); err != nil {
			t.Fatal(err)
		}
		for i, m := range recv(t, sub, n, 20*time.Second) {
			if got := binary.BigEndian.Uint64(m.Payload); got != uint64(i) {
				t.Fatalf("packed=%v: message %d carries %d: the Publisher sent its caller's buffer as it was later", packed, i, got)
			}
		}
	}
}
