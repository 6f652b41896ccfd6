package state

import (
	"math/rand/v2"
	"testing"

	"github.com/nexusd/nexusd/internal/packed"
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
}

// A node's message ids are derived from its id and its count of published
// messages (docs/packed.md "Message ids"), so a packed frame carries none of
// them: the 1st and the 66th (past a block of 64) are the documented ones.
func TestMessageIDsAreDerivedFromNodeAndNumber(t *testing.T) {
	p := newIDPool("n1")
	if got, num := p.take(); got != "807d4ebc-93b8-4504-a95c-000000000001" || num != 1 {
		t.Fatalf("1st id = %s (number %d), want 807d4ebc-93b8-4504-a95c-000000000001 (1)", got, num)
	}
	for range 64 {
		p.take()
	}
	if got, num := p.take(); got != "807d4ebc-93b8-4504-a95c-000000000042" || num != 66 {
		t.Fatalf("66th id = %s (number %d), want 807d4ebc-93b8-4504-a95c-000000000042 (66)", got, num)
	}
}

// The pool renders ids itself, from the prefix rendered once: they are
// packed.ID's rendering of (prefix, number), across blocks and at numbers
// that fill every digit (the number's low 48 bits, as packed keeps them).
func TestMessageIDsRenderAsPackedDoes(t *testing.T) {
	for _, node := range []string{"n1", "bench", "3bf98798-cae9-4950-8a8c-6d7f8d485abc"} {
		prefix := packed.IDPrefix(node, 0)
		for _, start := range []uint64{0, 60, 1<<32 - 3, 1<<40 - 70, 0x0123456789ab, 1<<48 - 5, 1 << 48, 1<<64 - 40} {
			p := newIDPool(node)
			p.number = start
			for k := uint64(1); k <= 130; k++ {
				got, num := p.take()
				if want := packed.IDFromPrefix(prefix, start+k).String(); got != want {
					t.Fatalf("node %s, id %d: %s, want %s", node, start+k, got, want)
				}
				// The number is the one the id is derived from, when it has one.
				if want := start + k; want <= packed.MaxNumber && (num != want || packed.DeriveID(node, 0, num).String() != got) ||
					want > packed.MaxNumber && num != 0 {
					t.Fatalf("node %s, id %d: number %d", node, start+k, num)
				}
			}
		}
	}
}
