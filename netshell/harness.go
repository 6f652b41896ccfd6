package netshell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/nexusd/nexusd/state"
)

// Harness is a daemon without sockets, for fuzzing and tests: the node,
// the loop, and the mesh and sidecar gRPC servers exactly as Run builds
// them from Options (server options, interceptors, handlers), served over
// in-memory connections (bufconn). It binds no socket: there is no UDP
// discovery and no admin HTTP endpoint; datagrams are handed in with
// Datagram, and the mesh client reaches only the harnesses given to Link.
// Calls go through real gRPC clients with a pass-through codec, so the
// servers unmarshal the raw bytes themselves; mesh calls come as from a
// peer (over the mesh's TLS, with the daemon's own certificate, when it
// has a key or --tls-* files).
type Harness struct {
	s      *Server
	r      *running
	disc   *discovery
	lns    []*bufconn.Listener
	conns  []*grpc.ClientConn
	app    *grpc.ClientConn // conns' sidecar client
	meshLn *bufconn.Listener
	rpcs   map[string]harnessRPC // by full method name
	token  string                // sent on sidecar calls when the daemon requires one

	mu    sync.Mutex
	links map[string]*bufconn.Listener // mesh address -> a peer harness's mesh listener

	holdCtx   context.Context // ends at Close: streams opened with Open
	stopHolds context.CancelFunc
	holds     sync.WaitGroup
	closeOnce sync.Once
}

// harnessRPC is one method a harness's servers registered.
type harnessRPC struct {
	conn                       *grpc.ClientConn
	clientStream, serverStream bool
}

// HarnessConfig says what daemon a Harness builds.
type HarnessConfig struct {
	// Options as the daemon takes them (DefaultOptions, say, with a
	// cluster of the test's own). The listener, discovery and admin
	// settings are ignored, since nothing is bound.
	Options Options
	ID      string       // the instance id; "" = a random one
	Seed    uint64       // seeds the node's randomness (and a random ID)
	Log     *slog.Logger // nil = discard
}

// harnessPipeBytes is what each direction of an in-memory connection
// buffers, about a socket's; it is allocated whole with every connection.
const harnessPipeBytes = 64 << 10

// harnessStreamFrames bounds the responses Call reads from one stream.
const harnessStreamFrames = 256

// NewHarness builds and starts a daemon in memory. Close it.
func NewHarness(c HarnessConfig) (*Harness, error) {
	o := c.Options
	if err := o.Validate(); err != nil {
		return nil, err
	}
	log := c.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	id := c.ID
	if id == "" {
		id = state.NewUUID(rng)
	}
	s, err := newServer(o, log, id, rng)
	if err != nil {
		return nil, err
	}
	h := &Harness{s: s, token: s.o.AppToken, rpcs: make(map[string]harnessRPC), links: make(map[string]*bufconn.Listener)}
	h.holdCtx, h.stopHolds = context.WithCancel(context.Background())
	self := state.Beacon{Instance: id, Cluster: s.o.Cluster, Addr: ":0", Version: protocolVersion} // never sent
	h.disc = newDiscovery(&s.o, self, s.creds, s.log, s.o.Clock, &s.metrics.shell)
	h.r = s.assemble(h.disc, grpc.WithContextDialer(h.dialPeer))
	meshLn, appLn := bufconn.Listen(harnessPipeBytes), bufconn.Listen(harnessPipeBytes)
	h.meshLn, h.lns = meshLn, []*bufconn.Listener{meshLn, appLn}
	h.r.run(meshLn, appLn)
	msg := maxMessageBytes(&s.o)
	for _, side := range []struct {
		ln        *bufconn.Listener
		srv       *grpc.Server
		transport grpc.DialOption // the mesh's as its peers dial it (mutual TLS with a key)
	}{{meshLn, h.r.meshSrv, s.meshDialCredentials()}, {appLn, h.r.appSrv, grpc.WithTransportCredentials(insecure.NewCredentials())}} {
		conn, err := grpc.NewClient("passthrough:///bufconn",
			grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return dialMem(ctx, side.ln) }),
			side.transport,
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(max(msg, s.o.MaxStateBytes)), grpc.ForceCodec(rawCodec{})))
		if err != nil {
			h.Close()
			return nil, err
		}
		h.conns = append(h.conns, conn)
		if side.ln == appLn {
			h.app = conn
		}
		for svc, info := range side.srv.GetServiceInfo() {
			for _, m := range info.Methods {
				h.rpcs["/"+svc+"/"+m.Name] = harnessRPC{conn: conn, clientStream: m.IsClientStream, serverStream: m.IsServerStream}
			}
		}
	}
	return h, nil
}

