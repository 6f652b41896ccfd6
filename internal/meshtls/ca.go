package meshtls

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"

	"github.com/nexusd/nexusd/internal/keyring"
)

// Every certificate made from a keyring is valid from 2000 to 2100: what
// expires a member is losing the key, not a date, and a fixed range makes
// clock skew between hosts irrelevant.
var (
	notBefore = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	notAfter  = time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
)

// caPurpose names the secret of a key that seeds its CA's signing key.
const caPurpose = "mesh ca"

// clusterCA is the CA one cluster key derives. Its key and certificate
// depend on the cluster key alone, so every member builds the same one.
type clusterCA struct {
	id   uint32
	key  ed25519.PrivateKey
	tmpl *x509.Certificate // what its certificates, self-signed or cross, are made from
	cert *x509.Certificate // self-signed: what members trust
}

func caOf(k keyring.Key) *clusterCA {
	key := ed25519.NewKeyFromSeed(k.Derive(caPurpose, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	skid := sha256.Sum256(pub)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: fmt.Sprintf("nexusd mesh CA %08x", k.ID)},
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1, // room for one cross-certificate below it
		SubjectKeyId:          skid[:20],
	}
	return &clusterCA{id: k.ID, key: key, tmpl: tmpl, cert: create(tmpl, tmpl, pub, key)}
}

// certifiedBy is ca's certificate issued by other's CA: a peer that trusts
// other but not yet (or no longer) ca accepts ca's leaves through it. Only
// a holder of both keys can make it.
func (ca *clusterCA) certifiedBy(other *clusterCA) *x509.Certificate {
	t := *ca.tmpl
	t.SerialNumber = new(big.Int).SetUint64(1<<32 | uint64(ca.id)) // one per subject under each issuer
	t.MaxPathLen, t.MaxPathLenZero = 0, true
	return create(&t, other.cert, ca.key.Public(), other.key)
}

// leaf certifies a fresh key named name under ca, for both ends of a
// connection. chain follows the leaf in the handshake.
func (ca *clusterCA) leaf(name string, chain ...*x509.Certificate) *tls.Certificate {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic("meshtls: crypto/rand failed: " + err.Error()) // it does not on supported systems
	}
	serial := make([]byte, 16)
	rand.Read(serial)
	tmpl := &x509.Certificate{
		SerialNumber: new(big.Int).SetBytes(serial),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	cert := create(tmpl, ca.cert, pub, ca.key)
	out := &tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	for _, c := range chain {
		out.Certificate = append(out.Certificate, c.Raw)
	}
	return out
}

// ringMaterial is the material of a keyring: a leaf named name under the
// primary's CA, cross-certified by every other key's, and trust in every
// key's CA.
func ringMaterial(ring *keyring.Ring, name string) *material {
	keys := ring.Keys()
	cas := make([]*clusterCA, len(keys))
	roots := x509.NewCertPool()
	for i, k := range keys {
		cas[i] = caOf(k)
		roots.AddCert(cas[i].cert)
	}
	var cross []*x509.Certificate
	for _, other := range cas[1:] {
		cross = append(cross, cas[0].certifiedBy(other))
	}
	return newMaterial(cas[0].leaf(name, cross...), roots)
}

// create signs a certificate from a template of ours. Only a programming
// error makes that fail, so it panics.
func create(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) *x509.Certificate {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		panic(fmt.Sprintf("meshtls: certificate %q from a fixed template: %v", tmpl.Subject.CommonName, err))
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		panic(fmt.Sprintf("meshtls: parsing certificate %q just made: %v", tmpl.Subject.CommonName, err))
	}
	return cert
}
