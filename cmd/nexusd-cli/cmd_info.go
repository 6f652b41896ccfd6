package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/nexusd/nexusd/client"
)

// section is one INFO section: ordered key/value pairs.
type section struct {
	name string
	keys []string
	vals map[string]any
}

func newSection(name string) *section { return &section{name: name, vals: map[string]any{}} }

func (s *section) set(k string, v any) {
	if _, ok := s.vals[k]; !ok {
		s.keys = append(s.keys, k)
	}
	s.vals[k] = v
}

// infoSources is everything INFO asks for, fetched at once.
type infoSources struct {
	c       *client.Client
	rtt     float64
	pingErr error
	topics  map[string]int
	peers   []client.Peer
	admin   *adminStatus
	adminEr error
	metrics map[string]float64
}

func runInfo(ctx context.Context, s *session, args []string) error {
	want := "ALL"
	if len(args) > 0 {
		want = strings.ToUpper(args[0])
	}
	if len(args) > 1 || (want != "ALL" && want != "EVERYTHING" && !contains(lookup("INFO").subs, want)) {
		return fail("usage: INFO [SERVER|STATS|MEMORY|CONFIG]")
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	src := infoSources{c: c}
	rtt, err := c.Ping(rctx)
	if err != nil {
		return err
	}
	src.rtt = millis(rtt)
	var wg sync.WaitGroup
	var topicsErr, peersErr error
	wg.Go(func() { src.topics, topicsErr = c.Topics(rctx) })
	wg.Go(func() { src.peers, peersErr = c.Peers(rctx) })
	wg.Go(func() {
		if src.admin, src.adminEr = s.admin(rctx, c.ServerID()); src.adminEr == nil {
			src.metrics, _ = s.metrics(rctx)
		}
	})
	wg.Wait()
	if topicsErr != nil {
		return topicsErr
	}
	if peersErr != nil {
		return peersErr
	}
	var sections []*section
	for _, name := range []string{"SERVER", "STATS", "MEMORY", "CONFIG"} {
		if want == "ALL" || want == "EVERYTHING" || want == name {
			sections = append(sections, s.infoSection(name, &src))
		}
	}
	doc := map[string]map[string]any{}
	for _, sec := range sections {
		doc[strings.ToLower(sec.name)] = sec.vals
	}
	return s.emit(doc, func(w io.Writer) {
		for i, sec := range sections {
			if i > 0 {
				fmt.Fprintln(w)
			}
			fmt.Fprintf(w, "# %s%s\n", sec.name[:1], strings.ToLower(sec.name[1:]))
			for _, k := range sec.keys {
				fmt.Fprintf(w, "%s:%v\n", k, sec.vals[k])
			}
		}
	})
}

func (s *session) infoSection(name string, src *infoSources) *section {
	sec := newSection(name)
	a := src.admin
	noAdmin := func() {
		if src.adminEr != nil {
			sec.set("admin", "unavailable: "+src.adminEr.Error())
		}
	}
	switch name {
	case "SERVER":
		sec.set("address", s.address())
		sec.set("instance_id", src.c.ServerID())
		sec.set("connection", src.c.State().String())
		sec.set("latency_ms", src.rtt)
		if a != nil {
			sec.set("cluster", a.Node.Cluster)
			sec.set("uptime_seconds", int64(a.Node.UptimeSeconds))
			sec.set("uptime", uptime(a.Node.UptimeSeconds))
			sec.set("mesh", a.Node.Mesh)
			sec.set("advertised", a.Node.Advertised)
			sec.set("admin_address", s.adminAddr())
		}
		noAdmin()
	case "STATS":
		subs := 0
		for _, n := range src.topics {
			subs += n
		}
		alive, suspected := 0, 0
		for _, p := range src.peers {
			if p.Status == "alive" {
				alive++
			} else {
				suspected++
			}
		}
		sec.set("topic_patterns", len(src.topics))
		sec.set("pattern_subscriptions", subs)
		sec.set("peers", len(src.peers))
		sec.set("peers_alive", alive)
		sec.set("peers_suspected", suspected)
		if a != nil {
			n := &a.Node
			sec.set("subscriptions_active", n.Subscriptions)
			sec.set("subscriptions_paused", n.Paused)
			sec.set("retained_values", n.Retained)
			sec.set("buffered_messages", n.BufferedMsgs)
			sec.set("messages_published", n.Published)
			sec.set("messages_delivered_local", n.DeliveredLocal)
			sec.set("messages_received_remote", n.ReceivedRemote)
			sec.set("messages_forwarded", n.Forwarded)
			sec.set("messages_dropped", n.Dropped)
			sec.set("topic_state_hash", n.Hash)
		}
		noAdmin()
	case "MEMORY":
		m := src.metrics
		if m == nil {
			if src.adminEr == nil {
				sec.set("admin", "unavailable: no metrics at "+s.adminAddr())
			}
			noAdmin()
			return sec
		}
		for _, row := range []struct{ key, metric string }{
			{"used_memory_rss", "process_resident_memory_bytes"},
			{"heap_alloc", "go_memstats_heap_alloc_bytes"},
			{"heap_sys", "go_memstats_heap_sys_bytes"},
			{"retained_bytes", "nexusd_retained_bytes"},
			{"buffered_bytes", "nexusd_buffered_bytes"},
			{"subscriber_queue_bytes", "nexusd_subscriber_queue_bytes"},
		} {
			sec.set(row.key, int64(m[row.metric]))
			sec.set(row.key+"_human", human(m[row.metric]))
		}
		sec.set("goroutines", int64(m["go_goroutines"]))
		sec.set("subscriber_queue_depth", int64(m["nexusd_subscriber_queue_depth"]))
		sec.set("peer_backlog_messages", int64(m["nexusd_peer_backlog_messages"]))
	case "CONFIG":
		sec.set("host", s.cfg.host)
		sec.set("port", s.cfg.port)
		sec.set("admin_address", s.adminAddr())
		if a != nil {
			n := &a.Node
			sec.set("cluster", n.Cluster)
			sec.set("app", n.App)
			sec.set("mesh", n.Mesh)
			sec.set("advertised", n.Advertised)
			sec.set("multicast", n.Multicast)
			sec.set("seeds", strings.Join(n.Seeds, ","))
		}
		noAdmin()
	}
	return sec
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
