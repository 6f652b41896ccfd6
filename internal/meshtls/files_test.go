package meshtls

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// testCA is a CA made as an operator would, with P-256 keys.
type testCA struct {
	cert *x509.Certificate
	key  crypto.Signer
	pem  []byte
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// node writes a certificate named name from ca, its key and ca's bundle
// into dir, and returns where.
func (ca *testCA) node(t *testing.T, dir, name string) Files {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, key.Public(), ca.key)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(key)
	f := Files{Cert: filepath.Join(dir, "node.crt"), Key: filepath.Join(dir, "node.key"), CA: filepath.Join(dir, "ca.crt")}
	for path, data := range map[string][]byte{
		f.Cert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		f.Key:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}),
		f.CA:   ca.pem,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func fromFiles(t *testing.T, f Files) *Config {
	t.Helper()
	c, err := FromFiles(f)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCertificatesFromTheOperatorsCAConnect(t *testing.T) {
	ca := newTestCA(t, "ops CA")
	a, b := fromFiles(t, ca.node(t, t.TempDir(), "a")), fromFiles(t, ca.node(t, t.TempDir(), "b"))
	connect(t, a.ClientTLS(), b.ServerTLS()).ok(t, "a", "b")
	connect(t, b.ClientTLS(), a.ServerTLS()).ok(t, "b", "a")
}

func TestCertificateFromAnotherCAIsRefused(t *testing.T) {
	ours, theirs := newTestCA(t, "ours"), newTestCA(t, "theirs")
	a, x := fromFiles(t, ours.node(t, t.TempDir(), "a")), fromFiles(t, theirs.node(t, t.TempDir(), "x"))
	connect(t, x.ClientTLS(), a.ServerTLS()).refused(t)
	connect(t, a.ClientTLS(), x.ServerTLS()).refused(t)

	// A certificate that does not chain to its own bundle is refused at
	// load, with the reason, not by every peer later.
	f := theirs.node(t, t.TempDir(), "y")
	if err := os.WriteFile(f.CA, ours.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := FromFiles(f); err == nil || !strings.Contains(err.Error(), "peers trusting "+f.CA+" would refuse it") {
		t.Fatalf("a certificate from another CA loaded: %v", err)
	}
}

func TestReloadedFilesServeNewHandshakesAndKeepConnections(t *testing.T) {
	ca := newTestCA(t, "ops CA")
	dir := t.TempDir()
	server, client := fromFiles(t, ca.node(t, dir, "first")), fromFiles(t, ca.node(t, t.TempDir(), "client"))
	l := connect(t, client.ClientTLS(), server.ServerTLS())
	l.ok(t, "client", "first")

	ca.node(t, dir, "second") // the same paths, new contents
	if err := server.ReloadFiles(); err != nil {
		t.Fatal(err)
	}
	connect(t, client.ClientTLS(), server.ServerTLS()).ok(t, "client", "second")
	l.echo(t, 1)

	// A file that does not load leaves the material in use.
	if err := os.WriteFile(filepath.Join(dir, "node.key"), []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := server.ReloadFiles(); err == nil {
		t.Fatal("a broken key file reloaded")
	}
	connect(t, client.ClientTLS(), server.ServerTLS()).ok(t, "client", "second")
	l.echo(t, 2)
}
