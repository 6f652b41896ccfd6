package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/nexusd/nexusd/client"
)

func runMesh(ctx context.Context, s *session, args []string) error {
	sub := "STATUS"
	if len(args) > 0 {
		sub = strings.ToUpper(args[0])
	}
	if len(args) > 1 {
		return fail("usage: MESH PEERS | STATUS | TOPOLOGY")
	}
	switch sub {
	case "PEERS":
		return meshPeers(ctx, s)
	case "STATUS":
		return meshStatus(ctx, s)
	case "TOPOLOGY":
		return meshTopology(ctx, s)
	}
	return fail("MESH %s: want PEERS, STATUS or TOPOLOGY", args[0])
}

// peerJSON is one peer as MESH --json prints it: the wire contract's
// PeerInfo fields (the hash in hex, as the status page shows it).
type peerJSON struct {
	InstanceUUID   string   `json:"instance_uuid"`
	Endpoint       string   `json:"endpoint"`
	LastSeenMs     int64    `json:"last_seen_ms"`
	ClusterID      string   `json:"cluster_id"`
	TopicStateHash string   `json:"topic_state_hash"`
	Topics         []string `json:"topics"`
	Status         string   `json:"status"`
}

func peersJSON(peers []client.Peer) []peerJSON {
	out := make([]peerJSON, len(peers))
	for i, p := range peers {
		out[i] = peerJSON{p.ID, p.Endpoint, p.LastSeen.UnixMilli(), p.Cluster, fmt.Sprintf("%016x", p.TopicStateHash), nonNil(p.Topics), p.Status}
	}
	return out
}

