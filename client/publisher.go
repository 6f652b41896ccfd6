package client

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/chunks"
	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// Publisher publishes many messages over one stream: Publish only queues,
// a goroutine sends whatever has accumulated as one batch (it never waits
// for more to come), and the daemon's cumulative acknowledgements settle
// each message. Use it for high message rates; Client.Publish makes one
// round trip per message.
//
// The stream is the daemon's PublishPacked when it has it (see
// WithPacked): each batch is one packed frame of up to PublishBatchSize
// messages or 256 KiB, and the Publisher never has more messages in
// flight than the daemon's acknowledgements allow. Otherwise it is
// PublishStream, and on a daemon with neither (one that answers them
// Unimplemented) one Publish call at a time, in order. All behave the
// same to the caller.
//
// Delivery is at most once. If the stream breaks, the messages sent and
// not yet acknowledged may or may not have been published: each is
// reported as failed with ErrUnavailable, and the Publisher opens a new
// stream for what follows. When the Publisher stops instead (its context
// ends, it or its client closes), they fail with that cause, and their
// errors say the same.
type Publisher struct {
	c       *Client
	o       publisherOptions
	ctx     context.Context
	cancel  context.CancelCauseFunc
	release func()
	done    chan struct{} // the sender has stopped

	// valid is the last topic Publish found valid: a run of publishes to
	// one topic checks it once.
	valid atomic.Pointer[string]

	mu       sync.Mutex
	copies   payloadCopies // where Publish copies payloads (not with LendPayloads)
	next     uint64        // the number the next Publish gets (from 1)
	queue    pubQueue      // not yet sent
	cur      *pubStream    // the stream sending now, if any
	settled  uint64        // every message numbered up to this is settled
	failures []PublishFailure
	pending  int           // queued plus sent and unsettled
	closing  bool          // Close was called: no more Publish
	wake     chan struct{} // the sender has work
	askAck   bool          // a caller waits for settlements: the sender asks the daemon to ack
	changed  chan struct{} // closed and replaced whenever something settles
	err      error         // why the publisher stopped, if it did
}

// checkTopic validates a topic to publish to.
func (p *Publisher) checkTopic(topic string) error {
	if v := p.valid.Load(); v != nil && *v == topic {
		return nil
	}
	if err := state.ValidateTopic(topic, maxTopicBytes, maxTopicLevels); err != nil {
		return err
	}
	valid := topic // (a copy: taking topic's address would move it to the heap on every call)
	p.valid.Store(&valid)
	return nil
}

// PublishFailure is one message a Publisher could not publish.
type PublishFailure struct {
	N     uint64 // the number its Publish returned
	Topic string
	Err   error // an *Error: ErrInvalidArgument, ErrLimit, ErrUnavailable...
	// Retry is true when the daemon refused the message for now (a full
	// queue, ErrUnavailable) and says it was not published: publishing it
	// again later may succeed. It is false for a message whose fate is
	// unknown (the stream broke before its acknowledgement).
	Retry bool
}

// PublishErrors lists the messages that failed since the previous Flush.
type PublishErrors struct {
	Failures []PublishFailure
}