// ID is the daemon's instance id.
func (h *Harness) ID() string { return h.s.id }

// Link makes the mesh address addr (host:port, as a beacon announces it)
// reach peer's mesh server. Mesh calls to any other address fail at once,
// as to a closed port.
func (h *Harness) Link(addr string, peer *Harness) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.links[addr] = peer.meshLn
}

func (h *Harness) dialPeer(ctx context.Context, addr string) (net.Conn, error) {
	h.mu.Lock()
	ln := h.links[addr]
	h.mu.Unlock()
	if ln == nil {
		return nil, fmt.Errorf("dial %s: connection refused (no harness linked at that address)", addr)
	}
	return dialMem(ctx, ln)
}

// dialMem connects to an in-memory listener.
func dialMem(ctx context.Context, ln *bufconn.Listener) (net.Conn, error) {
	c, err := ln.DialContext(ctx)
	if err != nil {
		return nil, err
	}
	return &memConn{Conn: c}, nil
}

// memConn is a client's in-memory connection that drops its deadlines once
// closed. gRPC sets a 10 s write deadline whenever it closes a transport,
// even one already closed, and each bufconn deadline is a timer that keeps
// the connection's buffers for that long: thousands of them when fuzzing.
type memConn struct {
	net.Conn
	mu     sync.Mutex
	closed bool
}

func (c *memConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	err := c.Conn.Close()
	c.Conn.SetDeadline(time.Time{})
	return err
}

func (c *memConn) SetDeadline(t time.Time) error {
	return c.set(t, c.Conn.SetDeadline)
}

func (c *memConn) SetReadDeadline(t time.Time) error {
	return c.set(t, c.Conn.SetReadDeadline)
}

func (c *memConn) SetWriteDeadline(t time.Time) error {
	return c.set(t, c.Conn.SetWriteDeadline)
}

func (c *memConn) set(t time.Time, f func(time.Time) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	return f(t)
}

// Datagram hands one discovery datagram that came from from to the path
// the UDP listener takes (counting, decoding, dropping, posting to the
// loop) and returns why it was dropped, or "" once the beacon is with the
// loop.
func (h *Harness) Datagram(data []byte, from netip.AddrPort) (dropped string) {
	return h.disc.datagram(data, net.UDPAddrFromAddrPort(from))
}

// Query runs f on the loop, which owns the node, and waits for it. f must
// not keep n.
func (h *Harness) Query(ctx context.Context, f func(n *state.Node)) error {
	return h.s.loop.query(ctx, func(l *loop) { f(l.node) })
}

