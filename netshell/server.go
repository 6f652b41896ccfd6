package netshell

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
	"github.com/nexusd/nexusd/state"
)

// Server is one daemon: a node, the loop that owns it, and its sockets.
// New checks the options and builds the node; Run binds, serves until its
// context ends, and shuts down gracefully.
type Server struct {
	o       Options
	log     *slog.Logger
	id      string
	creds   *credentials
	appTLS  *sidecarTLS // nil: the sidecar's TCP port is plaintext
	meshTLS *meshTLS    // nil: the mesh is plaintext
	node    *state.Node
	metrics *metrics
	started time.Time

	ready    chan struct{} // closed once every listener is bound and serving
	addrs    Addrs         // valid once ready is closed
	stopping atomic.Bool
	loop     *loop // set before ready is closed
}

// Addrs are where a running server listens and what it advertises.
type Addrs struct {
	Mesh       string // mesh gRPC listener
	App        string // sidecar gRPC listener; "" with --app-port off
	AppSocket  string // sidecar Unix socket; "" when none
	HTTP       string // admin HTTP listener; "" when off
	Discovery  string // UDP discovery port
	Advertised string // the mesh endpoint beacons announce (ip:port, ip may be empty)
	Multicast  string // group:port on interface, or "off"
}

// New checks o and builds the daemon's node with a fresh instance id and a
// randomness source seeded from crypto/rand. Nothing is bound until Run.
func New(o Options, log *slog.Logger) (*Server, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil, fmt.Errorf("seeding randomness: %w", err)
	}
	rng := rand.New(rand.NewChaCha8(seed))
	return newServer(o, log, state.NewUUID(rng), rng)
}

// newServer builds the daemon's node as instance id, with rng as its
// randomness; o must be valid.
func newServer(o Options, log *slog.Logger, id string, rng *rand.Rand) (*Server, error) {
	if o.Clock == nil {
		o.Clock = clock.New()
	}
	creds, err := loadCredentials(&o)
	if err != nil {
		return nil, err
	}
	appTLS, err := loadSidecarTLS(&o)
	if err != nil {
		return nil, err
	}
	meshTLS, err := loadMeshTLS(&o, creds, id)
	if err != nil {
		return nil, err
	}
	node, err := state.New(o.nodeConfig(id, rng))
	if err != nil {
		return nil, err
	}
	s := &Server{o: o, log: log.With("node", id), id: id, creds: creds, appTLS: appTLS, meshTLS: meshTLS, node: node, metrics: newMetrics(), ready: make(chan struct{})}
	s.metrics.meshSecurity.WithLabelValues(s.securityMode()).Set(1)
	return s, nil
}

// ID is the daemon's instance id, new on every start.
func (s *Server) ID() string { return s.id }

// Logger is the server's logger, which names the node on every line.
func (s *Server) Logger() *slog.Logger { return s.log }

// Ready is closed once the server is bound and serving.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addrs reports where the server listens; call it after Ready.
func (s *Server) Addrs() Addrs { return s.addrs }

// listeners are the sockets Run binds before anything starts.
type listeners struct {
	mesh, app, http net.Listener
	appSocket       net.Listener // nil without --app-socket; app is nil with --app-port off
	disc            *discovery
}

func (l *listeners) close() {
	for _, ln := range []net.Listener{l.mesh, l.app, l.appSocket, l.http} {
		if ln != nil {
			ln.Close()
		}
	}
	if l.disc != nil {
		l.disc.conn.Close()
	}
}

// Run serves until ctx ends or a listener fails, then shuts down: beacons
// stop, streams end with UNAVAILABLE, servers stop within ShutdownTimeout.
// It returns nil after a shutdown asked for by ctx. Call it once.
func (s *Server) Run(ctx context.Context) error {
	ls, err := s.bind()
	if err != nil {
		ls.close()
		return err
	}
	r := s.start(ls)
	var runErr error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down", "reason", context.Cause(ctx))
	case runErr = <-r.failed:
		s.log.Log(context.Background(), LevelFatal, "shutting down", "err", runErr)
	}
	s.shutdown(r)
	s.log.Info("nexusd stopped")
	return runErr
}

