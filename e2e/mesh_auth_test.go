package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/nexusd/nexusd/internal/keyring"
	"github.com/nexusd/nexusd/internal/meshtls"
	"github.com/nexusd/nexusd/internal/testnet"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// TestMeshCallsWithoutCredentialsAreRefused: a keyed daemon's mesh port
// answers members only. Every mesh RPC (a state fetch, a resend, a push
// and both push streams, forged in the name of its real peer) made over
// TLS without a client certificate is refused with UNAUTHENTICATED and
// counted; made in plaintext, or with a certificate from another key's CA,
// it fails at the handshake (the port speaks TLS only, so no gRPC status
// can come back) and that is counted. Health checks still answer. No forged
// message is delivered. A caller with the cluster's key gets through, so
// the refusals are the credentials', not the test's.
func TestMeshCallsWithoutCredentialsAreRefused(t *testing.T) {
	testnet.Require(t)
	cluster, port := newCluster(t)
	key := newKey(t)
	file := keyFile(t, key)
	a, b := keyedPair(t, cluster, port, file)
	s := a.subscribe(&sidecarpb.SubscribeRequest{Topics: []string{"forge/#"}})
	s.info()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	dial := func(creds grpc.DialOption) *grpc.ClientConn {
		t.Helper()
		conn, err := grpc.NewClient(a.Mesh, creds)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	refused := func(reason string) float64 {
		return a.Metric(fmt.Sprintf(`nexusd_mesh_refused_total{reason=%q}`, reason))
	}
	waitRefused := func(t *testing.T, reason string, min float64) {
		t.Helper()
		testnet.Eventually(t, 5*time.Second, "refusals counted", func() error {
			if v := refused(reason); v < min {
				return fmt.Errorf("nexusd_mesh_refused_total{reason=%q} = %v, want at least %v", reason, v, min)
			}
			return nil
		})
	}
	check := func(t *testing.T, conn *grpc.ClientConn, want codes.Code) {
		t.Helper()
		for rpc, err := range meshCalls(ctx, conn, a.id, b.id) {
			if got := status.Code(err); got != want {
				t.Errorf("%s: %v, want %s", rpc, err, want)
			} else if want == codes.Unauthenticated && !strings.Contains(err.Error(), "--cluster-key") {
				t.Errorf("%s: %q does not say what to do (give the peer --cluster-key)", rpc, err)
			}
		}
	}

	t.Run("TLS without a certificate", func(t *testing.T) {
		before := refused("unauthenticated")
		conn := dial(grpc.WithTransportCredentials(grpccreds.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true})))
		check(t, conn, codes.Unauthenticated)
		waitRefused(t, "unauthenticated", before+5)
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health check without a certificate: %v (%v), want SERVING", resp, err)
		}
	})

	t.Run("plaintext", func(t *testing.T) {
		before := refused("handshake")
		check(t, dial(grpc.WithTransportCredentials(insecure.NewCredentials())), codes.Unavailable)
		waitRefused(t, "handshake", before+1)
	})

	t.Run("certificate from another key", func(t *testing.T) {
		ring, err := keyring.Parse([]byte(newKey(t).line))
		if err != nil {
			t.Fatal(err)
		}
		cfg := meshtls.FromRing(ring, "intruder").ClientTLS()
		cfg.VerifyConnection = nil // the intruder trusts any server; the server must still refuse it
		before := refused("handshake")
		check(t, dial(grpc.WithTransportCredentials(grpccreds.NewTLS(cfg))), codes.Unavailable)
		waitRefused(t, "handshake", before+1)
	})

	t.Run("control: a member gets through", func(t *testing.T) {
		ring, err := keyring.Parse([]byte(key.line))
		if err != nil {
			t.Fatal(err)
		}
		conn := dial(grpc.WithTransportCredentials(grpccreds.NewTLS(meshtls.FromRing(ring, "member").ClientTLS())))
		st, err := meshpb.NewMeshServiceClient(conn).GetNodeState(ctx, &emptypb.Empty{})
		if err != nil || st.GetInstanceUuid() != a.id {
			t.Fatalf("GetNodeState with the cluster's key: %v (%v)", st, err)
		}
	})

	// Nothing forged reached the subscriber: the first message it gets is
	// the real one published after.
	if got := a.mustPublish("forge/real", "real"); got.GetSubscriberCount() != 1 {
		t.Fatalf("publish reached %d subscribers, want 1", got.GetSubscriberCount())
	}
	if m := s.messages(1, 5*time.Second)[0]; string(m.GetPayload()) != "real" {
		t.Errorf("the subscriber got %q (from %s) first: a forged push was delivered", m.GetPayload(), m.GetSourceNodeId())
	}
	if v := a.Metric("nexusd_messages_received_total"); v != 0 {
		t.Errorf("a accepted %v messages from the mesh, want none", v)
	}
	logMetrics(t, a, `nexusd_mesh_refused_total{reason="handshake"}`, `nexusd_mesh_refused_total{reason="unauthenticated"}`)
}

// meshCalls makes every MeshService call once on conn, pushes forged in
// the name of peer to the daemon self, and returns each call's error.
func meshCalls(ctx context.Context, conn *grpc.ClientConn, self, peer string) map[string]error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	m := meshpb.NewMeshServiceClient(conn)
	forged := func() *meshpb.MessageEnvelope {
		return &meshpb.MessageEnvelope{MessageId: newUUID(), Topic: "forge/x", Payload: []byte("forged"),
			TimestampMs: time.Now().UnixMilli(), SourceNodeId: peer, SourceSequence: 1}
	}
	out := map[string]error{}
	_, out["GetNodeState"] = m.GetNodeState(ctx, &emptypb.Empty{})
	_, out["ResendMessages"] = m.ResendMessages(ctx, &meshpb.ResendRequest{SourceNodeId: self, Topic: "forge/x",
		FromSequence: 1, ToSequence: 100, RequesterNodeId: peer})
	_, out["PushMessage"] = m.PushMessage(ctx, forged())
	out["PushMessageStream"] = func() error {
		st, err := m.PushMessageStream(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(forged()); err != nil {
			_, err = st.Recv() // the status is there
			return err
		}
		_, err = st.Recv()
		return err
	}()
	out["PushMessageBatchStream"] = func() error {
		st, err := m.PushMessageBatchStream(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(&meshpb.MessageBatch{Messages: []*meshpb.MessageEnvelope{forged()}, SentAtMs: time.Now().UnixMilli()}); err != nil {
			_, err = st.Recv()
			return err
		}
		_, err = st.Recv()
		return err
	}()
	return out
}
