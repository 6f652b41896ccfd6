package netshell

import (
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// A subscriber's stream reports what it has sent, so the daemon uses the
// memory of published messages again once they are out of the ring and
// sent (state/slab.go): the metric counts it, and every message still
// arrives as it was published.
func TestSubscriberStreamsLetTheDaemonReuseMessages(t *testing.T) {
	for _, mode := range []string{"packed", "v1", "session"} {
		t.Run(mode, func(t *testing.T) {
			ts := startServer(t, func(o *Options) { o.MessageBufferSize = 64 })
			ctx := ctx5(t)
			read := func(n int) [][]byte { return nil }
			switch mode {
			case "packed":
				sub := subscribePacked(t, ctx, ts, &sidecarpb.SubscribePackedRequest{
					Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: &sidecarpb.SubscribeRequest{Topics: []string{"r/t"}}}})
				read = func(n int) [][]byte {
					recs, _, _ := packedRecords(t, sub, n)
					out := make([][]byte, len(recs))
					for i := range recs {
						out[i] = recs[i].Payload
					}
					return out
				}
			case "session":
				se := openSession(t, ctx, ts)
				sendSession(t, se, sessionSubscribe(1, sessionMaxWindow, &sidecarpb.SubscribeRequest{Topics: []string{"r/t"}}))
				openedOn(t, se, 1)
				read = func(n int) [][]byte {
					var out [][]byte
					for len(out) < n {
						for _, r := range frameRecords(t, recvSession(t, se).GetMessages()) {
							out = append(out, r.Payload)
						}
					}
					return out
				}
			case "v1":
				sub, err := ts.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"r/t"}, MaxBatch: 256})
				if err != nil {
					t.Fatal(err)
				}
				if ev, err := sub.Recv(); err != nil || ev.GetSubscriptionInfo() == nil {
					t.Fatalf("first event %v (%v), want subscription info", ev, err)
				}
				read = func(n int) [][]byte {
					var out [][]byte
					for len(out) < n {
						ev, err := sub.Recv()
						if err != nil {
							t.Fatalf("after %d of %d: %v", len(out), n, err)
						}
						if m := ev.GetMessage(); m != nil {
							out = append(out, m.GetPayload())
						}
						for _, m := range ev.GetBatch().GetMessages() {
							out = append(out, m.GetPayload())
						}
					}
					return out
				}
			}
			pub, err := ts.app.PublishPacked(ctx)
			if err != nil {
				t.Fatal(err)
			}
			const frames, per = 16, 512
			k := 0
			for f := range frames {
				recs := make([]packed.Record, per)
				for i := range recs {
					recs[i] = packed.Record{Topic: "r/t", Payload: fmt.Appendf(nil, "m%d", f*per+i)}
				}
				if err := pub.Send(packedFrame(t, recs...)); err != nil {
					t.Fatal(err)
				}
				for _, p := range read(per) {
					if want := fmt.Sprintf("m%d", k); string(p) != want {
						t.Fatalf("message %d has payload %q, want %q", k, p, want)
					}
					k++
				}
			}
			m := regexp.MustCompile(`(?m)^nexusd_message_slabs_reused_total (\d+)$`).FindStringSubmatch(httpGet(t, ts, "/metrics"))
			if m == nil {
				t.Fatal("no nexusd_message_slabs_reused_total in the metrics")
			}
			if n, _ := strconv.Atoi(m[1]); n == 0 {
				t.Fatalf("no slab used again after %d messages sent through a ring of 64", frames*per)
			}
		})
	}
}
