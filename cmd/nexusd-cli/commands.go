package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// command is one CLI command. Names and aliases are matched in any case.
type command struct {
	name    string
	aliases []string
	subs    []string           // subcommands, for HELP and completion
	options map[string]optKind // its --options
	usage   string             // what follows the name
	summary string             // one line for HELP
	detail  string             // more for HELP name
	run     func(ctx context.Context, s *session, args []string) error
}

// errQuit ends the interactive prompt.
var errQuit = errors.New("quit")

// commands lists every command; HELP prints them in this order.
var commands []*command

func init() {
	commands = []*command{
		{name: "DISCOVER", aliases: []string{"DISC"}, options: map[string]optKind{"timeout": optDuration, "cluster": optString, "mcast-iface": optString},
			usage: "[--timeout D] [--cluster C] [--mcast-iface IF]", summary: "list the daemons whose discovery beacons arrive",
			detail: "Listens to beacons on --mcast-addr:--mcast-port on --mcast-iface (lo for daemons started with --mcast-iface lo,\n" +
				"as make run and make demo start them) for --timeout (2s) and lists each daemon heard:\n" +
				"its mesh address, instance id, cluster, topics hash and status (alive, stale: silent at the end, incompatible).\n" +
				"Connect to one with CONNECT -n <#> (its sidecar is taken to be the port after its mesh port).",
			run: runDiscover},
		{name: "CONNECT", options: map[string]optKind{"n": optInt}, usage: "host:port | host port | unix:///path | /path | -n <#>",
			summary: "connect to a daemon's sidecar (by address, or the #th that DISCOVER lists)", run: runConnect},
		{name: "PING", usage: "[message]", summary: "check the daemon answers (PONG, or the message)", run: runPing},
		{name: "INFO", subs: []string{"SERVER", "STATS", "MEMORY", "CONFIG"}, usage: "[SERVER|STATS|MEMORY|CONFIG]",
			summary: "the daemon's identity, counters, memory and configuration",
			detail: "SERVER and the topic and peer counts come from the sidecar; cluster, uptime, counters, memory and\n" +
				"configuration come from the daemon's admin endpoint (--admin, default <host>:8080).",
			run: runInfo},
		{name: "PUBLISH", aliases: []string{"PUB"}, options: map[string]optKind{"retain": optBool, "type": optString, "ttl": optString, "correlation-id": optString},
			usage: "topic message [--retain] [--type T] [--ttl ms] [--correlation-id ID]", summary: "publish a message (\"-\" reads it from stdin)",
			detail: "Prints the message id and how many subscriptions and peers it was routed to. An empty message with\n" +
				"--retain clears the topic's retained value.",
			run: runPublish},
		{name: "SUBSCRIBE", aliases: []string{"SUB"}, options: map[string]optKind{"count": optInt, "timeout": optDuration, "retained": optBool, "policy": optString},
			usage: "pattern... [--count N] [--timeout D] [--retained] [--policy P]", summary: "print messages on the patterns (MQTT wildcards + and #)",
			detail: "Each message prints as: topic [sequence] payload (retained values as [retained]). Ends after --count\n" +
				"messages (exit 0), or at --timeout or Ctrl-C (exit 1 if --count messages had not arrived). Gaps and\n" +
				"reconnections are reported on stderr. --policy: drop-oldest, drop-newest or block.",
			run: runSubscribe},
		{name: "REQUEST", aliases: []string{"REQ"}, options: map[string]optKind{"timeout": optDuration},
			usage: "topic message [--timeout D]", summary: "publish a request and print the first reply",
			detail: "Publishes the message with a reply address (an inbox topic of this daemon) and prints the reply's\n" +
				"payload. Fails at once when nothing subscribes to the topic (no responders), and after --timeout\n" +
				"(the global --timeout, 5s) when no reply came.",
			run: runRequest},
		{name: "RESPOND", options: map[string]optKind{"count": optInt, "group": optString},
			usage: "pattern reply [--count N] [--group G]", summary: "answer every request on the pattern with the reply",
			detail: "Each answered request prints as: topic [sequence] request -> reply. Ends after --count requests\n" +
				"(exit 0), or at Ctrl-C. Messages without a reply address are not answered (noted on stderr).\n" +
				"--group G joins queue group G: responders of one group share the requests, each answered once.",
			run: runRespond},
		{name: "MONITOR", aliases: []string{"MON"}, usage: "[pattern]", summary: "print every message (# or the pattern) until Ctrl-C",
			detail: "Each message prints as: time [source node] topic [sequence] payload.", run: runMonitor},
		{name: "PUBSUB", subs: []string{"TOPICS", "NUMSUB", "RETAINED"}, usage: "TOPICS [pattern] | NUMSUB [topic...] | RETAINED [pattern]",
			summary: "subscribed patterns, subscribers of topics, retained values",
			detail: "TOPICS: the patterns subscribed here and on peers. NUMSUB: for each topic, the local subscriptions and\n" +
				"the peers it would reach. RETAINED: the retained values matching the pattern (#); it briefly subscribes.",
			run: runPubsub},
		{name: "MESH", subs: []string{"PEERS", "STATUS", "TOPOLOGY"}, usage: "PEERS | STATUS | TOPOLOGY",
			summary: "the daemon's peers, the mesh's health, and a drawing of the mesh", run: runMesh},
		{name: "HELP", aliases: []string{"?"}, usage: "[command]", summary: "this list, or one command's details", run: runHelp},
		{name: "QUIT", aliases: []string{"Q", "EXIT"}, summary: "leave the prompt", run: runQuit},
	}
}

