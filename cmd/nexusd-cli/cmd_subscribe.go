package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nexusd/nexusd/client"
)

func runSubscribe(ctx context.Context, s *session, args []string) error {
	pos, o, err := parseOpts(args, lookup("SUBSCRIBE").options)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return fail("usage: SUBSCRIBE pattern... [--count N] [--timeout D] [--retained] [--policy P]")
	}
	var sopts []client.SubscribeOption
	if o.has("retained") {
		sopts = append(sopts, client.ReceiveRetained())
	}
	if o.has("policy") {
		p := client.Policy(strings.ToLower(o.str("policy")))
		if p != client.DropOldest && p != client.DropNewest && p != client.Block {
			return fail("--policy %q: want drop-oldest, drop-newest or block", o.str("policy"))
		}
		sopts = append(sopts, client.BackpressurePolicy(p))
	}
	return s.stream(ctx, pos, sopts, o.int("count", 0), o.duration("timeout", 0), func(m *client.Message) string {
		tag := fmt.Sprint(m.Sequence)
		switch m.Kind {
		case client.Retained:
			tag = "retained"
		case client.Replayed:
			tag += ", replayed"
		}
		return fmt.Sprintf("%s [%s] %s", m.Topic, tag, showPayload(m.Payload))
	})
}

func runMonitor(ctx context.Context, s *session, args []string) error {
	pos, _, err := parseOpts(args, nil)
	if err != nil {
		return err
	}
	pattern := "#"
	switch len(pos) {
	case 0:
	case 1:
		pattern = pos[0]
	default:
		return fail("usage: MONITOR [pattern]")
	}
	if !s.cfg.json {
		fmt.Fprintln(s.out, "OK")
	}
	return s.stream(ctx, []string{pattern}, nil, 0, 0, func(m *client.Message) string {
		return fmt.Sprintf("%s [%s] %s [%d] %s", m.Timestamp.Format("15:04:05.000"), short(m.Source), m.Topic, m.Sequence, showPayload(m.Payload))
	})
}

// stream subscribes and prints each message (one JSON object a line with
// --json) until count messages, the timeout, or the end of ctx (Ctrl-C).
// Only a count that was not reached is an error.
func (s *session) stream(ctx context.Context, patterns []string, sopts []client.SubscribeOption, count int, timeout time.Duration, line func(*client.Message) string) error {
	for _, p := range patterns {
		if err := client.ValidatePattern(p); err != nil {
			return err
		}
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if timeout > 0 {
		sctx, cancel = context.WithTimeout(sctx, timeout)
		defer cancel()
	}
	sub, err := c.Subscribe(sctx, patterns, sopts...)
	if err != nil {
		if sctx.Err() != nil && ctx.Err() == nil {
			return fail("timed out after %s before the daemon accepted the subscription", timeout)
		}
		return err
	}
	s.setStreaming(true)
	defer s.setStreaming(false)
	if !s.cfg.json && s.interactive {
		fmt.Fprintf(s.errw, "Reading messages on %s... (Ctrl-C to stop)\n", strings.Join(patterns, " "))
	}
	n := 0
	for m := range sub.C() {
		if s.cfg.json {
			if err := s.emitJSON(toJSON(m)); err != nil {
				return err
			}
		} else {
			fmt.Fprintln(s.out, line(m))
		}
		if n++; count > 0 && n >= count {
			uctx, ucancel := context.WithTimeout(context.Background(), time.Second)
			defer ucancel()
			_ = sub.Unsubscribe(uctx)
			return nil
		}
	}
	err = sub.Err()
	switch {
	case ctx.Err() != nil: // interrupted
		if s.tty {
			fmt.Fprintln(s.out) // after the terminal's ^C
		}
		if count > 0 {
			return fail("interrupted after %d of %d messages", n, count)
		}
		return nil
	case sctx.Err() != nil: // the timeout
		if count > 0 {
			return &exitError{msg: fmt.Sprintf("timed out after %s: %d of %d messages", timeout, n, count), code: "DEADLINE_EXCEEDED"}
		}
		return nil
	case err != nil && !errors.Is(err, context.Canceled):
		return err
	}
	return nil
}
