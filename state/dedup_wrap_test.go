package state

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The window remembers every one of the last `size` ids at every moment,
// not only at the end of a run: with a small window its table is small, so
// ids that hash near its end wrap around to its start, and letting the
// oldest go must not lose a younger one stored past the wrap.
func TestEveryIDOfASmallWindowIsRememberedWhileOthersComeAndGo(t *testing.T) {
	const size = 8
	var d dedupWindow
	d.init(size)
	r := rand.New(rand.NewPCG(3, 9))
	var ids []string
	for i := range 5000 {
		id := fmt.Sprintf("id-%x", r.Uint64())
		if !d.add(id, 0) {
			t.Fatalf("id %d taken for a duplicate", i)
		}
		ids = append(ids, id)
		for k := max(0, len(ids)-size); k < len(ids); k++ {
			if d.add(ids[k], 0) {
				t.Fatalf("after %d ids, id %d (one of the last %d) forgotten", i+1, k, size)
			}
		}
	}
}
