package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/nexusd/nexusd/client"
)

// The README's walkthrough: subscribe through one daemon, publish through
// another (compiled by go test, not run: it needs the two daemons).
func Example() {
	ctx := context.Background()
	sub, err := client.Dial(ctx, "127.0.0.1:5682") // the second daemon
	if err != nil {
		log.Fatal(err)
	}
	pub, _ := client.Dial(ctx, "127.0.0.1:5672") // the first
	s, _ := sub.Subscribe(ctx, []string{"sensors/#"})
	// The first daemon learns of the subscription with the next beacon.
	for r, _ := pub.Publish(ctx, "sensors/kitchen/temp", []byte("21.5")); r.SubscriberCount == 0; r, _ = pub.Publish(ctx, "sensors/kitchen/temp", []byte("21.5")) {
		time.Sleep(200 * time.Millisecond)
	}
	m := <-s.C()
	fmt.Printf("%s = %s (sequence %d, from %.8s)\n", m.Topic, m.Payload, m.Sequence, m.Source)
}

// A subscriber that watches its connection and every gap.
func ExampleClient_Subscribe() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := client.Dial(ctx, "127.0.0.1:5672",
		client.WithStateHandler(func(ch client.StateChange) { log.Printf("connection %s -> %s (%v)", ch.From, ch.To, ch.Err) }),
		client.WithGapHandler(func(g client.Gap) { log.Printf("lost messages: %s", g) }),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	sub, err := c.Subscribe(ctx, []string{"orders/#"}, client.ReceiveRetained(), client.BackpressurePolicy(client.DropOldest))
	if errors.Is(err, client.ErrInvalidTopic) {
		log.Fatalf("bad pattern: %v", err)
	}
	for m := range sub.Messages(ctx) {
		fmt.Printf("%s [%d %s] %s\n", m.Topic, m.Sequence, m.Kind, m.Payload)
	}
	log.Printf("subscription ended: %v", sub.Err())
}

// Publishing at a high rate over one stream.
func ExampleClient_Publisher() {
	ctx := context.Background()
	c, err := client.Dial(ctx, "127.0.0.1:5672")
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	p, _ := c.Publisher(ctx, client.OnPublishError(func(f client.PublishFailure) { log.Printf("message %d: %v", f.N, f.Err) }))
	for i := range 100000 {
		if _, err := p.Publish(ctx, "metrics/cpu", fmt.Appendf(nil, "%d", i)); err != nil {
			log.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		log.Printf("some messages failed: %v", err)
	}
}

// Request/reply: a responder on one daemon, a requester on another (the
// README's example; compiled, not run).
func ExampleClient_Request() {
	ctx := context.Background()
	responder, err := client.Dial(ctx, "127.0.0.1:5682")
	if err != nil {
		log.Fatal(err)
	}
	sub, _ := responder.Subscribe(ctx, []string{"time/now"})
	go func() {
		for m := range sub.C() {
			responder.Reply(ctx, m, []byte(time.Now().Format(time.Kitchen)))
		}
	}()
	requester, err := client.Dial(ctx, "127.0.0.1:5672")
	if err != nil {
		log.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	reply, err := requester.Request(rctx, "time/now", nil)
	switch {
	case errors.Is(err, client.ErrNoResponders):
		log.Print("nobody answers time/now (yet: the first daemon learns of the responder with its next beacon)")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Printf("it is %s\n", reply.Payload)
	}
}
