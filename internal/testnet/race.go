//go:build race

package testnet

// raceEnabled: the tests run with the race detector, so the daemon is
// built with it too.
const raceEnabled = true
