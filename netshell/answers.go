package netshell

import (
	"context"
	"errors"
	"io"
)

// serveAnswers drives the answering half of a request stream (a peer's
// push stream, a client's PublishStream): a reader goroutine posts the
// stream's requests and reports how it ended on readErr; each time wake
// fires, serveAnswers calls answer to send what has come back. It returns
// nil once the reader ended cleanly (the client closed its side) and
// nothing is owed (idle), or the status the stream ends with: at once when
// the stream broke, and only once what came before it is answered when
// the reader refused the sender's input (refusedFrame).
func (l *loop) serveAnswers(ctx context.Context, wake <-chan struct{}, readErr <-chan error,
	idle func() bool, answer func() error) error {
	reading := true
	var end error // the status the stream ends with once answered
	for {
		if !reading && idle() {
			return end
		}
		select {
		case <-wake:
		case err := <-readErr:
			var refused *refusedFrame
			switch {
			case errors.Is(err, io.EOF):
			case errors.As(err, &refused):
				end = refused.err
			default:
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
		if err := answer(); err != nil {
			return err
		}
	}
}

// refusedFrame is how a reader ends a stream (PublishPacked,
// PublishStream, PushPacked) whose sender sent a frame or batch it refused
// whole: serveAnswers answers and acks what came before it, then ends the
// stream with err.
type refusedFrame struct{ err error }

func (r *refusedFrame) Error() string { return r.err.Error() }
