//go:build nexusd_bypass

package netshell

// A measuring instrument, built only with the nexusd_bypass tag (`make
// bench-bypass`), never in the daemon: PublishPacked frames of one plain
// run go straight to the first SubscribePacked stream, past the node, as
// they came, under a header of their own. What is left is the daemon's I/O
// path (gRPC, system calls, a frame's validation and one copy of its
// records), the cost below which no work in the node can take a message.
// Nothing else holds: no topic matching, no numbering that lasts, no
// queues, no credit from the subscriber. Unary publishes (the harness's
// warm-up) take the same way.
//
// With NEXUSD_BYPASS_HOP set in its environment (the harness's
// nexusd-bypass-hop), each frame goes through one goroutine more on its
// way, as a daemon's goes through its loop: the I/O path of a node that
// would handle a run of records as one item, at no cost of its own.

import (
	"os"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/internal/vtcodec"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

const bypassNode = true

type bypassFrame struct {
	header  []byte
	records *[]byte
}

// bypassSubscriber is the stream the frames go to; done closes when it ends.
type bypassSubscriber struct {
	frames chan bypassFrame
	done   chan struct{}
}

var (
	bypassSub               atomic.Pointer[bypassSubscriber]
	bypassNumber, bypassSeq atomic.Uint64
)

// bypassPublish sends the frame dec holds to the bypassing subscriber, if
// there is one and the frame is one plain run.
func bypassPublish(dec *packed.Decoder) bool {
	sub := bypassSub.Load()
	if sub == nil {
		return false
	}
	recs, ok := dec.BypassRun()
	if !ok {
		return false
	}
	n := uint64(dec.Count())
	buf := vtcodec.Buffer(len(recs))
	*buf = append((*buf)[:0], recs...)
	num, seq := bypassNumber.Add(n)-n+1, bypassSeq.Add(n)-n+1
	h := packed.BypassHeader(nil, int(n), uint64(dec.BaseTimestampMs()), "bypass", 1, num, dec.Topic(0), seq)
	f := bypassFrame{h, buf}
	if bypassHop {
		bypassHopOnce.Do(func() { go bypassHopRun() })
		bypassHopFrames <- f
		return true
	}
	bypassSend(sub, f)
	return true
}

// bypassSend hands f to sub, or drops it if sub has gone.
func bypassSend(sub *bypassSubscriber, f bypassFrame) {
	select {
	case sub.frames <- f:
	case <-sub.done:
	}
}

var (
	bypassHop       = os.Getenv("NEXUSD_BYPASS_HOP") != ""
	bypassHopOnce   sync.Once
	bypassHopFrames = make(chan bypassFrame, 64) // as many as a subscriber's
)

// bypassHopRun stands for the loop: it passes each frame on to the subscriber of
// the moment, on a goroutine of its own.
func bypassHopRun() {
	for f := range bypassHopFrames {
		if sub := bypassSub.Load(); sub != nil {
			bypassSend(sub, f)
		}
	}
}

// bypassUnary sends a unary publish to the bypassing subscriber.
func bypassUnary(in *sidecarpb.PublishRequest) bool {
	if bypassSub.Load() == nil {
		return false
	}
	var e packed.Encoder
	if e.Append(&packed.Record{Topic: in.GetTopic(), Payload: in.GetPayload()}) != nil {
		return false
	}
	var d packed.Decoder
	return d.Reset(e.AppendFrame(nil)) == nil && bypassPublish(&d)
}

// bypassServe makes a SubscribePacked stream the bypassing subscriber
// when there is none, and serves it until it ends.
func bypassServe(stream grpc.ServerStreamingServer[sidecarpb.PackedEvent]) (bool, error) {
	sub := &bypassSubscriber{frames: make(chan bypassFrame, 64), done: make(chan struct{})}
	if !bypassSub.CompareAndSwap(nil, sub) {
		return false, nil
	}
	defer func() {
		bypassSub.CompareAndSwap(sub, nil)
		close(sub.done)
	}()
	info := &sidecarpb.MessageEvent{Event: &sidecarpb.MessageEvent_SubscriptionInfo{SubscriptionInfo: &sidecarpb.SubscriptionInfo{SubscriptionId: "bypass"}}}
	if err := stream.Send(&sidecarpb.PackedEvent{Kind: &sidecarpb.PackedEvent_Event{Event: info}}); err != nil {
		return true, err
	}
	for {
		select {
		case f := <-sub.frames:
			fill := func(b []byte) []byte { return append(b, f.header...) }
			e, err := vtcodec.EncodeNestedTail(nil, len(f.header)+len(*f.records), fill, f.records, 2, 1)
			if err != nil {
				return true, err
			}
			if err := stream.SendMsg(e); err != nil {
				return true, err
			}
		case <-stream.Context().Done():
			return true, stream.Context().Err()
		}
	}
}
