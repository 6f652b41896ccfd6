package netshell

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nexusd/nexusd/internal/keyring"
)

// credentials are the daemon's secrets: the cluster keyring (--cluster-key)
// and what is built from it. They reload when their files change (checked
// every credentialPoll) or on SIGHUP (Server.Reload), without dropping the
// mesh: what reloads is used by beacons and connections made afterwards.
type credentials struct {
	mu       sync.Mutex
	keyFile  string
	keyStamp fileStamp
	ring     *keyring.Ring         // nil: no key
	onRing   []func(*keyring.Ring) // told of every new ring
}

// credentialPoll is how often credential files are checked for change.
const credentialPoll = 10 * time.Second

// fileStamp tells a changed file from an unchanged one.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// loadCredentials reads the keyring named by o, if any.
func loadCredentials(o *Options) (*credentials, error) {
	c := &credentials{keyFile: o.ClusterKeyFile}
	if c.keyFile == "" {
		return c, nil
	}
	if _, err := c.reloadKeys(true); err != nil {
		return nil, fmt.Errorf("--cluster-key: %w", err)
	}
	return c, nil
}

// Ring is the current keyring; nil when the daemon has no key.
func (c *credentials) Ring() *keyring.Ring {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ring
}

// OnRing registers f to be told of every keyring loaded from now on.
func (c *credentials) OnRing(f func(*keyring.Ring)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onRing = append(c.onRing, f)
}

// reloadKeys loads the keyring again if its file changed (or always when
// force), and reports whether it did. On error the old ring stays.
func (c *credentials) reloadKeys(force bool) (bool, error) {
	if c.keyFile == "" {
		return false, nil
	}
	stamp, err := stampOf(c.keyFile)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	same := stamp == c.keyStamp
	c.mu.Unlock()
	if same && !force {
		return false, nil
	}
	ring, err := keyring.Load(c.keyFile)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	c.ring, c.keyStamp = ring, stamp
	subs := append([]func(*keyring.Ring){}, c.onRing...)
	c.mu.Unlock()
	for _, f := range subs {
		f(ring)
	}
	return true, nil
}

// errNoCredentials: Reload on a daemon without credential files.
var errNoCredentials = errors.New("no --cluster-key or --tls-* files to reload")

// Reload loads the credential files again (SIGHUP). A file that fails to
// load leaves the credentials it would replace in use, and the error says
// which; the daemon keeps running.
func (s *Server) Reload() error {
	tlsErr := errors.Join(s.reloadSidecarTLS(true), s.reloadMeshTLS(true)) // nil without TLS files
	if s.creds.keyFile == "" {
		if s.appTLS != nil || s.meshTLS.hasFiles() {
			return tlsErr
		}
		return errNoCredentials
	}
	if _, err := s.creds.reloadKeys(true); err != nil {
		s.log.Error("cluster key not reloaded; the old one stays in use", "err", err)
		return errors.Join(fmt.Errorf("--cluster-key: %w", err), tlsErr)
	}
	s.log.Info("cluster key reloaded", "keys", len(s.creds.Ring().Keys()), "primary", fmt.Sprintf("%08x", s.creds.Ring().Primary().ID))
	return tlsErr
}

// watchCredentials reloads credential files that changed, until ctx ends.
func (s *Server) watchCredentials(ctx context.Context) {
	if s.creds.keyFile == "" && s.appTLS == nil && !s.meshTLS.hasFiles() {
		return
	}
	t := s.o.Clock.Ticker(credentialPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		switch changed, err := s.creds.reloadKeys(false); {
		case err != nil:
			s.log.Warn("cluster key file unreadable; the loaded key stays in use", "err", err)
		case changed:
			s.log.Info("cluster key file changed: reloaded", "keys", len(s.creds.Ring().Keys()), "primary", fmt.Sprintf("%08x", s.creds.Ring().Primary().ID))
		}
		_ = s.reloadSidecarTLS(false) // logged there
		_ = s.reloadMeshTLS(false)    // logged there
	}
}

// securityMode names how this daemon tells members from strangers, for
// the status page, /api/status and the nexusd_mesh_security metric.
func (s *Server) securityMode() string {
	keyed := s.creds.keyFile != ""
	switch mesh := s.meshSecurity(); {
	case keyed && mesh == meshTLSFiles:
		return "cluster-key+tls-files"
	case keyed:
		return "cluster-key"
	case mesh == meshTLSFiles:
		return "tls-files"
	}
	return "unauthenticated"
}

// authenticated reports whether mesh calls are checked (a cluster key or
// certificate files); without, anyone who reaches the ports is a member.
func (s *Server) authenticated() bool { return s.securityMode() != "unauthenticated" }

// unauthenticatedWarning is logged once at start, shown on the status page
// and in /api/status, when the mesh takes anyone.
const unauthenticatedWarning = "mesh: unauthenticated (no --cluster-key or --tls-*): anyone who reaches the discovery or mesh port is a member and receives every message; run `nexusd keygen` and start every daemon with --cluster-key"

// warnings are what the status report puts first.
func (s *Server) warnings() []string {
	if !s.authenticated() {
		return []string{unauthenticatedWarning}
	}
	return []string{}
}
