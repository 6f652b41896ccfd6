package meshtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// Files are an operator's PEM files: this daemon's certificate (the leaf
// first, then any intermediates), its private key, and the CA bundle that
// peers' certificates must chain to.
type Files struct {
	Cert, Key, CA string
}

// FromFiles makes the mesh TLS of f. A certificate that does not chain to
// the bundle is refused here, where the operator sees why, not by every
// peer.
func FromFiles(f Files) (*Config, error) {
	m, err := loadFiles(f)
	if err != nil {
		return nil, err
	}
	c := &Config{files: f}
	c.cur.Store(m)
	return c, nil
}

// ReloadFiles reads the files again and, if they load, uses them for
// handshakes from now on. On error the material in use stays.
func (c *Config) ReloadFiles() error {
	if c.files == (Files{}) {
		return errors.New("this mesh TLS comes from a keyring, not from files")
	}
	m, err := loadFiles(c.files)
	if err != nil {
		return err
	}
	c.cur.Store(m)
	return nil
}

func loadFiles(f Files) (*material, error) {
	cert, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("certificate %s with key %s: %w", f.Cert, f.Key, err)
	}
	bundle, err := os.ReadFile(f.CA)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundle) {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificate in it", f.CA)
	}
	chain := make([]*x509.Certificate, len(cert.Certificate))
	for i, der := range cert.Certificate {
		if chain[i], err = x509.ParseCertificate(der); err != nil {
			return nil, fmt.Errorf("certificate %s, #%d: %w", f.Cert, i+1, err)
		}
	}
	m := newMaterial(&cert, roots)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if err := m.verify(chain, usage); err != nil {
			return nil, fmt.Errorf("%s: peers trusting %s would refuse it (it must chain to that bundle, and any extendedKeyUsage must allow serverAuth and clientAuth): %w",
				f.Cert, f.CA, err)
		}
	}
	return m, nil
}
