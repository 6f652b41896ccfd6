package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nexusd/nexusd/client"
)

func runPubsub(ctx context.Context, s *session, args []string) error {
	if len(args) == 0 {
		return fail("usage: PUBSUB TOPICS [pattern] | NUMSUB [topic...] | RETAINED [pattern]")
	}
	switch strings.ToUpper(args[0]) {
	case "TOPICS", "CHANNELS":
		return pubsubTopics(ctx, s, args[1:])
	case "NUMSUB":
		return pubsubNumsub(ctx, s, args[1:])
	case "RETAINED":
		return pubsubRetained(ctx, s, args[1:])
	}
	return fail("PUBSUB %s: want TOPICS, NUMSUB or RETAINED", args[0])
}

// topicJSON is one subscribed pattern: its local subscriptions and the
// peers that subscribe to it.
type topicJSON struct {
	Pattern            string   `json:"pattern"`
	LocalSubscriptions int      `json:"local_subscriptions"`
	Peers              []string `json:"peers"` // instance ids
}

// meshView is what PUBSUB and MESH need from the sidecar.
func meshView(ctx context.Context, s *session) (*client.Client, map[string]int, []client.Peer, error) {
	c, err := s.client(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	topics, err := c.Topics(rctx)
	if err != nil {
		return nil, nil, nil, err
	}
	peers, err := c.Peers(rctx)
	if err != nil {
		return nil, nil, nil, err
	}
	slices.SortFunc(peers, func(a, b client.Peer) int { return strings.Compare(a.ID, b.ID) })
	return c, topics, peers, nil
}

func pubsubTopics(ctx context.Context, s *session, args []string) error {
	if len(args) > 1 {
		return fail("usage: PUBSUB TOPICS [pattern]")
	}
	filter := "#"
	if len(args) == 1 {
		filter = args[0]
		if err := client.ValidatePattern(filter); err != nil {
			return err
		}
	}
	_, topics, peers, err := meshView(ctx, s)
	if err != nil {
		return err
	}
	rows := map[string]*topicJSON{}
	row := func(p string) *topicJSON {
		if rows[p] == nil {
			rows[p] = &topicJSON{Pattern: p, Peers: []string{}}
		}
		return rows[p]
	}
	for p, n := range topics {
		row(p).LocalSubscriptions = n
	}
	for _, peer := range peers {
		for _, p := range peer.Topics {
			r := row(p)
			r.Peers = append(r.Peers, peer.ID)
		}
	}
	var list []topicJSON
	for p, r := range rows {
		// A pattern is listed when the filter matches it read as a topic.
		if client.Match(filter, p) {
			list = append(list, *r)
		}
	}
	slices.SortFunc(list, func(a, b topicJSON) int { return strings.Compare(a.Pattern, b.Pattern) })
	return s.emit(map[string]any{"topics": nonNilSlice(list)}, func(w io.Writer) {
		if len(list) == 0 {
			fmt.Fprintln(w, "(no subscribed patterns)")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PATTERN\tLOCAL SUBS\tPEERS")
		for _, r := range list {
			fmt.Fprintf(tw, "%s\t%d\t%s\n", r.Pattern, r.LocalSubscriptions, shortList(r.Peers))
		}
		tw.Flush()
	})
}

// numsubJSON is, for one topic, who a message to it would reach.
type numsubJSON struct {
	Topic              string   `json:"topic"`
	LocalSubscriptions int      `json:"local_subscriptions"`
	Peers              []string `json:"peers"`
	SubscriberCount    int      `json:"subscriber_count"` // as PUBLISH would count: local subscriptions plus peers
}

func pubsubNumsub(ctx context.Context, s *session, args []string) error {
	for _, t := range args {
		if err := client.ValidateTopic(t); err != nil {
			return err
		}
	}
	_, topics, peers, err := meshView(ctx, s)
	if err != nil {
		return err
	}
	list := make([]numsubJSON, 0, len(args))
	for _, t := range args {
		r := numsubJSON{Topic: t, Peers: []string{}}
		for p, n := range topics {
			if client.Match(p, t) {
				r.LocalSubscriptions += n
			}
		}
		for _, peer := range peers {
			if slices.ContainsFunc(peer.Topics, func(p string) bool { return client.Match(p, t) }) {
				r.Peers = append(r.Peers, peer.ID)
			}
		}
		r.SubscriberCount = r.LocalSubscriptions + len(r.Peers)
		list = append(list, r)
	}
	return s.emit(map[string]any{"numsub": list}, func(w io.Writer) {
		if len(list) == 0 {
			fmt.Fprintln(w, "(give topics: PUBSUB NUMSUB topic...)")
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tLOCAL SUBS\tPEERS\tTOTAL")
		for _, r := range list {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\n", r.Topic, r.LocalSubscriptions, shortList(r.Peers), r.SubscriberCount)
		}
		tw.Flush()
	})
}

// retainedQuiet is how long PUBSUB RETAINED waits after the last retained
// value: the daemon sends them all at once, right after the subscription
// opens, and says nothing to mark their end.
const retainedQuiet = 300 * time.Millisecond

func pubsubRetained(ctx context.Context, s *session, args []string) error {
	if len(args) > 1 {
		return fail("usage: PUBSUB RETAINED [pattern]")
	}
	pattern := "#"
	if len(args) == 1 {
		pattern = args[0]
	}
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	sub, err := c.Subscribe(rctx, []string{pattern}, client.ReceiveRetained())
	if err != nil {
		return err
	}
	defer func() {
		uctx, ucancel := context.WithTimeout(context.Background(), time.Second)
		defer ucancel()
		_ = sub.Unsubscribe(uctx)
	}()
	var list []messageJSON
	quiet := time.NewTimer(retainedQuiet)
	defer quiet.Stop()
collect:
	for {
		select {
		case m, ok := <-sub.C():
			if !ok || m.Kind != client.Retained {
				break collect // live messages follow the retained ones
			}
			list = append(list, toJSON(m))
			quiet.Reset(retainedQuiet)
		case <-quiet.C:
			break collect
		case <-rctx.Done():
			return ctx.Err()
		}
	}
	slices.SortFunc(list, func(a, b messageJSON) int { return strings.Compare(a.Topic, b.Topic) })
	return s.emit(map[string]any{"retained": nonNilSlice(list)}, func(w io.Writer) {
		if len(list) == 0 {
			fmt.Fprintf(w, "(no retained values on %s)\n", pattern)
			return
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tSIZE\tAGE\tSOURCE\tVALUE")
		for _, m := range list {
			payload := []byte(m.Payload)
			size := len(payload)
			if m.PayloadBase64 != "" {
				size = len(m.PayloadBase64) * 3 / 4
				payload = []byte("<binary>")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", m.Topic, human(float64(size)), ago(time.UnixMilli(m.TimestampMs)), short(m.SourceNodeID), preview(payload, 48))
		}
		tw.Flush()
	})
}

func shortList(ids []string) string {
	if len(ids) == 0 {
		return "-"
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = short(id)
	}
	return strings.Join(out, ",")
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
