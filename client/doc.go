// Package client is the Go client library for NexusD: an application uses
// it to publish and subscribe through its own nexusd daemon (the sidecar
// API, proto/sidecar.proto) without touching gRPC or the generated proto.
//
//	c, err := client.Dial(ctx, "127.0.0.1:5672")
//	if err != nil { ... }
//	defer c.Close()
//	sub, err := c.Subscribe(ctx, []string{"sensors/#"})
//	go func() {
//		for m := range sub.C() {
//			fmt.Printf("%s: %s\n", m.Topic, m.Payload)
//		}
//	}()
//	res, err := c.Publish(ctx, "sensors/kitchen/temp", []byte("21.5"))
//
// # Address and security
//
// The address is the daemon's sidecar: host:port (its --app-port, 5672 by
// default) or, for a daemon started with --app-socket, its Unix socket as
// unix:///path/to/socket (unix:relative/path works too). The socket is
// the way beside an application, on the same host or through a volume the
// containers of a pod share: nothing listens on the network, and the
// socket's file mode and owner say who may connect.
//
//	c, err := client.Dial(ctx, "unix:///run/nexusd/app.sock")
//
// A daemon whose sidecar serves TLS (--app-tls-cert) is dialed with
// WithTLSFiles (PEM files: the CA to verify the daemon, and a client
// certificate and key when the daemon requires them with --app-tls-ca) or
// WithTLS (a *tls.Config). The certificate must name the host dialed (or
// TLSFiles.ServerName). TLS is for the TCP port only: a socket is
// plaintext, and Dial refuses TLS with a unix address. A daemon started
// with --app-token wants WithToken, over either transport.
//
//	c, err := client.Dial(ctx, "10.0.0.5:5672", client.WithTLSFiles(client.TLSFiles{
//		CA: "/etc/nexusd/ca.pem", Cert: "/etc/app/tls.crt", Key: "/etc/app/tls.key"}))
//
// # Resilience
//
// The client keeps one gRPC connection and reconnects it with exponential
// backoff and jitter (100 ms, doubling, up to 30 s, ±10 %, unlimited by
// default; see WithBackoff and WithMaxRetries). Its state (connected,
// disconnected, reconnecting, failed, closed) is reported to the handler
// given with WithStateHandler.
//
// A Subscription outlives its stream. When the stream breaks (a dropped
// connection, a daemon restart), the subscription reconnects with the same
// backoff and resumes: first by its subscription id (the daemon still holds
// it when only the stream went away unnoticed), then, if the daemon no
// longer knows it, by its topics, with the last sequence number it received
// per topic, so the daemon replays from its ring whatever it still holds.
// Whatever cannot be recovered is reported, never skipped silently: gaps the
// daemon reports, and holes the client sees in the per-topic sequence
// numbers, reach the gap handler (WithGapHandler, OnGap) with the topic and
// the expected and received sequence numbers. A daemon that restarted
// numbers its topics from 1 again; the client recognises it by the
// nexusd-instance header of its answers and reports a gap of unknown size
// for every topic it had numbers for, instead of silently starting over.
//
// Messages reach the application through a channel (Subscription.C), an
// iterator (Subscription.Messages) or one at a time (Subscription.Next).
// The channel is bounded: an application that reads slowly stops the client
// reading its stream, so the daemon queues the messages and applies the
// subscription's backpressure policy (drop-oldest, drop-newest or block),
// reporting what it dropped to the backpressure handler.
//
// # Packed frames
//
// By default (WithPacked(true)) a Publisher and every subscription use the
// daemon's packed-frame calls, PublishPacked and SubscribePacked
// (docs/packed.md): many messages travel as one byte string, with message
// ids derived from the sending daemon instead of carried as UUID strings,
// so both sides spend far less per message. Nothing changes for the
// application: message numbers, failures by number (PublishErrors,
// OnPublishError), MaxPending, Flush and Close; ordering, gaps, resume
// from the last sequence numbers, Pause and Resume, and backpressure
// warnings are the same on either path. The Publisher sends whatever has
// accumulated as one frame (up to PublishBatchSize messages or 256 KiB),
// without waiting for more, and never has more in flight than the
// daemon's acknowledgements allow. It asks the daemon for lazy
// acknowledgements (every 1024 messages, on a failure, or when asked),
// so at low rates a frame costs no acknowledgement of its own; Flush,
// Close and a Publish held by MaxPending ask for one.
//
// A daemon without these calls answers Unimplemented. The client then
// uses PublishStream, Subscribe and ResumeSubscribe, resending on
// PublishStream whatever the refused stream carried (none of it was
// published), and keeps to them until the daemon restarts (a new instance
// id: perhaps a newer version). On a daemon without PublishStream either
// (one with only the base calls), a Publisher sends its messages by unary
// Publish calls, one at a time and in order. A frame the client cannot read ends its
// stream and moves that daemon run to the v1 calls too; the subscription
// resumes from its last sequence numbers and loses nothing the daemon
// still holds. WithPacked(false) always uses the v1 calls.
//
// A packed subscription stream holds more messages in flight than a v1
// one (the daemon lends it a window of two frames, and the client holds
// the frame it is delivering), so a slow reader fills the daemon's queue
// later, and its backpressure policy applies later, than with the v1
// calls.
//
// # One stream for every subscription
//
// By default (WithSession(true), with packed frames on) all of a Client's
// subscriptions share one Session stream to the daemon, opened at the
// first Subscribe (docs/protocol.md §13.11): a subscription then costs
// the daemon about a kilobyte of state instead of a stream of its own
// (some 15 KB). Each
// still has its own credit: the daemon sends it a window of live
// messages ahead (1024 at first, then about 2 MiB of them, from 1024 to
// 8192 messages), and the client gives it more, half the window at a
// time, as the application takes them; so a subscription whose application reads
// slowly fills its own queue in the daemon, where its backpressure policy
// applies, and never holds up the others. Replayed and retained messages
// are not counted against the credit. Pause, Resume, Unsubscribe,
// ordering, gaps, resume after a break and backpressure warnings behave
// as on a stream of their own; when the session breaks, every
// subscription on it resumes from its last sequence numbers on a new one.
// A daemon without Session answers Unimplemented, and the client gives
// each subscription its own packed stream on that daemon run;
// WithSession(false) always does.
//
// Messages decoded from one frame share memory: their payloads are
// slices of the frame, and their ids and correlation ids substrings of
// one string per frame. Keeping any one keeps that memory reachable (a
// frame is at most 256 KiB unless a single message is larger); copy what
// you keep for long, as you would any slice of a larger buffer.
//
// # Borrowed messages
//
// A subscription opened with BorrowPayloads borrows the live messages of
// packed frames instead of owning them: a message and its Payload are
// valid until the application calls Release, after which the client
// reuses them for a later frame. The payload then stays in the buffer
// gRPC received the frame into (no copy), and receiving allocates nothing
// per message or per frame. A frame's memory is reused only once every
// message of it is released; a message never released is collected with
// its frame, so forgetting Release costs the reuse and nothing else.
// Release may be called from any goroutine, and does nothing on a message
// that was not lent (retained, replayed or v1 ones), so a reader may
// release every message it takes:
//
//	sub, err := c.Subscribe(ctx, []string{"sensors/#"}, client.BorrowPayloads())
//	for m := range sub.C() {
//		process(m.Payload) // copies what it keeps
//		m.Release()
//	}
//
// Publishing is the other way round: a Publisher copies each payload
// before Publish returns, so the caller may reuse its buffer at once. One
// opened with LendPayloads keeps the caller's bytes instead, until the
// message is settled (a later Flush or Close returns, or its failure is
// reported), and the caller must leave them alone until then.
//
// # Request/reply
//
// Request publishes a request and returns the first reply; Reply answers
// a request a subscription received (docs/protocol.md §4.6):
//
//	// The responder, on any daemon of the mesh:
//	sub, err := c.Subscribe(ctx, []string{"time/now"})
//	for m := range sub.C() {
//		c.Reply(ctx, m, []byte(time.Now().Format(time.Kitchen)))
//	}
//
//	// The requester:
//	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
//	defer cancel()
//	reply, err := c.Request(ctx, "time/now", nil)
//
// The reply address (Message.ReplyTo) is an inbox topic,
// "_inbox/<daemon instance id>/...": the daemons push a message on it
// straight to the daemon it names, so a reply needs no gossip of the
// requester's subscription. The client opens one inbox subscription at
// its first Request, under its daemon's instance id, and again when the
// daemon restarts. Request fails at once with ErrNoResponders when the
// daemon routed the request to no one, and with ctx's error when ctx ends
// first. Requests may run from many goroutines at once.
//
// # Queue groups
//
// QueueGroup(name) makes a subscription a member of a queue group, as in
// NATS but with no broker (docs/protocol.md §4.5): among all live members
// of the group across the mesh whose patterns match a message, exactly
// one receives it, chosen by the publisher's daemon round robin over the
// members, its own and each peer's. A member's sequence numbers count its
// share only, so they run without false gaps; a loss in the mesh still
// shows as a gap. A paused member is no candidate, and on Resume replays
// nothing: what was published meanwhile went to the other members. When a
// member's daemon restarts, the client subscribes it to the group again.
// Delivery is at most once: what was chosen for a member whose daemon
// died on the way is not given to another.
//
//	work, err := c.Subscribe(ctx, []string{"jobs/#"}, client.QueueGroup("workers"))
//
// # Errors
//
// Every error from the daemon wraps its gRPC status (status.FromError works
// on it) and matches one of the kinds with errors.Is: ErrInvalidArgument (and
// ErrInvalidTopic for a bad topic or pattern), ErrNotFound, ErrUnavailable,
// ErrLimit, ErrUnauthenticated; ErrClosed after Close. ErrNoResponders is
// the client's own, for a Request nothing subscribes to.
//
// # What it may not do
//
// The client talks to one daemon, its own, over the sidecar API only; it
// never speaks the mesh protocol. It validates topics with the core's own
// rules (package state) but holds no protocol state beyond what a
// subscription needs to resume. Discover listens to discovery beacons and
// sends nothing.
package client
