package main

import (
	"context"
	"time"

	"github.com/nexusd/nexusd/client"
)

// clientSys drives a nexusd daemon through the Go client library instead
// of raw stubs: its Publisher (the stream path) and its subscriptions,
// with the library's defaults (a Publisher's MaxPending of 8192, packed
// frames, subscriptions on a Session). It shows what an application using
// the library gets. borrow: the subscriptions borrow their messages
// (client.BorrowPayloads) and release each once it is handed on.
type clientSys struct {
	*nexusdSys
	borrow bool
}

type clientPub struct {
	c *client.Client
	p *client.Publisher
}

func (s clientSys) publisher(node int, _ string) (publisher, error) {
	ctx := context.Background()
	c, err := client.Dial(ctx, s.apps[node])
	if err != nil {
		return nil, err
	}
	p, err := c.Publisher(ctx)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &clientPub{c, p}, nil
}

func (p *clientPub) publish(b []byte) error {
	_, err := p.p.Publish(context.Background(), benchTopic, b)
	return err
}

func (p *clientPub) flush() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.p.Flush(ctx)
}

func (p *clientPub) close() {
	p.p.Close(context.Background())
	p.c.Close()
}

func (s clientSys) subscribe(node int, batch int, on func([]byte)) (func(), error) {
	ctx, cancel := context.WithCancel(context.Background())
	c, err := client.Dial(ctx, s.apps[node])
	if err != nil {
		cancel()
		return nil, err
	}
	opts := []client.SubscribeOption{client.BackpressurePolicy(client.Policy(subscriberPolicy))}
	if batch > 1 {
		opts = append(opts, client.MaxBatch(batch))
	}
	if s.borrow {
		opts = append(opts, client.BorrowPayloads())
	}
	sub, err := c.Subscribe(ctx, []string{benchTopic}, opts...)
	if err != nil {
		cancel()
		c.Close()
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m := range sub.C() {
			on(m.Payload)
			m.Release() // a message not borrowed: nothing
		}
	}()
	return func() { cancel(); c.Close(); <-done }, nil
}

// viaClient measures 1 -> 1 throughput with the client library on both
// ends for nexusd, its subscriber borrowing its messages or not; NATS
// runs as in local-1to1-stream, for the ratio.
func viaClient(borrow bool) func(system, string, string, time.Duration) (map[string]float64, error) {
	return func(sys system, _, _ string, dur time.Duration) (map[string]float64, error) {
		switch s := sys.(type) {
		case *nexusdSys:
			sys = clientSys{s, borrow}
		case *relaySys:
			return nil, errNotApplicable
		}
		v, err := throughput(sys, 0, 0, 1, "stream", 1, 64, dur)
		return map[string]float64{"": v}, err
	}
}
