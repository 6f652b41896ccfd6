package netshell

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
	"golang.org/x/net/ipv4"

	"github.com/nexusd/nexusd/internal/keyring"
	"github.com/nexusd/nexusd/internal/mcastsock"
	"github.com/nexusd/nexusd/state"
)

// maxBeaconBytes is the largest datagram taken as a beacon (docs/protocol.md §2.1).
const maxBeaconBytes = 1400

// leaveBeacons is how many times a stopping daemon sends its leave beacon:
// beacons are best effort, and one lost would leave peers waiting
// PeerTimeout for it after all.
const leaveBeacons = 3

// discovery is the best-effort path: beacons out to the multicast group and
// the seeds, beacons in from anyone. It shares nothing with the mesh's
// reliable calls but the events it posts to the loop.
type discovery struct {
	log   *slog.Logger
	clk   clock.Clock
	conn  net.PacketConn
	group *net.UDPAddr // nil: multicast off
	// from is the advertised address beacons leave from (sendFrom); nil:
	// the route's. srcConn writes with it; srcWarn warns once when it
	// cannot.
	from     net.IP
	srcConn  *ipv4.PacketConn
	srcWarn  sync.Once
	self     state.Beacon // Instance, Cluster, Addr and Version of ours
	counters *shellCounters
	post     func(state.Event) // to the loop; blocks while it is busy

	seedNames []string // host:port as given
	seeds     atomic.Pointer[[]*net.UDPAddr]
	resolve   time.Duration
	lookupIP  func(ctx context.Context, host string) ([]netip.Addr, error) // DNS; tests replace it
	hashes    chan uint64                                                  // the latest hash to announce; holds at most one
	leaves    chan uint64                                                  // the leave beacon's hash; holds at most one
	left      chan struct{}                                                // closed once the leave beacons are sent
	warnOnce  sync.Once

	// The cluster key (beacon_auth.go). ring is the current keyring (nil:
	// none); each side keeps its own HMACs for it. Beacons are numbered
	// (epoch, counter): epoch is when this run started, counter counts.
	ring     func() *keyring.Ring
	sendKeys *beaconKeys // the send goroutine's
	recvMu   sync.Mutex  // the receive path's: one reader, and the Harness
	recvKeys *beaconKeys
	sources  sourceLimiter
	epoch    uint64
	counter  uint64
}

