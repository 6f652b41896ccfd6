package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"time"

	"github.com/nexusd/nexusd/internal/cpuprof"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "serve-nats":
			fs := flag.NewFlagSet("serve-nats", flag.ExitOnError)
			port := fs.Int("port", 4222, "client port")
			cport := fs.Int("cluster-port", 0, "cluster port (0: no cluster)")
			routes := fs.String("routes", "", "route URLs")
			fs.Parse(os.Args[2:])
			fatal(serveNATS(*port, *cport, *routes))
		case "serve-relay":
			fs := flag.NewFlagSet("serve-relay", flag.ExitOnError)
			addr := fs.String("addr", "127.0.0.1:0", "listen address")
			fs.Parse(os.Args[2:])
			fatal(serveRelay(*addr))
		case "measure":
			os.Exit(measureCmd(os.Args[2:]))
		case "residence":
			os.Exit(residenceCmd(os.Args[2:]))
		case "idle":
			os.Exit(idleCmd(os.Args[2:]))
		}
	}
	os.Exit(orchestrate(os.Args[1:]))
}

func fatal(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "nexusd-bench:", err)
		os.Exit(1)
	}
}

// measureCmd runs one measurement of one system in this process and prints
// its values as JSON: {"values": {...}} or {"error": "..."}.
func measureCmd(args []string) int {
	fs := flag.NewFlagSet("measure", flag.ExitOnError)
	id := fs.String("id", "", "measurement id")
	sysName := fs.String("system", "", "nexusd, nats or grpc-raw")
	bin := fs.String("nexusd", "", "path of the nexusd binary")
	dur := fs.Duration("dur", 2*time.Second, "how long a throughput or latency run lasts")
	cpuProfile := fs.String("cpuprofile", "", "write this process's CPU profile (the clients') to this file")
	memProfile := fs.String("memprofile", "", "write this process's allocation profile (the clients') to this file at the end")
	fs.StringVar(&traceOut, "trace", "", "a throughput run writes an execution trace of this process (the clients') to this file, 1 s from a third of the way in (nexusd-bench idle reads it)")
	runtimeFlags(fs)
	fs.Parse(args)
	if *cpuProfile != "" {
		stop, err := cpuprof.Start(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "nexusd-bench: --cpuprofile:", err)
			return 2
		}
		defer stop()
	}
	if *memProfile != "" {
		defer writeAllocs(*memProfile)
	}
	m := measurementByID(*id)
	out := map[string]any{}
	if err := serverRuntime.check(); err != nil {
		out["error"] = err.Error()
	} else if m == nil {
		out["error"] = fmt.Sprintf("unknown measurement %q", *id)
	} else if values, err := m.run(*sysName, *bin, *dur); err == errNotApplicable {
		out["skip"] = true
	} else if err != nil {
		out["error"] = err.Error()
	} else {
		out["values"] = values
		if delivery.want > 0 {
			out["expected"], out["delivered"] = delivery.want, delivery.got
		}
		if delivery.cpuOK {
			out["cpu_servers_ns"], out["cpu_clients_ns"] = delivery.cpuServers, delivery.cpuClients
		}
	}
	json.NewEncoder(os.Stdout).Encode(out)
	return 0
}

// writeAllocs writes the allocation profile to path.
func writeAllocs(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		f.Close()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "nexusd-bench: --memprofile:", err)
	}
}

// runtimeFlags adds the server processes' Go runtime settings to fs.
func runtimeFlags(fs *flag.FlagSet) {
	fs.IntVar(&serverRuntime.MaxProcs, "gomaxprocs", serverRuntime.MaxProcs, "GOMAXPROCS of every server process (nexusd, NATS, relay)")
	fs.StringVar(&serverRuntime.GOGC, "gogc", serverRuntime.GOGC, "GOGC of every server process (nexusd, NATS, relay)")
	fs.StringVar(&serverRuntime.MemLimit, "gomemlimit", serverRuntime.MemLimit, "GOMEMLIMIT of every server process (nexusd, NATS, relay)")
}

// runtimeArgs passes the settings on to a measure child.
func runtimeArgs() []string {
	return []string{"--gomaxprocs", strconv.Itoa(serverRuntime.MaxProcs), "--gogc", serverRuntime.GOGC, "--gomemlimit", serverRuntime.MemLimit}
}
