package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/experimental"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/bufpool"
	"github.com/nexusd/nexusd/internal/sockbuf"
	"github.com/nexusd/nexusd/internal/vtcodec"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// buffers is the gRPC buffer pool of every client in the process: gRPC's
// default clears each buffer it recycles (see internal/bufpool).
var buffers = bufpool.New()

// Transport sizes (netshell/grpc.go says why for the daemon's): 16 MiB
// stream and connection windows, fixed, so a subscription's batches and a
// publisher's frames are not held to gRPC's 64 KiB opening window while it
// measures the link; a 1 MiB read buffer, which gRPC lends from a pool
// only while there are bytes to read (and only on a connection without
// TLS), and a 1 MiB write buffer, which the connection keeps while it is
// open. (The daemon writes from gRPC's default 32 KiB; an application's
// writes measured the same with either.) WithGRPCOptions can override
// each.
const (
	transportWindowBytes = 16 << 20
	transportBufferBytes = 1 << 20
	socketBufferBytes    = 4 << 20 // a Unix socket's send and receive buffers (see dialTarget)
)

// instanceHeader names the daemon run that answered a call; the daemon
// sends it with every sidecar answer.
const instanceHeader = "nexusd-instance"

// Client is a connection to one nexusd daemon. It is safe for concurrent
// use; Close ends it and everything opened on it.
type Client struct {
	addr   string
	o      options
	log    *slog.Logger
	conn   *grpc.ClientConn
	api    sidecarpb.SidecarServiceClient
	health healthpb.HealthClient

	ctx    context.Context         // ends at Close or when reconnection gives up
	cancel context.CancelCauseFunc // its cause is what calls then return

	state    *stateBox
	events   *dispatcher
	attempts atomic.Int64 // connection attempts since the connection was last up
	lastErr  atomic.Pointer[error]
	serverID atomic.Pointer[string]
	// noPacked is the instance id of the daemon run ("" when it named
	// none) that answered a packed RPC with Unimplemented; nil until one
	// did. See usePacked.
	noPacked atomic.Pointer[string]
	// noStream is noPacked for PublishStream: a daemon run without it
	// takes a Publisher's messages by unary Publish calls.
	noStream atomic.Pointer[string]
	noHold   atomic.Bool // the codec in use cannot decode in place (holdFrames)

	closeOnce sync.Once
	mu        sync.Mutex
	closed    bool                       // Close has begun: nothing new may start; guarded by mu
	subs      map[*Subscription]struct{} // running subscriptions; guarded by mu
	requests  requester                  // the inbox of Request (request.go)
	sessions  sessions                   // the Session its subscriptions share (session.go)
	wg        sync.WaitGroup             // the watcher, subscriptions and publishers
}

