package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nexusd/nexusd/client"
)

// request-reply-cross-node: a requester on the first server and a
// responder on the second, one request at a time (the next when the reply
// to the last came) for the run's duration; the figures are percentiles of
// the round trip, request sent to reply received. nexusd: the Go client's
// Request and Reply, the reply going back through the requester's inbox;
// NATS: nats.go's Request and Msg.Respond across two routed servers.

const (
	rrTopic   = "bench/rr"
	rrSubject = "bench.rr"
)

// requestReply measures the round trips of sequential requests.
func requestReply(sys system, _, _ string, dur time.Duration) (map[string]float64, error) {
	var do func() error
	var stop func()
	var err error
	switch s := sys.(type) {
	case *nexusdSys:
		do, stop, err = nexusdRequester(s)
	case *keyedSys:
		do, stop, err = nexusdRequester(s.nexusdSys)
	case *natsSys:
		do, stop, err = natsRequester(s)
	default:
		return nil, errNotApplicable
	}
	if err != nil {
		return nil, err
	}
	defer stop()
	// Warm up: until the responder's interest has reached the requester's
	// server, requests find no responder.
	if err := waitFor(20*time.Second, "a first reply", func() bool { return do() == nil }); err != nil {
		return nil, fmt.Errorf("%w: %v", err, do())
	}
	var samples []time.Duration
	for end := time.Now().Add(dur); time.Now().Before(end); {
		t0 := time.Now()
		if err := do(); err != nil {
			return nil, fmt.Errorf("request %d: %w", len(samples)+1, err)
		}
		samples = append(samples, time.Since(t0))
	}
	slices.Sort(samples)
	pct := func(p float64) float64 {
		return float64(samples[min(len(samples)-1, int(p*float64(len(samples))))]) / float64(time.Microsecond)
	}
	return map[string]float64{"-p50": pct(0.50), "-p90": pct(0.90), "-p99": pct(0.99), "-p99.9": pct(0.999)}, nil
}

func nexusdRequester(s *nexusdSys) (func() error, func(), error) {
	if len(s.apps) < 2 {
		return nil, nil, errors.New("request-reply-cross-node needs two daemons")
	}
	ctx, cancel := context.WithCancel(context.Background())
	resp, err := client.Dial(ctx, s.apps[1])
	if err != nil {
		cancel()
		return nil, nil, err
	}
	req, err := client.Dial(ctx, s.apps[0])
	if err != nil {
		cancel()
		resp.Close()
		return nil, nil, err
	}
	stop := func() { cancel(); req.Close(); resp.Close() }
	sub, err := resp.Subscribe(ctx, []string{rrTopic})
	if err != nil {
		stop()
		return nil, nil, err
	}
	go func() {
		for m := range sub.C() {
			resp.Reply(ctx, m, m.Payload)
		}
	}()
	payload := make([]byte, payloadSize)
	do := func() error {
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		defer rcancel()
		_, err := req.Request(rctx, rrTopic, payload)
		return err
	}
	return do, stop, nil
}

func natsRequester(s *natsSys) (func() error, func(), error) {
	if len(s.urls) < 2 {
		return nil, nil, errors.New("request-reply-cross-node needs two servers")
	}
	resp, err := natsConnect(s.urls[1])
	if err != nil {
		return nil, nil, err
	}
	req, err := natsConnect(s.urls[0])
	if err != nil {
		resp.Close()
		return nil, nil, err
	}
	stop := func() { req.Close(); resp.Close() }
	if _, err := resp.Subscribe(rrSubject, func(m *nats.Msg) { m.Respond(m.Data) }); err != nil {
		stop()
		return nil, nil, err
	}
	if err := resp.Flush(); err != nil {
		stop()
		return nil, nil, err
	}
	payload := make([]byte, payloadSize)
	do := func() error {
		_, err := req.Request(rrSubject, payload, 5*time.Second)
		return err
	}
	return do, stop, nil
}
