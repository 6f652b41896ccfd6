package client

import (
	"testing"

	"google.golang.org/grpc"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// grants is a Session stream that keeps the credit requests sent on it;
// nothing else of the stream is used.
type grants struct {
	grpc.BidiStreamingClient[sidecarpb.SessionRequest, sidecarpb.SessionEvent]
	n []uint32
}

func (g *grants) Send(r *sidecarpb.SessionRequest) error {
	g.n = append(g.n, r.GetCredit().GetMessages())
	return nil
}

// TestSessionWindowFollowsMessageSize: a Session subscription's window
// widens to sessionMaxWindow while its messages are small, stays at
// sessionWindow while they are large, and narrows again when they grow;
// the daemon's credit never runs out for a reader that keeps up, and
// never passes the window.
func TestSessionWindowFollowsMessageSize(t *testing.T) {
	g := &grants{}
	ss := &sessStream{se: &session{stream: g}, id: "s", window: sessionWindow}
	credit := sessionWindow // the daemon's: what it may still send
	// run has the daemon send frames of messages of size bytes and
	// returns the most credit it held in the last half of them.
	run := func(size, frames int) (most int) {
		for i := range frames {
			n := min(credit, 256) // a frame of what the credit allows
			if n == 0 {
				t.Fatalf("messages of %d bytes: the daemon ran out of credit with the reader keeping up", size)
			}
			credit -= n
			before := len(g.n)
			ss.handed(n, n*size)
			for _, c := range g.n[before:] {
				credit += int(c)
			}
			if i >= frames/2 {
				most = max(most, credit)
			}
		}
		return most
	}
	most := run(132, 200)
	if most <= 4*sessionWindow || most > sessionMaxWindow {
		t.Errorf("messages of 132 bytes: the daemon held up to %d credit, want more than %d and at most %d", most, 4*sessionWindow, sessionMaxWindow)
	}
	most = run(64<<10, 200)
	if most > sessionWindow {
		t.Errorf("messages of 64 KiB: the daemon held up to %d credit at the end, want at most %d", most, sessionWindow)
	}
	most = run(132, 200)
	if most <= 4*sessionWindow {
		t.Errorf("small messages again: the daemon held up to %d credit, want the window widened past %d", most, 4*sessionWindow)
	}
}
