package netshell

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/nexusd/nexusd/internal/pushstream"
	"github.com/nexusd/nexusd/state"
)

// Options is every setting of a daemon. The flags of cmd/nexusd fill it
// (see ParseFlags); DefaultOptions says why each default is what it is.
// Validate names the flag behind a setting that cannot work.
type Options struct {
	// Discovery.
	Cluster             string        // --cluster: exact-match isolation boundary
	McastAddr           string        // --mcast-addr: IPv4 group; "" turns multicast off (seeds only)
	McastPort           int           // --mcast-port: UDP port beacons go to and arrive on
	McastIface          string        // --mcast-iface: interface name; "" = first up, multicast-capable, non-loopback
	AdvertiseAddr       string        // --advertise-addr: IP peers reach the mesh port at; "" = derived
	Peers               []string      // --peers: seed discovery addresses, host[:port]
	SeedResolveInterval time.Duration // --seed-resolve-interval: how often seed DNS names are looked up again

	// Listeners.
	Bind     string // --bind: IP the mesh server listens on
	MeshPort int    // --mesh-port: TCP port of the mesh server (0 = any, for tests)
	AppBind  string // --app-bind: IP the sidecar server listens on
	AppPort  int    // --app-port: TCP port of the sidecar server (0 = any, for tests; AppPortOff = none, --app-socket only)
	AppToken string // --app-token: bearer token the sidecar requires; "" = none
	HTTPAddr string // --http-addr: admin HTTP host:port; "" = no admin endpoint

	// Security (docs/protocol.md §10; README "Security").
	ClusterKeyFile string      // --cluster-key: keyring file; "" = beacons and mesh unauthenticated
	TLSCert        string      // --tls-cert: PEM certificate (chain) this daemon presents on the mesh; "" = mesh TLS from --cluster-key, or none
	TLSKey         string      // --tls-key: its PEM private key
	TLSCA          string      // --tls-ca: PEM CAs peers' mesh certificates must chain to
	AppSocket      string      // --app-socket: Unix socket the sidecar also serves on; "" = none
	AppSocketMode  os.FileMode // --app-socket-mode: its permission bits
	AppSocketOwner string      // --app-socket-owner: user[:group] it is given to; "" = the daemon's user
	AppTLSCert     string      // --app-tls-cert: PEM certificate the sidecar's TCP port serves TLS with; "" = plaintext
	AppTLSKey      string      // --app-tls-key: its PEM private key
	AppTLSCA       string      // --app-tls-ca: PEM CAs whose client certificates the sidecar requires; "" = none asked

	// Membership and calls.
	BeaconInterval     time.Duration // --beacon-interval: mean time between beacons
	SuspectAfter       time.Duration // --suspect-after: silence before a peer is probed (at most 3/5 of PeerTimeout)
	PeerTimeout        time.Duration // --peer-timeout: silence before a peer is removed
	MaxFetchesInFlight int           // --max-fetches-in-flight: state fetches at once, all peers
	MeshMaxConns       int           // --mesh-max-conns: connections the mesh port holds at once
	MeshPacked         bool          // --mesh-packed: push to peers in packed frames (PushPacked); false: PushMessageBatchStream only
	CallTimeout        time.Duration // what any mesh call gets before it fails

	// Limits and policies (docs/protocol.md §7, §9).
	MaxPayloadBytes    int           // --max-payload
	MessageBufferSize  int           // --message-buffer-size: replay ring per topic, messages
	RingBytes          int           // --max-buffer-memory: all replay rings together
	BudgetBytes        int           // --max-buffer-bytes: every store that holds messages together
	QueueBytes         int           // --subscriber-queue-bytes: per subscription
	PeerBacklogBytes   int           // --peer-backlog-bytes: pushes not done to one peer, and what a dead one missed
	PausedTTL          time.Duration // --paused-subscription-ttl
	QueueLimit         int           // --subscriber-queue-limit: per subscription, messages
	BackpressurePolicy state.Policy  // --backpressure-policy: the default policy
	BlockTimeout       time.Duration // --block-timeout (or --block-timeout-ms)
	DefaultTTL         time.Duration // --default-message-ttl: 0 = none
	HeartbeatInterval  time.Duration // --heartbeat-interval: an idle subscription stream hears this often
	MaxPatterns        int           // --max-patterns: distinct subscribed patterns on this node
	MaxRetained        int           // --max-retained: retained topics held
	// QueueGroupLocalFirst: --queue-group-local-first: prefer a queue
	// group's member on the publishing daemon.
	QueueGroupLocalFirst bool

	// Shell tuning; not flags.
	StreamWindow       int           // events a subscription stream may hold unsent (its credit)
	StreamWindowBytes  int           // and payload bytes
	MaxBatch           int           // the largest SubscribeRequest.max_batch honoured
	MaxPushBatch       int           // messages in one mesh push batch
	MaxPushBatchBytes  int           // payload bytes in one mesh push batch
	MaxStateBytes      int           // largest NodeState accepted from a peer
	MaxPublishBatch    int           // requests in one PublishStream batch
	PublishStreamBytes int           // payload (plus 1 KiB a request) of one PublishStream waiting for answers
	MeshMaxStreams     uint32        // concurrent streams per mesh connection
	AppMaxStreams      uint32        // concurrent streams per sidecar connection
	ShutdownTimeout    time.Duration // how long streams and calls get to finish on shutdown
	LoopInputQueue     int           // events waiting for the loop before senders block

	// Logging; read by the caller that builds the logger (cmd/nexusd).
	LogLevel  slog.Level // --log-level
	LogFormat string     // --log-format: text or json

	// Clock drives every timer of the shell; nil = the real clock.
	Clock clock.Clock
}

