package client

import (
	"context"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// Pins how a Session subscription ends: an end with code 0 is io.EOF (as
// asked), one with a code is that status, with its reason.
func TestASessionSubscriptionEndCarriesTheDaemonsCode(t *testing.T) {
	for _, tc := range []struct {
		code uint32
		want error
	}{
		{0, io.EOF},
		{uint32(codes.NotFound), status.Error(codes.NotFound, "gone")},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ss := &sessStream{ctx: ctx, wake: make(chan struct{}, 1)}
		ss.push(&sidecarpb.SessionEvent{Kind: &sidecarpb.SessionEvent_Ended{Ended: &sidecarpb.SessionEnded{Code: tc.code, Reason: "gone"}}}, nil, "s")
		err := ss.wait()
		if tc.want == io.EOF && err != io.EOF || tc.want != io.EOF && (status.Code(err) != status.Code(tc.want) || status.Convert(err).Message() != "gone") {
			t.Fatalf("end with code %d: %v, want %v", tc.code, err, tc.want)
		}
	}
}

// Pins when a Session subscription grants credit: as soon as the
// application has been handed half its window, not the whole window.
func TestASessionSubscriptionGrantsCreditAtHalfItsWindow(t *testing.T) {
	g := &grants{}
	ss := &sessStream{se: &session{stream: g}, id: "s", window: sessionWindow}
	for range sessionWindow / 2 {
		ss.handed(1, 100)
	}
	if len(g.n) != 1 || g.n[0] < sessionWindow/2 {
		t.Fatalf("grants %v after half the window was handed, want one of at least %d", g.n, sessionWindow/2)
	}
}
