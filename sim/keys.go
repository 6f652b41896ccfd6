package sim

import (
	"errors"
	"slices"

	"github.com/nexusd/nexusd/state"
)

// Cluster keys (docs/protocol.md §10), as the simulator models them. A node holds
// a keyring, a list of key names with its primary first, or none. The
// daemon's shell signs beacons with its primary key and checks those it
// hears against its ring before the node sees them (netshell/beacon_auth.go);
// here a beacon is a member's to a listener whose ring holds the sender's
// primary. So that the node's own check is exercised, a beacon that fails
// the key still reaches a keyed node, marked as no member's (the daemon
// drops it in the shell, which the core's refusal stands in for), while a
// node without a key never hears a signed beacon (the shell drops it:
// "keyed"). Mesh calls are mutual TLS with certificates the keys vouch for
// (internal/meshtls): a call connects only if each side's ring holds the
// other's primary key (handshake), else it fails as a refused handshake.

// checkKey says how listener to hears beacon b of from: as sent, as a
// member's, as no member's, or (heard false) not at all.
func (w *World) checkKey(from, to *simNode, b state.Beacon) (state.Beacon, bool) {
	switch {
	case len(from.keys) == 0 && len(to.keys) == 0:
		b.Epoch, b.Counter = 0, 0 // not read without a key
		return b, true
	case len(from.keys) == 0:
		b.Epoch, b.Counter = 0, 0
		return b, true // unsigned: no member's
	case len(to.keys) == 0:
		return b, false // signed, and nothing to check it with
	}
	b.Member = slices.Contains(to.keys, from.keys[0])
	if !b.Member {
		b.Epoch, b.Counter = 0, 0
	}
	return b, true
}

// takes reports whether a takes b as a peer: b is of a's cluster, and b's
// beacons are a member's to a, or neither holds a key.
func takes(a, b *simNode) bool {
	switch {
	case a.cluster != b.cluster:
		return false
	case len(a.keys) == 0 || len(b.keys) == 0:
		return len(a.keys) == 0 && len(b.keys) == 0
	}
	return slices.Contains(a.keys, b.keys[0])
}

// handshake reports whether a mesh connection from a to b gets through TLS:
// neither holds a key (plaintext), or each trusts the key the other signs
// its certificate with.
func handshake(a, b *simNode) bool {
	switch {
	case len(a.keys) == 0 || len(b.keys) == 0:
		return len(a.keys) == 0 && len(b.keys) == 0
	}
	return slices.Contains(a.keys, b.keys[0]) && slices.Contains(b.keys, a.keys[0])
}

var errHandshake = errors.New("sim: TLS handshake failed: no certificate from a trusted cluster key")

// sameMesh reports whether a message from instance source may reach a
// subscriber on node to: both hold no key, or at some time in their lives
// (keyrings change by rekey) one was a member to the other. A message
// crosses only on a connection a handshake let through, and a rotation
// lets a message sent under the old key arrive after the new one took
// over; an intruder never shares a key, so it never passes.
func (w *World) sameMesh(source string, to *simNode) bool {
	if source == to.id {
		return true
	}
	from, mine := w.keysOf[source], w.keysOf[to.id]
	if len(from) == 0 || len(mine) == 0 || len(from[0]) == 0 || len(mine[0]) == 0 {
		return (len(from) == 0 || len(from[0]) == 0) && (len(mine) == 0 || len(mine[0]) == 0)
	}
	for _, f := range from {
		for _, m := range mine {
			if slices.Contains(m, f[0]) || slices.Contains(f, m[0]) {
				return true
			}
		}
	}
	return false
}
