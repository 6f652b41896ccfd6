package netshell

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// writeSizes wraps connections and keeps the largest single Write any of
// them took.
type writeSizes struct{ largest atomic.Int64 }

type sizedConn struct {
	net.Conn
	w *writeSizes
}

func (c sizedConn) Write(b []byte) (int, error) {
	for {
		old := c.w.largest.Load()
		if int64(len(b)) <= old || c.w.largest.CompareAndSwap(old, int64(len(b))) {
			break
		}
	}
	return c.Conn.Write(b)
}

type sizedListener struct {
	net.Listener
	w *writeSizes
}

func (l sizedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return sizedConn{c, l.w}, nil
}

// A server and a mesh client with the daemon's transport sizes write to
// their connections in pieces of at most the write buffer's 32 KiB, so
// each write sends bytes just copied in: a stream of 4 MiB each way, in
// messages of 16 KiB sent as fast as the other side takes them, which a
// writer with a larger buffer gathers into larger writes.
func TestTransportWritesAtMostTheWriteBuffer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var server, client writeSizes
	srv := grpc.NewServer(append(transportServerOptions(), grpc.ForceServerCodec(rawCodec{}))...)
	srv.RegisterService(&grpc.ServiceDesc{
		ServiceName: "test.Echo",
		HandlerType: (*any)(nil),
		Streams: []grpc.StreamDesc{{StreamName: "Echo", ServerStreams: true, ClientStreams: true,
			Handler: func(_ any, st grpc.ServerStream) error {
				for {
					var b []byte // its own: gRPC may still be writing the last one out
					if err := st.RecvMsg(&b); err != nil {
						return nil
					}
					if err := st.SendMsg(b); err != nil {
						return err
					}
				}
			}}},
	}, struct{}{})
	var served sync.WaitGroup
	served.Go(func() { srv.Serve(sizedListener{ln, &server}) })
	defer served.Wait()
	defer srv.Stop()

	dial := func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return sizedConn{c, &client}, nil
	}
	conn, err := grpc.NewClient(ln.Addr().String(), append(transportDialOptions(),
		grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(dial),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, "/test.Echo/Echo")
	if err != nil {
		t.Fatal(err)
	}
	const messages, size = 256, 16 << 10
	sent := make(chan error, 1)
	go func() {
		msg := make([]byte, size)
		for range messages {
			if err := st.SendMsg(msg); err != nil {
				sent <- err
				return
			}
		}
		sent <- st.CloseSend()
	}()
	var got []byte
	for i := range messages {
		if err := st.RecvMsg(&got); err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		if len(got) != size {
			t.Fatalf("echo %d: %d bytes, sent %d", i, len(got), size)
		}
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		side string
		n    int64
	}{{"server", server.largest.Load()}, {"client", client.largest.Load()}} {
		if w.n > transportWriteBufferBytes {
			t.Errorf("the %s wrote %d bytes at once: more than its %d-byte write buffer", w.side, w.n, transportWriteBufferBytes)
		}
		if w.n < size {
			t.Errorf("the %s wrote at most %d bytes at once: did it send the %d-byte messages?", w.side, w.n, size)
		}
	}
}
