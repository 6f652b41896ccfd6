package client

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/packed"
	"github.com/nexusd/nexusd/proto/sidecarpb"
)

// A message no packed frame can hold (a content type past the format's
// limit) fails by its own number, and the messages around it are sent and
// settle as taken.
func TestAMessageNoFrameCanHoldFailsAloneAndTheOthersSettle(t *testing.T) {
	f := &packedFake{}
	c := dialFake(t, startPackedFake(t, f))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := c.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "ok/1", []byte("a")); err != nil {
		t.Fatal(err)
	}
	bad, err := p.Publish(ctx, "ok/bad", []byte("b"), ContentType(strings.Repeat("c", 300)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Publish(ctx, "ok/2", []byte("c")); err != nil {
		t.Fatal(err)
	}
	err = p.Flush(ctx)
	var pe *PublishErrors
	if !errors.As(err, &pe) || len(pe.Failures) != 1 || pe.Failures[0].N != bad || !errors.Is(pe.Failures[0].Err, ErrInvalidArgument) {
		t.Fatalf("Flush: %v, want message %d alone failed as invalid", err, bad)
	}
	f.mu.Lock()
	got := slices.Clone(f.got)
	f.mu.Unlock()
	if len(got) != 2 || got[0].Topic != "ok/1" || got[1].Topic != "ok/2" {
		t.Fatalf("the daemon received %+v, want ok/1 and ok/2", got)
	}
}

// A failure the daemon reports with code 0 (OK) still fails its message,
// as UNKNOWN.
func TestAPackedFailureWithCodeZeroStillFailsItsMessage(t *testing.T) {
	f := &packedFake{}
	f.fail = func(index uint64, r *packed.Record) *sidecarpb.PackedFailure {
		if r.Topic == "odd/t" {
			return &sidecarpb.PackedFailure{Code: 0, Reason: "no code"}
		}
		return nil
	}
	c := dialFake(t, startPackedFake(t, f))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := c.Publisher(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.Publish(ctx, "odd/t", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Flush(ctx)
	var pe *PublishErrors
	if !errors.As(err, &pe) || len(pe.Failures) != 1 || pe.Failures[0].N != n || pe.Failures[0].Err == nil {
		t.Fatalf("Flush: %v, want message %d failed with an error", err, n)
	}
}
