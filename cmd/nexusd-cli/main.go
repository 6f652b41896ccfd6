// Command nexusd-cli talks to a nexusd daemon, Redis-style: one command
// given on the command line runs and exits; without one, an interactive
// prompt with history and tab completion opens (or, when stdin is not a
// terminal, commands are read from it line by line).
//
//	nexusd-cli DISCOVER
//	nexusd-cli -p 5682 SUBSCRIBE 'sensors/#' --count 1
//	nexusd-cli PUBLISH sensors/kitchen/temp 21.5
//	nexusd-cli --json MESH PEERS
//	nexusd-cli -s /run/nexusd/app.sock PUBLISH pod/ready yes
//	nexusd-cli -h 10.0.0.5 --tls-ca ca.pem --tls-cert me.pem --tls-key me-key.pem PING
//
// Commands are case-insensitive. A failed command prints "(error) ..."
// (with --json, {"error": ..., "code": ...}) and exits 1.
//
// The CLI uses only the client library: it never speaks proto itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/nexusd/nexusd/internal/buildinfo"
	"io"
	"net"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/chzyer/readline"

	"github.com/nexusd/nexusd/client"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// run is the CLI with its arguments and streams; it returns the exit
// status.
func run(args []string, stdin io.ReadCloser, stdout, stderr io.Writer) int {
	cfg, rest, err := parseFlags(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		usage(stdout)
		return 0
	case err != nil:
		fmt.Fprintf(stdout, "(error) %v\n", err)
		return 1
	}
	if cfg.version {
		fmt.Fprintln(stdout, buildinfo.Line("nexusd-cli"))
		return 0
	}
	s := newSession(cfg.config, stdout, stderr)
	s.in = stdin
	defer s.close()
	if cfg.index > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.discoverTimeout+5*time.Second)
		addr, err := s.discovered(ctx, cfg.index)
		cancel()
		if err != nil {
			return s.report(err)
		}
		if cfg.portSet {
			addr = withPort(addr, cfg.port)
		}
		s.addr = addr
	}
	if len(rest) == 0 {
		if f, ok := stdin.(*os.File); ok && readline.IsTerminal(int(f.Fd())) {
			return s.repl(stdin)
		}
		return s.script(stdin)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	status, _ := s.runCommand(ctx, rest)
	return status
}

// cliFlags are the global flags, before the command.
type cliFlags struct {
	config
	index   int  // -n: the index-th daemon DISCOVER lists
	portSet bool // -p was given
	version bool
}

func parseFlags(args []string) (cliFlags, []string, error) {
	var f cliFlags
	fs := flag.NewFlagSet("nexusd-cli", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	env := func(name, def string) string {
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		return def
	}
	defPort, _ := strconv.Atoi(env("NEXUSD_APP_PORT", "5672"))
	fs.StringVar(&f.host, "h", env("NEXUSD_HOST", "127.0.0.1"), "")
	fs.StringVar(&f.host, "host", env("NEXUSD_HOST", "127.0.0.1"), "")
	fs.IntVar(&f.port, "p", defPort, "")
	fs.IntVar(&f.port, "port", defPort, "")
	fs.IntVar(&f.index, "n", 0, "")
	fs.BoolVar(&f.json, "json", false, "")
	fs.StringVar(&f.token, "token", env("NEXUSD_APP_TOKEN", ""), "")
	fs.StringVar(&f.admin, "admin", env("NEXUSD_ADMIN", ""), "")
	fs.DurationVar(&f.timeout, "timeout", 5*time.Second, "")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 3*time.Second, "")
	fs.DurationVar(&f.discoverTimeout, "discover-timeout", 2*time.Second, "")
	fs.StringVar(&f.mcastAddr, "mcast-addr", env("NEXUSD_MCAST_ADDR", "239.255.42.1"), "")
	mport, _ := strconv.Atoi(env("NEXUSD_MCAST_PORT", "5670"))
	fs.IntVar(&f.mcastPort, "mcast-port", mport, "")
	fs.StringVar(&f.mcastIfce, "mcast-iface", env("NEXUSD_MCAST_IFACE", ""), "")
	fs.StringVar(&f.cluster, "cluster", env("NEXUSD_CLUSTER", ""), "")
	fs.StringVar(&f.socket, "s", "", "")
	fs.StringVar(&f.socket, "socket", "", "")
	fs.BoolVar(&f.useTLS, "tls", env("NEXUSD_CLI_TLS", "") == "1", "")
	fs.StringVar(&f.tls.CA, "tls-ca", env("NEXUSD_CLI_TLS_CA", ""), "")
	fs.StringVar(&f.tls.Cert, "tls-cert", env("NEXUSD_CLI_TLS_CERT", ""), "")
	fs.StringVar(&f.tls.Key, "tls-key", env("NEXUSD_CLI_TLS_KEY", ""), "")
	fs.StringVar(&f.tls.ServerName, "tls-server-name", env("NEXUSD_CLI_TLS_SERVER_NAME", ""), "")
	fs.BoolVar(&f.version, "version", false, "")
	help := fs.Bool("help", false, "")
	if err := fs.Parse(args); err != nil {
		return f, nil, fmt.Errorf("%v (see nexusd-cli --help)", longFlagNames(err))
	}
	if *help {
		return f, nil, flag.ErrHelp
	}
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	f.portSet = given["p"] || given["port"]
	if err := f.checkTransport(given); err != nil {
		return f, nil, err
	}
	switch {
	case f.port < 1 || f.port > 65535:
		return f, nil, fmt.Errorf("-p %d: want a port number 1 to 65535", f.port)
	case f.index < 0:
		return f, nil, fmt.Errorf("-n %d: want the number DISCOVER gave the daemon, from 1", f.index)
	case f.timeout <= 0 || f.connectTimeout <= 0 || f.discoverTimeout <= 0:
		return f, nil, errors.New("--timeout, --connect-timeout and --discover-timeout: want positive durations such as 5s")
	}
	return f, fs.Args(), nil
}

