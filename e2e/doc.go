// Package e2e holds the end-to-end tests: real nexusd processes, built from
// this tree, in private network namespaces (see internal/testnet). They
// skip, saying why, where namespaces cannot be made (not root).
//
// The tests speak the wire contract as an application generated from the
// .proto files would, and never send anything outside their namespaces.
package e2e
