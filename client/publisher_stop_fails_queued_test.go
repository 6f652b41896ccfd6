package client

import (
	"context"
	"errors"
	"testing"
)

// Pins that a Publisher that stops fails the messages still queued, and
// Flush reports each of them, not only the stop's error.
func TestAStoppedPublisherReportsItsQueuedMessagesAsFailed(t *testing.T) {
	p := &Publisher{next: 3, changed: make(chan struct{})}
	p.queue.push(pubItem{n: 1, topic: "a"})
	p.queue.push(pubItem{n: 2, topic: "b"})
	p.pending = 2
	p.stop(errors.New("gave up"))
	var failed *PublishErrors
	err := p.Flush(context.Background())
	if !errors.As(err, &failed) || len(failed.Failures) != 2 || failed.Failures[0].N != 1 || failed.Failures[1].N != 2 {
		t.Fatalf("Flush: %v, want messages 1 and 2 reported failed", err)
	}
}
