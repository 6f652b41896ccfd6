// Package keyring reads the cluster keyring: the shared secrets that make a
// daemon a member of its mesh (--cluster-key). A keyring file holds one
// primary key, which signs and encrypts what this daemon sends, and any
// number of older or newer keys, which it accepts; that is what lets keys
// rotate without downtime (README, "Rotating the cluster key").
//
// The package derives every secret a purpose needs from a key (HKDF-SHA256
// with the purpose as info), so one key never serves two purposes directly.
//
// What it may not do: read the network, log, or keep state past the Ring
// values it returns; reloading on change is the shell's.
package keyring
