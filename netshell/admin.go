package netshell

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/pprof"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed status.html
var statusPage []byte

// adminServer serves the admin endpoint: /metrics (Prometheus), /healthz
// (the loop answers), /readyz (serving and not shutting down),
// /debug/pprof/, the status page at / and its data at /api/status.
func (s *Server) adminServer() *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.reg, promhttp.HandlerOpts{MaxRequestsInFlight: 4}))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /api/status", s.apiStatus)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'")
		w.Write(statusPage)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute}
}

// healthz: the process is alive and its loop answers within a second.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if err := s.loop.query(ctx, func(*loop) {}); err != nil {
		http.Error(w, "loop not answering: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ok")
}

// readyz: every listener is serving and shutdown has not begun.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	select {
	case <-s.ready:
	default:
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	if s.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	fmt.Fprintln(w, "ready")
}

// StatusReport is what /api/status answers and the status page draws.
type StatusReport struct {
	Node          NodeReport           `json:"node"`
	Peers         []PeerReport         `json:"peers"`         // by id
	Topics        []TopicReport        `json:"topics"`        // by pattern
	Subscriptions []SubscriptionReport `json:"subscriptions"` // by id
}

// NodeReport describes this daemon.
type NodeReport struct {
	ID      string `json:"id"`      // instance uuid, new on every start
	Cluster string `json:"cluster"` // --cluster
	// How members are told from strangers: "cluster-key" (signed beacons,
	// mutual TLS from the key), "cluster-key+tls-files" (signed beacons,
	// mutual TLS from --tls-*), "tls-files" (mutual TLS; beacons unsigned)
	// or "unauthenticated" (anyone who reaches the ports is a member).
	Security      string `json:"mesh_security"`
	Authenticated bool   `json:"mesh_authenticated"` // mesh calls need a member's certificate
	// What an operator should know first; without a key or TLS files,
	// unauthenticatedWarning.
	Warnings       []string `json:"warnings"`
	Advertised     string   `json:"advertised"`       // mesh endpoint announced in beacons
	Mesh           string   `json:"mesh"`             // mesh gRPC listener
	App            string   `json:"app"`              // sidecar gRPC listener (TCP); "" when --app-port off
	AppSocket      string   `json:"app_socket"`       // sidecar Unix socket (--app-socket); "" when none
	Multicast      string   `json:"multicast"`        // group:port on interface, or "off"
	Seeds          []string `json:"seeds"`            // --peers
	Hash           string   `json:"topic_state_hash"` // our beacon hash, hex
	UptimeSeconds  float64  `json:"uptime_seconds"`
	Subscriptions  int      `json:"subscriptions"`   // active
	Paused         int      `json:"paused"`          // paused subscriptions
	Retained       int      `json:"retained"`        // retained values held
	BufferedMsgs   int      `json:"buffered_msgs"`   // in replay rings
	Published      uint64   `json:"published"`       // local publishes accepted
	DeliveredLocal uint64   `json:"delivered_local"` // messages handed to local streams
	ReceivedRemote uint64   `json:"received_remote"` // messages accepted from peers
	Forwarded      uint64   `json:"forwarded"`       // pushes to peers
	Dropped        uint64   `json:"dropped"`         // subscription queue drops
}

// PeerReport describes one peer as this daemon sees it.
type PeerReport struct {
	ID          string   `json:"id"`            // instance uuid
	Addr        string   `json:"addr"`          // mesh endpoint
	Status      string   `json:"status"`        // alive or suspected (dead peers are removed)
	LastSeenMs  int64    `json:"last_seen_ms"`  // our wall clock at its last beacon or probe answer
	LastSeenAgo float64  `json:"last_seen_ago"` // seconds since then
	Synced      bool     `json:"synced"`        // the state we fetched matches its latest beacon
	Hash        string   `json:"hash"`          // from its latest beacon, hex
	Topics      []string `json:"topics"`        // its subscribed patterns, as last fetched
	InFlight    int      `json:"in_flight"`     // pushes awaiting its ack
	Backlog     int      `json:"backlog"`       // pushes waiting to be sent
	Resting     bool     `json:"resting"`       // pushes paused after a failure
}

