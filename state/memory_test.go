package state

import (
	"runtime"
	"testing"
)

// Memory stays bounded (docs/protocol.md §7.3): a subscriber that never takes
// anything costs at most its queue limit, and the rings their caps,
// however much is published.

func TestMemoryStaysBoundedUnderAMillionMessagesToAStalledSubscriber(t *testing.T) {
	const total = 1_000_000
	if testing.Short() {
		t.Skip("publishes a million messages")
	}
	h := newHarness(t, "n1") // default config
	h.start()
	id := h.fullSub(1, 0, PolicyDefault, "load/t") // its one credit went to the info
	cfg := h.n.Config()
	heapBefore := heapInUse()
	pub := &Published{Topic: "load/t", Payload: []byte("0123456789abcdef")}
	check := func(i int) {
		st := h.n.Status()
		ring := h.n.topics.get("load/t").ring.len()
		if st.QueuedMsgs > cfg.QueueLimit || st.BufferedBytes > cfg.RingBytes ||
			st.BufferedMsgs > cfg.MessageBufferSize || ring > cfg.MessageBufferSize {
			t.Fatalf("after %d publishes: QueuedMsgs=%d (limit %d) BufferedBytes=%d (cap %d) BufferedMsgs=%d ring=%d (cap %d)",
				i, st.QueuedMsgs, cfg.QueueLimit, st.BufferedBytes, cfg.RingBytes, st.BufferedMsgs, ring, cfg.MessageBufferSize)
		}
	}
	for i := 1; i <= total; i++ {
		pub.Req = uint64(i)
		effs := h.n.Step(h.now, pub) // straight to the node: the harness would keep every effect
		if len(effs) != 1 {
			t.Fatalf("publish %d gave %d effects, want only its answer", i, len(effs))
		}
		if i%100_000 == 0 {
			check(i)
		}
	}
	check(total)
	st := h.n.Status()
	sub := h.subStatus(id)
	t.Logf("%d published: QueuedMsgs=%d/%d QueuedBytes=%d BufferedMsgs=%d/%d BufferedBytes=%d/%d Dropped=%d",
		total, st.QueuedMsgs, cfg.QueueLimit, st.QueuedBytes, st.BufferedMsgs, cfg.MessageBufferSize,
		st.BufferedBytes, cfg.RingBytes, st.Counters.Dropped)
	if st.QueuedMsgs != cfg.QueueLimit || st.BufferedMsgs != cfg.MessageBufferSize || st.BufferedBytes != (16+6+msgOverheadBytes)*cfg.MessageBufferSize {
		t.Fatalf("QueuedMsgs=%d BufferedMsgs=%d BufferedBytes=%d, want the queue and ring exactly full", st.QueuedMsgs, st.BufferedMsgs, st.BufferedBytes)
	}
	if want := uint64(total - cfg.QueueLimit); sub.Dropped != want || st.Counters.Dropped != want {
		t.Fatalf("Dropped: subscription %d, node %d, want %d", sub.Dropped, st.Counters.Dropped, want)
	}
	// What Status counts is all there is: the heap holds no trace of the
	// million messages beyond the queue and the ring.
	heapAfter := heapInUse()
	runtime.KeepAlive(h) // the node must still be live when the heap is measured
	t.Logf("heap in use: %d KiB before, %d KiB after", heapBefore>>10, heapAfter>>10)
	if heapAfter > heapBefore+32<<20 {
		t.Fatalf("heap grew by %d MiB", (heapAfter-heapBefore)>>20)
	}
	if sub.Pending != 1 {
		t.Fatalf("Pending=%d, want the one warning waiting for credit", sub.Pending)
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Empty messages over many topics are not free either (issue 11 measured
// 494 MiB of heap for 2M of them while the accounting said 0): each is
// charged its topic and a fixed overhead, so the rings' byte cap holds
// them, and the heap grows by little more than what the node counts plus
// its topic table (MaxTopics states).
func TestEmptyMessagesOverManyTopicsKeepTheHeapBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes half a million messages")
	}
	h := newHarness(t, "n1", func(c *Config) { c.MaxTopics = 50_000 })
	h.start()
	before := heapInUse()
	pub := &Published{}
	for i := range 500_000 {
		pub.Req, pub.Topic = uint64(i), "many/"+itoa(i%100_000)
		h.n.Step(h.now, pub)
	}
	after := heapInUse()
	runtime.KeepAlive(h)
	st := h.n.Status()
	counted := st.Memory.Total - st.Memory.Dedup
	t.Logf("heap grew %d MiB; the node counts %d MiB (rings: %d messages); %d topics", (after-before)>>20, counted>>20, st.BufferedMsgs, st.Topics)
	if counted == 0 || st.BufferedBytes > h.n.Config().RingBytes {
		t.Fatalf("rings hold %d bytes (cap %d), the node counts %d", st.BufferedBytes, h.n.Config().RingBytes, counted)
	}
	if grown := int(after) - int(before); grown > 2*counted+50_000*512 {
		t.Fatalf("heap grew %d MiB for %d MiB counted and 50,000 topic states", grown>>20, counted>>20)
	}
}
