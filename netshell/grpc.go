package netshell

import (
	"context"
	"crypto/subtle"
	"errors"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/experimental"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/internal/bufpool"
)

// buffers is the gRPC buffer pool of every server and mesh client: gRPC's
// default clears each buffer it recycles, which cost a tenth of a busy
// daemon's CPU (see internal/bufpool).
var buffers = bufpool.New()

// UseBufferPoolProcessWide makes the shell's buffer pool gRPC's default for
// the whole process, which also covers message encoding (gRPC's codec
// takes the process default, not a server's pool). It must run before any
// gRPC activity; the daemon's main calls it first thing.
func UseBufferPoolProcessWide() { experimental.SetDefaultBufferPool(buffers) }

// instanceHeader carries a daemon's instance id on every mesh response, so
// a caller knows which run of the peer answered (probes, push streams).
const instanceHeader = "nexusd-instance"

// Keepalive: servers ping idle connections every 30 s and drop them after
// 10 s without an answer; clients may ping every 10 s (mesh clients do,
// so a cut link is noticed even without traffic). A connection with no
// stream for meshIdle is closed by the server, and a mesh client's channel
// goes idle after as long without a call: a peer that only beacons costs
// its registry entry, not two HTTP/2 transports.
const meshIdle = 10 * time.Second

var (
	serverKeepalive = keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second, MaxConnectionIdle: 2 * meshIdle}
	keepalivePolicy = keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}
	clientKeepalive = keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}
)

// Transport sizes of both servers and the mesh client. The windows are
// fixed at 16 MiB per stream and per connection: a static window turns off
// gRPC's BDP estimator, which starts at 64 KiB and only grows after round
// trips of measuring, and 16 MiB is where that estimator stops anyway, so
// the most a connection can hold unread is what it was. With them a batch
// stream keeps many 256 KiB frames in flight. A 1 MiB read buffer takes
// such a frame in one syscall, not dozens; gRPC lends it from a pool only
// while there are bytes to read, and only on a bare TCP or unix
// connection: one behind TLS or the mesh port's connection limit keeps its
// megabyte while it is open (mesh connections close after 20 s without a
// stream).
//
// The write buffer is gRPC's default, 32 KiB, which each connection keeps
// while it is open. gRPC's writer sends what it gathered whenever the
// buffer fills, so the kernel copies bytes written into it a moment
// before, and the reader gets them sooner; with 1 MiB it sent what it
// had gathered only when it ran out of work, in writes of about 110 KB
// on local-1to1-packed, and the write system calls took 54 ns a
// message against 33 in the prototype relay, which keeps the
// default (perf profiles of both on one host). Alternating runs there:
// local-1to1-packed faster in 15 of 15 pairs (by 1.5-8%), the daemon
// taking a median 6% less CPU a message; cross-node-packed-windowed and
// local-1to1-stream within the host's noise. 64 KiB and 128 KiB were no
// better than 1 MiB (BENCHMARKS.md, "Since the run of 19:22").
//
// The mesh keeps gRPC's 32 KiB read buffer: its connections are held
// behind the connection limit and TLS, so each would keep a megabyte for
// as long as it is open, up to --mesh-max-conns of them (4.6 GB), and
// a caller need not be a member to open one.
const (
	transportWindowBytes      = 16 << 20
	transportReadBufferBytes  = 1 << 20
	transportWriteBufferBytes = 32 << 10
	meshReadBufferBytes       = 32 << 10
)

// transportServerOptions are the transport sizes as server options.
func transportServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.InitialWindowSize(transportWindowBytes),
		grpc.InitialConnWindowSize(transportWindowBytes),
		grpc.ReadBufferSize(transportReadBufferBytes),
		grpc.WriteBufferSize(transportWriteBufferBytes),
	}
}

// transportDialOptions are the transport sizes as dial options.
func transportDialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithInitialWindowSize(transportWindowBytes),
		grpc.WithInitialConnWindowSize(transportWindowBytes),
		grpc.WithReadBufferSize(transportReadBufferBytes),
		grpc.WithWriteBufferSize(transportWriteBufferBytes),
	}
}

// maxMessageBytes is the gRPC message limit of both servers: room for a
// payload at the limit twice over (so an oversized payload reaches the node
// and gets INVALID_ARGUMENT with a reason, not a transport error), and at
// least 4 MiB for batches.
func maxMessageBytes(o *Options) int { return max(4<<20, 2*o.MaxPayloadBytes+64<<10) }