// Dial connects to the daemon's sidecar at addr ("127.0.0.1:5672", or
// "unix:///run/nexusd/app.sock" for its --app-socket) and waits until the connection is up, ctx ends, or the dial timeout passes
// (WithDialTimeout; WithLazyConnect does not wait). The client then keeps
// the connection up, reconnecting as its backoff says, until Close.
func Dial(ctx context.Context, addr string, opts ...Option) (*Client, error) {
	o := defaultOptions()
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, argError("dial", "%v", err)
		}
	}
	if err := checkAddr(addr); err != nil {
		return nil, argError("dial", "%v", err)
	}
	if network, _ := splitTarget(addr); network == "unix" && o.tls != nil {
		return nil, argError("dial", "%s: the daemon's socket is plaintext, guarded by its file mode; TLS is for its TCP port: dial without WithTLS", addr)
	}
	c := &Client{addr: addr, o: o, log: o.logger, state: newStateBox(), events: newDispatcher()}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.ctx, c.cancel = context.WithCancelCause(context.Background())
	b := o.backoff
	creds := insecure.NewCredentials()
	if o.tls != nil {
		creds = handshakeReporter{credentials.NewTLS(o.tls), c}
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(c.dial),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: b.Initial, Multiplier: b.Multiplier, Jitter: b.Jitter, MaxDelay: b.Max},
			MinConnectTimeout: o.minConnectTimeout,
		}),
		grpc.WithIdleTimeout(0), // stay connected: subscriptions and state reports need it
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: o.keepaliveTime, Timeout: o.keepaliveTimeout, PermitWithoutStream: true}),
		// Sends up to what the daemon reads (64 MiB), so a payload over its
		// --max-payload gets the daemon's answer naming the flag.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(o.maxMessageBytes), grpc.MaxCallSendMsgSize(max(o.maxMessageBytes, 64<<20))),
		grpc.WithChainUnaryInterceptor(c.unaryInterceptor),
		grpc.WithChainStreamInterceptor(c.streamInterceptor),
		grpc.WithUserAgent("nexusd-go-client"),
		experimental.WithBufferPool(buffers),
		grpc.WithInitialWindowSize(transportWindowBytes),
		grpc.WithInitialConnWindowSize(transportWindowBytes),
		grpc.WithReadBufferSize(transportBufferBytes),
		grpc.WithWriteBufferSize(transportBufferBytes),
	}
	conn, err := grpc.NewClient(addr, append(dial, o.grpcOptions...)...)
	if err != nil {
		c.events.close()
		return nil, argError("dial", "%v", err)
	}
	c.conn, c.api, c.health = conn, sidecarpb.NewSidecarServiceClient(conn), healthpb.NewHealthClient(conn)
	conn.Connect()
	c.wg.Add(1)
	go c.watch()
	if o.lazy {
		return c, nil
	}
	if _, hasDeadline := ctx.Deadline(); !hasDeadline {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.dialTimeout)
		defer cancel()
	}
	if o.failFast {
		if err := c.tryOnce(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.waitConnected(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Addr is the address the client was dialed with.
func (c *Client) Addr() string { return c.addr }

// State is the connection's state now.
func (c *Client) State() State {
	s, _ := c.state.get()
	return s
}

// ServerID is the instance id of the daemon that answered last ("" until
// one has answered). It changes when the daemon restarts.
func (c *Client) ServerID() string {
	if p := c.serverID.Load(); p != nil {
		return *p
	}
	return ""
}

// Close ends every subscription and publisher opened on the client and
// the connection. Handlers already queued still run, after Close returns.
// It is safe to call more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		subs := slices.Collect(maps.Keys(c.subs))
		c.mu.Unlock()
		c.unsubscribeAll(subs)
		c.cancel(closedError(""))
		c.conn.Close()
		c.wg.Wait()
		c.setState(StateClosed, 0, nil)
		c.events.close()
	})
	return nil
}

// unsubscribeAll tells the daemon, while the connection is still up, that
// subs are over: it would otherwise keep each for its resume window,
// taking the connection's end for a break. Best effort, 500 ms in all.
func (c *Client) unsubscribeAll(subs []*Subscription) {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	var wg sync.WaitGroup
	for _, s := range subs {
		wg.Go(func() { s.leave(ctx) })
	}
	wg.Wait()
}

// track counts a goroutine Close must wait for; false once Close began.
func (c *Client) track() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.wg.Add(1)
	return true
}

// waitConnected waits until the state is StateConnected.
func (c *Client) waitConnected(ctx context.Context) error {
	for {
		s, changed := c.state.get()
		switch s {
		case StateConnected:
			return nil
		case StateFailed, StateClosed:
			return callErr("dial", context.Cause(c.ctx))
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return c.unreachable(ctx.Err())
		}
	}
}

// tryOnce connects to the address once and lets go (WithFailFast): an
// answer that no daemon is there is Dial's error at once.
func (c *Client) tryOnce(ctx context.Context) error {
	network, address := splitTarget(c.addr)
	conn, err := (&net.Dialer{}).DialContext(ctx, network, address)
	if err == nil {
		conn.Close()
		return nil
	}
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns) && dns.IsNotFound:
		err = fmt.Errorf("unknown host %q", dns.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		err = errors.New("connection refused: no daemon listens there (its sidecar port is --app-port, 5672 by default)")
	case errors.Is(err, syscall.ENOENT):
		err = errors.New("no such socket: no daemon serves it (its socket is --app-socket)")
	case ctx.Err() != nil:
		return nil // no answer either way: waitConnected says so
	}
	c.lastErr.Store(&err)
	return c.unreachable(err)
}

// unreachable is Dial's error when the daemon did not answer in time.
func (c *Client) unreachable(ctxErr error) error {
	msg := fmt.Sprintf("cannot connect to %s", c.addr)
	var op *net.OpError
	switch p := c.lastErr.Load(); {
	case p != nil && errors.As(*p, &op):
		msg += ": " + op.Err.Error() // without "dial tcp <addr>", said already
	case p != nil:
		msg += ": " + (*p).Error()
	default:
		msg += ": " + ctxErr.Error()
	}
	return wrapErr("dial", &Error{Kind: ErrUnavailable, Status: statusUnavailable(msg), Err: ctxErr})
}

