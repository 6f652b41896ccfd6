package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
)

// The daemon's admin endpoint (its --http-addr) tells what the sidecar API
// does not: cluster, uptime, counters, memory, configuration. The CLI
// reads its JSON status (/api/status) and its Prometheus metrics.

// adminStatus is the part of /api/status the CLI shows.
type adminStatus struct {
	Node struct {
		ID             string   `json:"id"`
		Cluster        string   `json:"cluster"`
		Advertised     string   `json:"advertised"`
		Mesh           string   `json:"mesh"`
		App            string   `json:"app"`
		Multicast      string   `json:"multicast"`
		Seeds          []string `json:"seeds"`
		Hash           string   `json:"topic_state_hash"`
		UptimeSeconds  float64  `json:"uptime_seconds"`
		Subscriptions  int      `json:"subscriptions"`
		Paused         int      `json:"paused"`
		Retained       int      `json:"retained"`
		BufferedMsgs   int      `json:"buffered_msgs"`
		Published      uint64   `json:"published"`
		DeliveredLocal uint64   `json:"delivered_local"`
		ReceivedRemote uint64   `json:"received_remote"`
		Forwarded      uint64   `json:"forwarded"`
		Dropped        uint64   `json:"dropped"`
	} `json:"node"`
	Peers []struct {
		ID     string `json:"id"`
		Synced bool   `json:"synced"`
	} `json:"peers"`
}

// adminAddr is the admin endpoint to ask: --admin, else the host's 8080.
func (s *session) adminAddr() string {
	if s.cfg.admin != "" {
		return s.cfg.admin
	}
	host, _, err := net.SplitHostPort(s.address())
	if err != nil {
		host = s.cfg.host
		if strings.HasPrefix(host, "unix:") {
			host = "127.0.0.1" // a daemon reached by its socket runs on this host
		}
	}
	return net.JoinHostPort(host, "8080")
}

// adminGet fetches one admin path.
func (s *session) adminGet(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.adminAddr()+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", path, resp.Status)
	}
	return body, nil
}

// admin reads the status, and checks it describes the daemon the CLI is
// connected to (serverID, when known): --admin may name another one.
func (s *session) admin(ctx context.Context, serverID string) (*adminStatus, error) {
	body, err := s.adminGet(ctx, "/api/status")
	if err != nil {
		return nil, fmt.Errorf("admin endpoint %s: %v (give the daemon's --http-addr with --admin)", s.adminAddr(), unwrapURL(err))
	}
	var st adminStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return nil, fmt.Errorf("admin endpoint %s: not a nexusd status: %v", s.adminAddr(), err)
	}
	if serverID != "" && st.Node.ID != serverID {
		return nil, fmt.Errorf("admin endpoint %s belongs to daemon %s, not to %s at %s (give its --http-addr with --admin)",
			s.adminAddr(), short(st.Node.ID), short(serverID), s.address())
	}
	return &st, nil
}

// metrics reads the unlabelled samples of the admin endpoint's metrics,
// and labelled ones as name{labels}.
func (s *session) metrics(ctx context.Context) (map[string]float64, error) {
	body, err := s.adminGet(ctx, "/metrics")
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, sc.Err()
}

// unwrapURL drops net/http's "Get "http://...": " prefix.
func unwrapURL(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "\": "); i >= 0 {
		return msg[i+3:]
	}
	return msg
}
