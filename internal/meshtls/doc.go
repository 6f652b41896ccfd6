// Package meshtls makes the TLS configurations of the mesh port: mutual
// TLS 1.3 between daemons, from one of two sources of material.
//
//   - The cluster keyring (--cluster-key). Each key derives a cluster CA
//     deterministically, so every daemon holding the key builds the same CA
//     without exchanging anything. A daemon certifies a fresh key of its own
//     (its leaf) under the primary key's CA, and trusts the CAs of every key
//     in its ring; the leaf also carries the primary's CA certified by each
//     other key, so a peer that knows only an older or newer key of the ring
//     accepts it too. That is what lets keys rotate without a partition.
//   - The operator's files (--tls-cert, --tls-key, --tls-ca): a certificate
//     and key of this daemon, and the CA bundle peers must chain to.
//
// Identity is membership: a peer is whoever presents a certificate that
// chains to a trusted CA. Names and addresses in certificates are not
// checked, since daemons dial each other by IP.
//
// A Config swaps its material whole (SetRing, ReloadFiles); handshakes
// after the swap use the new material, connections already made keep
// theirs.
//
// What it may not do: open sockets, log, watch files or decide when to
// reload (the shell does), or know about gRPC.
package meshtls