// TopicReport is one subscribed pattern on this daemon.
type TopicReport struct {
	Pattern     string `json:"pattern"`
	Subscribers int    `json:"subscribers"` // local subscriptions holding it
}

// SubscriptionReport describes one local subscription.
type SubscriptionReport struct {
	ID        string   `json:"id"`
	ClientID  string   `json:"client_id"`
	Patterns  []string `json:"patterns"`
	Paused    bool     `json:"paused"`
	Queued    int      `json:"queued"` // live messages waiting for credit
	Limit     int      `json:"limit"`  // queue limit
	Policy    string   `json:"policy"` // drop-oldest, drop-newest or block
	Delivered uint64   `json:"delivered"`
	Dropped   uint64   `json:"dropped"`
	Expired   uint64   `json:"expired"`
	Lost      uint64   `json:"lost"` // lost between daemons on its topics (sequence numbers skip them)
}

// Status reports the daemon's state, read on its loop; the server must be
// running (Ready).
func (s *Server) Status(ctx context.Context) (StatusReport, error) {
	select {
	case <-s.ready:
	default:
		return StatusReport{}, errors.New("nexusd is not running yet")
	}
	var rep StatusReport
	err := s.loop.query(ctx, func(l *loop) { rep = s.report(l) })
	if err != nil {
		return StatusReport{}, err
	}
	return rep, nil
}

// report runs on the loop.
func (s *Server) report(l *loop) StatusReport {
	st := l.node.Status()
	now := l.now()
	k := &st.Counters
	rep := StatusReport{
		Node: NodeReport{
			ID: s.id, Cluster: s.o.Cluster, Security: s.securityMode(), Authenticated: s.authenticated(), Warnings: s.warnings(), Advertised: s.addrs.Advertised, Mesh: s.addrs.Mesh, App: s.addrs.App, AppSocket: s.addrs.AppSocket,
			Multicast: s.addrs.Multicast, Seeds: nonNil(s.o.Peers), Hash: fmt.Sprintf("%016x", st.Hash),
			UptimeSeconds: s.o.Clock.Since(s.started).Seconds(), Subscriptions: st.Subscriptions, Paused: st.Paused,
			Retained: st.Retained, BufferedMsgs: st.BufferedMsgs, Published: k.Published, DeliveredLocal: k.DeliveredLocal,
			ReceivedRemote: k.ReceivedRemote, Forwarded: k.Forwarded, Dropped: k.Dropped,
		},
		Peers:         []PeerReport{},
		Topics:        []TopicReport{},
		Subscriptions: []SubscriptionReport{},
	}
	for _, p := range l.node.Peers() {
		rep.Peers = append(rep.Peers, PeerReport{
			ID: p.ID, Addr: p.Addr, Status: p.Status.String(), LastSeenMs: p.LastSeenMs,
			LastSeenAgo: float64(now.WallMs-p.LastSeenMs) / 1000, Synced: p.Synced, Hash: fmt.Sprintf("%016x", p.Hash),
			Topics: nonNil(p.Patterns), InFlight: p.Link.InFlight, Backlog: p.Link.Backlog, Resting: p.Link.Resting,
		})
	}
	counts := l.node.TopicCounts()
	for _, t := range slices.Sorted(maps.Keys(counts)) {
		rep.Topics = append(rep.Topics, TopicReport{Pattern: t, Subscribers: counts[t]})
	}
	for _, sub := range l.node.Subscriptions() {
		rep.Subscriptions = append(rep.Subscriptions, SubscriptionReport{
			ID: sub.ID, ClientID: sub.ClientID, Patterns: nonNil(sub.Patterns), Paused: sub.Paused, Queued: sub.Queued,
			Limit: sub.Limit, Policy: sub.Policy.String(), Delivered: sub.Delivered, Dropped: sub.Dropped, Expired: sub.Expired,
			Lost: sub.Lost,
		})
	}
	slices.SortFunc(rep.Peers, func(a, b PeerReport) int { return strings.Compare(a.ID, b.ID) })
	return rep
}

// nonNil is list, or an empty one: /api/status gives [] for an empty list,
// never null.
func nonNil[T any](list []T) []T {
	if list == nil {
		return []T{}
	}
	return list
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	rep, err := s.Status(ctx)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(rep)
}
