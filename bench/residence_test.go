package main

import (
	"bytes"
	"context"
	"net"
	"runtime/trace"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// Calls a millisecond apart on loopback gRPC, traced: each is a burst of
// activity that reaches a write by a loopy writer (the client's request),
// and the report gives their times and the steps of the commonest.
func TestResidenceFindsTheBurstsThatEndInALoopyWrite(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := healthpb.NewHealthClient(conn)
	if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil { // connected before the trace
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skip("tracing is on already:", err)
	}
	const calls = 20
	for range calls {
		if _, err := c.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
			trace.Stop()
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond) // quiet between bursts
	}
	trace.Stop()
	rep, err := residence(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.durations()) < calls/2 {
		t.Fatalf("%d bursts found for %d calls", len(rep.durations()), calls)
	}
	for i, d := range rep.durations() {
		// 0: a burst that was a write's return alone, the write having
		// begun before the quiet that started the burst.
		if d <= 0 || (i > 0 && d < rep.durations()[i-1]) {
			t.Fatalf("durations not sorted or not positive: %v", rep.durations())
		}
	}
	out := rep.String()
	if !strings.Contains(out, "message bursts") || !strings.Contains(out, "syscall.write") || !strings.Contains(out, "slower than the p90") {
		t.Fatalf("report:\n%s", out)
	}
	t.Log("\n" + out)
}

// A trace with no gRPC in it has no message burst, and says so.
func TestResidenceOfATraceWithoutGRPCSaysWhatItLacks(t *testing.T) {
	var buf bytes.Buffer
	if err := trace.Start(&buf); err != nil {
		t.Skip("tracing is on already:", err)
	}
	done := make(chan struct{})
	go func() { time.Sleep(time.Millisecond); close(done) }()
	<-done
	trace.Stop()
	rep, err := residence(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.durations()) != 0 || !strings.Contains(rep.String(), "no burst") {
		t.Fatalf("report %q, %d bursts", rep.String(), len(rep.durations()))
	}
	if _, err := residence(strings.NewReader("not a trace")); err == nil {
		t.Fatal("residence of no trace: no error")
	}
}
