package meshtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/nexusd/nexusd/internal/keyring"
)

// Config is one daemon's mesh TLS: a server and a client configuration
// that read the current material at every handshake. Its methods may be
// called from any goroutine.
type Config struct {
	name  string // leaves made from a keyring are named so (the instance id)
	files Files  // where the material came from in files mode; zero otherwise
	cur   atomic.Pointer[material]
}

// material is what one handshake uses; it is never changed, only replaced.
type material struct {
	cert   *tls.Certificate // this daemon's, the leaf first
	roots  *x509.CertPool   // peers' certificates must chain to one of these
	server *tls.Config      // the server's configuration for this material
}

func newMaterial(cert *tls.Certificate, roots *x509.CertPool) *material {
	return &material{cert: cert, roots: roots, server: &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{*cert},
		// A caller without a certificate still gets through the handshake,
		// so the mesh server can answer it with a reason (and serve it
		// health checks); one with a certificate no trusted CA issued does
		// not.
		ClientAuth:             tls.VerifyClientCertIfGiven,
		ClientCAs:              roots,
		NextProtos:             []string{"h2"},
		SessionTicketsDisabled: true, // a resumed session would skip checking against new trust
	}}
}

// FromRing makes the mesh TLS of a keyring: this daemon's leaf, named
// name, is certified by the primary key's CA, and peers certified by the
// CA of any key in the ring are trusted.
func FromRing(ring *keyring.Ring, name string) *Config {
	c := &Config{name: name}
	c.SetRing(ring)
	return c
}

// SetRing replaces the material with a new leaf under ring's primary and
// trust in ring's keys, for handshakes from now on.
func (c *Config) SetRing(ring *keyring.Ring) {
	c.cur.Store(ringMaterial(ring, c.name))
}

// ServerTLS is the server's configuration: TLS 1.3, this daemon's current
// certificate, and a client certificate verified against the current
// trust when one is given (tls.ConnectionState.VerifiedChains then holds
// its chain).
func (c *Config) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return c.cur.Load().server, nil
		},
	}
}

// ClientTLS is the client's configuration: TLS 1.3, the server's chain
// verified against the current trust, and this daemon's current
// certificate sent when asked.
func (c *Config) ClientTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{"h2"},
		// Peers are dialed by IP and certificates name no address: the
		// chain is checked by VerifyConnection, the name not at all.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if err := c.cur.Load().verify(cs.PeerCertificates, x509.ExtKeyUsageServerAuth); err != nil {
				return fmt.Errorf("the peer is not a member of this mesh (give it the same --cluster-key, or a certificate from the same --tls-ca): %w", err)
			}
			return nil
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c.cur.Load().cert, nil
		},
	}
}

// Leaf is this daemon's current certificate.
func (c *Config) Leaf() *x509.Certificate { return c.cur.Load().cert.Leaf }

// verify checks that certs, a peer's chain leaf first, chain to a trusted
// CA for usage.
func (m *material) verify(certs []*x509.Certificate, usage x509.ExtKeyUsage) error {
	if len(certs) == 0 {
		return errors.New("no certificate")
	}
	between := x509.NewCertPool()
	for _, c := range certs[1:] {
		between.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: m.roots, Intermediates: between, KeyUsages: []x509.ExtKeyUsage{usage}})
	if err != nil {
		return fmt.Errorf("certificate %q: %w", certs[0].Subject.CommonName, err)
	}
	return nil
}