// AppPortOff as Options.AppPort (--app-port off) opens no TCP port for the
// sidecar: applications reach it on --app-socket only.
const AppPortOff = -1

// DefaultOptions returns the defaults of docs/protocol.md; §N names the
// section of each.
func DefaultOptions() Options {
	return Options{
		Cluster:             "default",      // §2.1: one cluster unless told otherwise
		McastAddr:           "239.255.42.1", // §2.2; administratively scoped, stays on site
		McastPort:           5670,           // §2.2
		SeedResolveInterval: 30 * time.Second,

		Bind:     "0.0.0.0",   // §1: peers on any interface reach the mesh
		MeshPort: 5671,        // §1
		AppBind:  "127.0.0.1", // §10.7: applications are local; anything else needs --app-token or TLS
		AppPort:  5672,        // §10.7
		HTTPAddr: "127.0.0.1:8080",

		AppSocketMode: 0o660, // the daemon's user and group (the application's, with --app-socket-owner); nobody else

		BeaconInterval:     time.Second,     // §2.2: 1 Hz
		SuspectAfter:       3 * time.Second, // §2.4
		PeerTimeout:        5 * time.Second, // §2.4
		MaxFetchesInFlight: 16,              // §3.2
		MeshMaxConns:       4096 + 512,      // one a peer at the peer cap, plus probes and tools
		MeshPacked:         true,            // a peer without PushPacked is found out and pushed to the old way
		CallTimeout:        2 * time.Second, // below PeerTimeout, so a failed probe is known in time

		MaxPayloadBytes:    1 << 20,           // §9: 1 MiB
		MessageBufferSize:  1024,              // §8
		RingBytes:          64 << 20,          // §8: 64 MiB
		BudgetBytes:        512 << 20,         // §7.3: --max-buffer-bytes
		QueueBytes:         64 << 20,          // one subscriber that never reads holds at most this
		PeerBacklogBytes:   64 << 20,          // as much as one subscriber queue
		PausedTTL:          300 * time.Second, // §8
		QueueLimit:         10000,             // §7.2
		BackpressurePolicy: state.DropOldest,  // §7.2
		BlockTimeout:       5 * time.Second,   // §7.2: 5000 ms
		DefaultTTL:         0,                 // §7.3: none
		HeartbeatInterval:  30 * time.Second,  // §7.2
		MaxPatterns:        10000,             // §4.3
		MaxRetained:        100000,            // §6.1

		StreamWindow:       256,                               // a few gRPC frames of small messages; more only moves the queue out of the node
		StreamWindowBytes:  4 << 20,                           // a few large messages: what waits is held by the node, in its queue's bytes
		MaxBatch:           1024,                              // larger batches gain nothing and delay the first message
		MaxPushBatch:       pushstream.DefaultLimits.Messages, // as the simulator batches
		MaxPushBatchBytes:  pushstream.DefaultLimits.Bytes,
		MaxStateBytes:      256 << 20, // 100000 retained values of ~2 KiB; beyond that a fetch is refused
		MaxPublishBatch:    4096,      // one frame of small publishes
		PublishStreamBytes: 64 << 20,  // many full batches in flight; bounded whatever the client sends
		MeshMaxStreams:     256,       // a peer needs one push stream and a few calls
		AppMaxStreams:      10000,     // one per subscription; the node's own cap is 10000
		ShutdownTimeout:    4 * time.Second,
		LoopInputQueue:     4096,

		LogLevel:  slog.LevelInfo,
		LogFormat: "text",
	}
}