// running is a started server's parts, as shutdown needs them.
type running struct {
	loop                  *loop
	mesh                  *meshClient
	disc                  *discovery // nil in the Harness, which sends no beacons
	meshSrv, appSrv       *grpc.Server
	meshHealth, appHealth *health.Server
	http                  *http.Server // nil when off
	loopCtx, discCtx      context.Context
	stopLoop, stopDisc    context.CancelFunc
	stopMesh              context.CancelFunc
	wg                    sync.WaitGroup // the loop, discovery and the servers
	failed                chan error     // a server that stopped on its own
}

// start builds the daemon's parts on the bound sockets and starts them all.
func (s *Server) start(ls *listeners) *running {
	o := &s.o
	r := s.assemble(ls.disc)
	r.disc = ls.disc
	r.wg.Go(func() { ls.disc.run(r.discCtx) })
	r.wg.Go(func() { s.watchCredentials(r.discCtx) })
	if ls.http != nil {
		r.http = s.adminServer()
		r.serve("admin", func() error { return r.http.Serve(ls.http) })
	}
	r.run(ls.mesh, ls.app, ls.appSocket)
	a := s.addrs
	s.log.Info("nexusd started", "cluster", o.Cluster, "mesh", a.Mesh, "advertised", a.Advertised,
		"app", a.App, "app_socket", a.AppSocket, "app_tls", s.appTLS != nil, "mesh_tls", s.meshSecurity(), "admin", a.HTTP, "discovery", a.Discovery, "multicast", a.Multicast, "seeds", o.Peers)
	if !s.authenticated() {
		s.log.Warn(unauthenticatedWarning)
	}
	close(s.ready) // after the start is logged, so a reader of Ready finds it
	return r
}

// assemble builds the loop, the mesh client and both gRPC servers around
// the node, with disc as the beacon path; nothing runs yet. dial is added
// to the mesh client's dial options (the Harness dials peers in memory).
// Run and the Harness both build the daemon here.
func (s *Server) assemble(disc *discovery, dial ...grpc.DialOption) *running {
	o := &s.o
	s.started = o.Clock.Now()
	l := newLoop(s.node, o.Clock, s.log, s.metrics, o.LoopInputQueue, o.CallTimeout, o.BlockTimeout)
	s.loop = l
	r := &running{loop: l, failed: make(chan error, 4)} // one a server: mesh, admin, sidecar on TCP and on its socket
	var meshCtx context.Context
	r.loopCtx, r.stopLoop = context.WithCancel(context.Background())
	r.discCtx, r.stopDisc = context.WithCancel(context.Background())
	meshCtx, r.stopMesh = context.WithCancel(context.Background())

	r.mesh = newMeshClient(meshCtx, s.id, o, s.log, o.Clock, &s.metrics.shell, l.complete, s.meshDialCredentials())
	r.mesh.dial = append(r.mesh.dial, dial...)
	l.mesh, l.beacons = r.mesh, disc
	disc.post = func(ev state.Event) { _ = l.post(r.discCtx, input{ev: ev}) }
	s.metrics.reg.MustRegister(newCoreCollector(s.id, o.Cluster, s.snapshot, &s.metrics.shell))
	r.meshSrv, r.meshHealth = s.meshServer(l)
	r.appSrv, r.appHealth = s.sidecarServer(l)
	return r
}

// run starts the loop and serves the mesh and the sidecar on their
// listeners (the sidecar on each of apps that is not nil); their health
// services then report SERVING.
func (r *running) run(mesh net.Listener, apps ...net.Listener) {
	r.wg.Go(func() { r.loop.run(r.loopCtx) })
	r.serve("mesh", func() error { return r.meshSrv.Serve(mesh) })
	for _, app := range apps {
		if app != nil {
			r.serve("sidecar", func() error { return r.appSrv.Serve(app) })
		}
	}
	r.meshHealth.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	r.appHealth.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
}

// serve runs one server; if it stops on its own, failed says why.
func (r *running) serve(what string, f func() error) {
	r.wg.Go(func() {
		if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
			r.failed <- fmt.Errorf("%s server: %w", what, err)
		}
	})
}

