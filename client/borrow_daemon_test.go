package client_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/nexusd/nexusd/client"
)

// TestBorrowedPayloadsFromARealDaemon: with BorrowPayloads, on a Session
// and on its own SubscribePacked stream, a burst arrives whole, in order
// and intact while the reader holds some messages and releases them on
// another goroutine, out of order: a frame's memory is reused only once
// every message of it is released.
func TestBorrowedPayloadsFromARealDaemon(t *testing.T) {
	d := daemon(t)
	for _, session := range []bool{true, false} {
		t.Run(fmt.Sprintf("session=%v", session), func(t *testing.T) {
			c := dial(t, d.App, client.WithSession(session))
			ctx := ctxT(t, 30*time.Second)
			topic := fmt.Sprintf("borrow/%v", session)
			sub, err := c.Subscribe(ctx, []string{topic}, client.BorrowPayloads(), client.BackpressurePolicy(client.Block))
			if err != nil {
				t.Fatal(err)
			}
			const n = 20000
			want := payloads("b", 0, n)
			pc := dial(t, d.App)
			published := make(chan error, 1)
			go func() {
				p, err := pc.Publisher(ctx)
				for i := 0; err == nil && i < n; i++ {
					_, err = p.Publish(ctx, topic, []byte(want[i]))
				}
				if err == nil {
					err = p.Close(ctx)
				}
				published <- err
			}()

			// Every 7th message is kept and checked again at the end; the
			// rest go to a releaser in batches, released last first.
			releases := make(chan []*client.Message, 16)
			released := make(chan struct{})
			go func() {
				defer close(released)
				for batch := range releases {
					for i := len(batch) - 1; i >= 0; i-- {
						batch[i].Release()
					}
				}
			}()
			kept := map[int]*client.Message{}
			var batch []*client.Message
			for i := range n {
				m, err := sub.Next(ctx)
				if err != nil {
					t.Fatalf("after %d messages: %v", i, err)
				}
				if string(m.Payload) != want[i] || m.Sequence != int64(i+1) || m.Topic != topic || len(m.ID) != 36 {
					t.Fatalf("message %d: %q #%d on %q, want %q #%d", i, m.Payload, m.Sequence, m.Topic, want[i], i+1)
				}
				if i%7 == 0 {
					kept[i] = m
					continue
				}
				if batch = append(batch, m); len(batch) == 100 {
					releases <- batch
					batch = nil
				}
			}
			if err := <-published; err != nil {
				t.Fatal(err)
			}
			releases <- batch
			close(releases)
			<-released
			for i, m := range kept {
				if string(m.Payload) != want[i] || m.Sequence != int64(i+1) {
					t.Fatalf("message %d, kept unreleased, changed to %q #%d", i, m.Payload, m.Sequence)
				}
				m.Release()
			}
		})
	}
}