// Validate reports the first setting that cannot work, naming its flag and
// what it accepts.
func (o *Options) Validate() error {
	if o.Cluster == "" || len(o.Cluster) > 64 {
		return fmt.Errorf("--cluster: %q: want 1 to 64 bytes", o.Cluster)
	}
	if o.McastAddr != "" {
		a, err := netip.ParseAddr(o.McastAddr)
		if err != nil || !a.Is4() || !a.IsMulticast() {
			return fmt.Errorf("--mcast-addr: %q: want an IPv4 multicast group such as 239.255.42.1, or \"\" to turn multicast off", o.McastAddr)
		}
	}
	// Port 0 (any free port) only makes sense without multicast: tests.
	if err := checkPort("--mcast-port", o.McastPort, o.McastAddr == ""); err != nil {
		return err
	}
	if o.McastIface != "" {
		if _, err := net.InterfaceByName(o.McastIface); err != nil {
			return fmt.Errorf("--mcast-iface: no interface named %q: want one of %s", o.McastIface, interfaceNames())
		}
	}
	if o.AdvertiseAddr != "" {
		a, err := netip.ParseAddr(o.AdvertiseAddr)
		if err != nil || !a.Is4() || a.IsUnspecified() || a.IsMulticast() {
			return fmt.Errorf("--advertise-addr: %q: want the IPv4 address peers reach this host at", o.AdvertiseAddr)
		}
	}
	for _, p := range o.Peers {
		if _, err := seedAddr(p, o.McastPort); err != nil {
			return fmt.Errorf("--peers: %v", err)
		}
	}
	if err := checkIP("--bind", o.Bind); err != nil {
		return err
	}
	if err := checkIP("--app-bind", o.AppBind); err != nil {
		return err
	}
	if err := checkPort("--mesh-port", o.MeshPort, true); err != nil {
		return err
	}
	if err := checkPort("--app-port", o.AppPort, true); o.AppPort != AppPortOff && err != nil {
		return err
	}
	if err := o.checkAppSocket(); err != nil {
		return err
	}
	if err := o.checkSidecarTLS(); err != nil {
		return err
	}
	if err := o.checkMeshTLS(); err != nil {
		return err
	}
	if o.MeshPort != 0 && o.MeshPort == o.AppPort {
		return fmt.Errorf("--app-port: %d is also --mesh-port: give the two servers different ports", o.AppPort)
	}
	if a, _ := netip.ParseAddr(o.AppBind); !a.IsLoopback() && o.AppPort != AppPortOff && o.AppToken == "" && o.AppTLSCert == "" {
		return fmt.Errorf("--app-token or --app-tls-cert: one is required when --app-bind (%s) is not a loopback address: applications elsewhere must present the token or reach the sidecar over TLS", o.AppBind)
	}
	if o.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(o.HTTPAddr); err != nil {
			return fmt.Errorf("--http-addr: %q: want host:port such as 127.0.0.1:8080, or \"\" for none", o.HTTPAddr)
		}
	}
	if o.PeerTimeout < 500*time.Millisecond || o.PeerTimeout > time.Hour {
		return fmt.Errorf("--peer-timeout: %s: want a duration from 500ms to 1h, such as 5s", o.PeerTimeout)
	}
	if o.BeaconInterval < 10*time.Millisecond || o.BeaconInterval > time.Minute {
		return fmt.Errorf("--beacon-interval: %s: want a duration from 10ms to 1m, such as 1s", o.BeaconInterval)
	}
	if o.BeaconInterval*2 > o.PeerTimeout {
		return fmt.Errorf("--peer-timeout: %s leaves no room for two beacons at %s each: give at least %s", o.PeerTimeout, o.BeaconInterval, 2*o.BeaconInterval)
	}
	if o.SuspectAfter < o.BeaconInterval {
		return fmt.Errorf("--suspect-after: %s: want at least --beacon-interval (%s); it is capped at 3/5 of --peer-timeout", o.SuspectAfter, o.BeaconInterval)
	}
	if o.SeedResolveInterval < time.Second {
		return fmt.Errorf("--seed-resolve-interval: %s: want 1s or more, such as 30s", o.SeedResolveInterval)
	}
	if o.HeartbeatInterval < time.Second {
		return fmt.Errorf("--heartbeat-interval: %s: want 1s or more, such as 30s", o.HeartbeatInterval)
	}
	ints := []struct {
		flag      string
		n, lo, hi int
	}{
		{"--max-payload", o.MaxPayloadBytes, 1, 64 << 20},
		{"--message-buffer-size", o.MessageBufferSize, 1, 1 << 24},
		{"--max-buffer-memory", o.RingBytes, 1, 1 << 40},
		{"--max-buffer-bytes", o.BudgetBytes, 1 << 20, 1 << 42},
		{"--subscriber-queue-bytes", o.QueueBytes, 1, 1 << 40},
		{"--peer-backlog-bytes", o.PeerBacklogBytes, 1, 1 << 40},
		{"--subscriber-queue-limit", o.QueueLimit, 1, 1 << 24},
		{"--max-fetches-in-flight", o.MaxFetchesInFlight, 1, 1024},
		{"--mesh-max-conns", o.MeshMaxConns, 2, 1 << 20},
		{"--max-patterns", o.MaxPatterns, 1, 1 << 20},
		{"--max-retained", o.MaxRetained, 1, 1 << 24},
	}
	for _, c := range ints {
		if c.n < c.lo || c.n > c.hi {
			return fmt.Errorf("%s: %d: want %d to %d", c.flag, c.n, c.lo, c.hi)
		}
	}
	if o.PausedTTL <= 0 {
		return fmt.Errorf("--paused-subscription-ttl: %s: want a positive duration such as 300s", o.PausedTTL)
	}
	if o.BlockTimeout <= 0 {
		return fmt.Errorf("--block-timeout: %s: want a positive duration such as 5s", o.BlockTimeout)
	}
	if o.DefaultTTL < 0 {
		return fmt.Errorf("--default-message-ttl: %s: want 0 (none) or a positive duration", o.DefaultTTL)
	}
	if o.BackpressurePolicy > state.Block {
		return fmt.Errorf("--backpressure-policy: %s: want drop-oldest, drop-newest or block", o.BackpressurePolicy)
	}
	if o.LogFormat != "text" && o.LogFormat != "json" {
		return fmt.Errorf("--log-format: %q: want text or json", o.LogFormat)
	}
	if o.StreamWindow < 4 || o.StreamWindowBytes < 1<<10 || o.MaxBatch < 1 || o.MaxPushBatch < 1 || o.MaxPushBatchBytes < 1 ||
		o.MaxPublishBatch < 1 || o.PublishStreamBytes < 1<<20 || o.LoopInputQueue < 1 ||
		o.CallTimeout <= 0 || o.ShutdownTimeout <= 0 || o.SeedResolveInterval <= 0 {
		return fmt.Errorf("options: shell tuning out of range (StreamWindow %d, MaxBatch %d, MaxPushBatch %d, PublishStreamBytes %d, CallTimeout %s)",
			o.StreamWindow, o.MaxBatch, o.MaxPushBatch, o.PublishStreamBytes, o.CallTimeout)
	}
	return nil
}

