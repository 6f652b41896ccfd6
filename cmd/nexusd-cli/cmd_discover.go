package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/nexusd/nexusd/client"
)

// discoverJSON is one daemon as DISCOVER --json prints it.
type discoverJSON struct {
	Index          int    `json:"index"`
	Address        string `json:"address"`         // mesh endpoint, from the beacon
	Sidecar        string `json:"sidecar_address"` // where CONNECT -n goes: the port after the mesh port
	InstanceUUID   string `json:"instance_uuid"`
	ClusterID      string `json:"cluster_id"`
	TopicStateHash string `json:"topic_state_hash"` // hex, as the status page shows it
	Status         string `json:"status"`
	Beacons        int    `json:"beacons"`
	LastSeenMs     int64  `json:"last_seen_ms"`
}

// discover listens for beacons as the flags and o say.
// iface "" is the session's --mcast-iface.
func (s *session) discover(ctx context.Context, timeout time.Duration, cluster, iface string) ([]client.Daemon, client.DiscoverOptions, error) {
	if iface == "" {
		iface = s.cfg.mcastIfce
	}
	do := client.DiscoverOptions{Group: s.cfg.mcastAddr, Port: s.cfg.mcastPort, Interface: iface, Timeout: timeout, Cluster: cluster}
	ds, err := client.Discover(ctx, do)
	return ds, do, err
}

func runDiscover(ctx context.Context, s *session, args []string) error {
	pos, o, err := parseOpts(args, lookup("DISCOVER").options)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fail("DISCOVER takes no arguments, only --timeout, --cluster and --mcast-iface")
	}
	timeout := o.duration("timeout", 2*time.Second)
	cluster := o.str("cluster")
	if cluster == "" {
		cluster = s.cfg.cluster
	}
	if !s.cfg.json && s.interactive {
		fmt.Fprintf(s.errw, "Listening for beacons for %s...\n", timeout)
	}
	ds, do, err := s.discover(ctx, timeout, cluster, o.str("mcast-iface"))
	if err != nil {
		return err
	}
	list := make([]discoverJSON, len(ds))
	for i, d := range ds {
		list[i] = discoverJSON{Index: i + 1, Address: d.Address, Sidecar: d.SidecarAddress(), InstanceUUID: d.InstanceID, ClusterID: d.Cluster,
			TopicStateHash: fmt.Sprintf("%016x", d.TopicStateHash), Status: d.Status, Beacons: d.Beacons, LastSeenMs: d.LastSeen.UnixMilli()}
	}
	iface := do.Interface
	if iface == "" {
		iface = "the default interface"
	}
	return s.emit(map[string]any{"group": orDefault(do.Group, "239.255.42.1"), "port": orDefaultInt(do.Port, 5670), "interface": do.Interface,
		"timeout_ms": timeout.Milliseconds(), "daemons": list}, func(w io.Writer) {
		if len(ds) == 0 {
			fmt.Fprintf(w, "(no daemons heard on %s:%d on %s within %s)\n", orDefault(do.Group, "239.255.42.1"), orDefaultInt(do.Port, 5670), iface, timeout)
			if do.Interface != "lo" {
				fmt.Fprintln(w, "Daemons on this machine started with --mcast-iface lo (make run, make demo) beacon on loopback: DISCOVER --mcast-iface lo")
			}
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "#\tADDRESS\tINSTANCE\tCLUSTER\tTOPICS HASH\tSTATUS\tLAST SEEN")
		for _, d := range list {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", d.Index, d.Address, d.InstanceUUID, d.ClusterID, d.TopicStateHash, d.Status,
				ago(time.UnixMilli(d.LastSeenMs)))
		}
		tw.Flush()
		fmt.Fprintf(w, "%d daemon(s). Connect with: nexusd-cli -n <#> (or CONNECT -n <#> at the prompt)\n", len(ds))
	})
}

// discovered is the sidecar address of the n-th daemon DISCOVER lists.
func (s *session) discovered(ctx context.Context, n int) (string, error) {
	ds, _, err := s.discover(ctx, s.cfg.discoverTimeout, s.cfg.cluster, "")
	if err != nil {
		return "", err
	}
	if n > len(ds) {
		return "", fail("-n %d: only %d daemon(s) heard; run DISCOVER to list them", n, len(ds))
	}
	return ds[n-1].SidecarAddress(), nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDefaultInt(n, def int) int {
	if n == 0 {
		return def
	}
	return n
}
