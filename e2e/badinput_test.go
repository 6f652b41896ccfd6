package e2e

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"os/exec"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/discoverypb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestBadInputIsRefusedCountedAndSurvived: oversized and undecodable
// datagrams and a foreign cluster's beacon on the discovery port, an
// invalid topic, an oversized payload and unknown subscriptions on the
// sidecar: each is dropped or refused with the right gRPC code, counted in
// /metrics by reason, and the daemon keeps serving.
func TestBadInputIsRefusedCountedAndSurvived(t *testing.T) {
	testnet.Require(t)
	cluster, port := newCluster(t)
	d := start(t, testnet.Config{Name: "d", Cluster: cluster, McastPort: port}, "")

	udp, err := net.Dial("udp4", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	send := func(b []byte) {
		t.Helper()
		if _, err := udp.Write(b); err != nil {
			t.Fatalf("sending %d bytes: %v", len(b), err)
		}
	}
	send(bytes.Repeat([]byte{0x0a}, 64<<10-100)) // 64 KiB, more than a beacon may be
	send(bytes.Repeat([]byte{0xff}, 64))         // a varint that never ends
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		junk := make([]byte, 1+rng.IntN(1400))
		for i := range junk {
			junk[i] = byte(rng.Uint32())
		}
		send(junk)
	}
	foreign, _ := proto.Marshal(&discoverypb.Beacon{InstanceUuid: "intruder", ClusterId: "someone-else",
		RpcIp: "127.0.0.1", RpcPort: 1, ProtocolVersion: 1})
	send(foreign)

	testnet.Eventually(t, 5*time.Second, "datagrams counted", func() error {
		m, err := d.Metrics()
		if err != nil {
			return err
		}
		for _, r := range []string{"too_large", "undecodable", "foreign_cluster"} {
			if m[fmt.Sprintf(`nexusd_beacons_dropped_total{reason=%q}`, r)] < 1 {
				return fmt.Errorf("no drop counted for %s", r)
			}
		}
		var all float64
		for _, r := range []string{"too_large", "undecodable", "invalid_address", "invalid", "foreign_cluster"} {
			all += m[fmt.Sprintf(`nexusd_beacons_dropped_total{reason=%q}`, r)]
		}
		if all < 23 {
			return fmt.Errorf("%v of 23 bad datagrams counted", all)
		}
		return nil
	})
	if p, err := d.peers(); err != nil || len(p) != 0 {
		t.Fatalf("peers after bad beacons: %v (%v), want none", p, err)
	}

	code := func(err error) codes.Code { return status.Code(err) }
	if _, err := d.publish("a/+/b", "x", false); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "wildcard") {
		t.Errorf("publish to a wildcard: %v, want INVALID_ARGUMENT naming the wildcard", err)
	}
	if _, err := d.publish("", "x", false); code(err) != codes.InvalidArgument {
		t.Errorf("publish to an empty topic: %v, want INVALID_ARGUMENT", err)
	}
	big := strings.Repeat("x", 1<<20+1)
	if _, err := d.publish("big", big, false); code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "--max-payload") {
		t.Errorf("oversized payload: %v, want INVALID_ARGUMENT naming --max-payload", err)
	}
	ctx, cancel := d.ctx(5 * time.Second)
	defer cancel()
	if _, err := d.c.Unsubscribe(ctx, &sidecarpb.UnsubscribeRequest{SubscriptionId: "no-such-sub"}); code(err) != codes.NotFound {
		t.Errorf("unsubscribe unknown: %v, want NOT_FOUND", err)
	}
	bad := d.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"a/#/b"}})
	if err := bad.end(5 * time.Second); code(err) != codes.InvalidArgument {
		t.Errorf("subscribe to a/#/b: %v, want INVALID_ARGUMENT", err)
	}
	gone := d.resume(&sidecarpb.ResumeSubscribeRequest{SubscriptionId: "no-such-sub"})
	if err := gone.end(5 * time.Second); code(err) != codes.NotFound {
		t.Errorf("resume unknown: %v, want NOT_FOUND", err)
	}
	policy := d.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"a"}, BackpressurePolicy: "sometimes"})
	if err := policy.end(5 * time.Second); code(err) != codes.InvalidArgument {
		t.Errorf("unknown backpressure policy: %v, want INVALID_ARGUMENT", err)
	}

	m, err := d.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for series, min := range map[string]float64{
		`nexusd_sidecar_refused_total{reason="invalid_argument",rpc="Publish"}`:   3,
		`nexusd_sidecar_refused_total{reason="not_found",rpc="Unsubscribe"}`:      1,
		`nexusd_sidecar_refused_total{reason="invalid_argument",rpc="Subscribe"}`: 2,
		`nexusd_sidecar_refused_total{reason="not_found",rpc="ResumeSubscribe"}`:  1,
		`nexusd_rejected_total{reason="topic_invalid"}`:                           3,
		`nexusd_rejected_total{reason="payload_too_large"}`:                       1,
		`nexusd_rejected_total{reason="beacon_foreign_cluster"}`:                  1,
		`nexusd_rejected_total{reason="beacon_too_large"}`:                        1,
		`nexusd_rejected_total{reason="subscription_unknown"}`:                    2,
	} {
		if m[series] < min {
			t.Errorf("%s = %v, want at least %v", series, m[series], min)
		}
	}

	// Still serving.
	s := d.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"still/#"}})
	s.info()
	d.mustPublish("still/here", "yes")
	if got := s.messages(1, 5*time.Second)[0]; string(got.GetPayload()) != "yes" {
		t.Fatalf("after bad input got %q", got.GetPayload())
	}
	if _, err := d.Get("/healthz"); err != nil {
		t.Fatal(err)
	}
}

// TestBadFlagExitsTwoNamingIt: a bad flag value stops the daemon with
// status 2 and one line naming the flag and what it accepts.
func TestBadFlagExitsTwoNamingIt(t *testing.T) {
	testnet.Require(t)
	for _, c := range []struct{ args, want string }{
		{"--mesh-port=http", "--mesh-port"},
		{"--backpressure-policy sometimes", "drop-oldest, drop-newest or block"},
		{"--app-bind 0.0.0.0", "--app-token"},
	} {
		cmd := exec.Command(testnet.Binary(t), strings.Fields(c.args)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 2 {
			t.Errorf("%s: %v, want exit status 2", c.args, err)
		}
		line := strings.TrimSpace(stderr.String())
		if strings.Count(line, "\n") != 0 || !strings.Contains(line, c.want) {
			t.Errorf("%s: stderr %q: want one line containing %q", c.args, line, c.want)
		}
	}
}
