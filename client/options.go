package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"
)

// Backoff is how the client waits between reconnection attempts, of its
// connection and of each subscription's stream: the n-th retry (from 0)
// waits min(Initial * Multiplier^n, Max), spread by ±Jitter of itself.
type Backoff struct {
	Initial    time.Duration // first wait; default 100 ms
	Max        time.Duration // longest wait; default 30 s
	Multiplier float64       // growth per retry; default 2
	Jitter     float64       // fraction of spread, 0 to 1; default 0.1
	MaxRetries int           // consecutive failed attempts before giving up; 0 = never give up (default)
}

// DefaultBackoff is the client's default: 100 ms doubling to 30 s, ±10 %,
// retrying forever (a sidecar is expected to come back).
func DefaultBackoff() Backoff {
	return Backoff{
		Initial:    100 * time.Millisecond, // a restarting daemon is back within a second or two
		Max:        30 * time.Second,       // a long outage costs one attempt every half minute
		Multiplier: 2,
		Jitter:     0.1, // enough to keep many clients of one daemon apart
	}
}

// Delay is the wait before retry n (0 for the first retry).
func (b Backoff) Delay(n int) time.Duration {
	d := float64(b.Initial) * math.Pow(b.Multiplier, float64(max(n, 0)))
	d = min(d, float64(b.Max))
	if b.Jitter > 0 {
		d *= 1 + b.Jitter*(2*rand.Float64()-1)
	}
	return time.Duration(max(d, 0))
}

func (b Backoff) validate() error {
	switch {
	case b.Initial <= 0:
		return fmt.Errorf("backoff: initial delay %s: want a positive duration such as 100ms", b.Initial)
	case b.Max < b.Initial:
		return fmt.Errorf("backoff: max delay %s is below the initial %s", b.Max, b.Initial)
	case b.Multiplier < 1 || math.IsNaN(b.Multiplier) || math.IsInf(b.Multiplier, 0):
		return fmt.Errorf("backoff: multiplier %v: want 1 or more", b.Multiplier)
	case b.Jitter < 0 || b.Jitter > 1 || math.IsNaN(b.Jitter):
		return fmt.Errorf("backoff: jitter %v: want 0 to 1", b.Jitter)
	case b.MaxRetries < 0:
		return fmt.Errorf("backoff: max retries %d: want 0 (unlimited) or more", b.MaxRetries)
	}
	return nil
}

// options are a client's settings; Option functions change them.
type options struct {
	token             string
	tls               *tls.Config // nil: plaintext
	clientID          string
	backoff           Backoff
	dialTimeout       time.Duration
	lazy              bool
	failFast          bool
	keepaliveTime     time.Duration
	keepaliveTimeout  time.Duration
	stateHandler      func(StateChange)
	gapHandler        func(Gap)
	backpressure      func(BackpressureWarning)
	logger            *slog.Logger
	grpcOptions       []grpc.DialOption
	maxMessageBytes   int
	minConnectTimeout time.Duration
	packed            bool // use PublishPacked and SubscribePacked where the daemon has them
	session           bool // subscriptions share one Session stream where the daemon has it
}

func defaultOptions() options {
	return options{
		backoff:           DefaultBackoff(),
		dialTimeout:       10 * time.Second, // Dial without a deadline still ends
		keepaliveTime:     10 * time.Second, // the daemon allows pings every 5 s; a dead link is noticed within 15 s
		keepaliveTimeout:  5 * time.Second,
		maxMessageBytes:   8 << 20, // a batch of the largest payloads the daemon sends
		minConnectTimeout: 5 * time.Second,
		packed:            true,
		session:           true,
	}
}

// Option configures Dial.
type Option func(*options) error

// WithToken sends "authorization: Bearer <token>" with every call, for a
// daemon started with --app-token.
func WithToken(token string) Option {
	return func(o *options) error { o.token = token; return nil }
}

// WithClientID names the client in the daemon's logs and status page
// (SubscribeRequest.client_id).
func WithClientID(id string) Option {
	return func(o *options) error { o.clientID = id; return nil }
}

// WithBackoff sets how reconnection waits: b.Initial, b.Max, b.Multiplier
// and b.Jitter as Backoff describes, and b.MaxRetries consecutive failed
// attempts before the client gives up (0: never). The same backoff paces
// the connection and every subscription's stream.
func WithBackoff(b Backoff) Option {
	return func(o *options) error {
		if err := b.validate(); err != nil {
			return err
		}
		o.backoff = b
		return nil
	}
}