func (e *PublishErrors) Error() string {
	if len(e.Failures) == 1 {
		f := e.Failures[0]
		return fmt.Sprintf("nexusd: message %d to %q failed: %v", f.N, f.Topic, f.Err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "nexusd: %d messages failed; first: message %d to %q: %v", len(e.Failures), e.Failures[0].N, e.Failures[0].Topic, e.Failures[0].Err)
	return b.String()
}

// Unwrap lets errors.Is find the kinds of the failures.
func (e *PublishErrors) Unwrap() []error {
	out := make([]error, len(e.Failures))
	for i, f := range e.Failures {
		out[i] = f.Err
	}
	return out
}

type publisherOptions struct {
	batch      int
	maxPending int
	onError    func(PublishFailure)
	lend       bool // keep the caller's payloads instead of copies (LendPayloads)
}

// PublisherOption configures a Publisher.
type PublisherOption func(*publisherOptions) error

// PublishBatchSize sets the most messages sent in one batch (default
// 1024; the daemon takes up to 4096). On PublishPacked a batch is one
// frame, which also ends at 256 KiB.
func PublishBatchSize(n int) PublisherOption {
	return func(o *publisherOptions) error {
		if n < 1 || n > 4096 {
			return fmt.Errorf("batch size %d: want 1 to 4096", n)
		}
		o.batch = n
		return nil
	}
}

// MaxPending sets how many messages may be queued or unacknowledged
// before Publish waits (default 8192).
func MaxPending(n int) PublisherOption {
	return func(o *publisherOptions) error {
		if n < 1 {
			return fmt.Errorf("max pending %d: want 1 or more", n)
		}
		o.maxPending = n
		return nil
	}
}

// LendPayloads makes Publish keep the payload it is given instead of a
// copy: the application lends it until the message is settled (a Flush
// or Close that returns after it, or its PublishFailure), and must not
// change it before then; the Publisher may send it again after a
// reconnection. It saves a copy of each payload. By default Publish
// copies the payload before it returns, so the caller may reuse its
// buffer at once.
func LendPayloads() PublisherOption {
	return func(o *publisherOptions) error { o.lend = true; return nil }
}

// OnPublishError calls f for each message that fails, as soon as its
// failure is known (on the client's handler goroutine).
func OnPublishError(f func(PublishFailure)) PublisherOption {
	return func(o *publisherOptions) error { o.onError = f; return nil }
}

// maxBatchBytes keeps a batch well inside the daemon's 4 MiB message limit.
const maxBatchBytes = 2 << 20

// packedFrameBytes is where a packed frame stops taking messages (a
// larger message goes in a frame of its own): big enough that the
// per-frame costs vanish, small enough that the daemon starts publishing
// the first messages of a burst while the rest are still on the wire.
const packedFrameBytes = 256 << 10

// Publisher starts a stream publisher. It lives until Close, the end of
// ctx, or the client's Close.
func (c *Client) Publisher(ctx context.Context, opts ...PublisherOption) (*Publisher, error) {
	const op = "publisher"
	if err := c.done(op); err != nil {
		return nil, err
	}
	o := publisherOptions{batch: 1024, maxPending: 8192}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, argError(op, "%v", err)
		}
	}
	p := &Publisher{c: c, o: o, next: 1, wake: make(chan struct{}, 1),
		changed: make(chan struct{}), done: make(chan struct{})}
	p.ctx, p.cancel, p.release = c.lifetime(ctx)
	if !c.track() {
		p.release()
		return nil, closedError(op)
	}
	go p.send()
	return p, nil
}

// Publish queues one message and returns its number (1, 2, 3... in
// publish order), which a PublishFailure names if it fails. It waits
// while MaxPending messages are outstanding. A bad topic fails here. The
// payload is copied before Publish returns, unless the Publisher was
// opened with LendPayloads.
func (p *Publisher) Publish(ctx context.Context, topic string, payload []byte, opts ...PublishOption) (uint64, error) {
	const op = "publish"
	if err := p.checkTopic(topic); err != nil {
		return 0, topicError(op, err)
	}
	it := pubItem{topic: topic, payload: payload, opt: publishOpts(opts)}
	p.mu.Lock()
	for {
		if err := p.stoppedLocked(op); err != nil {
			p.mu.Unlock()
			return 0, err
		}
		if p.pending < p.o.maxPending {
			break
		}
		p.wantAckLocked()
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, wrapErr(op, ctx.Err())
		case <-p.ctx.Done():
		}
		p.mu.Lock()
	}
	if !p.o.lend {
		it.payload = p.copies.bytes(payload)
	}
	n := p.next
	p.next++
	it.n = n
	p.queue.push(it)
	p.pending++
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return n, nil
}