// openDiscovery binds the discovery port on every address (multicast and
// unicast seeds both arrive there) and, when multicast is on, joins the
// group on ifi with TTL 1 and loopback on, so daemons on one host hear
// each other.
func openDiscovery(o *Options, ifi *net.Interface, self state.Beacon, creds *credentials, log *slog.Logger, clk clock.Clock, c *shellCounters) (*discovery, error) {
	lc := net.ListenConfig{Control: mcastsock.SharePort}
	conn, err := lc.ListenPacket(context.Background(), "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(o.McastPort)))
	if err != nil {
		return nil, fmt.Errorf("--mcast-port: cannot bind UDP %d: %w", o.McastPort, err)
	}
	d := newDiscovery(o, self, creds, log, clk, c)
	d.conn = conn
	if ap, err := netip.ParseAddrPort(self.Addr); err == nil && ap.Addr().Is4() && !ap.Addr().IsUnspecified() {
		d.from, d.srcConn = ap.Addr().AsSlice(), ipv4.NewPacketConn(conn)
	}
	if o.McastAddr != "" {
		group := &net.UDPAddr{IP: net.ParseIP(o.McastAddr), Port: o.McastPort}
		p := ipv4.NewPacketConn(conn)
		for _, step := range []struct {
			what string
			err  error
		}{
			{"join group", p.JoinGroup(ifi, &net.UDPAddr{IP: group.IP})},
			{"set multicast interface", p.SetMulticastInterface(ifi)},
			{"set multicast TTL 1", p.SetMulticastTTL(1)},
			{"set multicast loopback", p.SetMulticastLoopback(true)},
		} {
			if step.err != nil {
				conn.Close()
				return nil, fmt.Errorf("--mcast-iface %s: %s %s: %w", ifi.Name, step.what, group.IP, step.err)
			}
		}
		d.group = group
	}
	return d, nil
}

// newDiscovery is the beacon path without a socket: what openDiscovery
// binds, and what the in-memory Harness feeds datagrams to.
func newDiscovery(o *Options, self state.Beacon, creds *credentials, log *slog.Logger, clk clock.Clock, c *shellCounters) *discovery {
	d := &discovery{log: log, clk: clk, self: self, counters: c,
		resolve: o.SeedResolveInterval, hashes: make(chan uint64, 1), lookupIP: lookupIPv4,
		leaves: make(chan uint64, 1), left: make(chan struct{}),
		ring: creds.Ring, epoch: uint64(clk.Now().UnixMilli()), sources: newSourceLimiter(clk)}
	for _, p := range o.Peers {
		if s, err := seedAddr(p, o.McastPort); err == nil {
			d.seedNames = append(d.seedNames, s)
		}
	}
	return d
}

// Leave asks for the leave beacons, the last this daemon sends; Left is
// closed once they are out. It never blocks, and only the first call
// counts.
func (d *discovery) Leave(hash uint64) {
	select {
	case d.leaves <- hash:
	default:
	}
}

// Left is closed once the leave beacons are sent.
func (d *discovery) Left() <-chan struct{} { return d.left }

// Announce asks for a beacon with this hash; it never blocks, and a newer
// hash replaces one not yet sent.
func (d *discovery) Announce(hash uint64) {
	for {
		select {
		case d.hashes <- hash:
			return
		default:
		}
		select {
		case <-d.hashes:
		default:
		}
	}
}

// run sends and receives until ctx ends, then closes the socket.
func (d *discovery) run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { d.receive() })
	wg.Go(func() { d.resolveSeeds(ctx) })
	d.send(ctx)
	d.conn.Close()
	wg.Wait()
}

func (d *discovery) send(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case h := <-d.hashes:
			d.sendBeacon(h, false)
		case h := <-d.leaves:
			// The last beacons: a few, in case one is lost, each numbered
			// as a beacon so members take the first and the rest are no
			// replays of it.
			for range leaveBeacons {
				d.sendBeacon(h, true)
			}
			close(d.left)
			<-ctx.Done()
			return
		}
	}
}

// sendBeacon numbers, signs and sends one beacon to the group and every
// seed.
func (d *discovery) sendBeacon(hash uint64, leaving bool) {
	d.counter++
	b := d.self
	b.Hash = hash
	b.Leaving = leaving
	b.WallMs = d.clk.Now().UnixMilli()
	b.Epoch, b.Counter = d.epoch, d.counter
	d.sendKeys = d.sendKeys.forRing(d.ring())
	data, err := encodeBeacon(b, d.sendKeys)
	if err != nil {
		d.log.Error("cannot encode beacon", "err", err)
		return
	}
	if d.group != nil {
		d.write(data, d.group)
	}
	if seeds := d.seeds.Load(); seeds != nil {
		for _, s := range *seeds {
			d.write(data, s)
		}
	}
}

// write sends one datagram from the advertised address (sendFrom), else
// from the one the route gives.
func (d *discovery) write(data []byte, to *net.UDPAddr) {
	if d.sendFrom(data, to) {
		d.counters.beaconsOut.Add(1)
		return
	}
	if _, err := d.conn.WriteTo(data, to); err != nil {
		d.counters.beaconSendErrors.Add(1)
		d.warnOnce.Do(func() {
			d.log.Warn("cannot send beacon (further failures are only counted)", "to", to.String(), "err", err)
		})
		return
	}
	d.counters.beaconsOut.Add(1)
}

