package client

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/ipv4"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/mcastsock"
	"github.com/nexusd/nexusd/proto/discoverypb"
)

// DiscoverOptions say where to listen for daemons' beacons.
type DiscoverOptions struct {
	Group     string        // IPv4 multicast group; default 239.255.42.1; "off": unicast beacons only
	Port      int           // UDP discovery port; default 5670
	Interface string        // interface to join the group on; default: the first up, multicast-capable, non-loopback one ("lo" for this machine)
	Timeout   time.Duration // how long to listen; default 2 s (beacons come every second)
	Cluster   string        // only daemons of this cluster; "" = all
}

// Daemon is a daemon heard by its beacons.
type Daemon struct {
	InstanceID      string    // its instance id, new on every start
	Cluster         string    // its cluster id
	Address         string    // its mesh endpoint, ip:port (the beacon's source ip when it gave none)
	TopicStateHash  uint64    // hash of its subscribed patterns
	ProtocolVersion int32     // 1 for this protocol
	Beacons         int       // beacons heard while listening
	FirstSeen       time.Time // first beacon heard
	LastSeen        time.Time // last beacon heard
	Status          string    // "alive", "stale" (silent for the last 1.5 s of the listening) or "incompatible" (another protocol version)
}

// SidecarAddress is where the daemon's sidecar most likely listens: the
// mesh address's IP and the port after the mesh port (the daemon's
// defaults, 5671 and 5672, and the README's examples follow that rule).
// Beacons do not carry the sidecar port; a daemon run otherwise must be
// given by address.
func (d Daemon) SidecarAddress() string {
	host, port, err := net.SplitHostPort(d.Address)
	if err != nil {
		return ""
	}
	n, _ := strconv.Atoi(port)
	return net.JoinHostPort(host, strconv.Itoa(n+1))
}

// staleAfter is how long a daemon may be silent at the end of the
// listening and still count as alive: a beacon interval and a half.
const staleAfter = 1500 * time.Millisecond

// maxBeaconBytes is the largest datagram read as a beacon (docs/protocol.md §2.1).
const maxBeaconBytes = 1400

// Discover listens to discovery beacons for o.Timeout (or until ctx ends)
// and returns the daemons heard, by address. It sends nothing. It binds
// the discovery port with SO_REUSEADDR, so it runs beside daemons on the
// same host.
func Discover(ctx context.Context, o DiscoverOptions) ([]Daemon, error) {
	const op = "discover"
	if o.Group == "" {
		o.Group = "239.255.42.1"
	}
	if o.Port == 0 {
		o.Port = 5670
	}
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Second
	}
	if o.Port < 1 || o.Port > 65535 {
		return nil, argError(op, "port %d: want 1 to 65535", o.Port)
	}
	var group netip.Addr
	if o.Group != "off" {
		var err error
		if group, err = netip.ParseAddr(o.Group); err != nil || !group.Is4() || !group.IsMulticast() {
			return nil, argError(op, "group %q: want an IPv4 multicast group such as 239.255.42.1, or off", o.Group)
		}
	}
	conn, err := listenDiscovery(ctx, o.Port)
	if err != nil {
		return nil, &Error{Op: op, Kind: ErrUnavailable, Status: statusUnavailable(err.Error()), Err: err}
	}
	defer conn.Close()
	if group.IsValid() {
		ifi, err := multicastInterface(o.Interface)
		if err != nil {
			return nil, argError(op, "%v", err)
		}
		if err := ipv4.NewPacketConn(conn).JoinGroup(ifi, &net.UDPAddr{IP: group.AsSlice()}); err != nil {
			return nil, &Error{Op: op, Kind: ErrUnavailable, Status: statusUnavailable(fmt.Sprintf("joining %s on %s: %v", group, ifi.Name, err)), Err: err}
		}
	}

	end := time.Now().Add(o.Timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(end) {
		end = d
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	seen := map[string]*Daemon{}
	buf := make([]byte, 64<<10)
	for {
		if err := conn.SetReadDeadline(end); err != nil {
			return nil, wrapErr(op, err)
		}
		if ctx.Err() != nil {
			break
		}
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				break
			}
			return nil, &Error{Op: op, Kind: ErrUnavailable, Status: statusUnavailable(err.Error()), Err: err}
		}
		if n > maxBeaconBytes {
			continue
		}
		d, ok := decodeBeacon(buf[:n], from)
		if !ok || (o.Cluster != "" && d.Cluster != o.Cluster) {
			continue
		}
		now := time.Now()
		if old := seen[d.InstanceID]; old != nil {
			old.Beacons++
			old.LastSeen = now
			old.Address, old.TopicStateHash = d.Address, d.TopicStateHash
			continue
		}
		d.Beacons, d.FirstSeen, d.LastSeen = 1, now, now
		seen[d.InstanceID] = &d
	}
	out := make([]Daemon, 0, len(seen))
	for _, d := range seen {
		switch {
		case d.ProtocolVersion != 1:
			d.Status = "incompatible"
		case end.Sub(d.LastSeen) > staleAfter:
			d.Status = "stale"
		default:
			d.Status = "alive"
		}
		out = append(out, *d)
	}
	slices.SortFunc(out, func(a, b Daemon) int {
		if c := compareAddr(a.Address, b.Address); c != 0 {
			return c
		}
		return strings.Compare(a.InstanceID, b.InstanceID)
	})
	return out, nil
}