// Flush waits until every message published before it is settled, and
// returns the failures since the previous Flush as *PublishErrors.
func (p *Publisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	upTo := p.next - 1
	for p.settled < upTo {
		if p.err != nil {
			break
		}
		p.wantAckLocked()
		changed := p.changed
		p.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return wrapErr("flush", ctx.Err())
		}
		p.mu.Lock()
	}
	var fs []PublishFailure
	keep := p.failures[:0]
	for _, f := range p.failures {
		if f.N <= upTo {
			fs = append(fs, f)
		} else {
			keep = append(keep, f)
		}
	}
	p.failures = keep
	err := p.err
	p.mu.Unlock()
	if len(fs) > 0 {
		return &PublishErrors{Failures: fs}
	}
	return err
}

// Close flushes, ends the stream and returns Flush's result: the
// failures since the previous Flush, those its client's Close caused
// included. After it, Publish and Flush fail with ErrClosed, and Close
// again returns nil.
func (p *Publisher) Close(ctx context.Context) error {
	p.mu.Lock()
	p.closing = true
	p.mu.Unlock()
	err := p.Flush(ctx)
	p.cancel(publisherClosedError("publish"))
	select {
	case <-p.done:
	case <-ctx.Done():
	}
	var failed *PublishErrors
	if !errors.As(err, &failed) && errors.Is(err, ErrClosed) {
		return nil // closed before (the publisher or its client): nothing to report
	}
	return err
}

// wantAckLocked asks the sender to have the daemon ack what it has sent:
// on a PublishPacked stream the daemon acks lazily (packedAcksLazy), and a
// caller now waits for settlements.
func (p *Publisher) wantAckLocked() {
	if p.askAck {
		return
	}
	p.askAck = true
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// stoppedLocked is Publish's error once the publisher cannot take more.
func (p *Publisher) stoppedLocked(op string) error {
	switch {
	case p.closing:
		return publisherClosedError(op)
	case p.err != nil:
		return callErr(op, p.err)
	case p.ctx.Err() != nil:
		return callErr(op, context.Cause(p.ctx))
	}
	return nil
}

// pubStream is one publish stream, PublishPacked or PublishStream, and
// the receiver reading its acks.
type pubStream struct {
	v1     grpc.BidiStreamingClient[sidecarpb.PublishBatch, sidecarpb.PublishAck]
	pk     grpc.BidiStreamingClient[sidecarpb.PackedFrame, sidecarpb.PackedAck] // nil on a PublishStream
	cancel context.CancelFunc
	broken chan struct{} // closed by the receiver when the stream ends
	credit chan struct{} // PublishPacked: signalled when an ack raised the limit

	// Guarded by the Publisher's mu.
	sent  pubQueue           // sent and not yet settled, in stream order
	base  uint64             // stream position of sent[0]
	ahead map[uint64]refusal // failures reported for positions past the settled prefix
	limit uint64             // PublishPacked: positions below it may be sent (the ack window)
	unary context.Context    // neither stream: messages go by unary Publish calls, in this context
	acked bool               // an ack came
	err   error              // why the stream ended, set before broken is closed
}

// refusal is the daemon's answer for one message it did not publish.
type refusal struct {
	err   error
	retry bool
}

// sender is the sender goroutine's reusable state.
type sender struct {
	batch []*sidecarpb.PublishRequest // PublishStream: the requests sent, in reqs
	reqs  []sidecarpb.PublishRequest  // PublishStream: reused for each batch
	items []pubItem                   // PublishPacked: the messages of the frame being built
	bad   []int                       // PublishPacked: the indexes in items of messages no frame can hold
	why   []error
	enc   packed.Encoder
	recs  *[]byte // PublishPacked: the buffer enc's records go into, until it is handed to gRPC with a frame
	frame sidecarpb.PackedFrame
}

// send is the sender goroutine: it opens streams (again, with backoff,
// after one breaks) and sends what is queued as batches.
func (p *Publisher) send() {
	defer p.c.wg.Done()
	var (
		st       *pubStream
		failures int // consecutive failed streams
		sd       sender
	)
	// A frame as large as one call may carry: one message over the
	// daemon's payload limit then gets the daemon's answer by its index,
	// as on PublishStream, rather than a refusal of the whole frame.
	most := max(p.c.o.maxMessageBytes, 64<<20) - 64
	sd.enc.Limits = packed.Limits{MaxFrameBytes: most, MaxPayloadBytes: most}
	defer func() {
		if st != nil {
			st.cancel()
			p.drop(st)
		}
		p.stop(context.Cause(p.ctx))
		p.release()
		close(p.done)
	}()
	for {
		select {
		case <-p.wake:
		case <-p.ctx.Done():
			return
		case <-brokenOf(st):
			// What is queued goes out on a new stream now, without
			// waiting for another Publish.
			p.drop(st)
			st = nil
		}
		for p.queued() {
			if st == nil {
				if failures > 0 && !sleep(p.ctx, p.c.o.backoff.Delay(failures-1)) {
					return
				}
				var err error
				if st, err = p.open(); err != nil {
					failures++
					if max := p.c.o.backoff.MaxRetries; !retryable(err) || (max > 0 && failures >= max) {
						p.stop(err)
						return
					}
					continue
				}
			}
			var err error
			if st.pk != nil {
				var waiting bool
				if waiting, err = p.sendFrame(st, &sd); waiting {
					// The window is used up: wait for an ack to move it.
					select {
					case <-st.credit:
					case <-st.broken:
						p.drop(st)
						st = nil
					case <-p.ctx.Done():
						return
					}
					continue
				}
			} else if st.v1 != nil {
				p.take(st, &sd)
				err = st.v1.Send(&sidecarpb.PublishBatch{Requests: sd.batch})
				for _, r := range sd.batch {
					r.Topic, r.Payload = "", nil // what the next batch does not overwrite is not kept
				}
			} else if p.c.offered(&p.c.noStream) {
				// Another daemon run answers now, which may have the
				// streams: ask again.
				p.drop(st)
				st = nil
				continue
			} else {
				p.publishOne(st, &sd)
			}
			if err != nil {
				// The receiver sees the same end; what it did not settle
				// fails here (or, refused as Unimplemented, goes again on
				// PublishStream).
				if !p.drop(st) {
					failures++
				}
				st = nil
				continue
			}
			failures = 0
		}
		if st != nil && st.pk != nil && p.takeAskAck(st) {
			if err := p.askForAck(st, &sd); err != nil {
				p.drop(st)
				st = nil
			}
		}
	}
}

// queued reports whether messages wait to be sent.
func (p *Publisher) queued() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.queue.len() > 0
}