// nodeConfig is the core's configuration for these options.
func (o *Options) nodeConfig(nodeID string, rand state.Source) state.Config {
	c := state.DefaultConfig(nodeID, o.Cluster, rand)
	c.BeaconInterval = o.BeaconInterval
	c.PeerTimeout = o.PeerTimeout
	// docs/protocol.md §2.4: suspected after 3 s of a 5 s timeout. A
	// shorter timeout keeps at least that proportion, so a probe still has
	// time to save the peer.
	c.SuspectAfter = min(o.SuspectAfter, o.PeerTimeout*3/5)
	c.MaxFetchesInFlight = o.MaxFetchesInFlight
	c.HeartbeatInterval = o.HeartbeatInterval
	c.MaxPatterns = o.MaxPatterns
	c.MaxRetained = o.MaxRetained
	c.CallTimeout = o.CallTimeout
	c.MaxPayloadBytes = o.MaxPayloadBytes
	c.MessageBufferSize = o.MessageBufferSize
	c.RingBytes = o.RingBytes
	c.BudgetBytes = o.BudgetBytes
	c.QueueBytes = o.QueueBytes
	c.PeerBacklogBytes = o.PeerBacklogBytes
	c.PausedTTL = o.PausedTTL
	c.QueueLimit = o.QueueLimit
	c.QueueGroupLocalFirst = o.QueueGroupLocalFirst
	c.DefaultPolicy = o.BackpressurePolicy
	c.BlockTimeout = o.BlockTimeout
	c.DefaultTTL = o.DefaultTTL
	c.Members = o.ClusterKeyFile != "" // only beacons that prove the key admit a peer
	return c
}

func checkPort(flag string, p int, zeroOK bool) error {
	lo := 1
	if zeroOK {
		lo = 0
	}
	if p < lo || p > 65535 {
		return fmt.Errorf("%s: %d: want a port number %d to 65535", flag, p, lo)
	}
	return nil
}

func checkIP(flag, s string) error {
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return fmt.Errorf("%s: %q: want an IPv4 address such as 0.0.0.0 or 127.0.0.1", flag, s)
	}
	return nil
}

// seedAddr splits a --peers entry into host and port, defaulting the port
// to the discovery port.
func seedAddr(s string, defaultPort int) (string, error) {
	host, port, err := net.SplitHostPort(s)
	if err != nil && !strings.Contains(s, ":") {
		host, port = s, strconv.Itoa(defaultPort)
	}
	n, perr := strconv.Atoi(port)
	if host == "" || perr != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("seed %q: want host:port (the peer's discovery port) or host", s)
	}
	return net.JoinHostPort(host, port), nil
}