// longFlagNames rewords the flag package's "-timeout" as "--timeout", as
// the help writes the long flags; one-letter flags (-p, -h, -s, -n) keep
// their one dash.
func longFlagNames(err error) string {
	return flagName.ReplaceAllString(err.Error(), "$1--$2")
}

// flagName is a flag of two letters or more in the flag package's errors
// ("invalid value ... for flag -timeout", "not defined: -bogus").
var flagName = regexp.MustCompile(`(flag |defined: )-([a-z][a-z0-9-]+)`)

func usage(w io.Writer) {
	fmt.Fprint(w, `Usage: nexusd-cli [flags] [COMMAND [ARGS...]]

Talks to one nexusd daemon's sidecar. With a command, runs it and exits (0, or 1
after "(error) ..."); without one, opens a prompt with history and tab completion.

Flags (before the command):
  -h, --host HOST         daemon host (default 127.0.0.1), or unix:///path/to/socket [NEXUSD_HOST]
  -p, --port PORT         daemon sidecar port (default 5672) [NEXUSD_APP_PORT]
  -s, --socket PATH       the daemon's --app-socket instead of host and port [NEXUSD_APP_SOCKET,
                          which -h and -p override]
  -n N                    connect to the N-th daemon DISCOVER lists
      --json              machine output: one JSON document (streams: one per line); also after a command, for it alone
      --token TOKEN       the daemon's --app-token [NEXUSD_APP_TOKEN]
      --tls-ca FILE       TLS (a daemon with --app-tls-cert), trusting the CAs in this PEM file
                          [NEXUSD_CLI_TLS_CA]
      --tls-cert FILE     client certificate, PEM (a daemon with --app-tls-ca) [NEXUSD_CLI_TLS_CERT]
      --tls-key FILE      its private key, PEM [NEXUSD_CLI_TLS_KEY]
      --tls-server-name N name the daemon's certificate must carry (default: the host)
                          [NEXUSD_CLI_TLS_SERVER_NAME]
      --tls               TLS trusting the system's CAs; the --tls-* flags imply it [NEXUSD_CLI_TLS=1]
      --admin HOST:PORT   the daemon's admin endpoint, for INFO and MESH STATUS
                          (default HOST:8080) [NEXUSD_ADMIN]
      --timeout D         how long a request may take (default 5s)
      --connect-timeout D how long connecting may take (default 3s)
      --discover-timeout D how long -n listens for beacons (default 2s)
      --mcast-addr ADDR   discovery group (default 239.255.42.1; off: unicast only)
      --mcast-port PORT   discovery port (default 5670)
      --mcast-iface NAME  discovery interface (default: first non-loopback; lo for this machine)
      --cluster ID        DISCOVER and -n only see this cluster
      --version, --help

Commands (any case):
  DISCOVER (DISC) [--timeout D] [--cluster C]
  CONNECT host:port | host port | unix:///path | /path | -n N
  PING [message]
  INFO [SERVER|STATS|MEMORY|CONFIG]
  PUBLISH (PUB) topic message [--retain] [--type T] [--ttl ms] [--correlation-id ID]
  SUBSCRIBE (SUB) pattern... [--count N] [--timeout D] [--retained] [--policy P]
  REQUEST (REQ) topic message [--timeout D]
  RESPOND pattern reply [--count N] [--group G]
  MONITOR (MON) [pattern]
  PUBSUB TOPICS [pattern] | NUMSUB [topic...] | RETAINED [pattern]
  MESH PEERS | STATUS | TOPOLOGY
  HELP [command], QUIT (Q)

Examples:
  nexusd-cli --mcast-iface lo DISCOVER
  nexusd-cli -p 5682 SUBSCRIBE 'sensors/#' --count 1 --timeout 30s
  nexusd-cli PUBLISH sensors/kitchen/temp 21.5 --retain
  nexusd-cli RESPOND 'time/now' noon --count 1 & nexusd-cli REQUEST time/now what --timeout 2s
  nexusd-cli --json MESH PEERS
`)
}

// checkTransport checks the flags that choose how to reach the daemon:
// its socket or host and port, and TLS.
func (f *cliFlags) checkTransport(given map[string]bool) error {
	hostGiven := given["h"] || given["host"] || given["p"] || given["port"]
	switch {
	case f.socket != "" && hostGiven:
		return errors.New("-s: give the daemon's socket or its host and port (-h, -p), not both")
	case f.socket == "" && !hostGiven:
		f.socket = os.Getenv("NEXUSD_APP_SOCKET")
	}
	if f.socket != "" && strings.HasPrefix(f.socket, "unix:") {
		return fmt.Errorf("-s %s: give the socket's path, without unix:", f.socket)
	}
	if (f.tls.Cert == "") != (f.tls.Key == "") {
		return errors.New("--tls-cert and --tls-key: give both (the client certificate and its key) or neither")
	}
	for _, file := range []struct{ flag, path string }{{"--tls-ca", f.tls.CA}, {"--tls-cert", f.tls.Cert}, {"--tls-key", f.tls.Key}} {
		if file.path == "" {
			continue
		}
		if _, err := os.Stat(file.path); err != nil {
			return fmt.Errorf("%s: %v", file.flag, err)
		}
	}
	f.useTLS = f.useTLS || f.tls != (client.TLSFiles{})
	return nil
}

// withPort replaces addr's port.
func withPort(addr string, port int) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return net.JoinHostPort(host, strconv.Itoa(port))
}
