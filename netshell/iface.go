package netshell

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// multicastInterface is the interface beacons go out on: the one named by
// --mcast-iface, or the first that is up, multicast-capable, not loopback
// and has an IPv4 address.
func multicastInterface(name string) (*net.Interface, error) {
	if name != "" {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return nil, fmt.Errorf("--mcast-iface: no interface named %q: want one of %s", name, interfaceNames())
		}
		if ifi.Flags&net.FlagUp == 0 {
			return nil, fmt.Errorf("--mcast-iface: interface %q is down: bring it up or choose another of %s", name, interfaceNames())
		}
		return ifi, nil
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("listing interfaces: %w", err)
	}
	for i := range ifs {
		ifi := &ifs[i]
		if ifi.Flags&net.FlagUp != 0 && ifi.Flags&net.FlagMulticast != 0 && ifi.Flags&net.FlagLoopback == 0 && interfaceIPv4(ifi).IsValid() {
			return ifi, nil
		}
	}
	return nil, fmt.Errorf("--mcast-iface: no interface is up, multicast-capable and not loopback: name one (lo keeps discovery on this machine), or turn multicast off with --mcast-addr off and use --peers")
}

// interfaceIPv4 is the interface's first IPv4 address that is not
// link-local, or the zero Addr.
func interfaceIPv4(ifi *net.Interface) netip.Addr {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}
	}
	var linkLocal netip.Addr
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil || !p.Addr().Is4() {
			continue
		}
		if p.Addr().IsLinkLocalUnicast() {
			linkLocal = p.Addr()
			continue
		}
		return p.Addr()
	}
	return linkLocal
}

// advertisedIP is the address peers are told to reach our mesh port at:
// --advertise-addr, else --bind when it is a specific address, else an
// address of the multicast interface, else of the first up non-loopback
// interface. Never 0.0.0.0: when nothing fits it is invalid, and beacons
// carry no rpc_ip, so receivers use the datagram's source address.
func advertisedIP(o *Options, mcast *net.Interface) netip.Addr {
	if a, err := netip.ParseAddr(o.AdvertiseAddr); err == nil {
		return a
	}
	if a, err := netip.ParseAddr(o.Bind); err == nil && !a.IsUnspecified() {
		return a
	}
	if mcast != nil {
		if a := interfaceIPv4(mcast); a.IsValid() {
			return a
		}
	}
	ifs, _ := net.Interfaces()
	for i := range ifs {
		if ifs[i].Flags&net.FlagUp != 0 && ifs[i].Flags&net.FlagLoopback == 0 {
			if a := interfaceIPv4(&ifs[i]); a.IsValid() && !a.IsLinkLocalUnicast() {
				return a
			}
		}
	}
	return netip.Addr{}
}

func interfaceNames() string {
	ifs, err := net.Interfaces()
	if err != nil || len(ifs) == 0 {
		return "(none found)"
	}
	names := make([]string, len(ifs))
	for i, ifi := range ifs {
		names[i] = ifi.Name
	}
	return strings.Join(names, ", ")
}