// Call invokes a mesh or sidecar RPC (any method the servers registered,
// by full name such as "/nexusd.sidecar.SidecarService/Publish") with raw
// request frames: the first frame for a unary or server-streaming RPC (an
// empty message if none), every frame for a client or bidi stream, which
// is then half-closed. It returns the response frames read and the gRPC
// status error the client saw, or nil.
//
// A stream is read until the server ends it, or for harnessStreamFrames
// frames, or, for a server stream (Subscribe stays open for as long as the
// client wants), until its first frame has come and the loop has handled
// everything posted before: what has arrived by then is read and the
// stream is cancelled, which is not an error. ctx bounds the whole call.
func (h *Harness) Call(ctx context.Context, method string, frames ...[]byte) ([][]byte, error) {
	rpc, ok := h.rpcs[method]
	if !ok {
		return nil, fmt.Errorf("harness: no RPC %q: want one of the methods the mesh or sidecar server registers", method)
	}
	if h.token != "" && rpc.conn == h.app {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+h.token)
	}
	first := []byte{}
	if len(frames) > 0 {
		first = frames[0]
	}
	if !rpc.clientStream && !rpc.serverStream {
		var out []byte
		if err := rpc.conn.Invoke(ctx, method, first, &out); err != nil {
			return nil, err
		}
		return [][]byte{out}, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	desc := &grpc.StreamDesc{StreamName: method[strings.LastIndexByte(method, '/')+1:],
		ClientStreams: rpc.clientStream, ServerStreams: rpc.serverStream}
	cs, err := rpc.conn.NewStream(ctx, desc, method)
	if err != nil {
		return nil, err
	}
	if !rpc.clientStream {
		frames = [][]byte{first}
	}
	for _, f := range frames {
		if cs.SendMsg(f) != nil {
			break // the stream has ended; receiving says how
		}
	}
	if err := cs.CloseSend(); err != nil {
		return nil, err
	}
	got := make(chan []byte, harnessStreamFrames)
	ended := make(chan error, 1)
	go func() {
		for range harnessStreamFrames {
			var b []byte
			if err := cs.RecvMsg(&b); err != nil {
				ended <- err
				return
			}
			got <- b
		}
		ended <- nil // bound reached
	}()
	var out [][]byte
	drain := func() {
		for {
			select {
			case b := <-got:
				out = append(out, b)
			default:
				return
			}
		}
	}
	for {
		select {
		case err := <-ended:
			drain() // the reader has stopped: all it read is in got
			if err == nil || errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		case b := <-got:
			out = append(out, b)
			if rpc.clientStream {
				continue // the server ends the stream once it has answered
			}
			// A server stream answered: take what has come once the loop
			// is past the request, then go away.
			if err := h.Query(ctx, func(*state.Node) {}); err != nil {
				cancel()
				<-ended
				return out, err
			}
			drain()
			cancel()
			err := <-ended
			drain()
			if err == nil || errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
				return out, nil // ended by the server, or by us
			}
			return out, err
		}
	}
}

// Open starts a server-streaming call (a Subscribe, say) that stays open
// until Close, its events read and dropped, and returns once its first
// event has come (a subscription is then in place) or it ended. ctx bounds
// only the wait for that first event.
func (h *Harness) Open(ctx context.Context, method string, frame []byte) error {
	rpc, ok := h.rpcs[method]
	if !ok || rpc.clientStream || !rpc.serverStream {
		return fmt.Errorf("harness: %q is not a server-streaming RPC", method)
	}
	sctx, cancel := context.WithCancel(h.holdCtx)
	if h.token != "" && rpc.conn == h.app {
		sctx = metadata.AppendToOutgoingContext(sctx, "authorization", "Bearer "+h.token)
	}
	cs, err := rpc.conn.NewStream(sctx, &grpc.StreamDesc{ServerStreams: true}, method)
	if err == nil {
		err = cs.SendMsg(frame)
	}
	if err == nil {
		err = cs.CloseSend()
	}
	if err != nil {
		cancel()
		return err
	}
	first := make(chan error, 1)
	h.holds.Go(func() {
		defer cancel()
		var b []byte
		err := cs.RecvMsg(&b)
		first <- err
		for err == nil {
			err = cs.RecvMsg(&b)
		}
	})
	select {
	case err := <-first:
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("harness: %s ended before its first event", method)
		}
		return err
	case <-ctx.Done():
		cancel()
		return ctx.Err()
	}
}

// Close cancels the streams Open started and shuts the daemon down as Run
// does, waiting for its goroutines. It is idempotent.
func (h *Harness) Close() {
	h.closeOnce.Do(func() {
		h.stopHolds()
		h.holds.Wait()
		for _, c := range h.conns {
			c.Close()
		}
		if h.r != nil {
			h.s.shutdown(h.r)
		}
		for _, ln := range h.lns {
			ln.Close()
		}
	})
}

// rawCodec passes request and response frames through as bytes. It is
// named "proto" so the servers decode the frames with their own codec.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case *[]byte:
		return *b, nil
	}
	return nil, fmt.Errorf("harness: cannot send %T: want []byte", v)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("harness: cannot receive into %T: want *[]byte", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }
