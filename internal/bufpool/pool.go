// Package bufpool is the gRPC buffer pool of the daemon and the client: the
// default one's tiers, without clearing each buffer it hands out.
//
// gRPC's default pool zeroes a recycled buffer's whole capacity on every
// Get, and its tiers jump from 32 KiB to 1 MiB, so a 40 KiB batch frame
// clears a megabyte. gRPC overwrites every byte it asks for (frame reads
// fill the buffer, marshalling appends into it), so here buffers come in
// power-of-two classes and are handed out as they were left. It may not
// be given to code that reads a buffer before writing it.
package bufpool

import (
	"math/bits"
	"sync"

	"google.golang.org/grpc/mem"
)

const (
	minClass = 8  // 256 B: smaller requests are served from it too
	maxClass = 22 // 4 MiB: larger buffers are allocated and left to the GC
)

// Pool is a mem.BufferPool; its zero value is not usable, use New.
type Pool struct {
	classes [maxClass + 1]sync.Pool
	// Poison, set before the pool is first used, scribbles over every
	// buffer given back: a test aid, so that a reader still holding a
	// buffer it gave back reads nonsense instead of what it expects.
	Poison bool
}

var _ mem.BufferPool = (*Pool)(nil)

// New returns an empty pool.
func New() *Pool { return new(Pool) }

// class is the smallest power-of-two class that holds n bytes.
func class(n int) int {
	if n <= 1<<minClass {
		return minClass
	}
	return bits.Len(uint(n - 1))
}

// Get returns a buffer of length n; its bytes are whatever they were.
func (p *Pool) Get(n int) *[]byte {
	c := class(n)
	if c > maxClass {
		b := make([]byte, n)
		return &b
	}
	if b, ok := p.classes[c].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, 1<<c)
	return &b
}

// Put takes back a buffer from Get; others (and oversized ones) are left
// to the GC.
func (p *Pool) Put(b *[]byte) {
	c := cap(*b)
	if c < 1<<minClass || c > 1<<maxClass || c&(c-1) != 0 {
		return
	}
	if p.Poison {
		full := (*b)[:c]
		for i := range full {
			full[i] = 0xdd
		}
	}
	p.classes[bits.Len(uint(c))-1].Put(b)
}
