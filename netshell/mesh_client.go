package netshell

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/experimental"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/state"
)

// errPeerClosed fails calls to a peer whose connection was closed.
var errPeerClosed = errors.New("connection to the peer was closed (peer removed or daemon stopping)")

// meshClient carries the loop's request effects to peers: one gRPC
// connection per peer, an ordered batched push stream on it, and one
// goroutine per fetch, probe or resend, each bounded by CallTimeout. Every
// call ends in exactly one completion posted to the loop.
//
// Fetch, Probe, Push, Resend and ClosePeer are called by the loop only and
// return at once; the peers map is the loop's.
type meshClient struct {
	self     string // our instance id, named in resend requests
	o        *Options
	log      *slog.Logger
	clk      clock.Clock
	epoch    time.Time       // the origin of now()
	ctx      context.Context // ends at shutdown
	done     func(...state.Event)
	counters *shellCounters
	dial     []grpc.DialOption
	peers    map[string]*peerConn // by instance id
	lastPush *peerConn            // the peer of the last Push, while it is in peers
	wg       sync.WaitGroup
}

// peerConn is the connection to one peer instance at one address. It is
// made when a call needs it and closed again once idle (see Sweep), so a
// peer that only beacons holds no connection.
type peerConn struct {
	id, addr string
	conn     *grpc.ClientConn
	client   meshpb.MeshServiceClient
	ctx      context.Context // ends when the peer is closed
	cancel   context.CancelFunc
	push     *pushLink
	inflight atomic.Int32 // calls under way
	lastUsed time.Time    // the loop's clock at the last call, or the Sweep after pushes
	pushed   bool         // a push came since the last Sweep (it reads no clock per push)
}

// newMeshClient makes the mesh client; transport is its transport
// credentials (mutual TLS, or plaintext).
func newMeshClient(ctx context.Context, self string, o *Options, log *slog.Logger, clk clock.Clock, counters *shellCounters, done func(...state.Event), transport grpc.DialOption) *meshClient {
	msg := maxMessageBytes(o)
	return &meshClient{
		self: self, o: o, log: log, clk: clk, epoch: clk.Now(), ctx: ctx, done: done, counters: counters,
		peers: make(map[string]*peerConn),
		dial: append(append(transportDialOptions(), grpc.WithReadBufferSize(meshReadBufferBytes)),
			transport,
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(msg), grpc.MaxCallSendMsgSize(msg)),
			grpc.WithKeepaliveParams(clientKeepalive),
			grpc.WithIdleTimeout(meshIdle),
			experimental.WithBufferPool(buffers),
			// Reconnect quickly: a peer that is back should get its pushes
			// within the core's retry backoff, not gRPC's default 2 minutes.
			grpc.WithConnectParams(grpc.ConnectParams{
				Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second},
				MinConnectTimeout: o.CallTimeout,
			}),
		),
	}
}

// peer returns the connection to a peer instance, making it if needed. A
// peer seen at a new address gets a new connection.
func (m *meshClient) peer(id, addr string) (*peerConn, error) {
	if pc := m.peers[id]; pc != nil {
		if pc.addr == addr {
			pc.lastUsed = m.clk.Now()
			return pc, nil
		}
		m.closeConn(pc)
	}
	conn, err := grpc.NewClient("passthrough:///"+addr, m.dial...)
	if err != nil {
		return nil, fmt.Errorf("peer %s at %q: %w", id, addr, err)
	}
	ctx, cancel := context.WithCancel(m.ctx)
	pc := &peerConn{id: id, addr: addr, conn: conn, client: meshpb.NewMeshServiceClient(conn), ctx: ctx, cancel: cancel,
		lastUsed: m.clk.Now()}
	pc.push = newPushLink(m, pc)
	m.peers[id] = pc
	return pc, nil
}

// call runs f on its own goroutine with CallTimeout and posts the
// completion it returns.
func (m *meshClient) call(id, addr string, fail state.Event, f func(ctx context.Context, pc *peerConn) state.Event) {
	pc, err := m.peer(id, addr)
	if err == nil {
		pc.inflight.Add(1)
	}
	m.wg.Go(func() {
		if err != nil {
			m.done(withErr(fail, err))
			return
		}
		defer pc.inflight.Add(-1)
		ctx, cancel := context.WithTimeout(pc.ctx, m.o.CallTimeout)
		defer cancel()
		m.done(f(ctx, pc))
	})
}

func (m *meshClient) Fetch(call uint64, peer, addr string) {
	m.call(peer, addr, &state.FetchCompleted{Call: call}, func(ctx context.Context, pc *peerConn) state.Event {
		st, err := pc.client.GetNodeState(ctx, &emptypb.Empty{}, grpc.MaxCallRecvMsgSize(m.o.MaxStateBytes))
		if err != nil {
			m.log.Debug("state fetch failed; the peer stays unsynced and is fetched again", "peer", peer, "addr", addr, "err", err)
			return &state.FetchCompleted{Call: call, Err: err}
		}
		return &state.FetchCompleted{Call: call, State: nodeStateFromProto(st)}
	})
}

// Probe asks the peer's health service, and checks that the instance that
// answers is the one we probe. A move probe checks an address the peer is
// claimed at on a connection of its own, leaving the peer's alone.
func (m *meshClient) Probe(call uint64, peer, addr string, move bool) {
	if move {
		m.probeClaim(call, peer, addr)
		return
	}
	m.call(peer, addr, &state.ProbeCompleted{Call: call}, func(ctx context.Context, pc *peerConn) state.Event {
		return &state.ProbeCompleted{Call: call, Err: probe(ctx, pc.conn, peer, addr, false)}
	})
}

