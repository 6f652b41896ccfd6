//go:build race

package main

// raceEnabled: the tests run with the race detector, so the CLI is built
// with it too.
const raceEnabled = true
