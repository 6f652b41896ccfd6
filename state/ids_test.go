package state

import (
	"math/rand/v2"
	"testing"
)

// Ids are version-4 UUIDs fixed by the seed: one seed names messages and
// subscriptions the same way on every run, whatever the code that prints
// them.
func TestUUIDsAreFixedByTheSeed(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, want := range []string{
		"c4f5a586-56ee-4510-9dce-c3ad077dec6c",
		"c8d04605-312f-4088-8bed-c0dcb63ac19a",
		"3bf98798-cae9-4950-8a8c-6d7f8d485abc",
	} {
		if got := NewUUID(r); got != want {
			t.Fatalf("NewUUID = %s, want %s", got, want)
		}
	}
	var p idPool
	for range 65 {
		p.take(r)
	}
	if got, want := p.take(r), "8a0cb9db-1e3a-4c56-999b-a494a2e3f660"; got != want {
		t.Fatalf("66th pooled id = %s, want %s", got, want)
	}
}
