package netshell

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nexusd/nexusd/state"
)

// ErrHelp is returned by ParseFlags when -h or --help was given.
var ErrHelp = flag.ErrHelp

// FlagError is a bad flag or environment value. Its text is the one line
// cmd/nexusd prints before exiting 2: it names the flag and what it takes.
type FlagError struct {
	Flag  string // "--mesh-port"
	Env   string // the environment variable the value came from, if any
	Value string
	Want  string // the accepted values
}

func (e *FlagError) Error() string {
	from := ""
	if e.Env != "" {
		from = " (from " + e.Env + ")"
	}
	return fmt.Sprintf("%s%s: invalid value %q: want %s", e.Flag, from, e.Value, e.Want)
}

// flagDef is one flag: its name, default and help for the usage text, what
// it accepts for error messages, and how it sets Options.
type flagDef struct {
	name, def, help, want string
	set                   func(o *Options, s string) error
}

// EnvName is the environment variable that sets a flag: NEXUSD_ and the
// flag's name in upper snake case (--mesh-port: NEXUSD_MESH_PORT).
func EnvName(flagName string) string {
	if env, ok := envNames[flagName]; ok {
		return env
	}
	return "NEXUSD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// envNames are the variables named otherwise than by the rule: a flag
// that takes a file says so.
var envNames = map[string]string{
	"cluster-key":  "NEXUSD_CLUSTER_KEY_FILE",
	"app-tls-cert": "NEXUSD_APP_TLS_CERT_FILE",
	"app-tls-key":  "NEXUSD_APP_TLS_KEY_FILE",
	"app-tls-ca":   "NEXUSD_APP_TLS_CA_FILE",
	"tls-cert":     "NEXUSD_TLS_CERT_FILE",
	"tls-key":      "NEXUSD_TLS_KEY_FILE",
	"tls-ca":       "NEXUSD_TLS_CA_FILE",
}

func flagDefs() []flagDef {
	d := DefaultOptions()
	str := func(p func(*Options) *string) func(*Options, string) error {
		return func(o *Options, s string) error { *p(o) = s; return nil }
	}
	port := func(p func(*Options) *int) func(*Options, string) error {
		return func(o *Options, s string) error {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 || n > 65535 {
				return errBad
			}
			*p(o) = n
			return nil
		}
	}
	count := func(p func(*Options) *int) func(*Options, string) error {
		return func(o *Options, s string) error {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 {
				return errBad
			}
			*p(o) = n
			return nil
		}
	}
	size := func(p func(*Options) *int) func(*Options, string) error {
		return func(o *Options, s string) error {
			n, err := parseSize(s)
			if err != nil || n < 1 {
				return errBad
			}
			*p(o) = n
			return nil
		}
	}
	dur := func(p func(*Options) *time.Duration, zeroOK bool) func(*Options, string) error {
		return func(o *Options, s string) error {
			v, err := time.ParseDuration(s)
			if err != nil || v < 0 || (v == 0 && !zeroOK) {
				return errBad
			}
			*p(o) = v
			return nil
		}
	}
	boolean := func(p func(*Options) *bool) func(*Options, string) error {
		return func(o *Options, s string) error {
			v, err := strconv.ParseBool(s)
			if err != nil {
				return errBad
			}
			*p(o) = v
			return nil
		}
	}
	off := func(s string) string {
		if s == "off" || s == "none" {
			return ""
		}
		return s
	}
	const durWant = "a duration such as 5s, 1500ms or 2m"
	return []flagDef{
		{"cluster", d.Cluster, "cluster id; daemons only mesh with their own cluster", "1 to 64 bytes", str(func(o *Options) *string { return &o.Cluster })},
		{"mcast-addr", d.McastAddr, "IPv4 multicast group of discovery beacons; \"\" or off: seeds only", "an IPv4 multicast group, or \"\"/off",
			func(o *Options, s string) error { o.McastAddr = off(s); return nil }},
		{"mcast-port", strconv.Itoa(d.McastPort), "UDP port of discovery beacons (multicast and seeds)", "a port number 1 to 65535", port(func(o *Options) *int { return &o.McastPort })},
		{"mcast-iface", "", "interface for multicast (lo for a single machine); default: first up, multicast-capable, non-loopback", "an interface name", str(func(o *Options) *string { return &o.McastIface })},
		{"advertise-addr", "", "IPv4 address peers reach the mesh port at; default: --bind if specific, else the interface's address", "an IPv4 address", str(func(o *Options) *string { return &o.AdvertiseAddr })},
		{"mesh-port", strconv.Itoa(d.MeshPort), "TCP port of the mesh gRPC server", "a port number 0 to 65535", port(func(o *Options) *int { return &o.MeshPort })},
		{"app-port", strconv.Itoa(d.AppPort), "TCP port of the sidecar gRPC server; off: none (--app-socket only)", "a port number 0 to 65535, or off",
			func(o *Options, s string) error {
				if off(s) == "" {
					o.AppPort = AppPortOff
					return nil
				}
				return port(func(o *Options) *int { return &o.AppPort })(o, s)
			}},
		{"bind", d.Bind, "IPv4 address the mesh server listens on", "an IPv4 address", str(func(o *Options) *string { return &o.Bind })},
		{"app-bind", d.AppBind, "IPv4 address the sidecar server listens on; not loopback needs --app-token or --app-tls-cert", "an IPv4 address", str(func(o *Options) *string { return &o.AppBind })},
		{"app-token", "", "bearer token applications must send (metadata authorization: Bearer <token>)", "a token", str(func(o *Options) *string { return &o.AppToken })},
		{"cluster-key", "", "cluster keyring file (one base64 key a line, the first signs; make one with nexusd keygen): beacons are authenticated and the mesh is mutual TLS; none: anyone who reaches the ports is a member", "a file path", str(func(o *Options) *string { return &o.ClusterKeyFile })},
		{"tls-cert", "", "PEM certificate (chain) this daemon presents on the mesh port, with --tls-key and --tls-ca; wins over --cluster-key for the mesh; reloaded on change or SIGHUP", "a file path", str(func(o *Options) *string { return &o.TLSCert })},
		{"tls-key", "", "PEM private key of --tls-cert", "a file path", str(func(o *Options) *string { return &o.TLSKey })},
		{"tls-ca", "", "PEM CA certificates: mesh peers must present a certificate that chains to one of them", "a file path", str(func(o *Options) *string { return &o.TLSCA })},
		{"app-socket", "", "Unix socket the sidecar also serves on, such as /run/nexusd/app.sock (beside an application: a volume its pod shares); a stale one is replaced, a live one refused, and it is removed on exit", "a socket path", str(func(o *Options) *string { return &o.AppSocket })},
		{"app-socket-mode", "0660", "permission bits of --app-socket, octal", "octal permission bits such as 0660 or 0600",
			func(o *Options, s string) error {
				n, err := strconv.ParseUint(s, 8, 32)
				if err != nil || n > 0o777 {
					return errBad
				}
				o.AppSocketMode = os.FileMode(n)
				return nil
			}},
		{"app-socket-owner", "", "user[:group] (names or numeric ids) --app-socket is given to; another user needs root or CAP_CHOWN", "user, user:group or :group", str(func(o *Options) *string { return &o.AppSocketOwner })},
		{"app-tls-cert", "", "PEM certificate (chain) the sidecar's TCP port serves TLS with, with --app-tls-key; reloaded on change or SIGHUP", "a file path", str(func(o *Options) *string { return &o.AppTLSCert })},
		{"app-tls-key", "", "PEM private key of --app-tls-cert", "a file path", str(func(o *Options) *string { return &o.AppTLSKey })},
		{"app-tls-ca", "", "PEM CA certificates: applications must present a client certificate one of them signed (needs --app-tls-cert)", "a file path", str(func(o *Options) *string { return &o.AppTLSCA })},
		{"peers", "", "seed discovery addresses host[:port],...; DNS names are looked up every 30s", "host[:port],...",
			func(o *Options, s string) error {
				o.Peers = nil
				for _, p := range strings.Split(s, ",") {
					if p = strings.TrimSpace(p); p != "" {
						o.Peers = append(o.Peers, p)
					}
				}
				return nil
			}},
		{"http-addr", d.HTTPAddr, "admin HTTP address: /metrics, /healthz, /readyz, /debug/pprof, status page; \"\" or off: none", "host:port, or \"\"/off",
			func(o *Options, s string) error { o.HTTPAddr = off(s); return nil }},
		{"log-level", "INFO", "TRACE, DEBUG, INFO, WARN, ERROR or FATAL (any case)", "TRACE, DEBUG, INFO, WARN, ERROR or FATAL",
			func(o *Options, s string) error {
				l, err := ParseLevel(s)
				o.LogLevel = l
				return err
			}},
		{"log-format", d.LogFormat, "text or json", "text or json", func(o *Options, s string) error {
			if s != "text" && s != "json" {
				return errBad
			}
			o.LogFormat = s
			return nil
		}},
		{"beacon-interval", d.BeaconInterval.String(), "mean time between discovery beacons (each ±10%)", durWant, dur(func(o *Options) *time.Duration { return &o.BeaconInterval }, false)},
		{"suspect-after", d.SuspectAfter.String(), "beacon silence after which a peer is suspected and probed (at most 3/5 of --peer-timeout)", durWant, dur(func(o *Options) *time.Duration { return &o.SuspectAfter }, false)},
		{"peer-timeout", d.PeerTimeout.String(), "silence after which a peer is removed", durWant, dur(func(o *Options) *time.Duration { return &o.PeerTimeout }, false)},
		{"seed-resolve-interval", d.SeedResolveInterval.String(), "how often --peers DNS names are looked up again", durWant, dur(func(o *Options) *time.Duration { return &o.SeedResolveInterval }, false)},
		{"max-fetches-in-flight", strconv.Itoa(d.MaxFetchesInFlight), "peer state fetches under way at once, all peers together", "a number from 1 to 1024", count(func(o *Options) *int { return &o.MaxFetchesInFlight })},
		{"mesh-max-conns", strconv.Itoa(d.MeshMaxConns), "connections the mesh port holds at once; beyond, new ones wait in the kernel's backlog until one closes", "a number from 2 to 1048576", count(func(o *Options) *int { return &o.MeshMaxConns })},
		{"mesh-packed", strconv.FormatBool(d.MeshPacked), "push to peers in packed frames (PushPacked), falling back per peer to PushMessageBatchStream where a peer lacks it; false: PushMessageBatchStream only (PushPacked is served either way)", boolWant,
			boolean(func(o *Options) *bool { return &o.MeshPacked })},
		{"queue-group-local-first", strconv.FormatBool(d.QueueGroupLocalFirst), "a publish goes to a queue group's member on this daemon when it has a live one, and to the mesh's members only when it has none; false: spread over every member of the mesh", boolWant,
			boolean(func(o *Options) *bool { return &o.QueueGroupLocalFirst })},
		{"message-buffer-size", strconv.Itoa(d.MessageBufferSize), "replay ring per topic, in messages", "a positive number", count(func(o *Options) *int { return &o.MessageBufferSize })},
		{"max-buffer-memory", "64MiB", "bytes all replay rings hold together (payload, topic and a fixed overhead a message)", "a size such as 67108864, 512KiB or 64MiB", size(func(o *Options) *int { return &o.RingBytes })},
		{"max-buffer-bytes", "512MiB", "bytes everything that holds messages holds together (rings, queues, backlogs, retained...); past it the oldest are shed", "a size such as 536870912 or 512MiB (at least 1MiB)", size(func(o *Options) *int { return &o.BudgetBytes })},
		{"subscriber-queue-bytes", "64MiB", "queue per subscription, in bytes (with --subscriber-queue-limit in messages)", "a size such as 67108864, 512KiB or 64MiB", size(func(o *Options) *int { return &o.QueueBytes })},
		{"peer-backlog-bytes", "64MiB", "bytes of pushes waiting for or in flight to one peer, and kept for a dead peer's return", "a size such as 67108864, 512KiB or 64MiB", size(func(o *Options) *int { return &o.PeerBacklogBytes })},
		{"paused-subscription-ttl", d.PausedTTL.String(), "how long a paused subscription is kept", durWant, dur(func(o *Options) *time.Duration { return &o.PausedTTL }, false)},
		{"subscriber-queue-limit", strconv.Itoa(d.QueueLimit), "queue per subscription, in messages", "a positive number", count(func(o *Options) *int { return &o.QueueLimit })},
		{"backpressure-policy", d.BackpressurePolicy.String(), "what a full subscription queue does: drop-oldest, drop-newest or block", "drop-oldest, drop-newest or block",
			func(o *Options, s string) error {
				p, err := state.ParsePolicy(s)
				o.BackpressurePolicy = p
				return err
			}},
		{"block-timeout-ms", "", "--block-timeout in milliseconds (the older spelling)", "a positive number of milliseconds",
			func(o *Options, s string) error {
				n, err := strconv.Atoi(s)
				if err != nil || n < 1 {
					return errBad
				}
				o.BlockTimeout = time.Duration(n) * time.Millisecond
				return nil
			}},
		{"block-timeout", d.BlockTimeout.String(), "longest a publish waits for a blocked subscriber", durWant, dur(func(o *Options) *time.Duration { return &o.BlockTimeout }, false)},
		{"default-message-ttl", "0", "TTL of messages published without one; 0: none", "0 or " + durWant, dur(func(o *Options) *time.Duration { return &o.DefaultTTL }, true)},
		{"max-payload", "1MiB", "largest payload accepted", "a size such as 1048576, 512KiB or 1MiB", size(func(o *Options) *int { return &o.MaxPayloadBytes })},
		{"heartbeat-interval", d.HeartbeatInterval.String(), "an idle subscription stream gets a heartbeat this often", durWant, dur(func(o *Options) *time.Duration { return &o.HeartbeatInterval }, false)},
		{"max-patterns", strconv.Itoa(d.MaxPatterns), "distinct subscribed topic patterns on this node", "a positive number", count(func(o *Options) *int { return &o.MaxPatterns })},
		{"max-retained", strconv.Itoa(d.MaxRetained), "retained topics this node holds", "a positive number", count(func(o *Options) *int { return &o.MaxRetained })},
	}
}

var errBad = errors.New("bad value")

// boolWant is what a boolean flag takes: given alone it is true.
const boolWant = "true or false"

// joinBoolValues lets a boolean flag take its value as the next argument
// too (--mesh-packed false), as every other flag does, by joining the two
// (--mesh-packed=false): the flag package reads a boolean flag's value
// only after "=". nexusd takes no arguments but flags, so a next argument
// that is no flag is the value, good or bad.
func joinBoolValues(args []string, defs []flagDef) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		name := strings.TrimLeft(a, "-")
		if i+1 < len(args) && strings.HasPrefix(a, "-") && !strings.Contains(name, "=") && isBoolFlag(name, defs) {
			if !strings.HasPrefix(args[i+1], "-") {
				out = append(out, a+"="+args[i+1])
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

func isBoolFlag(name string, defs []flagDef) bool {
	for _, d := range defs {
		if d.name == name {
			return d.want == boolWant
		}
	}
	return false
}

// ParseFlags reads the daemon's flags from args (without the program name)
// and, for flags not given, from their environment variables (lookupEnv is
// os.LookupEnv in the daemon). Both --flag value and --flag=value work. The
// error is ErrHelp, a *FlagError, or another one-line error naming a flag.
func ParseFlags(args []string, lookupEnv func(string) (string, bool)) (Options, error) {
	o := DefaultOptions()
	fs := flag.NewFlagSet("nexusd", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var bad *FlagError
	defs := flagDefs()
	for _, d := range defs {
		set := func(s string) error {
			if err := d.set(&o, s); err != nil {
				bad = &FlagError{Flag: "--" + d.name, Value: s, Want: d.want}
				return err
			}
			return nil
		}
		if d.want == boolWant {
			fs.BoolFunc(d.name, d.help, set) // --flag alone is --flag=true
		} else {
			fs.Func(d.name, d.help, set)
		}
	}
	if err := fs.Parse(joinBoolValues(args, defs)); err != nil {
		switch {
		case bad != nil:
			return o, bad
		case errors.Is(err, flag.ErrHelp):
			return o, ErrHelp
		}
		return o, rewordFlagError(err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: nexusd takes flags only (see --help)", fs.Arg(0))
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, d := range defs {
		if given[d.name] {
			continue
		}
		env := EnvName(d.name)
		if v, ok := lookupEnv(env); ok {
			if err := d.set(&o, v); err != nil {
				return o, &FlagError{Flag: "--" + d.name, Env: env, Value: v, Want: d.want}
			}
		}
	}
	if err := o.Validate(); err != nil {
		return o, err
	}
	return o, nil
}

// rewordFlagError turns the flag package's messages into ones that name
// flags the way users type them.
func rewordFlagError(err error) error {
	msg := err.Error()
	for _, p := range []struct{ prefix, format string }{
		{"flag provided but not defined: -", "--%s: unknown flag (see nexusd --help for the list)"},
		{"flag needs an argument: -", "--%s: needs a value"},
		{"bad flag syntax: ", "%s: bad flag syntax: want --flag value or --flag=value"},
	} {
		if name, ok := strings.CutPrefix(msg, p.prefix); ok {
			return fmt.Errorf(p.format, strings.TrimLeft(name, "-"))
		}
	}
	return err
}

// Usage writes the flag list with defaults and environment variables.
func Usage(w io.Writer) {
	fmt.Fprintf(w, "Usage: nexusd [flags]\n       nexusd keygen [--out file]   print (or write) a new cluster key for --cluster-key\n       nexusd --version             say which build this is\n\n"+
		"Every flag can also be set by its environment variable; a flag given on the command line wins. A true-or-false flag given alone is true.\n\n")
	for _, d := range flagDefs() {
		fmt.Fprintf(w, "  --%s %s [%s]\n      %s (default %q)\n", d.name, "value", EnvName(d.name), d.help, d.def)
	}
}

// parseSize reads a byte count: 1048576, 512KiB, 64MiB, 1GiB (binary) or
// 1KB, 1MB, 1GB (decimal).
func parseSize(s string) (int, error) {
	units := []struct {
		suffix string
		mult   int
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"B", 1},
	}
	mult := 1
	for _, u := range units {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = rest, u.mult
			break
		}
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, errBad
	}
	return n * mult, nil
}
