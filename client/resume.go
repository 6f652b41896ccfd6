package client

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// reconnect opens the subscription's stream again after it broke with
// cause, waiting the client's backoff before each attempt, until it
// succeeds, the request is refused for good, the retries run out, or the
// subscription ends.
func (s *Subscription) reconnect(cause error) (*stream, error) {
	b := s.c.o.backoff
	s.c.log.Info("nexusd: subscription stream ended; resuming", "subscription", s.ID(), "err", cause)
	for attempt := 0; ; attempt++ {
		if b.MaxRetries > 0 && attempt >= b.MaxRetries {
			return nil, failedError("", fmt.Errorf("resuming the subscription failed %d times; last: %w", attempt, cause))
		}
		if !sleep(s.ctx, b.Delay(attempt)) {
			return nil, nil
		}
		st, err := s.resume()
		switch {
		case err == nil:
			return st, nil
		case s.ctx.Err() != nil:
			return nil, nil
		case !retryable(err):
			return nil, err
		}
		cause = err
		s.c.log.Debug("nexusd: resume attempt failed", "subscription", s.ID(), "attempt", attempt+1, "err", err)
	}
}

// sleep waits d, or less if ctx ends first; it reports whether it waited.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// resume makes one attempt to reattach. By id first: the daemon still
// holds the subscription when it was paused, or when only the stream went
// away and the daemon has not noticed yet. When the daemon no longer
// knows the id (the stream's end removed it), by topics: a new
// subscription that replays the daemon's ring after the last sequence
// numbers received. When the daemon is a new run (its instance header
// changed), its numbering started over: by topics from the start of each
// topic, reporting a gap of unknown size for each.
func (s *Subscription) resume() (*stream, error) {
	s.mu.Lock()
	id := s.id
	s.mu.Unlock()
	if id != "" {
		st, inst, err := s.openResume(id, s.lastSequences(), false)
		if err != nil {
			return nil, err
		}
		if s.restarted(inst) {
			st.cancel()
			return s.resumeByTopics(true)
		}
		info, err := st.info()
		if err == nil {
			s.opened(info, inst)
			s.c.log.Info("nexusd: subscription resumed", "subscription", id)
			return st, nil
		}
		st.cancel()
		if status.Code(err) != codes.NotFound {
			return nil, err
		}
	}
	return s.resumeByTopics(false)
}

// resumeByTopics opens the subscription anew by its topics and replays
// from the last sequence numbers, or, after a restart, from the start.
func (s *Subscription) resumeByTopics(restart bool) (*stream, error) {
	if s.o.queueGroup != "" {
		return s.resubscribeMember()
	}
	for {
		last := s.lastSequences()
		if restart {
			// Everything the new run holds came after this subscription
			// began: ask for each topic from its first message, the topics
			// numbered so far and the patterns that name one topic.
			for t := range last {
				last[t] = 0
			}
			for _, p := range s.patterns {
				if !state.IsPattern(p) {
					last[p] = 0
				}
			}
		}
		st, inst, err := s.openResume("", last, restart && s.o.retained)
		if err != nil {
			return nil, err
		}
		if !restart && s.restarted(inst) {
			st.cancel()
			restart = true
			continue
		}
		info, err := st.info()
		if err != nil {
			st.cancel()
			return nil, err
		}
		var gaps []Gap
		if restart {
			s.mu.Lock()
			gaps = s.seq.restart()
			s.mu.Unlock()
		}
		s.opened(info, inst)
		for _, g := range gaps {
			s.gap(g)
		}
		s.c.log.Info("nexusd: subscription opened again by its topics", "subscription", info.GetSubscriptionId(),
			"daemon_restarted", restart, "topics", len(last))
		return st, nil
	}
}

// openResume opens a ResumeSubscribe stream (by id, or by topics when id
// is empty) that replays from the daemon's ring after last.
func (s *Subscription) openResume(id string, last map[string]int64, retained bool) (*stream, string, error) {
	req := &sidecarpb.ResumeSubscribeRequest{
		SubscriptionId:       id,
		Topics:               s.patterns,
		LastSequencePerTopic: last,
		GapRecoveryMode:      sidecarpb.GapRecoveryMode_GAP_RECOVERY_REPLAY_BUFFER,
		ReceiveRetained:      retained,
		// The subscription's own settings: kept by the daemon when it
		// resumes by id, given to the new one when it resumes by topics.
		MaxBatch:           int32(s.o.maxBatch),
		BackpressurePolicy: string(s.o.policy),
		MaxBufferSize:      int32(s.o.queueLimit),
		ClientId:           s.c.o.clientID,
		ResumeWindowMs:     s.o.resumeWindow.Milliseconds(),
	}
	return s.openStream(func(ctx context.Context) (eventStream, error) {
		return s.c.api.ResumeSubscribe(ctx, req, grpc.WaitForReady(true))
	}, func(ctx context.Context) (packedStream, error) {
		return s.c.api.SubscribePacked(ctx, &sidecarpb.SubscribePackedRequest{
			Open: &sidecarpb.SubscribePackedRequest_Resume{Resume: req}}, grpc.WaitForReady(true))
	}, sessionOpen{resume: req})
}

// restarted reports whether inst is a different run of the daemon from
// the one that numbered the sequences held.
func (s *Subscription) restarted(inst string) bool {
	return s.instance != "" && inst != "" && inst != s.instance
}

func (s *Subscription) lastSequences() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seq.snapshot()
}
