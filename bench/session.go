package main

import (
	"context"
	"fmt"
	"time"

	pb "github.com/nexusd/nexusd/proto/sidecarpb"
)

// perSessionSubscription is the server's memory per idle subscription, in
// bytes, when n subscriptions share one Session stream: the growth after
// opening them, over n. The session and a first subscription are opened
// before the baseline, so what the stream itself costs is not charged to
// them. Other systems open n subscriptions as perSubscription does.
func perSessionSubscription(sys system, n int) (float64, error) {
	s, ok := sys.(*nexusdSys)
	if !ok {
		return perSubscription(sys, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	se, err := pb.NewSidecarServiceClient(s.conns[0]).Session(ctx)
	if err != nil {
		return 0, err
	}
	open := func(ref uint64) error {
		req := &pb.SessionRequest{Op: &pb.SessionRequest_Subscribe{Subscribe: &pb.SessionSubscribe{
			Ref: ref, Request: &pb.SubscribeRequest{Topics: []string{benchTopic}}}}}
		return se.Send(req)
	}
	// opened reads the answers to k opens: each must be a subscription_info.
	opened := func(k int) error {
		for range k {
			ev, err := se.Recv()
			if err != nil {
				return err
			}
			if ev.GetEvent().GetSubscriptionInfo() == nil {
				return fmt.Errorf("session answered %v, want subscription_info", ev)
			}
		}
		return nil
	}
	if err := open(1); err != nil {
		return 0, err
	}
	if err := opened(1); err != nil {
		return 0, err
	}
	time.Sleep(settle)
	before, err := rssOf(sys)
	if err != nil {
		return 0, err
	}
	// One at a time, as the client library opens them (Subscribe returns
	// once the daemon has answered) and as perSubscription does.
	for i := range n {
		if err := open(uint64(i + 2)); err != nil {
			return 0, err
		}
		if err := opened(1); err != nil {
			return 0, err
		}
	}
	time.Sleep(settle)
	after, err := rssOf(sys)
	return float64(after-before) / float64(n), err
}
