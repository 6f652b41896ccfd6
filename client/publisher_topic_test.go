package client

import "testing"

// TestPublisherChecksEachTopicItHasNotJustPassed: the Publisher remembers
// the last valid topic only; an invalid one is refused every time, also
// right after a valid one and when it comes again.
func TestPublisherChecksEachTopicItHasNotJustPassed(t *testing.T) {
	var p Publisher
	for i, tc := range []struct {
		topic string
		ok    bool
	}{{"a/b", true}, {"a/b", true}, {"a/+", false}, {"a/b", true}, {"a/+", false}, {"a/+", false}, {"", false}, {"a/c", true}} {
		if err := p.checkTopic(tc.topic); (err == nil) != tc.ok {
			t.Fatalf("publish %d to %q: %v, want ok=%v", i, tc.topic, err, tc.ok)
		}
	}
}
