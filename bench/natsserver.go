package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// serveNATS runs an embedded NATS server until the process is killed. With
// a cluster port and routes it is one server of a NATS cluster.
func serveNATS(port, clusterPort int, routes string) error {
	opts := &server.Options{Host: "127.0.0.1", Port: port, NoLog: true, NoSigs: true, MaxPayload: 1 << 20}
	if clusterPort > 0 {
		opts.Cluster = server.ClusterOpts{Name: "bench", Host: "127.0.0.1", Port: clusterPort}
		if routes != "" {
			opts.Routes = server.RoutesFromStr(routes)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return err
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		return fmt.Errorf("nats server on port %d not ready", port)
	}
	select {}
}
