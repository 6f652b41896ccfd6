package netshell

import (
	"context"
	"sync"
)

// budget bounds what one request stream may have waiting for the node, in
// some unit (bytes). take blocks until there is room; one request larger
// than the whole budget is let through when nothing else is waiting, so it
// cannot block the stream forever.
type budget struct {
	mu    sync.Mutex
	limit int
	used  int
	room  chan struct{} // signalled when give frees room
}

func newBudget(limit int) *budget { return &budget{limit: limit, room: make(chan struct{}, 1)} }

func (b *budget) take(ctx context.Context, n int) error {
	for !b.tryTake(n) {
		select {
		case <-b.room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// tryTake is take when there is room now; it reports whether it took n.
func (b *budget) tryTake(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used == 0 || b.used+n <= b.limit {
		b.used += n
		return true
	}
	return false
}

func (b *budget) give(n int) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
	select {
	case b.room <- struct{}{}:
	default:
	}
}
