package netshell

import (
	"testing"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// A subscription that ended leaves its session's count: the cap of
// AppMaxStreams subscriptions on one session is on those open now, so a
// session that opens and ends subscriptions one after another may go on
// doing so for ever.
func TestASessionsEndedSubscriptionsFreeTheirPlaceUnderTheCap(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.AppMaxStreams = 1 })
	ctx := ctx5(t)
	se := openSession(t, ctx, ts)
	for ref := uint64(1); ref <= 3; ref++ {
		sendSession(t, se, sessionSubscribe(ref, 0, &sidecarpb.SubscribeRequest{Topics: []string{"a"}}))
		id := openedOn(t, se, ref)
		sendSession(t, se, sessionUnsubscribe(id, false))
		if ev := recvSession(t, se); ev.GetEnded() == nil || ev.GetSubscriptionId() != id || ev.GetEnded().GetCode() != 0 {
			t.Fatalf("event %v, want %s ended as asked", ev, id)
		}
	}
}