// sidecarMaxRecv is the largest request the sidecar reads: far above any
// payload limit, so a publish of 4 or 20 MiB reaches the node and is
// refused naming --max-payload, not with gRPC's "received message larger
// than max". Such a request costs its bytes only while it is read.
func sidecarMaxRecv(o *Options) int { return max(64<<20, maxMessageBytes(o)) }

// newGRPCServer builds a server with the transport sizes, explicit
// message-size, stream and keepalive limits, the gRPC health service and
// server reflection; extra adds options (the mesh's TLS credentials).
func newGRPCServer(o *Options, maxSend int, streams uint32, unary []grpc.UnaryServerInterceptor, stream []grpc.StreamServerInterceptor, extra ...grpc.ServerOption) (*grpc.Server, *health.Server) {
	srv := grpc.NewServer(slices.Concat(transportServerOptions(), []grpc.ServerOption{
		grpc.MaxRecvMsgSize(maxMessageBytes(o)),
		grpc.MaxSendMsgSize(maxSend),
		grpc.MaxConcurrentStreams(streams),
		grpc.MaxHeaderListSize(16 << 10),
		grpc.ConnectionTimeout(10 * time.Second),
		grpc.KeepaliveParams(serverKeepalive),
		grpc.KeepaliveEnforcementPolicy(keepalivePolicy),
		grpc.ChainUnaryInterceptor(unary...),
		grpc.ChainStreamInterceptor(stream...),
		experimental.BufferPool(buffers),
	}, extra)...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	return srv, hs
}

// rpcError turns a shell-side failure into a gRPC status error.
func rpcError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, errStopped):
		return status.Error(codes.Unavailable, "nexusd is shutting down: retry on another daemon or once it has restarted")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

// refuseWhileStopping answers UNAVAILABLE to new calls once shutdown began.
func refuseWhileStopping(stopping <-chan struct{}) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	closed := func() bool {
		select {
		case <-stopping:
			return true
		default:
			return false
		}
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if closed() {
				return nil, rpcError(errStopped)
			}
			return h(ctx, req)
		}, func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if closed() {
				return rpcError(errStopped)
			}
			return h(srv, ss)
		}
}

// withInstance sends our instance id in the response headers of every call.
func withInstance(id string) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	md := metadata.Pairs(instanceHeader, id)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			_ = grpc.SetHeader(ctx, md)
			return h(ctx, req)
		}, func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			// Sent at once: a push stream's sender checks it before any ack.
			_ = ss.SendHeader(md)
			return h(srv, ss)
		}
}

// requireToken checks "authorization: Bearer <token>" on every sidecar call
// but health checks.
func requireToken(token string) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	want := []byte("Bearer " + token)
	check := func(ctx context.Context, method string) error {
		if strings.HasPrefix(method, "/grpc.health.v1.Health/") {
			return nil
		}
		md, _ := metadata.FromIncomingContext(ctx)
		for _, v := range md.Get("authorization") {
			if subtle.ConstantTimeCompare([]byte(v), want) == 1 {
				return nil
			}
		}
		return status.Error(codes.Unauthenticated, "missing or wrong token: send metadata \"authorization: Bearer <token>\" with the daemon's --app-token")
	}
	return checkEveryCall(check)
}

// checkEveryCall runs check before every unary call and stream; an error
// is the call's answer.
func checkEveryCall(check func(ctx context.Context, method string) error) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}, func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return h(srv, ss)
		}
}

// countRefusals counts every sidecar call that ends in an error other than
// the client's own cancel or deadline, by RPC and reason.
func countRefusals(m *metrics) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	count := func(method string, err error) {
		c := status.Code(err)
		if c == codes.OK || c == codes.Canceled || c == codes.DeadlineExceeded {
			return
		}
		rpc := method[strings.LastIndexByte(method, '/')+1:]
		m.sidecarRefused.WithLabelValues(rpc, strings.ToLower(codeName(c))).Inc()
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			count(info.FullMethod, err)
			return resp, err
		}, func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			err := h(srv, ss)
			count(info.FullMethod, err)
			return err
		}
}

// peerAddr is the caller's address, for logs.
func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
