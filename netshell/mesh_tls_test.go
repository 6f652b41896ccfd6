package netshell

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/nexusd/nexusd/internal/keyring"
	"github.com/nexusd/nexusd/internal/meshtls"
	"github.com/nexusd/nexusd/proto/meshpb"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// keyFile writes a keyring of one new key to a file only its owner reads.
func keyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cluster.key")
	if err := os.WriteFile(path, []byte(keyring.New()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// meshRefused reads nexusd_mesh_refused_total{reason} from s's registry.
func meshRefused(t *testing.T, s *Server, reason string) float64 {
	t.Helper()
	fams, err := s.metrics.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "nexusd_mesh_refused_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			if l := m.GetLabel(); len(l) == 1 && l[0].GetValue() == reason {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no nexusd_mesh_refused_total{reason=%q}", reason)
	return 0
}

// until polls cond until it holds, or fails the test after 5 s.
func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: 5 s passed", what)
		}
		<-tick.C
	}
}

// dialMesh is a mesh client of addr with the given transport.
func dialMesh(t *testing.T, addr string, transport grpc.DialOption) (meshpb.MeshServiceClient, *grpc.ClientConn) {
	t.Helper()
	conn, err := grpc.NewClient(addr, transport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return meshpb.NewMeshServiceClient(conn), conn
}

func TestMeshRefusesCallersWithoutACertificate(t *testing.T) {
	ts := startServer(t, func(o *Options) { o.ClusterKeyFile = keyFile(t) })
	ctx := ctx5(t)
	if got := ts.s.meshSecurity(); got != meshTLSKey {
		t.Fatalf("mesh security %q, want %q", got, meshTLSKey)
	}
	// Plaintext does not get past the handshake, which is counted.
	if _, err := ts.mesh.GetNodeState(ctx, &emptypb.Empty{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("a plaintext fetch: %v, want UNAVAILABLE", err)
	}
	until(t, "the failed handshake to be counted", func() bool { return meshRefused(t, ts.s, "handshake") >= 1 })

	// TLS without a certificate gets through the handshake, then every
	// call but a health check is refused with what to do.
	mesh, conn := dialMesh(t, ts.s.Addrs().Mesh, grpc.WithTransportCredentials(grpccreds.NewTLS(&tls.Config{InsecureSkipVerify: true})))
	_, err := mesh.GetNodeState(ctx, &emptypb.Empty{})
	if st := status.Convert(err); st.Code() != codes.Unauthenticated || st.Message() != meshAuthHelp {
		t.Fatalf("a fetch without a certificate: %v, want UNAUTHENTICATED: %s", err, meshAuthHelp)
	}
	push, err := mesh.PushMessageBatchStream(ctx)
	if err == nil {
		_, err = push.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("a push stream without a certificate: %v, want UNAUTHENTICATED", err)
	}
	if resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("a health check without a certificate: %v, %v; want SERVING", resp, err)
	}
	if n := meshRefused(t, ts.s, "unauthenticated"); n != 2 {
		t.Fatalf("%v unauthenticated calls counted, want 2", n)
	}
}

func TestDaemonsSharingAKeyMeshOverTLS(t *testing.T) {
	key := keyFile(t)
	a := startServer(t, func(o *Options) { o.ClusterKeyFile = key })
	_, discPort, _ := net.SplitHostPort(a.s.Addrs().Discovery)
	b := startServer(t, func(o *Options) {
		o.ClusterKeyFile = key
		o.Peers = []string{"127.0.0.1:" + discPort} // b beacons to a, so a fetches from and pushes to b
		o.BeaconInterval, o.SuspectAfter = 20*time.Millisecond, 60*time.Millisecond
	})
	ctx := ctx5(t)
	sub, err := b.app.Subscribe(ctx, &sidecarpb.SubscribeRequest{Topics: []string{"k/#"}})
	if err != nil {
		t.Fatal(err)
	}
	recvUntil(t, sub, 1)
	var want uint64
	if err := b.s.loop.query(ctx, func(l *loop) { want = l.node.Hash() }); err != nil {
		t.Fatal(err)
	}
	until(t, "a to fetch b's state with its subscription", func() bool {
		var got uint64
		var ok bool
		if err := a.s.loop.query(ctx, func(l *loop) { got, ok = l.node.SyncedHash(b.s.ID()) }); err != nil {
			t.Fatal(err)
		}
		return ok && got == want
	})
	if _, err := a.app.Publish(ctx, &sidecarpb.PublishRequest{Topic: "k/1", Payload: []byte("over tls")}); err != nil {
		t.Fatal(err)
	}
	if got := recvUntil(t, sub, 1)[0].GetMessage().GetPayload(); string(got) != "over tls" {
		t.Fatalf("b's subscriber got %q", got)
	}
	for _, ts := range []*testServer{a, b} {
		if n := meshRefused(t, ts.s, "handshake") + meshRefused(t, ts.s, "unauthenticated"); n != 0 {
			t.Fatalf("%s refused %v mesh callers", ts.s.ID(), n)
		}
	}
}

func TestDaemonWithAnotherKeyCannotFetchState(t *testing.T) {
	aKey, bKey := keyFile(t), keyFile(t)
	a := startServer(t, func(o *Options) { o.ClusterKeyFile = aKey })
	b := startServer(t, func(o *Options) { o.ClusterKeyFile = bKey })
	// What b's mesh client dials a with.
	mesh, _ := dialMesh(t, a.s.Addrs().Mesh, b.s.meshDialCredentials())
	_, err := mesh.GetNodeState(ctx5(t), &emptypb.Empty{})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "not a member of this mesh") {
		t.Fatalf("a fetch with another key: %v, want UNAVAILABLE: not a member", err)
	}
	until(t, "a to count the handshake", func() bool { return meshRefused(t, a.s, "handshake") >= 1 })

	// Once a reloads a keyring that trusts b's key too, new connections
	// from b get in.
	bLine, _ := os.ReadFile(bKey)
	aLine, _ := os.ReadFile(aKey)
	if err := os.WriteFile(aKey, append(aLine, bLine...), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.s.Reload(); err != nil {
		t.Fatal(err)
	}
	mesh, _ = dialMesh(t, a.s.Addrs().Mesh, b.s.meshDialCredentials())
	if _, err := mesh.GetNodeState(ctx5(t), &emptypb.Empty{}); err != nil {
		t.Fatalf("a fetch with a key a's reloaded keyring holds: %v", err)
	}
}

// operatorCA is a CA made as an operator would, and what it issues.
type operatorCA struct {
	cert *x509.Certificate
	key  ed25519.PrivateKey
	dir  string
}

func newOperatorCA(t *testing.T) *operatorCA {
	t.Helper()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	ca := &operatorCA{key: key, dir: t.TempDir()}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ops CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	ca.cert = ca.sign(t, tmpl, tmpl, key.Public(), "ca.crt")
	return ca
}

func (ca *operatorCA) sign(t *testing.T, tmpl, parent *x509.Certificate, pub any, file string) *x509.Certificate {
	t.Helper()
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ca.dir, file), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

// node writes a certificate for name and its key as name.crt and
// name.key, and returns the three files of a daemon using them.
func (ca *operatorCA) node(t *testing.T, name, file string) meshtls.Files {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	ca.sign(t, tmpl, ca.cert, pub, file+".crt")
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	f := meshtls.Files{Cert: filepath.Join(ca.dir, file+".crt"), Key: filepath.Join(ca.dir, file+".key"), CA: filepath.Join(ca.dir, "ca.crt")}
	if err := os.WriteFile(f.Key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestMeshTLSFilesWinOverTheKeyAndReloadOnSIGHUP(t *testing.T) {
	ca := newOperatorCA(t)
	f := ca.node(t, "first", "server")
	ts := startServer(t, func(o *Options) {
		o.ClusterKeyFile, o.TLSCert, o.TLSKey, o.TLSCA = keyFile(t), f.Cert, f.Key, f.CA
	})
	if got := ts.s.meshSecurity(); got != meshTLSFiles {
		t.Fatalf("mesh security %q, want %q", got, meshTLSFiles)
	}
	member, err := meshtls.FromFiles(ca.node(t, "client", "client"))
	if err != nil {
		t.Fatal(err)
	}
	// served is the name on the certificate a new connection is served.
	served := func() string {
		t.Helper()
		mesh, _ := dialMesh(t, ts.s.Addrs().Mesh, grpc.WithTransportCredentials(grpccreds.NewTLS(member.ClientTLS())))
		var p peer.Peer
		if _, err := mesh.GetNodeState(ctx5(t), &emptypb.Empty{}, grpc.Peer(&p)); err != nil {
			t.Fatalf("a fetch with a certificate from --tls-ca: %v", err)
		}
		return p.AuthInfo.(grpccreds.TLSInfo).State.PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "first" {
		t.Fatalf("served %q, want first", got)
	}
	ca.node(t, "second", "server") // the same files, new contents
	if err := ts.s.Reload(); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != "second" {
		t.Fatalf("served %q after a reload, want second", got)
	}
	// The key's certificate does not get in where files rule the mesh.
	keyed := meshtls.FromRing(ts.s.creds.Ring(), "keyed")
	mesh, _ := dialMesh(t, ts.s.Addrs().Mesh, grpc.WithTransportCredentials(grpccreds.NewTLS(keyed.ClientTLS())))
	if _, err := mesh.GetNodeState(ctx5(t), &emptypb.Empty{}); status.Code(err) != codes.Unavailable {
		t.Fatalf("a fetch with the key's certificate: %v, want UNAVAILABLE", err)
	}
}

func TestMeshTLSFilesReloadWhenTheyChange(t *testing.T) {
	ca := newOperatorCA(t)
	f := ca.node(t, "first", "server")
	o := DefaultOptions()
	clk := clock.NewMock()
	o.TLSCert, o.TLSKey, o.TLSCA, o.Clock = f.Cert, f.Key, f.CA, clk
	s, err := New(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.watchCredentials(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	ca.node(t, "second", "server")
	until(t, "a poll to load the changed files", func() bool {
		clk.Add(credentialPoll)
		return s.meshTLS.cfg.Leaf().Subject.CommonName == "second"
	})
}

func TestMeshTLSFlagsComeTogetherAndReadable(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "x.pem")
	os.WriteFile(file, []byte("x"), 0o600)
	for _, c := range []struct {
		cert, key, ca, want string
	}{
		{file, "", "", "--tls-key: required with the other --tls-* flags"},
		{"", "", file, "--tls-cert: required"},
		{file, file, "", "--tls-ca: required"},
		{file, filepath.Join(dir, "missing"), file, "--tls-key: open " + filepath.Join(dir, "missing")},
	} {
		o := DefaultOptions()
		o.TLSCert, o.TLSKey, o.TLSCA = c.cert, c.key, c.ca
		if err := o.Validate(); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("cert %q key %q ca %q: %v, want %q", c.cert, c.key, c.ca, err, c.want)
		}
	}
	o, err := ParseFlags(nil, env(map[string]string{"NEXUSD_TLS_CERT_FILE": file, "NEXUSD_TLS_KEY_FILE": file, "NEXUSD_TLS_CA_FILE": file}))
	if err != nil || o.TLSCert != file || o.TLSKey != file || o.TLSCA != file {
		t.Fatalf("from the environment: %+v, %v", o, err)
	}
}

func TestHarnessCallsItsKeyedMeshAsAMember(t *testing.T) {
	o := DefaultOptions()
	o.ClusterKeyFile = keyFile(t)
	h, err := NewHarness(HarnessConfig{Options: o, ID: "self"})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx := ctx5(t)
	if _, err := h.Call(ctx, meshpb.MeshService_GetNodeState_FullMethodName); err != nil {
		t.Fatalf("GetNodeState on a keyed harness: %v", err)
	}
	if n := meshRefused(t, h.s, "handshake") + meshRefused(t, h.s, "unauthenticated"); n != 0 {
		t.Fatalf("the harness's own mesh calls were refused %v times", n)
	}
}