// brokenOf is a stream's end, or nothing when there is no stream.
func brokenOf(st *pubStream) <-chan struct{} {
	if st == nil {
		return nil
	}
	return st.broken
}

// open opens a PublishPacked stream, or a PublishStream when packed frames
// are off or the daemon lacks them, and starts its receiver; on a daemon
// without PublishStream either, a stream of unary Publish calls
// (publishOne), which needs no receiver.
func (p *Publisher) open() (*pubStream, error) {
	ctx, cancel := context.WithCancel(p.ctx)
	st := &pubStream{cancel: cancel, broken: make(chan struct{}), ahead: map[uint64]refusal{}}
	var err error
	switch {
	case p.c.usePacked():
		st.pk, err = p.c.api.PublishPacked(metadata.AppendToOutgoingContext(ctx, packedAcksHeader, packedAcksLazy), grpc.WaitForReady(true))
		st.credit, st.limit = make(chan struct{}, 1), packed.InitialWindow
	case p.c.offered(&p.c.noStream):
		st.v1, err = p.c.api.PublishStream(ctx, grpc.WaitForReady(true))
	default:
		st.unary = ctx
		p.mu.Lock()
		p.cur = st
		p.mu.Unlock()
		return st, nil
	}
	if err != nil {
		cancel()
		return nil, err
	}
	p.mu.Lock()
	p.cur = st
	p.mu.Unlock()
	go p.receive(st)
	return st, nil
}