// dial makes every connection attempt, so the client can count them,
// report them, and give up after MaxRetries.
func (c *Client) dial(ctx context.Context, addr string) (net.Conn, error) {
	n := int(c.attempts.Add(1))
	max := c.o.backoff.MaxRetries
	if max > 0 && n > max {
		err := fmt.Errorf("gave up after %d attempts", max)
		c.giveUp(err)
		return nil, err
	}
	switch s, _ := c.state.get(); s {
	case StateConnecting:
	case StateConnected:
		// The attempt came before the watcher saw the loss.
		c.setState(StateDisconnected, 0, nil)
		fallthrough
	default:
		c.setState(StateReconnecting, n, c.loadLastErr())
	}
	conn, err := dialTarget(ctx, addr)
	if err != nil {
		c.lastErr.Store(&err)
		c.log.Debug("nexusd: connection attempt failed", "addr", addr, "attempt", n, "err", err)
		if max > 0 && n >= max {
			c.giveUp(err)
		}
		return nil, err
	}
	noAnswer := errNoAnswer
	c.lastErr.Store(&noAnswer) // until the connection is up, or the TLS handshake says more
	return conn, nil
}

// dialTarget connects to what gRPC hands the client's dialer (see
// splitTarget). A Unix socket connection gets socketBufferBytes both ways,
// as the daemon's side does: the default holds less than a packed frame,
// and a batch stream should not wait on the reader at each. Best effort:
// past net.core.{w,r}mem_max only with CAP_NET_ADMIN. TCP is left as the
// system makes it.
func dialTarget(ctx context.Context, addr string) (net.Conn, error) {
	network, address := splitTarget(addr)
	conn, err := (&net.Dialer{}).DialContext(ctx, network, address)
	if u, ok := conn.(*net.UnixConn); ok && err == nil {
		_ = sockbuf.Grow(u, socketBufferBytes)
	}
	return conn, err
}

func (c *Client) loadLastErr() error {
	if p := c.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// watch follows the gRPC connection's state: it reports losing and
// regaining the connection, and brings an idle connection back at once.
func (c *Client) watch() {
	defer c.wg.Done()
	for st := c.conn.GetState(); ; st = c.conn.GetState() {
		switch st {
		case connectivity.Ready:
			c.attempts.Store(0)
			c.lastErr.Store(nil)
			c.setState(StateConnected, 0, nil)
		case connectivity.Idle:
			c.lost()
			c.conn.Connect()
		case connectivity.TransientFailure:
			c.lost()
		case connectivity.Shutdown:
			return
		}
		if !c.conn.WaitForStateChange(c.ctx, st) {
			if s, _ := c.state.get(); s == StateFailed {
				c.conn.Close() // stop the attempts; Close may follow
			}
			return
		}
	}
}

// lost reports a connection that was up and is not any more.
func (c *Client) lost() {
	if s, _ := c.state.get(); s == StateConnected {
		c.setState(StateDisconnected, 0, c.loadLastErr())
		c.log.Info("nexusd: connection lost; reconnecting", "addr", c.addr)
	}
}

// giveUp ends the client after MaxRetries failed attempts: every call and
// subscription ends with ErrUnavailable.
func (c *Client) giveUp(cause error) {
	if c.ctx.Err() != nil {
		return
	}
	c.log.Warn("nexusd: giving up reconnecting", "addr", c.addr, "err", cause)
	c.setState(StateFailed, int(c.attempts.Load()), cause)
	c.cancel(failedError("", cause)) // the watcher then closes the connection
}

// setState changes the state and queues the handler's report.
func (c *Client) setState(s State, attempt int, err error) {
	prev, ok := c.state.set(s)
	if !ok {
		return
	}
	if h := c.o.stateHandler; h != nil {
		ch := StateChange{From: prev, To: s, Attempt: attempt, Err: err, Time: time.Now()}
		c.events.post(func() { h(ch) })
	}
}

// done reports why the client can no longer be used, as op's error.
func (c *Client) done(op string) error {
	if c.ctx.Err() == nil {
		return nil
	}
	return callErr(op, context.Cause(c.ctx))
}

// callErr is op's error for err, the client's own end preferred.
func callErr(op string, err error) error {
	var e *Error
	if errors.As(err, &e) {
		cp := *e
		cp.Op = op
		return &cp
	}
	return wrapErr(op, err)
}

// finish is the error of a failed call: the client's end when it ended,
// the daemon's answer otherwise.
func (c *Client) finish(op string, err error) error {
	if err == nil {
		return nil
	}
	if d := c.done(op); d != nil {
		return d
	}
	return wrapErr(op, err)
}

// withToken adds the bearer token, if any, to an outgoing call.
func (c *Client) withToken(ctx context.Context) context.Context {
	if c.o.token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+c.o.token)
}

