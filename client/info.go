package client

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// Topics lists the topic patterns subscribed on the daemon, each with its
// number of local subscriptions (active and paused).
func (c *Client) Topics(ctx context.Context) (map[string]int, error) {
	const op = "topics"
	if err := c.done(op); err != nil {
		return nil, err
	}
	resp, err := c.api.GetTopics(ctx, &sidecarpb.GetTopicsRequest{IncludeCounts: true}, grpc.WaitForReady(true))
	if err != nil {
		return nil, c.finish(op, err)
	}
	out := make(map[string]int, len(resp.GetTopics()))
	for t, n := range resp.GetTopics() {
		out[t] = int(n)
	}
	return out, nil
}

// Peer is one mesh peer as the daemon sees it.
type Peer struct {
	ID             string    // the peer's instance id
	Endpoint       string    // its mesh address, ip:port
	LastSeen       time.Time // when its last beacon arrived (the daemon's clock)
	Cluster        string    // its cluster id
	TopicStateHash uint64    // hash of its subscribed patterns, from its latest beacon
	Topics         []string  // its subscribed patterns, as the daemon last fetched them
	Status         string    // "alive" or "suspected"
}

// Peers lists the mesh peers the daemon knows, with their patterns.
func (c *Client) Peers(ctx context.Context) ([]Peer, error) {
	const op = "peers"
	if err := c.done(op); err != nil {
		return nil, err
	}
	resp, err := c.api.GetPeers(ctx, &sidecarpb.GetPeersRequest{IncludeState: true}, grpc.WaitForReady(true))
	if err != nil {
		return nil, c.finish(op, err)
	}
	out := make([]Peer, 0, len(resp.GetPeers()))
	for _, p := range resp.GetPeers() {
		out = append(out, Peer{
			ID:             p.GetInstanceUuid(),
			Endpoint:       p.GetEndpoint(),
			LastSeen:       time.UnixMilli(p.GetLastSeenMs()),
			Cluster:        p.GetClusterId(),
			TopicStateHash: p.GetTopicStateHash(),
			Topics:         p.GetTopics(),
			Status:         p.GetStatus(),
		})
	}
	return out, nil
}

// Ping asks the daemon's health service whether it serves and returns the
// round trip. A daemon that is shutting down answers ErrUnavailable. Ping
// does not wait for a connection that is down: it fails at once.
func (c *Client) Ping(ctx context.Context) (time.Duration, error) {
	const op = "ping"
	if err := c.done(op); err != nil {
		return 0, err
	}
	start := time.Now()
	resp, err := c.health.Check(ctx, &healthpb.HealthCheckRequest{})
	rtt := time.Since(start)
	if err != nil {
		return 0, c.finish(op, err)
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return rtt, wrapErr(op, status.Errorf(codes.Unavailable, "the daemon reports %s", resp.GetStatus()))
	}
	return rtt, nil
}
