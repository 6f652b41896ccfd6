package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nexusd/nexusd/client"
)

// REQUEST and RESPOND: request/reply over inbox topics (client.Request and
// client.Reply).

func runRequest(ctx context.Context, s *session, args []string) error {
	pos, o, err := parseOpts(args, lookup("REQUEST").options)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fail("usage: REQUEST topic message [--timeout D] (quote a message with spaces)")
	}
	topic, payload := pos[0], []byte(pos[1])
	if err := client.ValidateTopic(topic); err != nil {
		return err
	}
	timeout := o.duration("timeout", s.cfg.timeout)
	if timeout <= 0 {
		return fail("--timeout must be above 0")
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	m, err := c.Request(rctx, topic, payload)
	switch {
	case err == nil:
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return &exitError{msg: fmt.Sprintf("timed out after %s: no reply to the request on %s", timeout, topic), code: "DEADLINE_EXCEEDED"}
	default:
		return err
	}
	return s.emit(toJSON(m), func(w io.Writer) { fmt.Fprintln(w, showPayload(m.Payload)) })
}

// respondJSON is one answered request, as RESPOND --json prints it.
type respondJSON struct {
	Request messageJSON `json:"request"`
	Reply   string      `json:"reply"`
}

func runRespond(ctx context.Context, s *session, args []string) error {
	pos, o, err := parseOpts(args, lookup("RESPOND").options)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return fail("usage: RESPOND pattern reply [--count N] [--group G] (quote a reply with spaces)")
	}
	pattern, reply := pos[0], []byte(pos[1])
	count := o.int("count", 0)
	if count < 0 {
		return fail("--count must be 0 (forever) or more")
	}
	if err := client.ValidatePattern(pattern); err != nil {
		return err
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	var sopts []client.SubscribeOption
	if o.has("group") {
		sopts = append(sopts, client.QueueGroup(o.str("group")))
	}
	sub, err := c.Subscribe(ctx, []string{pattern}, sopts...)
	if err != nil {
		return err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = sub.Unsubscribe(uctx)
	}()
	s.setStreaming(true)
	defer s.setStreaming(false)
	if !s.cfg.json && s.interactive {
		fmt.Fprintf(s.errw, "Answering requests on %s... (Ctrl-C to stop)\n", pattern)
	}
	n := 0
	for m := range sub.C() {
		if m.ReplyTo == "" {
			fmt.Fprintf(s.errw, "%s [%d]: not a request (no reply_to), not answered\n", m.Topic, m.Sequence)
			continue
		}
		rctx, cancel := s.request(ctx)
		err := c.Reply(rctx, m, reply)
		cancel()
		if err != nil {
			return err
		}
		err = s.emit(respondJSON{toJSON(m), showPayload(reply)}, func(w io.Writer) {
			fmt.Fprintf(w, "%s [%d] %s -> %s\n", m.Topic, m.Sequence, showPayload(m.Payload), showPayload(reply))
		})
		if err != nil {
			return err
		}
		if n++; count > 0 && n >= count {
			return nil
		}
	}
	if ctx.Err() != nil { // interrupted
		if count > 0 {
			return fail("interrupted after %d of %d requests", n, count)
		}
		return nil
	}
	if err := sub.Err(); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
