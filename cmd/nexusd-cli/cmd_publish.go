package main

import (
	"context"
	"fmt"
	"io"

	"github.com/nexusd/nexusd/client"
)

// publishJSON is PUBLISH's answer with --json: the wire contract's
// PublishResponse fields.
type publishJSON struct {
	Success            bool   `json:"success"`
	MessageID          string `json:"message_id"`
	SubscriberCount    int    `json:"subscriber_count"`
	SubscribersDropped int    `json:"subscribers_dropped"`
	SubscribersBlocked int    `json:"subscribers_blocked"`
}

func runPublish(ctx context.Context, s *session, args []string) error {
	pos, o, err := parseOpts(args, lookup("PUBLISH").options)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fail("usage: PUBLISH topic message [--retain] [--type T] [--ttl ms] [--correlation-id ID] (quote a message with spaces)")
	}
	topic, payload := pos[0], []byte(pos[1])
	if err := client.ValidateTopic(topic); err != nil {
		return err
	}
	if pos[1] == "-" {
		if s.interactive || s.in == nil {
			return fail(`PUBLISH ... -: reading the message from stdin works on the command line only`)
		}
		if payload, err = io.ReadAll(io.LimitReader(s.in, 64<<20)); err != nil {
			return fail("reading the message from stdin: %v", err)
		}
	}
	var popts []client.PublishOption
	if o.has("retain") {
		popts = append(popts, client.Retain())
	}
	if o.has("type") {
		popts = append(popts, client.ContentType(o.str("type")))
	}
	if o.has("correlation-id") {
		popts = append(popts, client.CorrelationID(o.str("correlation-id")))
	}
	if o.has("ttl") {
		ttl, err := parseMillis(o.str("ttl"))
		if err != nil {
			return fail("--ttl %v", err)
		}
		popts = append(popts, client.TTL(ttl))
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	r, err := c.Publish(rctx, topic, payload, popts...)
	if err != nil {
		return err
	}
	return s.emit(publishJSON{true, r.MessageID, r.SubscriberCount, r.SubscribersDropped, r.SubscribersBlocked}, func(w io.Writer) {
		fmt.Fprintf(w, "message_id: %s\nsubscriber_count: %d\n", r.MessageID, r.SubscriberCount)
		if r.SubscribersDropped > 0 {
			fmt.Fprintf(w, "subscribers_dropped: %d\n", r.SubscribersDropped)
		}
		if r.SubscribersBlocked > 0 {
			fmt.Fprintf(w, "subscribers_blocked: %d\n", r.SubscribersBlocked)
		}
	})
}
