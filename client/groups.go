package client

import (
	"context"

	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// resubscribeMember opens a queue group member anew when the daemon no
// longer holds it: a resume by topics would open an ordinary subscription
// (ResumeSubscribeRequest names no group). The new member numbers its
// share from 1 and replays nothing (what it missed went to other
// members), so the sequences held are forgotten, not reported as gaps.
func (s *Subscription) resubscribeMember() (*stream, error) {
	c := s.c
	req := &sidecarpb.SubscribeRequest{
		Topics:             s.patterns,
		ClientId:           c.o.clientID,
		MaxBufferSize:      int32(s.o.queueLimit),
		MaxBatch:           int32(s.o.maxBatch),
		BackpressurePolicy: string(s.o.policy),
		ResumeWindowMs:     s.o.resumeWindow.Milliseconds(),
		QueueGroup:         s.o.queueGroup,
	}
	st, inst, err := s.openStream(func(ctx context.Context) (eventStream, error) {
		return c.api.Subscribe(ctx, req, grpc.WaitForReady(true))
	}, func(ctx context.Context) (packedStream, error) {
		return c.api.SubscribePacked(ctx, &sidecarpb.SubscribePackedRequest{
			Open: &sidecarpb.SubscribePackedRequest_Subscribe{Subscribe: req}}, grpc.WaitForReady(true))
	}, sessionOpen{subscribe: req})
	if err != nil {
		return nil, err
	}
	info, err := st.info()
	if err != nil {
		st.cancel()
		return nil, err
	}
	s.mu.Lock()
	s.seq = newTracker(maxTrackedTopics)
	s.mu.Unlock()
	s.opened(info, inst)
	c.log.Info("nexusd: queue group member subscribed again", "subscription", info.GetSubscriptionId(), "group", s.o.queueGroup)
	return st, nil
}
