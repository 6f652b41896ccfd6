package keyring

import (
	"bytes"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// KeyBytes is the size of a cluster key: 256 bits.
const KeyBytes = 32

// MaxKeys bounds a keyring: a receiver may try each, and rotation needs
// two or three.
const MaxKeys = 16

// Key is one cluster key and its id, the first four bytes of a hash of it,
// which senders name so receivers try one key, not every one.
type Key struct {
	ID     uint32
	secret [KeyBytes]byte
}

// Ring is a parsed keyring: Keys[0] is the primary. It is immutable.
type Ring struct {
	keys []Key
}

// Primary is the key this daemon signs and encrypts with.
func (r *Ring) Primary() Key { return r.keys[0] }

// Keys lists the keys, the primary first.
func (r *Ring) Keys() []Key { return append([]Key(nil), r.keys...) }

// Find returns the key with id, if the ring holds it.
func (r *Ring) Find(id uint32) (Key, bool) {
	for _, k := range r.keys {
		if k.ID == id {
			return k, true
		}
	}
	return Key{}, false
}

// Derive returns n bytes of secret for purpose, derived from the key.
// Distinct purposes get independent secrets.
func (k Key) Derive(purpose string, n int) []byte {
	out, err := hkdf.Key(sha256.New, k.secret[:], nil, "nexusd "+purpose, n)
	if err != nil {
		panic(fmt.Sprintf("keyring: HKDF of %d bytes: %v", n, err)) // n is a constant of the caller's
	}
	return out
}

// MACKey is the HMAC-SHA256 key of purpose: a caller that authenticates
// often keeps one hmac.New(sha256.New, k.MACKey(purpose)) and resets it.
func (k Key) MACKey(purpose string) []byte { return k.Derive(purpose+" mac", KeyBytes) }

// MAC is HMAC-SHA256 of data (its pieces in order) under the key's secret
// for purpose.
func (k Key) MAC(purpose string, data ...[]byte) [sha256.Size]byte {
	m := hmac.New(sha256.New, k.MACKey(purpose))
	for _, d := range data {
		m.Write(d)
	}
	var out [sha256.Size]byte
	m.Sum(out[:0])
	return out
}

func keyID(secret []byte) uint32 {
	sum := sha256.Sum256(append([]byte("nexusd key id\n"), secret...))
	return binary.BigEndian.Uint32(sum[:4])
}

// Parse reads a keyring: one key per line, base64 of 32 bytes (standard or
// URL alphabet, padded or not); blank lines and lines starting with # are
// ignored. The first key is the primary. Errors name the line.
func Parse(data []byte) (*Ring, error) {
	r := &Ring{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		secret, err := decodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		k := Key{ID: keyID(secret)}
		copy(k.secret[:], secret)
		for _, o := range r.keys {
			if o.ID == k.ID {
				return nil, fmt.Errorf("line %d: the same key twice (or two keys with one id: generate another)", i+1)
			}
		}
		if len(r.keys) == MaxKeys {
			return nil, fmt.Errorf("line %d: more than %d keys", i+1, MaxKeys)
		}
		r.keys = append(r.keys, k)
	}
	if len(r.keys) == 0 {
		return nil, errors.New("no key in it: put one per line (make one with: nexusd keygen)")
	}
	return r, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeyBytes {
				return nil, fmt.Errorf("a key is %d bytes, this one %d: make one with: nexusd keygen", KeyBytes, len(b))
			}
			if bytes.Equal(b, make([]byte, KeyBytes)) {
				return nil, errors.New("an all-zero key is no secret")
			}
			return b, nil
		}
	}
	return nil, errors.New("not a base64 key (make one with: nexusd keygen)")
}

// Load reads and parses the keyring file at path. A file others than its
// owner may read is refused: the key is the mesh's only secret.
func Load(path string) (*Ring, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 && !groupReadableOK(fi) {
		return nil, fmt.Errorf("%s: mode %#o lets others read the key: chmod 600 it (or 640 for a group that must)", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	r, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// groupReadableOK allows 0640 and 0440: a key shared with a group (a
// Kubernetes secret mounted with fsGroup) but not with the world.
func groupReadableOK(fi os.FileInfo) bool { return fi.Mode().Perm()&0o037 == 0 }

// Generate returns a new random key as one keyring line.
func Generate(rng io.Reader) (string, error) {
	var b [KeyBytes]byte
	if _, err := io.ReadFull(rng, b[:]); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

// New returns a new random key as one keyring line, from crypto/rand.
func New() string {
	s, err := Generate(rand.Reader)
	if err != nil {
		panic("keyring: crypto/rand failed: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return s
}