// lookup finds a command by name or alias, in any case.
func lookup(name string) *command {
	up := strings.ToUpper(name)
	for _, c := range commands {
		if c.name == up || slices.Contains(c.aliases, up) {
			return c
		}
	}
	return nil
}

// execute runs one command line (already split into words).
// runCommand runs one command's words and reports its error, and says
// whether it was QUIT. --json among them (before a "--") asks for JSON
// output from this command alone, as the --json flag before the command
// does for every command.
func (s *session) runCommand(ctx context.Context, words []string) (status int, quit bool) {
	words, asJSON := takeJSON(words)
	if asJSON && !s.cfg.json {
		s.cfg.json = true
		defer func() { s.cfg.json = false }()
	}
	err := s.execute(ctx, words)
	if errors.Is(err, errQuit) {
		return 0, true
	}
	return s.report(err), false
}

// takeJSON removes every --json word before a "--" from words.
func takeJSON(words []string) ([]string, bool) {
	var out []string
	found := false
	for i, w := range words {
		if w == "--" {
			out = append(out, words[i:]...)
			break
		}
		if strings.EqualFold(w, "--json") {
			found = true
			continue
		}
		out = append(out, w)
	}
	return out, found
}

func (s *session) execute(ctx context.Context, words []string) error {
	if len(words) == 0 {
		return nil
	}
	c := lookup(words[0])
	if c == nil {
		return fail("unknown command '%s': type HELP for the list", words[0])
	}
	return c.run(ctx, s, words[1:])
}

// request bounds a request-reply command by --timeout.
func (s *session) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.cfg.timeout)
}

func runHelp(ctx context.Context, s *session, args []string) error {
	if len(args) > 0 {
		c := lookup(args[0])
		if c == nil {
			return fail("no command '%s': type HELP for the list", args[0])
		}
		type helpJSON struct {
			Name    string   `json:"name"`
			Aliases []string `json:"aliases"`
			Usage   string   `json:"usage"`
			Summary string   `json:"summary"`
			Detail  string   `json:"detail,omitempty"`
		}
		return s.emit(helpJSON{c.name, nonNil(c.aliases), c.usage, c.summary, c.detail}, func(w io.Writer) {
			fmt.Fprintf(w, "%s %s\n  %s\n", c.name, c.usage, c.summary)
			if c.detail != "" {
				fmt.Fprintf(w, "\n%s\n", indent(c.detail, "  "))
			}
			if len(c.aliases) > 0 {
				fmt.Fprintf(w, "\n  Aliases: %s\n", strings.Join(c.aliases, ", "))
			}
		})
	}
	type entry struct {
		Name    string   `json:"name"`
		Aliases []string `json:"aliases"`
		Usage   string   `json:"usage"`
		Summary string   `json:"summary"`
	}
	var list []entry
	for _, c := range commands {
		list = append(list, entry{c.name, nonNil(c.aliases), c.usage, c.summary})
	}
	return s.emit(map[string]any{"commands": list}, func(w io.Writer) {
		fmt.Fprintln(w, "Commands (any case; HELP <command> for details):")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range commands {
			name := c.name
			if len(c.aliases) > 0 {
				name += " (" + strings.Join(c.aliases, ", ") + ")"
			}
			fmt.Fprintf(tw, "  %s\t%s\n", name, c.summary)
		}
		tw.Flush()
	})
}

func runQuit(ctx context.Context, s *session, args []string) error {
	if s.interactive {
		return errQuit
	}
	return s.emit(map[string]bool{"ok": true}, func(w io.Writer) { fmt.Fprintln(w, "OK") })
}

func runPing(ctx context.Context, s *session, args []string) error {
	c, err := s.client(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	rtt, err := c.Ping(rctx)
	if err != nil {
		return err
	}
	reply := "PONG"
	if len(args) > 0 {
		reply = strings.Join(args, " ")
	}
	return s.emit(map[string]any{"reply": reply, "latency_ms": millis(rtt), "server_id": c.ServerID()}, func(w io.Writer) {
		fmt.Fprintln(w, reply)
	})
}

func runConnect(ctx context.Context, s *session, args []string) error {
	pos, o, err := parseOpts(args, nil)
	if err != nil {
		return err
	}
	// -n is written with one dash, as on the command line.
	if len(pos) == 2 && pos[0] == "-n" {
		pos, o = nil, opts{"n": pos[1]}
	}
	var addr string
	switch {
	case o.has("n"):
		n, err := strconv.Atoi(o.str("n"))
		if err != nil || n < 1 {
			return fail("CONNECT -n %s: want the number DISCOVER gave the daemon, from 1", o.str("n"))
		}
		if addr, err = s.discovered(ctx, n); err != nil {
			return err
		}
	case len(pos) == 1 && strings.HasPrefix(pos[0], "unix:"):
		addr = pos[0]
	case len(pos) == 1 && strings.HasPrefix(pos[0], "/"):
		addr = socketAddr(pos[0])
	case len(pos) == 1:
		addr = pos[0]
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, strconv.Itoa(s.cfg.port))
		}
	case len(pos) == 2:
		addr = net.JoinHostPort(pos[0], pos[1])
	default:
		return fail("usage: CONNECT host:port | host port | unix:///path | /path | -n <#>")
	}
	c, err := s.connectTo(ctx, addr)
	if err != nil {
		return err
	}
	rctx, cancel := s.request(ctx)
	defer cancel()
	_, _ = c.Ping(rctx) // learn the daemon's id
	return s.emit(map[string]any{"connected": addr, "server_id": c.ServerID()}, func(w io.Writer) {
		fmt.Fprintf(w, "OK connected to %s (daemon %s)\n", addr, c.ServerID())
	})
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func sortStrings(s []string) { slices.Sort(s) }