func (c *Client) unaryInterceptor(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	var hdr metadata.MD
	err := invoker(c.withToken(ctx), method, req, reply, cc, append(opts, grpc.Header(&hdr))...)
	c.noteServer(hdr)
	return err
}

func (c *Client) streamInterceptor(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(c.withToken(ctx), desc, cc, method, opts...)
}

// noteServer records the daemon instance named in a response header and
// returns it ("" when the header has none).
func (c *Client) noteServer(hdr metadata.MD) string {
	ids := hdr.Get(instanceHeader)
	if len(ids) == 0 || ids[0] == "" {
		return ""
	}
	id := ids[0]
	if p := c.serverID.Load(); p == nil || *p != id {
		c.serverID.Store(&id)
	}
	return id
}

// lifetime is a context for something opened on the client: it ends when
// ctx ends or the client closes or fails. stop releases it.
func (c *Client) lifetime(ctx context.Context) (context.Context, context.CancelCauseFunc, func()) {
	life, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(c.ctx, func() { cancel(context.Cause(c.ctx)) })
	return life, cancel, func() { stop(); cancel(nil) }
}

// usePacked reports whether the next stream should try the packed RPCs:
// WithPacked is on, and the daemon run that answered last has not said it
// lacks them. A daemon that restarts (a new instance id, perhaps a new
// version) is asked again, once.
func (c *Client) usePacked() bool {
	return c.o.packed && c.offered(&c.noPacked)
}

// offered reports whether the daemon run that answered last has not said
// it lacks an extension: no holds the instance id of the run that did ("",
// a run not yet named), nil if none did.
func (c *Client) offered(no *atomic.Pointer[string]) bool {
	p := no.Load()
	if p == nil {
		return true
	}
	id := c.ServerID()
	if *p == "" && id != "" {
		// The refusal came before any answer named the daemon run (gRPC
		// sends no header with it): it was this run's, the first named.
		no.CompareAndSwap(p, &id)
		return false
	}
	return *p != id
}

// holdFrames reports whether received frames may be decoded in place
// (borrow.go): the process's codec is internal/vtcodec's, and no call has
// found otherwise (a codec forced on the client's calls).
func (c *Client) holdFrames() bool { return vtcodec.Active() && !c.noHold.Load() }

// heldFailed notes a call that could not decode in place, if err says so:
// the calls that follow decode as any gRPC client does.
func (c *Client) heldFailed(err error) {
	if status.Code(err) == codes.Internal && strings.Contains(err.Error(), "unmarshal") && !c.noHold.Swap(true) {
		c.log.Warn("nexusd: the gRPC codec in use cannot decode frames in place; receiving as usual", "addr", c.addr, "err", err)
	}
}

// packedUnreadable stops using the packed RPCs on the daemon run answering
// now, whose frame this client could not read (err says why): the v1
// calls carry the same messages.
func (c *Client) packedUnreadable(err error) {
	id := c.ServerID()
	c.noPacked.Store(&id)
	c.log.Warn("nexusd: the daemon sent a packed frame the client cannot read; using the v1 calls", "addr", c.addr, "err", err)
}

// streamUnimplemented remembers that the daemon run answering now lacks
// PublishStream.
func (c *Client) streamUnimplemented() {
	id := c.ServerID()
	if p := c.noStream.Swap(&id); p == nil || *p != id {
		c.log.Info("nexusd: the daemon has no PublishStream; publishing one Publish call at a time", "addr", c.addr)
	}
}

// packedUnimplemented remembers that the daemon run answering now lacks
// the packed RPCs.
func (c *Client) packedUnimplemented(rpc string) {
	id := c.ServerID()
	if p := c.noPacked.Swap(&id); p == nil || *p != id {
		c.log.Info("nexusd: the daemon has no "+rpc+"; using the v1 calls", "addr", c.addr)
	}
}
