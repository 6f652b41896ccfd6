package netshell

import (
	"bytes"
	"io"
	"testing"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// PublishStreamBytes bounds what one PublishStream holds unanswered, not
// what it may carry in all: the room a batch takes is given back once it
// is answered, so a stream that sends many times that budget, one batch
// after another, has every message published and acked.
func TestAPublishStreamGetsItsRoomBackAsItsBatchesAreAnswered(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.PublishStreamBytes = 1 << 20 })
	ctx := ctx5(t)
	ps, err := ts.app.PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("p"), 400<<10) // two fit in the room at once
	const batches = 6
	for range batches {
		if err := ps.Send(&sidecarpb.PublishBatch{Requests: []*sidecarpb.PublishRequest{{Topic: "t", Payload: payload}}}); err != nil {
			t.Fatal(err)
		}
	}
	ps.CloseSend()
	var acked uint64
	for {
		ack, err := ps.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d acked: %v", acked, err)
		}
		if len(ack.GetFailures()) > 0 {
			t.Fatalf("failures %v", ack.GetFailures())
		}
		acked = ack.GetAccepted()
	}
	if acked != batches {
		t.Fatalf("acked %d, want %d", acked, batches)
	}
}
