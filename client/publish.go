package client

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// Topic limits of docs/protocol.md §4.1; the client checks them before sending.
const (
	maxTopicBytes  = 256
	maxTopicLevels = 16
)

// ValidateTopic reports whether topic can be published to: UTF-8, 1 to 256
// bytes, at most 16 levels, no control characters, no wildcards. The error
// matches ErrInvalidTopic.
func ValidateTopic(topic string) error {
	if err := state.ValidateTopic(topic, maxTopicBytes, maxTopicLevels); err != nil {
		return topicError("", err)
	}
	return nil
}

// ValidatePattern reports whether pattern can be subscribed to: a topic
// whose levels may be "+" (one level) or, last, "#" (the rest). The error
// matches ErrInvalidTopic.
func ValidatePattern(pattern string) error {
	if err := state.ValidatePattern(pattern, maxTopicBytes, maxTopicLevels); err != nil {
		return topicError("", err)
	}
	return nil
}

// Match reports whether topic matches the subscription pattern (MQTT
// wildcards: "+" one level, "#" the remaining levels, zero included).
func Match(pattern, topic string) bool { return state.Match(pattern, topic) }

// PublishResult is the daemon's answer to one publish.
type PublishResult struct {
	MessageID          string // the id the daemon gave the message (a UUID)
	SubscriberCount    int    // local subscriptions plus peers the message was routed to
	SubscribersDropped int    // subscriptions whose full queue dropped a message because of it
	SubscribersBlocked int    // block-policy subscriptions the publish waited for
}

// publishOptions are the optional fields of one publish.
type publishOptions struct {
	retain        bool
	contentType   string
	correlationID string
	ttlMs         int64
	replyTo       string
}

// PublishOption sets an optional field of one publish.
type PublishOption func(*publishOptions)

// Retain makes the message its topic's retained value (an empty payload
// with Retain clears it).
func Retain() PublishOption { return func(o *publishOptions) { o.retain = true } }

// ContentType labels the payload ("application/json"); passed through.
func ContentType(t string) PublishOption {
	return func(o *publishOptions) { o.contentType = t }
}

// TTL makes the message expire d after it is published: it is then never
// delivered or replayed. Below a millisecond counts as a millisecond;
// without TTL the daemon's default applies (--default-message-ttl).
func TTL(d time.Duration) PublishOption {
	return func(o *publishOptions) {
		if d > 0 {
			o.ttlMs = max(d.Milliseconds(), 1)
		}
	}
}

// CorrelationID links a reply to its request; passed through untouched.
func CorrelationID(id string) PublishOption {
	return func(o *publishOptions) { o.correlationID = id }
}

// publishRequest builds and checks one request.
func publishRequest(op, topic string, payload []byte, opts []PublishOption) (*sidecarpb.PublishRequest, error) {
	if err := state.ValidateTopic(topic, maxTopicBytes, maxTopicLevels); err != nil {
		return nil, topicError(op, err)
	}
	req := &sidecarpb.PublishRequest{}
	fillRequest(req, topic, payload, opts)
	return req, nil
}

// publishOpts applies opts, or is nil when there are none: a publish
// without options allocates nothing for them.
func publishOpts(opts []PublishOption) *publishOptions {
	if len(opts) == 0 {
		return nil
	}
	o := &publishOptions{}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// fillRequest writes a publish of payload to topic, which is valid, with
// opts into req.
func fillRequest(req *sidecarpb.PublishRequest, topic string, payload []byte, opts []PublishOption) {
	var o publishOptions
	if p := publishOpts(opts); p != nil {
		o = *p
	}
	req.Topic, req.Payload, req.Retain, req.ContentType = topic, payload, o.retain, o.contentType
	req.CorrelationId, req.TtlMs, req.ReplyTo = o.correlationID, o.ttlMs, o.replyTo
}

// Publish sends one message and returns the daemon's answer. While the
// client reconnects, it waits for the connection within ctx. For many
// messages at a high rate, use a Publisher.
func (c *Client) Publish(ctx context.Context, topic string, payload []byte, opts ...PublishOption) (PublishResult, error) {
	const op = "publish"
	if err := c.done(op); err != nil {
		return PublishResult{}, err
	}
	req, err := publishRequest(op, topic, payload, opts)
	if err != nil {
		return PublishResult{}, err
	}
	resp, err := c.api.Publish(ctx, req, grpc.WaitForReady(true))
	if err != nil {
		return PublishResult{}, c.finish(op, err)
	}
	return PublishResult{
		MessageID:          resp.GetMessageId(),
		SubscriberCount:    int(resp.GetSubscriberCount()),
		SubscribersDropped: int(resp.GetSubscribersDropped()),
		SubscribersBlocked: int(resp.GetSubscribersBlocked()),
	}, nil
}
