package client

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// Request/reply over inbox topics (docs/protocol.md §4.6). Each
// client keeps one inbox subscription, "_inbox/<daemon instance>/<client
// id>/#", opened by its first Request; each request gets its own reply
// address under it. A message to an inbox topic goes straight to the daemon
// it names, so a responder anywhere in the mesh reaches the requester
// without waiting for gossip.

// ErrNoResponders: a Request reached no subscriber: no subscription on the
// daemon, and no peer daemon known to have one, matches its topic.
var ErrNoResponders = errors.New("no responders")

// replyTo sets the publish's reply_to.
func replyTo(topic string) PublishOption { return func(o *publishOptions) { o.replyTo = topic } }

// inbox is a client's reply subscription on one daemon run.
type inbox struct {
	inst   string // the daemon instance its topics name
	prefix string // "_inbox/<inst>/<client id>/"
	sub    *Subscription
	end    context.CancelFunc // ends sub's lifetime
	mu     sync.Mutex
	wait   map[string]chan *Message // by reply topic
	ended  bool                     // the subscription ended: make another
}

// requester holds a client's inbox; the zero value is ready.
type requester struct {
	mu   sync.Mutex // held while an inbox is made
	cur  *inbox
	next uint64 // the last request number given; guarded by mu
}

// Request publishes payload to topic with a reply address and returns the
// first reply published to that address (by Reply, or any publish to
// Message.ReplyTo). It fails at once with an error matching
// ErrNoResponders when the daemon routed the request to no one, and with
// ctx's error (errors.Is context.DeadlineExceeded) when ctx ends first; give
// ctx a deadline. Requests may run concurrently.
//
// The reply address is an inbox topic of the daemon this client is
// connected to; the request carries it as reply_to and a correlation id
// (CorrelationID in opts overrides it). The inbox subscription is opened
// by the first Request and opened again when the daemon restarts.
func (c *Client) Request(ctx context.Context, topic string, payload []byte, opts ...PublishOption) (*Message, error) {
	const op = "request"
	if err := c.done(op); err != nil {
		return nil, err
	}
	if err := state.ValidateTopic(topic, maxTopicBytes, maxTopicLevels); err != nil {
		return nil, topicError(op, err)
	}
	for attempt := 0; ; attempt++ {
		ib, err := c.inbox(ctx, op)
		if err != nil {
			return nil, err
		}
		addr, ch := ib.expect(c)
		all := append([]PublishOption{CorrelationID(addr[len(ib.prefix):])}, opts...)
		res, err := c.Publish(ctx, topic, payload, append(all, replyTo(addr))...)
		if err != nil {
			ib.forget(addr)
			return nil, callErr(op, err)
		}
		if c.ServerID() != ib.inst && attempt == 0 {
			// A new daemon run took the request: the reply would go to an
			// instance that is gone. Publish it again from a new inbox.
			ib.forget(addr)
			continue
		}
		if res.SubscriberCount == 0 {
			ib.forget(addr)
			return nil, &Error{Op: op, Kind: ErrNoResponders, Status: status.New(codes.Unavailable, fmt.Sprintf("no responders for topic %q", topic))}
		}
		select {
		case m, ok := <-ch:
			if !ok {
				return nil, callErr(op, ib.endErr())
			}
			return m, nil
		case <-ctx.Done():
			ib.forget(addr)
			return nil, wrapErr(op, ctx.Err())
		case <-c.ctx.Done():
			ib.forget(addr)
			return nil, c.done(op)
		}
	}
}

// Reply publishes payload to msg's reply address with msg's correlation
// id. msg must be a request: one with a ReplyTo.
func (c *Client) Reply(ctx context.Context, msg *Message, payload []byte, opts ...PublishOption) error {
	const op = "reply"
	if msg == nil || msg.ReplyTo == "" {
		return argError(op, "the message has no reply_to: it is not a request, so there is nowhere to reply")
	}
	all := append([]PublishOption{CorrelationID(msg.CorrelationID)}, opts...)
	if _, err := c.Publish(ctx, msg.ReplyTo, payload, all...); err != nil {
		return callErr(op, err)
	}
	return nil
}

