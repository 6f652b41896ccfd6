package meshtls

import (
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/keyring"
)

// link is one connection between a client and a server configuration
// over loopback TCP, and how each side's handshake ended.
type link struct {
	client, server       *tls.Conn
	clientErr, serverErr error
}

// connect makes a connection from client to server and exchanges a byte
// after the handshake: a TLS 1.3 client learns that the server refused
// its certificate only when it next reads.
func connect(t *testing.T, client, server *tls.Config) *link {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type accepted struct {
		conn *tls.Conn
		err  error
	}
	done := make(chan accepted, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- accepted{err: err}
			return
		}
		c := tls.Server(raw, server)
		if err = c.Handshake(); err == nil {
			_, err = c.Write([]byte{1})
		}
		done <- accepted{c, err}
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	raw.SetDeadline(time.Now().Add(5 * time.Second))
	l := &link{client: tls.Client(raw, client)}
	if l.clientErr = l.client.Handshake(); l.clientErr == nil {
		_, l.clientErr = io.ReadFull(l.client, make([]byte, 1))
	}
	if l.clientErr != nil {
		raw.Close()
	}
	a := <-done
	l.server, l.serverErr = a.conn, a.err
	t.Cleanup(func() {
		raw.Close()
		if a.conn != nil {
			a.conn.Close()
		}
	})
	return l
}

// ok requires both ends to have connected, the server to have verified
// the client's certificate, and each to see the other's name.
func (l *link) ok(t *testing.T, clientName, serverName string) {
	t.Helper()
	if l.clientErr != nil || l.serverErr != nil {
		t.Fatalf("client: %v; server: %v", l.clientErr, l.serverErr)
	}
	ss, cs := l.server.ConnectionState(), l.client.ConnectionState()
	if len(ss.VerifiedChains) == 0 || ss.PeerCertificates[0].Subject.CommonName != clientName {
		t.Fatalf("the server verified no client certificate named %q: %d chains", clientName, len(ss.VerifiedChains))
	}
	if got := cs.PeerCertificates[0].Subject.CommonName; got != serverName || cs.Version != tls.VersionTLS13 {
		t.Fatalf("the client sees %q over %x, want %q over TLS 1.3", got, cs.Version, serverName)
	}
}

// refused requires the connection to have failed.
func (l *link) refused(t *testing.T) {
	t.Helper()
	if l.clientErr == nil || l.serverErr == nil {
		t.Fatalf("connected: client error %v, server error %v", l.clientErr, l.serverErr)
	}
}

// echo sends a byte from the client and requires the server to get it.
func (l *link) echo(t *testing.T, b byte) {
	t.Helper()
	if _, err := l.client.Write([]byte{b}); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 1)
	l.server.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(l.server, got); err != nil || got[0] != b {
		t.Fatalf("the established connection broke: read %v, %v", got, err)
	}
}

func rings(t *testing.T, lines ...string) *keyring.Ring {
	t.Helper()
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	r, err := keyring.Parse(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestMembersOfOneKeyConnectMutually(t *testing.T) {
	k := keyring.New()
	a, b := FromRing(rings(t, k), "a"), FromRing(rings(t, k), "b")
	connect(t, a.ClientTLS(), b.ServerTLS()).ok(t, "a", "b")
	connect(t, b.ClientTLS(), a.ServerTLS()).ok(t, "b", "a")
}

func TestAnotherKeyIsRefused(t *testing.T) {
	a, b := FromRing(rings(t, keyring.New()), "a"), FromRing(rings(t, keyring.New()), "b")
	l := connect(t, a.ClientTLS(), b.ServerTLS())
	l.refused(t)
	// The server refuses the certificate too, not only the client the
	// server's: a client that checks nothing still cannot get in with it.
	lax := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return a.cur.Load().cert, nil }}
	connect(t, lax, b.ServerTLS()).refused(t)
}

func TestCallerWithoutCertificateConnectsUnverified(t *testing.T) {
	b := FromRing(rings(t, keyring.New()), "b")
	l := connect(t, &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}, b.ServerTLS())
	if l.clientErr != nil || l.serverErr != nil {
		t.Fatalf("client: %v; server: %v", l.clientErr, l.serverErr)
	}
	if st := l.server.ConnectionState(); len(st.VerifiedChains) != 0 || len(st.PeerCertificates) != 0 {
		t.Fatalf("the server verified %d chains of a caller that sent no certificate", len(st.VerifiedChains))
	}
}

func TestKeysRotateWithoutPartition(t *testing.T) {
	old, next := keyring.New(), keyring.New()
	ahead := FromRing(rings(t, next, old), "ahead")   // rotated: signs with the new key
	behind := FromRing(rings(t, old), "behind")       // has not heard of the new key
	between := FromRing(rings(t, old, next), "added") // knows it, still signs with the old one
	for _, p := range []struct{ x, y *Config }{{ahead, behind}, {ahead, between}, {behind, between}} {
		xn, yn := p.x.Leaf().Subject.CommonName, p.y.Leaf().Subject.CommonName
		connect(t, p.x.ClientTLS(), p.y.ServerTLS()).ok(t, xn, yn)
		connect(t, p.y.ClientTLS(), p.x.ServerTLS()).ok(t, yn, xn)
	}
	// Once the old key is dropped, a daemon still on it alone is out.
	done := FromRing(rings(t, next), "done")
	connect(t, done.ClientTLS(), behind.ServerTLS()).refused(t)
	connect(t, behind.ClientTLS(), done.ServerTLS()).refused(t)
}

func TestSetRingChangesNewHandshakesOnly(t *testing.T) {
	old, next := keyring.New(), keyring.New()
	a, b := FromRing(rings(t, old), "a"), FromRing(rings(t, old), "b")
	l := connect(t, a.ClientTLS(), b.ServerTLS())
	l.ok(t, "a", "b")
	a.SetRing(rings(t, next))
	connect(t, a.ClientTLS(), b.ServerTLS()).refused(t) // b knows only old
	l.echo(t, 7)
	b.SetRing(rings(t, next, old))
	connect(t, a.ClientTLS(), b.ServerTLS()).ok(t, "a", "b")
}

func TestEveryMemberDerivesTheSameCA(t *testing.T) {
	r := rings(t, keyring.New(), keyring.New())
	k, other := r.Keys()[0], r.Keys()[1]
	x, y := caOf(k), caOf(k)
	if !bytes.Equal(x.cert.Raw, y.cert.Raw) || !bytes.Equal(x.certifiedBy(caOf(other)).Raw, y.certifiedBy(caOf(other)).Raw) {
		t.Fatal("two derivations of one key's CA differ")
	}
	if bytes.Equal(x.cert.RawSubjectPublicKeyInfo, caOf(other).cert.RawSubjectPublicKeyInfo) {
		t.Fatal("two keys derive one CA key")
	}
	if !x.cert.IsCA || x.cert.NotBefore != notBefore || x.cert.NotAfter != notAfter {
		t.Fatalf("CA %v valid %s to %s", x.cert.Subject, x.cert.NotBefore, x.cert.NotAfter)
	}
}
