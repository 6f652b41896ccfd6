package sim

import (
	"fmt"
	"strings"
	"time"

	"github.com/nexusd/nexusd/state"
)

// publish node=I topic=T [n=K] [every=DURATION] [retain] [payload=TEXT]
// [size=BYTES] [ttl=DURATION] [batch]: publish K messages now, or one now
// and one every DURATION after it; with batch, the K go in one frame (a
// PublishedBatch whose payloads the node must copy, World.PublishBatch). Payloads are TEXT, or TEXT-1..TEXT-K when K > 1;
// without payload= they are numbered p1, p2... across the script; with
// size= each is that many bytes (1048576, 64KiB, 1MiB). With topics=M the
// K messages go to T/0, T/1 ... T/M-1 in turn. With reply-to=INBOX each
// carries that reply address. {nI} in topic= or reply-to= is node I's
// instance id (inbox.go).
func cmdPublish(s *Script, a *args) (string, error) {
	i, err := s.node(a)
	if err != nil {
		return "", err
	}
	topic, err := a.need("topic")
	if err != nil {
		return "", err
	}
	if topic, err = s.expandIDs(topic); err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	replyTo, err := s.expandIDs(a.str("reply-to", ""))
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	k, err := a.int("n", 1)
	if err != nil || k < 1 {
		return "", fmt.Errorf("publish: n= must be at least 1")
	}
	ttl, err := a.dur("ttl", 0)
	if err != nil {
		return "", err
	}
	o := PublishOptions{Retain: a.has("retain"), TTL: ttl, ReplyTo: replyTo}
	spread, err := a.int("topics", 0)
	if err != nil || spread < 0 {
		return "", fmt.Errorf("publish: topics= must be a positive number")
	}
	every, err := a.dur("every", 0)
	if err != nil {
		return "", err
	}
	size, err := a.size("size")
	if err != nil {
		return "", err
	}
	text, given := a.kv["payload"]
	a.used["payload"] = true
	if size > 0 && given {
		return "", fmt.Errorf("publish: give payload= or size=, not both")
	}
	if every > 0 && spread > 0 {
		return "", fmt.Errorf("publish: give every= or topics=, not both")
	}
	batch := a.has("batch")
	if batch && (every > 0 || spread > 0) {
		return "", fmt.Errorf("publish: batch goes with neither every= nor topics=")
	}
	if every > 0 {
		return s.publishEvery(i, topic, k, every, size, o), nil
	}
	// Packed (Script.Packed): the K go in one frame, or, to K topics,
	// each in a frame of its own.
	batch = batch || s.packed && spread == 0
	var bodies [][]byte
	var results []string
	answered := 0 // publishes answered in their step; the rest wait (block policy)
	onAnswer := func(e *state.CompletePublish) {
		answered++
		if e.Err == nil && k == 1 {
			results = append(results, fmt.Sprintf("subscribers=%d", e.Result.Subscribers))
		}
	}
	for j := 1; j <= k; j++ {
		var payload string
		switch {
		case given && k == 1:
			payload = text[0]
		case given:
			payload = fmt.Sprintf("%s-%d", text[0], j)
		case size > 0:
			payload = ""
		default:
			s.pubs++
			payload = fmt.Sprintf("p%d", s.pubs)
		}
		body := []byte(payload)
		if size > 0 {
			body = s.sizedPayload(size)
		}
		if batch {
			bodies = append(bodies, body)
			continue
		}
		to := topic
		if spread > 0 {
			to = fmt.Sprintf("%s/%d", topic, (j-1)%spread)
		}
		if err := s.publishOne(i, to, body, o, onAnswer); err != nil {
			return "refused: " + s.w.showIDs(err.Error()), nil
		}
	}
	if batch {
		frames := [][][]byte{bodies}
		if !a.has("batch") {
			frames = packedFrames(bodies)
		}
		for _, f := range frames {
			if err := s.w.PublishBatch(i, topic, f, o, onAnswer); err != nil {
				return "refused: " + s.w.showIDs(err.Error()), nil
			}
		}
	}
	if pending := k - answered; pending > 0 {
		results = append(results, fmt.Sprintf("%d waiting (block policy)", pending))
	}
	if len(results) == 0 {
		return "ok", nil
	}
	return "ok " + strings.Join(results, " "), nil
}

// publishEvery schedules k publishes, the first now and one every `every`
// after it; what each one answers is not waited for.
func (s *Script) publishEvery(i int, topic string, k int, every time.Duration, size int, o PublishOptions) string {
	start := s.w.now
	for j := 0; j < k; j++ {
		var body []byte
		if size > 0 {
			body = s.sizedPayload(size)
		} else {
			s.pubs++
			body = []byte(fmt.Sprintf("p%d", s.pubs))
		}
		s.w.at(start+time.Duration(j)*every, func() { s.publishOne(i, topic, body, o, nil) })
	}
	return fmt.Sprintf("ok %d scheduled over %s", k, fmtDur(time.Duration(k-1)*every))
}

// publishOne publishes one message: alone, or packed (Script.Packed) in
// a frame of its own.
func (s *Script) publishOne(i int, topic string, body []byte, o PublishOptions, done func(*state.CompletePublish)) error {
	if s.packed {
		return s.w.PublishBatch(i, topic, [][]byte{body}, o, done)
	}
	return s.w.Publish(i, topic, body, o, done)
}

// packedFrames splits payloads into frames as the Go client's packed
// publisher does: at most 1024 records and 256 KiB a frame, a larger
// payload alone.
func packedFrames(payloads [][]byte) [][][]byte {
	const most, mostBytes = 1024, 256 << 10
	var frames [][][]byte
	start, size := 0, 0
	for j, p := range payloads {
		if j > start && (j-start == most || size+len(p) > mostBytes) {
			frames = append(frames, payloads[start:j])
			start, size = j, 0
		}
		size += len(p)
	}
	return append(frames, payloads[start:])
}

// sizedPayload is a payload of n bytes. Every payload of one size shares
// its bytes (nodes never write to a payload), so a script can publish
// gigabytes that cost the simulator one buffer, the script's own: scripts
// run in parallel.
func (s *Script) sizedPayload(n int) []byte {
	if len(s.big) < n {
		s.big = make([]byte, max(n, 2*len(s.big)))
		for i := range s.big {
			s.big[i] = 'a' + byte(i%26)
		}
	}
	return s.big[:n:n]
}
