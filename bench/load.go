package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

var errNotApplicable = errors.New("not applicable to this system")

// delivery is what the last throughput run expected to deliver (messages
// published times subscribers) and what arrived, for the run's line: a
// figure in deliveries per second does not show messages a system lost.
// cpuServers and cpuClients are the CPU the servers and the load
// generators took a delivered message, in ns (cpu.go); cpuOK is false
// when they could not be read.
var delivery struct {
	want, got              int64
	cpuServers, cpuClients float64
	cpuOK                  bool
}

const payloadSize = 128

// throughput publishes as fast as the publishers go for dur and returns
// deliveries per second: messages received, over every subscriber, per
// second from the first publish to the last receipt, or to the end of
// publishing when that is later (a subscriber cut off early, as NATS cuts
// off a slow consumer, does not shorten the run it missed the rest of).
func throughput(sys system, pubNode, subNode, subs int, mode string, callers, batch int, dur time.Duration) (float64, error) {
	return windowedThroughput(sys, pubNode, subNode, subs, mode, callers, batch, 0, dur)
}

// windowedThroughput is throughput whose publishers hold off while more
// than window deliveries are outstanding (sent times subscribers, less
// received): end-to-end flow control in the application, which a system
// that drops what its subscribers cannot take needs to lose nothing, and
// which costs one that never drops nothing. 0: no window.
func windowedThroughput(sys system, pubNode, subNode, subs int, mode string, callers, batch int, window int64, dur time.Duration) (float64, error) {
	var received, warmed atomic.Int64
	for range subs {
		stop, err := sys.subscribe(subNode, batch, func(p []byte) {
			if isWarmUp(p) { // a straggler of the warm-up counts as nothing
				warmed.Add(1)
				return
			}
			received.Add(1)
		})
		if err != nil {
			return 0, err
		}
		defer stop()
	}
	if err := warmUp(sys, pubNode, &warmed, int64(subs)); err != nil {
		return 0, err
	}
	payload := make([]byte, payloadSize)
	last, stopWatch := watchArrivals(&received)
	defer stopWatch()
	var sent atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	cpuFrom, cpuErr := cpuNow(sys.pids())
	start := time.Now()
	defer traceLoad(dur)()
	deadline := start.Add(dur)
	for range callers {
		pub, err := sys.publisher(pubNode, mode)
		if err != nil {
			return 0, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pub.close()
			for i := 0; ; i++ {
				if i%64 == 0 {
					if time.Now().After(deadline) {
						break
					}
					for window > 0 && sent.Load()*int64(subs)-received.Load() > window && time.Now().Before(deadline) {
						time.Sleep(20 * time.Microsecond)
					}
				}
				if err := pub.publish(payload); err != nil {
					errs <- err
					return
				}
				sent.Add(1)
			}
			if err := pub.flush(); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	published := time.Since(start)
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	want := sent.Load() * int64(subs)
	// Wait for the tail to drain; stop when nothing more arrives.
	prev := int64(-1)
	for received.Load() < want && received.Load() != prev {
		prev = received.Load()
		time.Sleep(300 * time.Millisecond)
	}
	got := received.Load()
	stopWatch()
	delivery.want, delivery.got = want, got
	if cpuTo, err := cpuNow(sys.pids()); cpuErr == nil && err == nil && got > 0 {
		delivery.cpuServers, delivery.cpuClients = cpuTo.perMessage(cpuFrom, got)
		delivery.cpuOK = true
	}
	if got == 0 {
		return 0, fmt.Errorf("nothing delivered of %d published", sent.Load())
	}
	elapsed := max(last().Sub(start), published)
	return float64(got) / elapsed.Seconds(), nil
}

// watchArrivals notes when the count of received messages last moved,
// looking every arrivalTick, until stop: the end of a throughput run to
// within a tick, without a clock read for every message in the
// subscriber's path. (Each system's subscriber read the clock for every
// message before; the raw gRPC ones once a frame, so NATS, whose client
// hands messages over one at a time, paid tens of nanoseconds a message
// that nexusd's did not.)
func watchArrivals(received *atomic.Int64) (last func() time.Time, stop func()) {
	var at atomic.Int64 // unix ns; 0 until the count first moves
	quit, done := make(chan struct{}), make(chan struct{})
	seen := received.Load() // before it returns: a message counted after it is a move
	go func() {
		defer close(done)
		t := time.NewTicker(arrivalTick)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				if n := received.Load(); n != seen {
					// The time it looked, not the tick's: never before the
					// message, so a late look only lengthens the run.
					seen = n
					at.Store(time.Now().UnixNano())
				}
			}
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(quit); <-done }) }
	return func() time.Time {
		if ns := at.Load(); ns != 0 {
			return time.Unix(0, ns)
		}
		return time.Time{}
	}, stop
}