// receiverGrace is how long a stream whose Send failed may still take to
// end (its Recv then reports why, and any last acks). gRPC can fail a Send
// with io.EOF on a stream whose Recv never ends (a transparent retry under
// way when the connection broke); past this the stream is cancelled.
const receiverGrace = time.Second

// drop ends a broken stream and its receiver and fails what the stream
// sent and never settled: it may or may not have been published. A
// stream the daemon refused as Unimplemented published nothing: its
// messages go back to the head of the queue, for PublishStream (after
// PublishPacked) or unary calls (after PublishStream), and drop reports
// true.
func (p *Publisher) drop(st *pubStream) (fellBack bool) {
	if st.unary != nil {
		close(st.broken)
	}
	grace := time.NewTimer(receiverGrace)
	select {
	case <-st.broken:
	case <-grace.C:
		st.cancel()
		<-st.broken
	}
	grace.Stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	if st.unary == nil && !st.acked && status.Code(st.err) == codes.Unimplemented && p.ctx.Err() == nil {
		if st.pk != nil {
			p.c.packedUnimplemented("PublishPacked")
		} else {
			p.c.streamUnimplemented()
		}
		p.queue.prepend(st.sent.all())
		fellBack = true
	} else {
		err := callErr("publish", status.Error(codes.Unavailable, "the publish stream broke before the daemon acknowledged this message: it may or may not have been published"))
		if p.ctx.Err() != nil {
			err = unsettledError("publish", context.Cause(p.ctx))
		}
		for i := range st.sent.all() {
			p.failLocked(&st.sent.all()[i], refusal{err: err})
		}
	}
	st.sent.reset()
	if p.cur == st {
		p.cur = nil
	}
	p.settledLocked()
	return fellBack
}

// take moves up to a batch of queued messages to the stream's sent list
// and makes their requests, sd.batch.
func (p *Publisher) take(st *pubStream, sd *sender) {
	p.mu.Lock()
	defer p.mu.Unlock()
	bytes, n := 0, 0
	queued := p.queue.all()
	for n < len(queued) && n < p.o.batch {
		size := len(queued[n].payload) + len(queued[n].topic) + 64
		if n > 0 && bytes+size > maxBatchBytes {
			break
		}
		bytes += size
		n++
	}
	if len(sd.reqs) < n {
		sd.reqs = make([]sidecarpb.PublishRequest, max(n, p.o.batch))
		sd.batch = make([]*sidecarpb.PublishRequest, 0, len(sd.reqs))
	}
	sd.batch = sd.batch[:0]
	for i := range queued[:n] {
		queued[i].fill(&sd.reqs[i])
		sd.batch = append(sd.batch, &sd.reqs[i])
		st.sent.push(queued[i])
	}
	p.queue.drop(n)
}

// publishOne publishes the first queued message by a unary Publish call,
// on a daemon without PublishStream, and settles it with the answer: one
// call at a time keeps the messages in order. A call that fails fails its
// message; whether a broken call published it is unknown, so no failure
// here is one to retry.
func (p *Publisher) publishOne(st *pubStream, sd *sender) {
	p.mu.Lock()
	if p.queue.len() == 0 {
		p.mu.Unlock()
		return
	}
	it := *p.queue.first()
	p.queue.drop(1)
	st.sent.push(it)
	p.mu.Unlock()
	if len(sd.reqs) == 0 {
		sd.reqs = make([]sidecarpb.PublishRequest, 1)
	}
	req := &sd.reqs[0]
	it.fill(req)
	_, err := p.c.api.Publish(st.unary, req, grpc.WaitForReady(true))
	req.Topic, req.Payload = "", nil
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		err = callErr("publish", err)
		if p.ctx.Err() != nil {
			err = unsettledError("publish", context.Cause(p.ctx))
		}
		p.failLocked(st.sent.first(), refusal{err: err})
	}
	st.sent.drop(1)
	st.base++
	p.settledLocked()
}