func meshPeers(ctx context.Context, s *session) error {
	_, _, peers, err := meshView(ctx, s)
	if err != nil {
		return err
	}
	return s.emit(map[string]any{"peers": peersJSON(peers)}, func(w io.Writer) {
		if len(peers) == 0 {
			fmt.Fprintln(w, "(no peers)")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PEER\tENDPOINT\tSTATUS\tLAST SEEN\tTOPICS HASH\tTOPICS")
		for _, p := range peers {
			topics := strings.Join(p.Topics, ",")
			if topics == "" {
				topics = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%016x\t%s\n", p.ID, p.Endpoint, p.Status, ago(p.LastSeen), p.TopicStateHash, topics)
		}
		tw.Flush()
	})
}

// health names the mesh's state as this daemon sees it.
func health(peers []client.Peer) string {
	if len(peers) == 0 {
		return "alone"
	}
	for _, p := range peers {
		if p.Status != "alive" {
			return "degraded"
		}
	}
	return "ok"
}

func meshStatus(ctx context.Context, s *session) error {
	c, topics, peers, err := meshView(ctx, s)
	if err != nil {
		return err
	}
	alive := 0
	for _, p := range peers {
		if p.Status == "alive" {
			alive++
		}
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	a, adminErr := s.admin(rctx, c.ServerID())
	doc := map[string]any{
		"health": health(peers), "instance_uuid": c.ServerID(), "address": s.address(),
		"peers": len(peers), "peers_alive": alive, "peers_suspected": len(peers) - alive, "topic_patterns": len(topics),
	}
	synced := 0
	if a != nil {
		for _, p := range a.Peers {
			if p.Synced {
				synced++
			}
		}
		doc["cluster_id"], doc["peers_synced"], doc["topic_state_hash"], doc["uptime_seconds"] = a.Node.Cluster, synced, a.Node.Hash, int64(a.Node.UptimeSeconds)
	} else {
		doc["admin"] = "unavailable: " + adminErr.Error()
	}
	return s.emit(doc, func(w io.Writer) {
		fmt.Fprintf(w, "health: %s\n", doc["health"])
		fmt.Fprintf(w, "node: %s at %s\n", c.ServerID(), s.address())
		if a != nil {
			fmt.Fprintf(w, "cluster: %s\n", a.Node.Cluster)
		}
		fmt.Fprintf(w, "peers: %d (%d alive, %d suspected)\n", len(peers), alive, len(peers)-alive)
		if a != nil {
			fmt.Fprintf(w, "synced: %d of %d peers\ntopic_state_hash: %s\nuptime: %s\n", synced, len(a.Peers), a.Node.Hash, uptime(a.Node.UptimeSeconds))
		}
		fmt.Fprintf(w, "topic_patterns: %d\n", len(topics))
		if a == nil {
			fmt.Fprintf(w, "admin: unavailable: %v\n", adminErr)
		}
	})
}

// linkJSON is one mesh link the daemon knows: from it to a peer.
type linkJSON struct {
	From   string `json:"from"`
	To     string `json:"to"`
	Status string `json:"status"`
}

func meshTopology(ctx context.Context, s *session) error {
	c, topics, peers, err := meshView(ctx, s)
	if err != nil {
		return err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	a, _ := s.admin(rctx, c.ServerID())
	self := c.ServerID()
	mesh := "?"
	if a != nil {
		mesh = a.Node.Advertised
	}
	local := make([]string, 0, len(topics))
	for p := range topics {
		local = append(local, p)
	}
	slices.Sort(local)
	links := make([]linkJSON, len(peers))
	for i, p := range peers {
		links[i] = linkJSON{From: self, To: p.ID, Status: p.Status}
	}
	doc := map[string]any{
		"node":  map[string]any{"instance_uuid": self, "address": s.address(), "endpoint": mesh, "topics": local},
		"peers": peersJSON(peers),
		"links": links,
	}
	return s.emit(doc, func(w io.Writer) { drawTopology(w, self, s.address(), mesh, local, peers) })
}

// drawTopology draws the mesh as this daemon sees it: itself at the root,
// a link to each peer (solid: alive, dotted: suspected), each node with
// its mesh endpoint and subscribed patterns, then where each pattern's
// messages go.
//
//	◉ 7f3a9c12 (this node)  mesh 127.0.0.1:7101  sidecar 127.0.0.1:7102
//	│   topics: sensors/#
//	├──● 1b2c3d4e  127.0.0.1:7201  alive  seen 0.4s ago
//	│      topics: logs/#
//	└┄┄◐ 5a6b7c8d  127.0.0.1:7301  suspected  seen 3.2s ago
//	       topics: -
func drawTopology(w io.Writer, self, sidecar, mesh string, local []string, peers []client.Peer) {
	list := func(ts []string) string {
		if len(ts) == 0 {
			return "-"
		}
		return strings.Join(ts, ", ")
	}
	alive := 0
	for _, p := range peers {
		if p.Status == "alive" {
			alive++
		}
	}
	fmt.Fprintf(w, "Mesh as seen by %s: %d peer(s), %d alive. Every daemon links directly to every other.\n\n", short(self), len(peers), alive)
	fmt.Fprintf(w, "◉ %s (this node)  mesh %s  sidecar %s\n", short(self), mesh, sidecar)
	bar := " "
	if len(peers) > 0 {
		bar = "│"
	}
	fmt.Fprintf(w, "%s   topics: %s\n", bar, list(local))
	for i, p := range peers {
		last := i == len(peers)-1
		branch, cont := "├", "│"
		if last {
			branch, cont = "└", " "
		}
		line, dot := "──", "●"
		if p.Status != "alive" {
			line, dot = "┄┄", "◐"
		}
		fmt.Fprintf(w, "%s%s%s %s  %s  %s  seen %s\n", branch, line, dot, short(p.ID), p.Endpoint, p.Status, ago(p.LastSeen))
		fmt.Fprintf(w, "%s      topics: %s\n", cont, list(p.Topics))
	}
	routes := map[string][]string{}
	for _, t := range local {
		routes[t] = append(routes[t], "this node")
	}
	for _, p := range peers {
		for _, t := range p.Topics {
			routes[t] = append(routes[t], short(p.ID))
		}
	}
	if len(routes) == 0 {
		fmt.Fprintln(w, "\nNo subscriptions anywhere: a publish here reaches no one.")
		return
	}
	patterns := make([]string, 0, len(routes))
	for t := range routes {
		patterns = append(patterns, t)
	}
	slices.Sort(patterns)
	fmt.Fprintln(w, "\nRoutes (a message published here goes to):")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range patterns {
		fmt.Fprintf(tw, "  %s\t→ %s\n", t, strings.Join(routes[t], ", "))
	}
	tw.Flush()
	fmt.Fprintln(w, "\n● alive  ◐ suspected  ── link  ┄┄ link in doubt")
}