// probeClaim probes a claimed address on a connection made for it alone.
func (m *meshClient) probeClaim(call uint64, peer, addr string) {
	conn, err := grpc.NewClient("passthrough:///"+addr, m.dial...)
	m.wg.Go(func() {
		if err == nil {
			ctx, cancel := context.WithTimeout(m.ctx, m.o.CallTimeout)
			err = probe(ctx, conn, peer, addr, true)
			cancel()
			conn.Close()
		}
		m.done(&state.ProbeCompleted{Call: call, Err: err})
	})
}

// probe asks the health service at conn and checks that instance peer is
// the one answering; strict: the answer must name it (a v1 peer's need not).
// A v1 peer has no health service: not strict, its answer to the v1
// MeshService's GetNodeState, naming the instance, proves it alive.
func probe(ctx context.Context, conn *grpc.ClientConn, peer, addr string, strict bool) error {
	var hdr metadata.MD
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&hdr))
	switch {
	case err != nil && !strict && status.Code(err) == codes.Unimplemented:
		st, err := meshpb.NewMeshServiceClient(conn).GetNodeState(ctx, &emptypb.Empty{})
		switch {
		case err != nil:
			return err
		case st.GetInstanceUuid() != peer:
			return fmt.Errorf("%s is now instance %s, not %s", addr, st.GetInstanceUuid(), peer)
		}
		return nil
	case err != nil:
		return err
	case resp.GetStatus() != healthpb.HealthCheckResponse_SERVING:
		return fmt.Errorf("peer %s is %s", addr, resp.GetStatus())
	case strict && len(hdr.Get(instanceHeader)) == 0:
		return fmt.Errorf("%s does not say which instance answers", addr)
	}
	return checkInstance(hdr, peer, addr)
}

func (m *meshClient) Resend(e state.RequestResend) {
	m.call(e.Peer, e.Addr, &state.ResendCompleted{Call: e.Call}, func(ctx context.Context, pc *peerConn) state.Event {
		resp, err := pc.client.ResendMessages(ctx, resendRequestToProto(&e, m.self))
		if err != nil {
			return &state.ResendCompleted{Call: e.Call, Err: err}
		}
		return &state.ResendCompleted{Call: e.Call, Reply: resendReplyFromProto(resp)}
	})
}

func (m *meshClient) PushRun(peer, addr string, run []queuedPush) {
	pc := m.lastPush // pushes mostly go to one peer
	if pc == nil || pc.id != peer || pc.addr != addr {
		var err error
		if pc, err = m.peer(peer, addr); err != nil {
			m.failRun(run, err)
			return
		}
		m.lastPush = pc
	}
	pc.pushed = true
	pc.push.enqueue(run)
}

// now is the client's monotonic time, as push streams measure deadlines.
func (m *meshClient) now() time.Duration { return m.clk.Since(m.epoch) }

// ClosePeer closes a removed peer's connection; its calls under way fail
// and are completed.
func (m *meshClient) ClosePeer(peer, addr string) {
	if pc := m.peers[peer]; pc != nil && pc.addr == addr {
		m.closeConn(pc)
	}
}

func (m *meshClient) closeConn(pc *peerConn) {
	delete(m.peers, pc.id)
	if m.lastPush == pc {
		m.lastPush = nil
	}
	pc.cancel()
	m.wg.Go(func() {
		pc.push.wait()
		pc.conn.Close()
	})
}

// Sweep closes connections to peers that have had no call and no push
// stream for meshIdle. The loop calls it with every beacon it sends.
func (m *meshClient) Sweep() {
	now := m.clk.Now()
	for _, pc := range m.peers {
		if pc.pushed {
			pc.lastUsed, pc.pushed = now, false
		}
		if pc.inflight.Load() == 0 && !pc.push.busy() && now.Sub(pc.lastUsed) >= meshIdle {
			m.closeConn(pc)
		}
	}
}

// Leave tells every peer this client has a connection to that this daemon
// is stopping (the mesh notice beside the leave beacon), all at once and
// each bounded by ctx; best effort, failures are only logged at debug.
// The loop calls it (the peers map is its); done is closed once every
// call has ended.
func (m *meshClient) Leave(ctx context.Context) (done <-chan struct{}) {
	var calls sync.WaitGroup
	notice := &meshpb.LeaveNotice{InstanceUuid: m.self}
	for _, pc := range m.peers {
		calls.Go(func() {
			if _, err := pc.client.Leave(ctx, notice); err != nil {
				m.log.Debug("leave notice not delivered", "peer", pc.id, "addr", pc.addr, "err", err)
			}
		})
	}
	ch := make(chan struct{})
	go func() { calls.Wait(); close(ch) }()
	return ch
}

// wait returns once every call and push link has finished; the client's
// context must have ended.
func (m *meshClient) wait() { m.wg.Wait() }

// closeAll closes every connection (shutdown), once the loop has stopped.
func (m *meshClient) closeAll() {
	for _, pc := range m.peers {
		m.closeConn(pc)
	}
}

func checkInstance(hdr metadata.MD, want, addr string) error {
	if ids := hdr.Get(instanceHeader); len(ids) > 0 && ids[0] != want {
		return fmt.Errorf("%s is now instance %s, not %s", addr, ids[0], want)
	}
	return nil
}

// withErr is the completion fail with err set.
func withErr(fail state.Event, err error) state.Event {
	switch e := fail.(type) {
	case *state.FetchCompleted:
		e.Err = err
	case *state.ProbeCompleted:
		e.Err = err
	case *state.PushCompleted:
		e.Err = err
	case *state.ResendCompleted:
		e.Err = err
	}
	return fail
}