// receive reads a stream's acks and settles messages as they come.
func (p *Publisher) receive(st *pubStream) {
	defer close(st.broken)
	// The daemon sends its header at once; it names the run whose answer
	// (an Unimplemented for PublishPacked, say) the client remembers.
	var hdr metadata.MD
	if st.pk != nil {
		hdr, _ = st.pk.Header()
	} else {
		hdr, _ = st.v1.Header()
	}
	p.c.noteServer(hdr)
	var err error
	if st.pk != nil {
		err = p.receivePacked(st)
	} else {
		err = p.receiveV1(st)
	}
	p.mu.Lock()
	st.err = err
	p.mu.Unlock()
}

// receiveV1 reads PublishStream's acks.
func (p *Publisher) receiveV1(st *pubStream) error {
	for {
		ack, err := st.v1.Recv()
		if err != nil {
			return err
		}
		p.mu.Lock()
		st.acked = true
		for _, f := range ack.GetFailures() {
			st.ahead[f.GetIndex()] = failureError(f)
		}
		p.settleLocked(st, ack.GetAccepted())
		p.mu.Unlock()
	}
}

// settleLocked settles the messages of st below stream position accepted:
// published, or failed as an ack said.
func (p *Publisher) settleLocked(st *pubStream, accepted uint64) {
	for st.base < accepted && st.sent.len() > 0 {
		if r, failed := st.ahead[st.base]; failed {
			delete(st.ahead, st.base)
			p.failLocked(st.sent.first(), r)
		}
		st.sent.drop(1)
		st.base++
	}
	p.settledLocked()
}

// failLocked records one failed message (pending is the caller's).
func (p *Publisher) failLocked(it *pubItem, r refusal) {
	f := PublishFailure{N: it.n, Topic: it.topic, Err: r.err, Retry: r.retry}
	p.failures = append(p.failures, f)
	if h := p.o.onError; h != nil {
		p.c.events.post(func() { h(f) })
	}
}

// settledLocked recomputes what is settled and wakes waiters. Messages
// settle in order: those on the stream first, then the queue.
func (p *Publisher) settledLocked() {
	p.pending = p.queue.len()
	p.settled = p.next - 1
	if p.queue.len() > 0 {
		p.settled = p.queue.first().n - 1
	}
	if st := p.cur; st != nil && st.sent.len() > 0 {
		p.pending += st.sent.len()
		p.settled = st.sent.first().n - 1
	}
	close(p.changed)
	p.changed = make(chan struct{})
}

// stop ends the publisher for err: queued messages fail with it.
func (p *Publisher) stop(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil && err != nil {
		p.err = callErr("publish", err)
	}
	if p.err == nil {
		p.err = closedError("publish")
	}
	for i := range p.queue.all() {
		p.failLocked(&p.queue.all()[i], refusal{err: p.err})
	}
	p.queue.reset()
	p.settledLocked()
}

// failureError is the daemon's answer for one PublishFailure of
// PublishStream, which names its code ("RESOURCE_EXHAUSTED").
func failureError(f *sidecarpb.PublishFailure) refusal {
	var code codes.Code
	if err := code.UnmarshalJSON([]byte(`"` + f.GetCode() + `"`)); err != nil {
		code = codes.Unknown
	}
	// PublishStream has no retry flag; the daemon refuses for now, and
	// publishes nothing, with UNAVAILABLE (as PublishPacked sets retry).
	return refusal{err: wrapErr("publish", status.Error(code, f.GetErrorMessage())), retry: code == codes.Unavailable}
}

// payloadCopies copies small payloads many to one allocation, as a frame
// of them would hold them anyway; a chunk is freed once every message
// copied into it is settled. A payload over copyChunkMax gets an
// allocation of its own.
type payloadCopies struct{ chunk []byte }

const (
	copyChunkBytes = 16 << 10
	copyChunkMax   = 1 << 10
)

// bytes returns a copy of b (nil when b is empty), its capacity ending
// with it.
func (c *payloadCopies) bytes(b []byte) []byte {
	return chunks.Copy(&c.chunk, b, copyChunkBytes, copyChunkMax)
}
