package netshell

import (
	"context"
	"errors"
	"io"

	"github.com/nexusd/nexusd/state"
)

// serveAnswers drives the answering half of a request stream (a peer's
// push stream, a client's PublishStream): a reader goroutine posts the
// stream's requests with answers as their replier and reports how it ended
// on readErr; serveAnswers hands each lot of answers to handle as it
// comes. It returns nil once the reader ended cleanly (the client closed
// its side) and nothing is owed, or the status the stream ends with.
func (l *loop) serveAnswers(ctx context.Context, answers *mailbox[state.Effect], readErr <-chan error,
	owed func() int, handle func([]state.Effect) error) error {
	var buf []state.Effect
	reading := true
	for {
		if !reading && owed() == 0 {
			return nil
		}
		select {
		case <-answers.wake:
		case err := <-readErr:
			if !errors.Is(err, io.EOF) {
				return rpcError(err)
			}
			reading = false
			continue
		case <-ctx.Done():
			return rpcError(ctx.Err())
		case <-l.stopping:
			return rpcError(errStopped)
		case <-l.done:
			return rpcError(errStopped)
		}
		if buf = answers.take(buf); len(buf) > 0 {
			if err := handle(buf); err != nil {
				return err
			}
		}
	}
}
