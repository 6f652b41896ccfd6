package netshell

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/nexusd/nexusd/state"
)

// answerLog is a publishReplier that records the answers it gets, in order.
type answerLog struct {
	mu   sync.Mutex
	base uint64 // answers are recorded by req - base
	got  []string
	runs int // answerPublishes calls
}

func (a *answerLog) answerPublishes(cs []state.CompletePublish) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.runs++
	for _, c := range cs {
		if c.Err != nil {
			a.got = append(a.got, fmt.Sprintf("%d err=%q", c.Req-a.base, c.Err))
			continue
		}
		a.got = append(a.got, fmt.Sprintf("%d id=%s subs=%d dropped=%d blocked=%d",
			c.Req-a.base, c.Result.MessageID, c.Result.Subscribers, c.Result.Dropped, c.Result.Blocked))
	}
}

func (a *answerLog) answerRun(first uint64, n int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.runs++
	for i := range uint64(n) {
		a.got = append(a.got, fmt.Sprintf("%d published", first+i-a.base))
	}
}

func (a *answerLog) answer(e state.Effect) {
	a.answerPublishes([]state.CompletePublish{*e.(*state.CompletePublish)})
}

func (a *answerLog) answers() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.got...)
}

// TestAFrameOfPublishesIsOneStepAnsweredAsSinglePublishesWere: a frame of
// valid, refused and block-held publishes is stepped as one event, and
// every publish gets the answer, in the order, it got when each was
// stepped alone; those the block policy holds are answered by a later
// step, and the loop forgets every request once answered.
func TestAFrameOfPublishesIsOneStepAnsweredAsSinglePublishesWere(t *testing.T) {
	topics := []string{"a/b", "a/+", "a/b", "x/y", "a/b", "a/b", "", "a/b", "a/b", "x/y", "x/y", "a/b"}
	run := func(asFrame bool) (answers []string, events uint64, waiting int) {
		h := newLoopHarness(t)
		st := newSubStream(41, 8, 1)
		if err := h.l.post(context.Background(), input{ev: &state.Subscribed{Stream: 41, Patterns: []string{"a/#"},
			QueueLimit: 1, Policy: state.Block, Credit: 2}, stream: st}); err != nil {
			t.Fatal(err)
		}
		h.barrier()
		base := h.l.newIDs(len(topics))
		log := &answerLog{base: base}
		pubs := make([]state.Published, len(topics))
		for i, topic := range topics {
			pubs[i] = state.Published{Req: base + uint64(i), Topic: topic, Payload: fmt.Appendf(nil, "m%d", i)}
		}
		_, before := h.counters()
		if asFrame {
			h.post(&state.PublishedBatch{Pubs: pubs}, log)
		} else {
			evs := make([]state.Event, len(pubs))
			for i := range pubs {
				evs[i] = &pubs[i]
			}
			if err := h.l.post(context.Background(), input{evs: evs, reply: log}); err != nil {
				t.Fatal(err)
			}
			h.barrier()
		}
		_, after := h.counters()
		h.query(func(l *loop) { waiting = l.replies.len() })
		// The subscriber reads everything: the held publishes go through.
		for range 8 {
			if err := h.l.postControl(context.Background(), &state.CreditGranted{Stream: 41, N: 8}); err != nil {
				t.Fatal(err)
			}
			h.barrier()
		}
		h.query(func(l *loop) {
			if l.replies.len() != 0 {
				t.Errorf("loop still waits to answer %d requests", l.replies.len())
			}
		})
		return log.answers(), after.Events - before.Events, waiting
	}
	frame, frameEvents, frameWaiting := run(true)
	single, singleEvents, singleWaiting := run(false)
	if frameEvents != 1 || singleEvents != uint64(len(topics)) {
		t.Errorf("events stepped: %d for the frame, %d one by one; want 1 and %d", frameEvents, singleEvents, len(topics))
	}
	if frameWaiting == 0 || frameWaiting != singleWaiting {
		t.Errorf("publishes held by the block policy: %d from the frame, %d one by one; want the same, not 0", frameWaiting, singleWaiting)
	}
	if len(frame) != len(topics) || !reflect.DeepEqual(frame, single) {
		t.Fatalf("answers to the frame:\n%q\none by one:\n%q", frame, single)
	}
}

// A frame's publish answers reach their publisher together: one hand-over
// for the frame, not one per publish. A frame by number (a packed
// publisher's) is answered as runs: one answer for each run of one topic.
func TestAFramesAnswersReachThePublisherTogether(t *testing.T) {
	for _, byNumber := range []bool{false, true} {
		h := newLoopHarness(t)
		base := h.l.newIDs(5)
		log := &answerLog{base: base}
		pubs := make([]state.Published, 5)
		for i := range pubs {
			pubs[i] = state.Published{Req: base + uint64(i), Topic: "a/b", Payload: []byte("p")}
		}
		if err := h.l.post(context.Background(), input{ev: &state.PublishedBatch{Pubs: pubs, ByNumber: byNumber}, reply: log}); err != nil {
			t.Fatal(err)
		}
		h.barrier()
		h.query(func(l *loop) {
			if l.replies.len() != 0 {
				t.Errorf("by number %v: the loop still waits to answer %d requests", byNumber, l.replies.len())
			}
		})
		log.mu.Lock()
		if len(log.got) != 5 || log.runs != 1 {
			t.Errorf("by number %v: %d answers in %d hand-overs, want 5 in 1: %q", byNumber, len(log.got), log.runs, log.got)
		}
		if byNumber && log.got[4] != "4 published" {
			t.Errorf("by number: answers %q, want a run of 5", log.got)
		}
		log.mu.Unlock()
	}
}