// sendFrom sends data from the address the beacon advertises, so that
// its receivers, which take an unsigned beacon only from the address it
// names (decodeBeacon), see it come from there. Without it a datagram
// leaves from the address the route to its destination gives: on a host
// whose multicast route is another interface's, beacons sent on lo would
// come from that interface's address. It reports false when it did not
// send: no advertised address, or one the kernel will not send from to
// there (an address behind NAT, not this host's; 127.0.0.1 to another
// host), which it warns of once.
func (d *discovery) sendFrom(data []byte, to *net.UDPAddr) bool {
	if d.srcConn == nil {
		return false
	}
	_, err := d.srcConn.WriteTo(data, &ipv4.ControlMessage{Src: d.from}, to)
	if err != nil {
		d.srcWarn.Do(func() {
			d.log.Warn("cannot send beacons from the advertised address; they leave from the route's, and peers without a cluster key drop them as address_mismatch (set --advertise-addr to an address of this host)",
				"advertised", d.from.String(), "to", to.String(), "err", err)
		})
	}
	return err == nil
}

func (d *discovery) receive() {
	buf := make([]byte, 64<<10)
	for {
		n, from, err := d.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.log.Warn("discovery read failed", "err", err)
			continue
		}
		d.datagram(buf[:n], from)
	}
}

// datagram takes one datagram that arrived from from: it counts it, drops
// it with a reason (returned, and counted by reason) or hands the beacon to
// the loop. It keeps nothing of data.
func (d *discovery) datagram(data []byte, from net.Addr) (dropped string) {
	d.counters.datagramsIn.Add(1)
	if len(data) > maxBeaconBytes {
		d.counters.beaconDrop(dropTooLarge)
		return dropTooLarge
	}
	var src netip.Addr
	if u, ok := from.(*net.UDPAddr); ok {
		src, _ = netip.AddrFromSlice(u.IP)
	}
	// Without a key every datagram is charged to its source before it is
	// decoded. With one, only those that prove it are: a flood of forged
	// beacons, even from a member's own (spoofed, shared or NATed) address,
	// costs a decode and a MAC each and cannot spend the budget the
	// member's real beacons need (e2e TestBeaconFloodIsBounded...).
	ring := d.ring()
	if ring == nil && !d.sources.allow(src.Unmap()) {
		d.counters.beaconDrop(dropRateLimited)
		return dropRateLimited
	}
	d.recvMu.Lock()
	d.recvKeys = d.recvKeys.forRing(ring)
	b, reason := decodeBeacon(data, src, d.self.Cluster, d.recvKeys)
	d.recvMu.Unlock()
	if reason == "" && ring != nil && !d.sources.allow(src.Unmap()) {
		reason = dropRateLimited // a member's beacons (or replays of them) faster than any member sends
	}
	if reason != "" {
		d.counters.beaconDrop(reason)
		return reason
	}
	d.post(&state.BeaconReceived{Beacon: b})
	return ""
}

// resolveSeeds looks the seed names up now and every resolve interval, so
// a DNS name (a Kubernetes headless service) follows its pods. Every IPv4
// address a name has gets beacons.
func (d *discovery) resolveSeeds(ctx context.Context) {
	if len(d.seedNames) == 0 {
		return
	}
	t := d.clk.Ticker(d.resolve)
	defer t.Stop()
	for {
		var out []*net.UDPAddr
		for _, s := range d.seedNames {
			out = append(out, d.lookup(ctx, s)...)
		}
		d.seeds.Store(&out)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func lookupIPv4(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
}

func (d *discovery) lookup(ctx context.Context, seed string) []*net.UDPAddr {
	host, portText, err := net.SplitHostPort(seed)
	if err != nil {
		return nil
	}
	port, _ := strconv.Atoi(portText)
	if a, err := netip.ParseAddr(host); err == nil {
		return []*net.UDPAddr{{IP: a.AsSlice(), Port: port}}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ips, err := d.lookupIP(ctx, host)
	if err != nil {
		d.log.Warn("cannot resolve seed; will retry", "seed", seed, "err", err, "retry_in", d.resolve)
		return nil
	}
	out := make([]*net.UDPAddr, 0, len(ips))
	for _, ip := range ips {
		out = append(out, &net.UDPAddr{IP: ip.Unmap().AsSlice(), Port: port})
	}
	return out
}