// arrivalTick is how often watchArrivals looks: a run's end is known to
// within it, a fifth of a thousandth of the shortest run.
const arrivalTick = time.Millisecond

// warmUp publishes until the subscribers see messages: routes are in place
// and connections open before the clock starts. Its payloads are all 0xff
// (isWarmUp), which no measured message is: a run counts apart one that
// arrives late.
func warmUp(sys system, node int, received *atomic.Int64, subs int64) error {
	pub, err := sys.publisher(node, "unary")
	if err != nil {
		return err
	}
	defer pub.close()
	payload := bytes.Repeat([]byte{0xff}, payloadSize)
	return waitFor(20*time.Second, "the first message to arrive", func() bool {
		if err := pub.publish(payload); err != nil {
			return false
		}
		pub.flush()
		return received.Load() >= subs
	})
}

// isWarmUp reports whether p is a warm-up message's payload (warmUp). A
// measured payload is zeros, or in a latency run begins with its send time
// after the start, which is never all ones.
func isWarmUp(p []byte) bool {
	return len(p) == payloadSize && p[0] == 0xff && p[payloadSize-1] == 0xff
}

// latency publishes at a fixed rate for dur and returns the percentiles of
// the time from each message's intended send time to its receipt, so a
// stalled publisher shows up as latency (no coordinated omission); but a
// message the harness itself sent late, because its publisher overslept,
// counts from when the publisher woke (sentFrom).
func latency(sys system, pubNode, subNode int, mode string, rate float64, dur time.Duration) (map[string]float64, error) {
	start := time.Now().Add(200 * time.Millisecond)
	var mu sync.Mutex
	var samples []time.Duration
	var received atomic.Int64
	stop, err := sys.subscribe(subNode, 64, func(p []byte) {
		at := time.Now()
		received.Add(1)
		if len(p) < 8 || isWarmUp(p) {
			return
		}
		intended := start.Add(time.Duration(binary.LittleEndian.Uint64(p)))
		mu.Lock()
		samples = append(samples, at.Sub(intended))
		mu.Unlock()
	})
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := warmUp(sys, pubNode, &received, 1); err != nil {
		return nil, err
	}
	// Unary calls wait for their answer: a few callers take turns at the
	// schedule, as an application's request handlers would.
	callers := 1
	if mode == "unary" {
		callers = 8
	} else {
		mode = "stream-each"
	}
	n := int(rate * dur.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		pub, err := sys.publisher(pubNode, mode)
		if err != nil {
			return nil, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pub.close()
			payload := make([]byte, payloadSize)
			var woke time.Time // when this publisher last came back from sleeping
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					break
				}
				due := start.Add(time.Duration(i) * interval)
				if d := time.Until(due); d > 0 {
					time.Sleep(d)
					woke = time.Now()
				}
				binary.LittleEndian.PutUint64(payload, uint64(sentFrom(due, woke).Sub(start)))
				if err := pub.publish(payload); err != nil {
					errs <- err
					return
				}
			}
			pub.flush()
		}()
	}
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	waitFor(3*time.Second, "the last samples", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(samples) >= n
	})
	mu.Lock()
	defer mu.Unlock()
	if len(samples) < n/2 {
		return nil, fmt.Errorf("only %d of %d messages arrived", len(samples), n)
	}
	slices.Sort(samples)
	pct := func(p float64) float64 {
		return float64(samples[min(len(samples)-1, int(p*float64(len(samples))))]) / float64(time.Microsecond)
	}
	return map[string]float64{"p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "p99.9": pct(0.999)}, nil
}

// sentFrom is the time a message due at due counts its latency from, for a
// publisher that last came back from sleeping at woke. A sleep shorter
// than a millisecond ends up to a millisecond late when nothing else wakes
// the process (Go's netpoller waits in whole milliseconds), so at 10k
// msg/s the messages due while the publisher overslept would count that
// lateness, the harness's, as the system's: a quiet system showed a p50 of
// half a millisecond, a busier one (whose connections woke the process
// more often) less. Those count from the wake. A message that fell due
// while a publish call was blocked (after the wake) still counts from when
// it was due: a system that holds its publisher back is charged for it.
func sentFrom(due, woke time.Time) time.Time {
	if woke.After(due) {
		return woke
	}
	return due
}