// WithMaxRetries gives up reconnecting after n consecutive failed
// attempts (0: never, the default): the client then moves to StateFailed
// and its calls and subscriptions end with ErrUnavailable.
func WithMaxRetries(n int) Option {
	return func(o *options) error {
		if n < 0 {
			return fmt.Errorf("max retries %d: want 0 (unlimited) or more", n)
		}
		o.backoff.MaxRetries = n
		return nil
	}
}

// WithDialTimeout bounds how long Dial waits for the first connection when
// its context has no deadline (default 10 s).
func WithDialTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("dial timeout %s: want a positive duration", d)
		}
		o.dialTimeout = d
		return nil
	}
}

// WithFailFast makes Dial give up at once when its first try says no
// daemon is there: the port refuses, the socket file is missing, the host
// name is unknown. Without it Dial keeps trying until its timeout, for a
// daemon that is still starting. Command-line tools want it.
func WithFailFast() Option {
	return func(o *options) error { o.failFast = true; return nil }
}

// WithLazyConnect makes Dial return at once without waiting for the
// daemon; the client connects in the background and calls wait for the
// connection within their own contexts. Use it when the application may
// start before its daemon.
func WithLazyConnect() Option {
	return func(o *options) error { o.lazy = true; return nil }
}

// WithKeepalive sets how often the client pings an idle connection and how
// long it waits for the answer before it takes the connection for dead
// (default 10 s and 5 s). The daemon refuses pings more often than every
// 5 s.
func WithKeepalive(interval, timeout time.Duration) Option {
	return func(o *options) error {
		if interval < 5*time.Second || timeout <= 0 {
			return errors.New("keepalive: want an interval of at least 5s (the daemon's limit) and a positive timeout")
		}
		o.keepaliveTime, o.keepaliveTimeout = interval, timeout
		return nil
	}
}

// WithStateHandler calls f on every change of the connection's state.
// Handlers (of all kinds) run one at a time, in order, on a goroutine of
// the client; a slow handler delays the others but never the client.
func WithStateHandler(f func(StateChange)) Option {
	return func(o *options) error { o.stateHandler = f; return nil }
}

// WithGapHandler calls f for every gap on any subscription that has no
// OnGap of its own.
func WithGapHandler(f func(Gap)) Option {
	return func(o *options) error { o.gapHandler = f; return nil }
}

// WithBackpressureHandler calls f for every backpressure warning on any
// subscription that has no OnBackpressure of its own.
func WithBackpressureHandler(f func(BackpressureWarning)) Option {
	return func(o *options) error { o.backpressure = f; return nil }
}

// WithLogger logs reconnections and resumes at debug and info level
// (default: nothing is logged).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error { o.logger = l; return nil }
}

// WithGRPCOptions adds gRPC dial options after the client's own, for what
// the client does not cover (window sizes, interceptors; TLS is WithTLS).
func WithGRPCOptions(opts ...grpc.DialOption) Option {
	return func(o *options) error { o.grpcOptions = append(o.grpcOptions, opts...); return nil }
}

// WithPacked chooses whether Publishers and subscriptions use the daemon's
// packed-frame RPCs, PublishPacked and SubscribePacked (docs/packed.md; on
// by default). A packed frame carries up to a thousand messages as one
// byte string, so both sides do a fraction of the per-message work of
// PublishStream and Subscribe. A daemon without them answers Unimplemented;
// the client then uses PublishStream, Subscribe and ResumeSubscribe on that
// daemon run, and asks again only when the daemon restarts (its instance
// id changes). Both paths behave the same to the application: ordering,
// gaps, resume, failures by message number. WithPacked(false) always uses
// the v1 calls.
func WithPacked(on bool) Option {
	return func(o *options) error { o.packed = on; return nil }
}

// WithSession chooses whether the client's subscriptions share one Session
// stream (an extension of this daemon; on by default, and only with
// WithPacked on): each subscription then costs the daemon about a
// kilobyte instead of a stream of its own, and still holds up only itself
// when its application reads slowly. WithSession(false), or a daemon
// without Session, gives each subscription its own stream.
func WithSession(on bool) Option {
	return func(o *options) error { o.session = on; return nil }
}