// decodeBeacon reads one datagram; the daemon's address is the beacon's
// rpc_ip, or the datagram's source when rpc_ip is empty or unspecified.
func decodeBeacon(data []byte, from net.Addr) (Daemon, bool) {
	var b discoverypb.Beacon
	if proto.Unmarshal(data, &b) != nil || b.GetInstanceUuid() == "" || b.GetRpcPort() < 1 || b.GetRpcPort() > 65535 {
		return Daemon{}, false
	}
	ip, err := netip.ParseAddr(b.GetRpcIp())
	if err != nil || ip.IsUnspecified() {
		u, ok := from.(*net.UDPAddr)
		if !ok {
			return Daemon{}, false
		}
		ip, _ = netip.AddrFromSlice(u.IP)
	}
	return Daemon{
		InstanceID:      b.GetInstanceUuid(),
		Cluster:         b.GetClusterId(),
		Address:         netip.AddrPortFrom(ip.Unmap(), uint16(b.GetRpcPort())).String(),
		TopicStateHash:  b.GetTopicStateHash(),
		ProtocolVersion: b.GetProtocolVersion(),
	}, true
}

// compareAddr orders ip:port strings by address, then port.
func compareAddr(a, b string) int {
	pa, ea := netip.ParseAddrPort(a)
	pb, eb := netip.ParseAddrPort(b)
	if ea != nil || eb != nil {
		return strings.Compare(a, b)
	}
	return pa.Compare(pb)
}

// multicastInterface is the interface named, or the first that is up,
// multicast-capable and not loopback.
func multicastInterface(name string) (*net.Interface, error) {
	if name != "" {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("no interface named %q", name)
		}
		return ifi, nil
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	for i := range ifs {
		f := ifs[i].Flags
		if f&net.FlagUp != 0 && f&net.FlagMulticast != 0 && f&net.FlagLoopback == 0 {
			return &ifs[i], nil
		}
	}
	return nil, errors.New("no interface is up, multicast-capable and not loopback: name one (lo for this machine)")
}

// listenDiscovery binds the discovery port on every address, sharing it
// with daemons on the same host.
func listenDiscovery(ctx context.Context, port int) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: mcastsock.SharePort}
	conn, err := lc.ListenPacket(ctx, "udp4", net.JoinHostPort("0.0.0.0", strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("cannot listen on UDP port %d: %w", port, err)
	}
	return conn, nil
}