// shutdown refuses new calls and ends the waiting ones, tells peers it is
// leaving and stops beacons, lets the servers finish (streams end at once, unary calls get a quarter
// of ShutdownTimeout, connections from unreachable peers are not waited
// for), then stops the mesh client and the loop and closes the peer
// connections, all within ShutdownTimeout.
func (s *Server) shutdown(r *running) {
	clk := s.o.Clock
	deadline := clk.Timer(s.o.ShutdownTimeout)
	defer deadline.Stop()
	grace := s.o.ShutdownTimeout / 4
	s.stopping.Store(true)
	close(r.loop.stopping)
	r.meshHealth.Shutdown()
	r.appHealth.Shutdown()
	s.leave(r, grace)
	r.stopDisc()
	var stops sync.WaitGroup
	for _, srv := range []*grpc.Server{r.meshSrv, r.appSrv} {
		stops.Go(func() { stopGRPC(clk, srv, grace) })
	}
	if r.http != nil {
		stops.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), grace) // net/http knows only the real clock
			defer cancel()
			if r.http.Shutdown(ctx) != nil {
				r.http.Close()
			}
		})
	}
	stops.Wait()
	s.log.Debug("servers stopped")
	r.stopMesh()
	r.stopLoop()
	<-r.loop.done
	r.mesh.closeAll() // the loop is gone: the peers map is ours now
	done := make(chan struct{})
	go func() { r.mesh.wait(); close(done) }()
	select {
	case <-done:
	case <-deadline.C:
		s.log.Warn("mesh calls still under way at shutdown; stopping anyway")
	}
	r.wg.Wait()
}

// leave tells the peers this daemon is stopping, so they drop it at once:
// the node takes state.Leaving and asks for its leave beacon, which
// discovery sends a few times to the group and the seeds, and beside it
// the mesh client calls Leave on every peer it has a connection to, in
// parallel (the notice reaches them where beacons are lost). It waits for
// both to be done for at most bound; a stop is never held up longer.
func (s *Server) leave(r *running, bound time.Duration) {
	if r.disc == nil {
		return
	}
	t := s.o.Clock.Timer(bound)
	defer t.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends the notices still under way
	posted := make(chan error, 1)
	go func() { posted <- r.loop.post(ctx, input{ev: &state.Leaving{}}) }()
	select {
	case err := <-posted:
		if err != nil {
			return // the loop is gone: nothing to announce
		}
	case <-t.C:
		s.log.Warn("could not announce leaving in time: peers will time this daemon out")
		return
	}
	noticed := make(chan (<-chan struct{}), 1)
	go func() {
		// The peers map is the loop's: the calls start on it.
		if r.loop.query(ctx, func(*loop) { noticed <- r.mesh.Leave(ctx) }) != nil {
			select {
			case noticed <- nil: // the loop is gone: no notice
			default: // sent by the query after all
			}
		}
	}()
	var notices <-chan struct{}
	beacons := r.disc.Left()
	for beacons != nil || noticed != nil || notices != nil {
		select {
		case notices = <-noticed:
			noticed = nil
		case <-notices:
			notices = nil
		case <-beacons:
			beacons = nil
		case <-t.C:
			s.log.Warn("could not announce leaving in time: peers will time this daemon out")
			return
		}
	}
	s.log.Debug("leave announced")
}