// inbox returns the client's inbox on the daemon run it is connected to,
// making it first if there is none, it ended, or the daemon restarted.
func (c *Client) inbox(ctx context.Context, op string) (*inbox, error) {
	r := &c.requests
	r.mu.Lock()
	defer r.mu.Unlock()
	inst := c.ServerID()
	if inst == "" {
		// No answer has named the daemon yet: ask it something cheap.
		if _, err := c.api.GetTopics(ctx, &sidecarpb.GetTopicsRequest{}, grpc.WaitForReady(true)); err != nil {
			return nil, c.finish(op, err)
		}
		if inst = c.ServerID(); inst == "" {
			return nil, &Error{Op: op, Status: status.New(codes.Unimplemented, "the daemon names no instance (no nexusd-instance header): it has no inbox topics for replies")}
		}
	}
	if ib := r.cur; ib != nil && ib.inst == inst && !ib.isEnded() {
		return ib, nil
	}
	if old := r.cur; old != nil {
		r.cur = nil
		go func() { // best effort: it names a daemon run that is gone
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = old.sub.Unsubscribe(ctx)
			old.end()
		}()
	}
	var id [8]byte
	rand.Read(id[:])
	ib := &inbox{inst: inst, prefix: state.InboxPrefix + inst + "/" + hex.EncodeToString(id[:]) + "/", wait: map[string]chan *Message{}}
	// The subscription lives as long as the client, but opening it is
	// bounded by this request's ctx.
	life, end := context.WithCancel(c.ctx)
	unbind := context.AfterFunc(ctx, end)
	// Each reply has a topic of its own, so its numbers say nothing of
	// the others: no gap of the inbox concerns the application.
	sub, err := c.Subscribe(life, []string{ib.prefix + "#"}, BufferSize(1024), OnGap(func(Gap) {}))
	if !unbind() {
		end()
		return nil, wrapErr(op, ctx.Err())
	}
	if err != nil {
		end()
		return nil, callErr(op, err)
	}
	ib.sub, ib.end = sub, end
	r.cur = ib
	go ib.dispatch()
	return ib, nil
}

// expect gives a new reply address and the channel its reply comes on.
func (ib *inbox) expect(c *Client) (string, chan *Message) {
	c.requests.mu.Lock()
	c.requests.next++
	addr := ib.prefix + strconv.FormatUint(c.requests.next, 10)
	c.requests.mu.Unlock()
	ch := make(chan *Message, 1)
	ib.mu.Lock()
	if ib.ended {
		close(ch)
	} else {
		ib.wait[addr] = ch
	}
	ib.mu.Unlock()
	return addr, ch
}

// forget stops waiting for a reply to addr.
func (ib *inbox) forget(addr string) {
	ib.mu.Lock()
	delete(ib.wait, addr)
	ib.mu.Unlock()
}

func (ib *inbox) isEnded() bool {
	ib.mu.Lock()
	defer ib.mu.Unlock()
	return ib.ended
}

// dispatch hands each reply to the request waiting for it; a reply no
// request waits for (a second one, or one after its timeout) is dropped.
func (ib *inbox) dispatch() {
	for m := range ib.sub.C() {
		ib.mu.Lock()
		ch := ib.wait[m.Topic]
		delete(ib.wait, m.Topic)
		ib.mu.Unlock()
		if ch != nil {
			ch <- m
		}
	}
	ib.mu.Lock()
	ib.ended = true
	for addr, ch := range ib.wait {
		close(ch)
		delete(ib.wait, addr)
	}
	ib.mu.Unlock()
}

// endErr is why the inbox subscription ended, for the requests it leaves
// without a reply.
func (ib *inbox) endErr() error {
	if err := ib.sub.Err(); err != nil {
		return err
	}
	return &Error{Kind: ErrUnavailable, Status: status.New(codes.Unavailable, "the reply subscription ended before the reply came")}
}
