package sim

import "math/rand/v2"

// splitmix64 derives independent seeds from one root: every node, the
// network and the workload get their own stream, so adding a node does
// not change what the network draws.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// derive returns a generator for purpose under root.
func derive(root uint64, purpose string, index int) *rand.Rand {
	h := root
	for i := 0; i < len(purpose); i++ {
		h = splitmix64(h ^ uint64(purpose[i]))
	}
	h = splitmix64(h ^ uint64(index))
	return rand.New(rand.NewPCG(h, splitmix64(h)))
}
