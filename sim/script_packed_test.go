package sim

import "testing"

// A script run Packed publishes in frames and subscribes by number, as
// clients on the packed RPCs do; run as written, it publishes alone.
func TestPackedScriptsPublishFramesAndSubscribeByNumber(t *testing.T) {
	for _, packed := range []bool{false, true} {
		s := NewScript()
		if packed {
			s.Packed()
		}
		for _, line := range []string{
			"world nodes=1 seed=1",
			"subscribe node=1 topic=t sub=app",
			"publish node=1 topic=t n=100",
			"publish node=1 topic=t payload=alone",
			"run for=1s",
		} {
			if out, err := s.Run(line); err != nil {
				t.Fatalf("packed=%v: %s: %v (%s)", packed, line, err, out)
			}
		}
		viewed := s.World().Node(1).Status().Counters.FramesViewed
		byNumber := s.World().clients["app"].byNumber
		if (viewed > 0) != packed || byNumber != packed {
			t.Fatalf("packed=%v: %d frames viewed, subscription by number %v", packed, viewed, byNumber)
		}
		if got := len(s.World().clients["app"].payloads); got != 101 {
			t.Fatalf("packed=%v: %d delivered, want 101", packed, got)
		}
	}
}

// Packed frames stop where the Go client's publisher stops them.
func TestPackedFramesAreTheClientsFrames(t *testing.T) {
	var small, big [][]byte
	for range 2500 {
		small = append(small, make([]byte, 10))
	}
	for range 3 {
		big = append(big, make([]byte, 300<<10))
	}
	mixed := [][]byte{make([]byte, 200<<10), make([]byte, 100<<10), make([]byte, 10)}
	for _, c := range []struct {
		name     string
		payloads [][]byte
		want     []int
	}{
		{"records", small, []int{1024, 1024, 452}},
		{"larger than a frame, alone", big, []int{1, 1, 1}},
		{"bytes", mixed, []int{1, 2}},
	} {
		var got []int
		for _, f := range packedFrames(c.payloads) {
			got = append(got, len(f))
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s: frames of %v, want %v", c.name, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Fatalf("%s: frames of %v, want %v", c.name, got, c.want)
			}
		}
	}
}