// bind opens every socket, so a port in use fails before anything runs.
func (s *Server) bind() (*listeners, error) {
	o := &s.o
	ls := &listeners{}
	var err error
	if ls.mesh, err = net.Listen("tcp4", net.JoinHostPort(o.Bind, strconv.Itoa(o.MeshPort))); err != nil {
		return ls, fmt.Errorf("--mesh-port: cannot listen on %s:%d: %w", o.Bind, o.MeshPort, err)
	}
	// A connection costs goroutines and buffers before it authenticates;
	// a caller that opens many waits (handshakes time out in 10 s).
	ls.mesh = netutil.LimitListener(ls.mesh, o.MeshMaxConns)
	if o.AppPort != AppPortOff {
		if ls.app, err = net.Listen("tcp4", net.JoinHostPort(o.AppBind, strconv.Itoa(o.AppPort))); err != nil {
			return ls, fmt.Errorf("--app-port: cannot listen on %s:%d: %w", o.AppBind, o.AppPort, err)
		}
		s.addrs.App = ls.app.Addr().String()
		if s.appTLS != nil {
			ls.app = s.appTLS.listener(ls.app)
		}
	}
	if o.AppSocket != "" {
		if ls.appSocket, err = listenAppSocket(o); err != nil {
			return ls, err
		}
		s.addrs.AppSocket = o.AppSocket
		logAppSocketBuffers(s.log)
	}
	if o.HTTPAddr != "" {
		if ls.http, err = net.Listen("tcp", o.HTTPAddr); err != nil {
			return ls, fmt.Errorf("--http-addr: cannot listen on %s: %w", o.HTTPAddr, err)
		}
	}
	var ifi *net.Interface
	if o.McastAddr != "" || o.McastIface != "" {
		if ifi, err = multicastInterface(o.McastIface); err != nil {
			return ls, err
		}
	}
	ip := advertisedIP(o, ifi)
	meshPort := ls.mesh.Addr().(*net.TCPAddr).Port
	adv := net.JoinHostPort("", strconv.Itoa(meshPort))
	if ip.IsValid() {
		adv = netip.AddrPortFrom(ip, uint16(meshPort)).String()
	}
	self := state.Beacon{Instance: s.id, Cluster: o.Cluster, Addr: adv, Version: protocolVersion}
	if ls.disc, err = openDiscovery(o, ifi, self, s.creds, s.log, o.Clock, &s.metrics.shell); err != nil {
		return ls, err
	}
	s.addrs.Mesh, s.addrs.Advertised, s.addrs.Multicast = ls.mesh.Addr().String(), adv, "off"
	s.addrs.Discovery = ls.disc.conn.LocalAddr().String()
	if ls.http != nil {
		s.addrs.HTTP = ls.http.Addr().String()
	}
	if ls.disc.group != nil {
		s.addrs.Multicast = ls.disc.group.String() + " on " + ifi.Name
	}
	return ls, nil
}

func (s *Server) meshServer(l *loop) (*grpc.Server, *health.Server) {
	stopU, stopS := refuseWhileStopping(l.stopping)
	idU, idS := withInstance(s.id)
	auth, authU, authS := s.meshAuth() // first: a caller without a certificate learns nothing, not even our id
	srv, hs := newGRPCServer(&s.o, s.o.MaxStateBytes, s.o.MeshMaxStreams,
		append(authU, idU, stopU), append(authS, idS, stopS), append(auth, grpc.ReadBufferSize(meshReadBufferBytes))...)
	meshpb.RegisterMeshServiceServer(srv, &meshServer{loop: l, log: s.log, frames: pushFrameLimits(&s.o)})
	return srv, hs
}

func (s *Server) sidecarServer(l *loop) (*grpc.Server, *health.Server) {
	countU, countS := countRefusals(s.metrics)
	stopU, stopS := refuseWhileStopping(l.stopping)
	unary := []grpc.UnaryServerInterceptor{countU}
	stream := []grpc.StreamServerInterceptor{countS}
	if s.o.AppToken != "" {
		tokU, tokS := requireToken(s.o.AppToken)
		unary, stream = append(unary, tokU), append(stream, tokS)
	}
	// Every answer names this run of the daemon (header nexusd-instance),
	// so a client that reconnects knows whether the sequence numbers it
	// holds are still this daemon's or were given by an earlier run.
	idU, idS := withInstance(s.id)
	unary, stream = append(unary, idU), append(stream, idS)
	srv, hs := newGRPCServer(&s.o, maxMessageBytes(&s.o), s.o.AppMaxStreams,
		append(unary, stopU), append(stream, stopS), grpc.MaxRecvMsgSize(sidecarMaxRecv(&s.o)))
	sidecarpb.RegisterSidecarServiceServer(srv, &sidecarServer{loop: l, o: &s.o, log: s.log, cluster: s.o.Cluster, metrics: s.metrics})
	return srv, hs
}

// snapshot asks the loop for the numbers metrics report.
func (s *Server) snapshot() (snapshot, bool) {
	var snap snapshot
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := s.loop.query(ctx, func(l *loop) {
		snap = snapshot{status: l.node.Status(), loop: l.stats, queue: len(l.in)}
	})
	if err != nil {
		return snapshot{}, false // snap is not ours to read: the loop may still write it
	}
	return snap, true
}

// stopGRPC stops a server gracefully, or after grace at the latest.
func stopGRPC(clk clock.Clock, srv *grpc.Server, grace time.Duration) {
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	t := clk.Timer(grace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		srv.Stop()
		<-done
	}
}
