package main

import (
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/internal/testnet"
)

// pair is two daemons of one cluster, meshed, and what the tests pass the
// CLI to reach them.
type pair struct {
	a, b         *testnet.Daemon
	aID, bID     string
	cluster      string
	mcastPort    int
	atA, atB     []string // -h/-p flags for each
	adminA       string
	discoverFlag []string
}

func hostPort(t testing.TB, addr string) []string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return []string{"-h", host, "-p", port}
}

func startPair(t *testing.T) *pair {
	cl, port := fmt.Sprintf("cli-%d", testnet.Port()), testnet.Port()
	a := testnet.Launch(t, testnet.Config{Name: "a", Cluster: cl, McastPort: port})
	b := testnet.Launch(t, testnet.Config{Name: "b", Cluster: cl, McastPort: port})
	a.WaitReady()
	b.WaitReady()
	p := &pair{a: a, b: b, cluster: cl, mcastPort: port, atA: hostPort(t, a.App), atB: hostPort(t, b.App), adminA: a.HTTP,
		discoverFlag: []string{"--mcast-iface", "lo", "--mcast-port", strconv.Itoa(port), "--cluster", cl, "--discover-timeout", "1200ms"}}
	p.aID, p.bID = a.InstanceID(), b.InstanceID()
	// Each knows the other before a test goes on: a reply goes only to a
	// daemon known now (docs/protocol.md §4.6), and the one started
	// second may miss the other's first beacon.
	p.waitKnows(t, a, p.bID)
	p.waitKnows(t, b, p.aID)
	return p
}

// at is args for the CLI against daemon a (or b).
func (p *pair) at(d *testnet.Daemon, args ...string) []string {
	flags := p.atA
	if d == p.b {
		flags = p.atB
	}
	return append(slices.Clone(flags), args...)
}

// meshPeer is a peer in MESH PEERS --json.
type meshPeer struct {
	ID     string   `json:"instance_uuid"`
	Topics []string `json:"topics"`
	Status string   `json:"status"`
}

// waitRoute waits until daemon from routes pattern to the other one.
func (p *pair) waitRoute(t *testing.T, from *testnet.Daemon, pattern string) {
	t.Helper()
	p.waitPeer(t, from, "route "+pattern, func(peer meshPeer) bool {
		return peer.Status == "alive" && slices.Contains(peer.Topics, pattern)
	})
}

// waitKnows waits until daemon from has peer id.
func (p *pair) waitKnows(t *testing.T, from *testnet.Daemon, id string) {
	t.Helper()
	p.waitPeer(t, from, "peer "+id, func(peer meshPeer) bool { return peer.ID == id })
}

// waitPeer waits until daemon from lists a peer that match accepts.
func (p *pair) waitPeer(t *testing.T, from *testnet.Daemon, what string, match func(meshPeer) bool) {
	t.Helper()
	testnet.Eventually(t, 10*time.Second, what, func() error {
		var doc struct {
			Peers []meshPeer `json:"peers"`
		}
		jsonDoc(t, &doc, p.at(from, "MESH", "PEERS")...)
		if slices.ContainsFunc(doc.Peers, match) {
			return nil
		}
		return fmt.Errorf("peers %+v", doc.Peers)
	})
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// TestCommandsAgainstTwoDaemons runs the built CLI against two meshed
// daemons: every command, in any case and by its aliases, its text and
// JSON output, and its exit status.
func TestCommandsAgainstTwoDaemons(t *testing.T) {
	p := startPair(t)

	t.Run("PING in any case", func(t *testing.T) {
		for _, name := range []string{"PING", "ping", "Ping"} {
			if r := ok(t, p.at(p.a, name)...); r.stdout != "PONG\n" {
				t.Fatalf("%s: %s", name, r)
			}
		}
		var doc struct {
			Reply    string  `json:"reply"`
			Latency  float64 `json:"latency_ms"`
			ServerID string  `json:"server_id"`
		}
		jsonDoc(t, &doc, p.at(p.a, "ping")...)
		if doc.Reply != "PONG" || doc.ServerID != p.aID || doc.Latency <= 0 {
			t.Fatalf("--json PING: %+v", doc)
		}
	})

	t.Run("SUBSCRIBE on one daemon gets what PUBLISH sends on the other", func(t *testing.T) {
		sub := start(t, p.at(p.b, "sub", "chat/#", "--count", "3", "--timeout", "30s")...)
		p.waitRoute(t, p.a, "chat/#")
		r := ok(t, p.at(p.a, "PUBLISH", "chat/room1", "hello world")...)
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 2 || !uuidRE.MatchString(strings.TrimPrefix(lines[0], "message_id: ")) || lines[1] != "subscriber_count: 1" {
			t.Fatalf("PUBLISH printed %s", r)
		}
		var pub map[string]any
		jsonDoc(t, &pub, p.at(p.a, "pub", "chat/room2", "second", "--type", "text/plain", "--ttl", "60000")...)
		if pub["success"] != true || !uuidRE.MatchString(fmt.Sprint(pub["message_id"])) || pub["subscriber_count"] != 1.0 ||
			pub["subscribers_dropped"] != 0.0 || pub["subscribers_blocked"] != 0.0 {
			t.Fatalf("PUB --json: %v", pub)
		}
		if r := cliIn(t, "from stdin\n", p.at(p.a, "Publish", "chat/room1", "-")...); r.code != 0 {
			t.Fatalf("PUBLISH -: %s", r)
		}
		want := []string{"chat/room1 [1] hello world", "chat/room2 [1] second", "chat/room1 [2] from stdin\n"}
		for i, w := range want {
			if got := sub.line(10 * time.Second); got != strings.TrimSuffix(w, "\n") && got != w[:len(w)-0] {
				if !(i == 2 && got == "chat/room1 [2] \"from stdin\\n\"") {
					t.Fatalf("line %d: %q, want %q", i, got, w)
				}
			}
		}
		if code := sub.wait(10 * time.Second); code != 0 {
			t.Fatalf("SUBSCRIBE --count 3 exited %d after 3 messages", code)
		}
	})

	t.Run("SUBSCRIBE ends at its timeout, exit 1 short of its count", func(t *testing.T) {
		r := cli(t, p.at(p.a, "SUBSCRIBE", "quiet/#", "--count", "1", "--timeout", "300ms")...)
		if r.code != 1 || r.stdout != "(error) timed out after 300ms: 0 of 1 messages\n" {
			t.Fatalf("%s", r)
		}
		if r := cli(t, p.at(p.a, "SUBSCRIBE", "quiet/#", "--timeout", "200ms")...); r.code != 0 || r.stdout != "" {
			t.Fatalf("without --count a timeout is the normal end: %s", r)
		}
	})

	t.Run("SUBSCRIBE --retained gets the value replicated from the other daemon", func(t *testing.T) {
		ok(t, p.at(p.a, "PUBLISH", "cfg/mode", "eco", "--retain")...)
		testnet.Eventually(t, 10*time.Second, "b holds the retained value", func() error {
			r := cli(t, p.at(p.b, "SUB", "cfg/#", "--retained", "--count", "1", "--timeout", "1s")...)
			if r.code != 0 || r.stdout != "cfg/mode [retained] eco\n" {
				return fmt.Errorf("%s", r)
			}
			return nil
		})
		var doc struct {
			Retained []map[string]any `json:"retained"`
		}
		jsonDoc(t, &doc, p.at(p.b, "PUBSUB", "RETAINED")...)
		if len(doc.Retained) != 1 || doc.Retained[0]["topic"] != "cfg/mode" || doc.Retained[0]["payload"] != "eco" ||
			doc.Retained[0]["source_node_id"] != p.aID || doc.Retained[0]["kind"] != "retained" {
			t.Fatalf("PUBSUB RETAINED --json: %+v", doc)
		}
		if r := ok(t, p.at(p.b, "pubsub", "retained", "other/#")...); r.stdout != "(no retained values on other/#)\n" {
			t.Fatalf("%s", r)
		}
		r := ok(t, p.at(p.a, "PUBSUB", "RETAINED")...)
		if !strings.Contains(r.stdout, "TOPIC") || !strings.Contains(r.stdout, "cfg/mode") || !strings.Contains(r.stdout, "eco") {
			t.Fatalf("PUBSUB RETAINED: %s", r)
		}
	})

	t.Run("SUBSCRIBE --json prints one message object a line", func(t *testing.T) {
		sub := start(t, p.at(p.a, "--json", "SUB", "j/+", "--count", "2", "--timeout", "30s")...)
		testnet.Eventually(t, 10*time.Second, "the subscription is open", func() error {
			var doc struct{ Topics []struct{ Pattern string } }
			jsonDoc(t, &doc, p.at(p.a, "PUBSUB", "TOPICS")...)
			for _, tp := range doc.Topics {
				if tp.Pattern == "j/+" {
					return nil
				}
			}
			return fmt.Errorf("topics %+v", doc.Topics)
		})
		ok(t, p.at(p.a, "PUB", "j/1", "text", "--correlation-id", "c-1")...)
		ok(t, p.at(p.a, "PUB", "j/2", "\xff\xfe")...)
		var m1, m2 map[string]any
		for _, m := range []*map[string]any{&m1, &m2} {
			if err := json.Unmarshal([]byte(sub.line(10*time.Second)), m); err != nil {
				t.Fatal(err)
			}
		}
		if m1["topic"] != "j/1" || m1["payload"] != "text" || m1["correlation_id"] != "c-1" || m1["sequence_number"] != 1.0 ||
			m1["source_node_id"] != p.aID || m1["kind"] != "live" || !uuidRE.MatchString(fmt.Sprint(m1["message_id"])) {
			t.Fatalf("first message %v", m1)
		}
		if m2["payload_base64"] != "//4=" || m2["payload"] != nil {
			t.Fatalf("binary message %v", m2)
		}
		if code := sub.wait(10 * time.Second); code != 0 {
			t.Fatalf("exit %d", code)
		}
	})

	t.Run("MONITOR streams everything until interrupted", func(t *testing.T) {
		mon := start(t, p.at(p.a, "MONITOR")...)
		if l := mon.line(10 * time.Second); l != "OK" {
			t.Fatalf("MONITOR began with %q", l)
		}
		testnet.Eventually(t, 10*time.Second, "MONITOR subscribed", func() error {
			var doc struct{ Topics []struct{ Pattern string } }
			jsonDoc(t, &doc, p.at(p.a, "PUBSUB", "TOPICS")...)
			for _, tp := range doc.Topics {
				if tp.Pattern == "#" {
					return nil
				}
			}
			return fmt.Errorf("topics %+v", doc.Topics)
		})
		ok(t, p.at(p.a, "PUB", "any/topic/at/all", "seen")...)
		l := mon.line(10 * time.Second)
		if !regexp.MustCompile(`^\d\d:\d\d:\d\d\.\d\d\d \[` + p.aID[:8] + `\] any/topic/at/all \[1\] seen$`).MatchString(l) {
			t.Fatalf("MONITOR line %q", l)
		}
		mon.interrupt()
		if code := mon.wait(10 * time.Second); code != 0 {
			t.Fatalf("MONITOR exited %d on Ctrl-C", code)
		}
	})

	t.Run("MON --json prints one JSON document per line", func(t *testing.T) {
		mon := start(t, p.at(p.a, "--json", "MON", "mon/#")...)
		testnet.Eventually(t, 10*time.Second, "MON subscribed", func() error {
			var doc struct{ Topics []struct{ Pattern string } }
			jsonDoc(t, &doc, p.at(p.a, "PUBSUB", "TOPICS")...)
			for _, tp := range doc.Topics {
				if tp.Pattern == "mon/#" {
					return nil
				}
			}
			return fmt.Errorf("topics %+v", doc.Topics)
		})
		ok(t, p.at(p.a, "PUB", "mon/json", "seen")...)
		for {
			l := mon.line(10 * time.Second)
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("MON --json line %q is not JSON", l)
			}
			if m["topic"] == "mon/json" {
				if m["payload"] != "seen" || m["source_node_id"] != p.aID {
					t.Fatalf("MON --json message %v", m)
				}
				break
			}
		}
		mon.interrupt()
		if code := mon.wait(10 * time.Second); code != 0 {
			t.Fatalf("MON exited %d on Ctrl-C", code)
		}
	})

	t.Run("INFO from the sidecar and the admin endpoint", func(t *testing.T) {
		r := ok(t, p.at(p.a, "--admin", p.adminA, "INFO")...)
		for _, want := range []string{"# Server\n", "instance_id:" + p.aID + "\n", "cluster:" + p.cluster + "\n", "connection:connected\n",
			"# Stats\n", "peers_alive:1\n", "# Memory\n", "used_memory_rss:", "# Config\n", "advertised:" + p.a.Mesh} {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("INFO lacks %q: %s", want, r)
			}
		}
		r = ok(t, p.at(p.a, "--admin", p.adminA, "info", "server")...)
		if strings.Contains(r.stdout, "# Stats") || !strings.Contains(r.stdout, "# Server") {
			t.Fatalf("INFO server: %s", r)
		}
		var doc map[string]map[string]any
		jsonDoc(t, &doc, p.at(p.a, "--admin", p.adminA, "INFO")...)
		if doc["server"]["instance_id"] != p.aID || doc["memory"]["used_memory_rss"] == nil || doc["stats"]["peers"] != 1.0 {
			t.Fatalf("INFO --json: %v", doc)
		}
		// An admin endpoint of another daemon is not taken for this one's.
		r = ok(t, p.at(p.b, "--admin", p.adminA, "INFO", "SERVER")...)
		if !strings.Contains(r.stdout, "admin:unavailable: admin endpoint "+p.adminA+" belongs to daemon "+p.aID[:8]) {
			t.Fatalf("INFO with the wrong --admin: %s", r)
		}
		if r := cli(t, p.at(p.a, "INFO", "BOGUS")...); r.code != 1 || !strings.HasPrefix(r.stdout, "(error) usage: INFO") {
			t.Fatalf("INFO BOGUS: %s", r)
		}
	})

	t.Run("MESH PEERS, STATUS and TOPOLOGY", func(t *testing.T) {
		sub := start(t, p.at(p.b, "SUB", "mesh/#", "--timeout", "30s")...)
		p.waitRoute(t, p.a, "mesh/#")
		r := ok(t, p.at(p.a, "MESH", "PEERS")...)
		if !strings.Contains(r.stdout, p.bID) || !strings.Contains(r.stdout, p.b.Mesh) || !strings.Contains(r.stdout, "alive") {
			t.Fatalf("MESH PEERS: %s", r)
		}
		r = ok(t, p.at(p.a, "--admin", p.adminA, "mesh", "status")...)
		for _, want := range []string{"health: ok\n", "peers: 1 (1 alive, 0 suspected)\n", "synced: 1 of 1 peers\n", "cluster: " + p.cluster} {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("MESH STATUS lacks %q: %s", want, r)
			}
		}
		r = ok(t, p.at(p.a, "--admin", p.adminA, "MESH", "TOPOLOGY")...)
		for _, want := range []string{"◉ " + p.aID[:8] + " (this node)  mesh " + p.a.Mesh, "└──● " + p.bID[:8] + "  " + p.b.Mesh + "  alive",
			"topics: mesh/#"} {
			if !strings.Contains(r.stdout, want) {
				t.Fatalf("MESH TOPOLOGY lacks %q:\n%s", want, r.stdout)
			}
		}
		// The routes column is as wide as the longest pattern, which may be
		// an earlier test's subscription still paused for its resume.
		if !regexp.MustCompile(`mesh/# +→ ` + p.bID[:8]).MatchString(r.stdout) {
			t.Fatalf("MESH TOPOLOGY lacks the route mesh/# → %s:\n%s", p.bID[:8], r.stdout)
		}
		var topo struct {
			Node  map[string]any      `json:"node"`
			Links []map[string]string `json:"links"`
		}
		jsonDoc(t, &topo, p.at(p.a, "MESH", "TOPOLOGY")...)
		if topo.Node["instance_uuid"] != p.aID || len(topo.Links) != 1 || topo.Links[0]["to"] != p.bID || topo.Links[0]["status"] != "alive" {
			t.Fatalf("MESH TOPOLOGY --json: %+v", topo)
		}
		r = ok(t, p.at(p.a, "PUBSUB", "TOPICS")...)
		if !regexp.MustCompile(`mesh/#\s+0\s+` + p.bID[:8]).MatchString(r.stdout) {
			t.Fatalf("PUBSUB TOPICS: %s", r)
		}
		var numsub struct {
			Numsub []struct {
				Topic string   `json:"topic"`
				Local int      `json:"local_subscriptions"`
				Peers []string `json:"peers"`
				Count int      `json:"subscriber_count"`
			} `json:"numsub"`
		}
		jsonDoc(t, &numsub, p.at(p.a, "PUBSUB", "NUMSUB", "mesh/x/y", "other")...)
		if len(numsub.Numsub) != 2 || numsub.Numsub[0].Count != 1 || numsub.Numsub[0].Peers[0] != p.bID || numsub.Numsub[1].Count != 0 {
			t.Fatalf("PUBSUB NUMSUB: %+v", numsub)
		}
		sub.interrupt()
		if code := sub.wait(10 * time.Second); code != 0 {
			t.Fatalf("SUBSCRIBE without --count exited %d on Ctrl-C", code)
		}
	})

	t.Run("DISCOVER hears both daemons, and -n connects to one", func(t *testing.T) {
		r := ok(t, append(slices.Clone(p.discoverFlag), "DISC", "--timeout", "1200ms")...)
		for _, d := range []*testnet.Daemon{p.a, p.b} {
			if !regexp.MustCompile(regexp.QuoteMeta(d.Mesh) + `\s+[0-9a-f-]{36}\s+` + p.cluster + `\s+[0-9a-f]{16}\s+alive`).MatchString(r.stdout) {
				t.Fatalf("DISCOVER lacks %s: %s", d.Mesh, r)
			}
		}
		// The interface may also be the command's own option.
		withoutIface := slices.DeleteFunc(slices.Clone(p.discoverFlag), func(a string) bool { return a == "--mcast-iface" || a == "lo" })
		r = ok(t, append(withoutIface, "DISCOVER", "--mcast-iface", "lo", "--timeout", "1200ms")...)
		if !strings.Contains(r.stdout, p.a.Mesh) || !strings.Contains(r.stdout, p.b.Mesh) {
			t.Fatalf("DISCOVER --mcast-iface lo lacks a daemon: %s", r)
		}
		var doc struct {
			Daemons []struct {
				Index        int    `json:"index"`
				Address      string `json:"address"`
				InstanceUUID string `json:"instance_uuid"`
				Sidecar      string `json:"sidecar_address"`
				Status       string `json:"status"`
			} `json:"daemons"`
		}
		jsonDoc(t, &doc, append(slices.Clone(p.discoverFlag), "discover", "--timeout", "1200ms")...)
		if len(doc.Daemons) != 2 {
			t.Fatalf("DISCOVER --json: %+v", doc)
		}
		// The test's daemons take consecutive ports: the sidecar follows
		// the mesh port, as -n assumes.
		first := doc.Daemons[0]
		var ping struct {
			ServerID string `json:"server_id"`
		}
		jsonDoc(t, &ping, append(slices.Clone(p.discoverFlag), "-n", "1", "PING")...)
		if ping.ServerID != first.InstanceUUID {
			t.Fatalf("-n 1 reached %s, want %s (%+v)", ping.ServerID, first.InstanceUUID, doc.Daemons)
		}
		if r := cli(t, append(slices.Clone(p.discoverFlag), "-n", "3", "PING")...); r.code != 1 || !strings.Contains(r.stdout, "only 2 daemon(s) heard") {
			t.Fatalf("-n 3: %s", r)
		}
	})

	t.Run("commands read from stdin", func(t *testing.T) {
		r := cliIn(t, "ping\nPUB in/script 'two words'\nnonsense\nQUIT\nPING\n", p.at(p.a)...)
		if r.code != 1 || strings.Count(r.stdout, "PONG") != 1 || !strings.Contains(r.stdout, "subscriber_count: 0") ||
			!strings.Contains(r.stdout, "(error) unknown command 'nonsense'") {
			t.Fatalf("script: %s", r)
		}
	})

	t.Run("CONNECT, HELP and QUIT", func(t *testing.T) {
		r := ok(t, "CONNECT", p.b.App)
		if r.stdout != "OK connected to "+p.b.App+" (daemon "+p.bID+")\n" {
			t.Fatalf("CONNECT: %s", r)
		}
		r = cliIn(t, "CONNECT "+p.b.App+"\nPING --json\n", p.at(p.a, "--json")...)
		if !strings.Contains(r.stdout, `"server_id":"`+p.bID) {
			t.Fatalf("PING after CONNECT answers from %s", r)
		}
		if r := ok(t, "help"); !strings.Contains(r.stdout, "SUBSCRIBE (SUB)") || !strings.Contains(r.stdout, "MONITOR (MON)") {
			t.Fatalf("HELP: %s", r)
		}
		if r := ok(t, "HELP", "sub"); !strings.HasPrefix(r.stdout, "SUBSCRIBE pattern...") {
			t.Fatalf("HELP sub: %s", r)
		}
		if r := ok(t, "q"); r.stdout != "OK\n" {
			t.Fatalf("Q: %s", r)
		}
	})
}

// TestErrorsExitOne: every failure prints "(error) ..." (with --json, a
// JSON object) and exits 1.
func TestErrorsExitOne(t *testing.T) {
	d := testnet.Start(t, testnet.Config{Name: "d", Cluster: fmt.Sprintf("cli-err-%d", testnet.Port()), McastPort: testnet.Port(),
		Args: []string{"--app-token", "s3cret"}})
	at := hostPort(t, d.App)
	nobody := []string{"-p", strconv.Itoa(testnet.Port()), "--connect-timeout", "300ms"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"FROBNICATE"}, "(error) unknown command 'FROBNICATE': type HELP for the list\n"},
		{[]string{"PUBLISH", "a/+", "x"}, `(error) invalid topic: topic "a/+": wildcards (+ and #) are only allowed in subscriptions` + "\n"},
		{[]string{"SUB", "a/#/b"}, `(error) invalid topic: pattern "a/#/b": '#' must be the last level` + "\n"},
		{[]string{"PUBLISH", "only-topic"}, "(error) usage: PUBLISH topic message"},
		{[]string{"SUB", "x", "--count"}, "(error) --count needs a value\n"},
		{[]string{"SUB", "x", "--bogus"}, "(error) unknown option --bogus (it takes --count, --policy, --retained, --timeout)\n"},
		{append(slices.Clone(at), "SUB", "x", "--policy", "sideways"), "(error) --policy \"sideways\": want drop-oldest, drop-newest or block\n"},
		{[]string{"--timeout", "xyz", "PING"}, "(error) invalid value \"xyz\" for flag --timeout"},
		{append(slices.Clone(at), "PUBLISH", "a", "b"), "(error) unauthenticated: missing or wrong token"},
		{append(slices.Clone(at), "--token", "wrong", "PUBLISH", "a", "b"), "(error) unauthenticated:"},
		{append(slices.Clone(nobody), "PING"), "(error) unavailable: cannot connect to 127.0.0.1:"},
		{[]string{"--port", "0", "PING"}, "(error) -p 0: want a port number 1 to 65535\n"},
		{[]string{"--frob", "PING"}, "(error) flag provided but not defined: --frob"},
	} {
		r := cli(t, c.args...)
		if r.code != 1 || !strings.HasPrefix(r.stdout, c.want) {
			t.Errorf("nexusd-cli %.80q: %s\nwant exit 1 and %q", c.args, r, c.want)
		}
	}
	if r := ok(t, append(slices.Clone(at), "--token", "s3cret", "PUBLISH", "a", "b")...); !strings.Contains(r.stdout, "message_id: ") {
		t.Errorf("with the token: %s", r)
	}
	big := cliIn(t, strings.Repeat("x", 1<<20+1), append(slices.Clone(at), "--token", "s3cret", "PUBLISH", "big", "-")...)
	if big.code != 1 || !strings.HasPrefix(big.stdout, "(error) payload is 1048577 bytes: the limit is 1048576 (--max-payload)") {
		t.Errorf("oversized payload: %s", big)
	}
	for _, args := range [][]string{{"--json", "PING"}, {"PING", "--json"}} { // --json before the command or among its words
		var doc map[string]string
		r := cli(t, append(slices.Clone(nobody), args...)...)
		if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || r.code != 1 || doc["code"] != "UNAVAILABLE" || !strings.HasPrefix(doc["error"], "unavailable: cannot connect") {
			t.Errorf("%v: --json error: %v %s", args, err, r)
		}
	}
}

// --json may follow the command, as the README has it ("every command
// takes --json"), for that command alone; after "--" it is a word.
func TestJSONAmongACommandsWords(t *testing.T) {
	for _, c := range []struct {
		in   []string
		out  []string
		json bool
	}{
		{[]string{"PUBLISH", "t", "x", "--json"}, []string{"PUBLISH", "t", "x"}, true},
		{[]string{"--json", "MESH", "PEERS"}, []string{"MESH", "PEERS"}, true},
		{[]string{"PUBLISH", "t", "--", "--json"}, []string{"PUBLISH", "t", "--", "--json"}, false},
		{[]string{"PING"}, []string{"PING"}, false},
	} {
		out, json := takeJSON(c.in)
		if !slices.Equal(out, c.out) || json != c.json {
			t.Errorf("takeJSON(%q) = %q, %v; want %q, %v", c.in, out, json, c.out, c.json)
		}
	}
	r := cliIn(t, "HELP PING --json\nHELP PING\n")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	var doc map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &doc); err != nil || doc["name"] != "PING" || strings.HasPrefix(lines[len(lines)-2], "{") {
		t.Fatalf("HELP PING --json, then HELP PING, at the prompt: %v\n%s", err, r)
	}
}

// TestJSONOnEveryCommand: with --json, every command's output is JSON:
// one document, or one per line for streams; errors included.
func TestJSONOnEveryCommand(t *testing.T) {
	cl, port := fmt.Sprintf("cli-json-%d", testnet.Port()), testnet.Port()
	d := testnet.Start(t, testnet.Config{Name: "d", Cluster: cl, McastPort: port})
	at := append(hostPort(t, d.App), "--json", "--admin", d.HTTP, "--mcast-iface", "lo", "--mcast-port", strconv.Itoa(port))
	ok(t, append(slices.Clone(at), "PUB", "r/1", "v", "--retain")...)
	for _, args := range [][]string{
		{"PING"}, {"PING", "hello"}, {"INFO"}, {"INFO", "MEMORY"}, {"PUBLISH", "j/1", "x"}, {"SUB", "r/#", "--retained", "--count", "1"},
		{"SUB", "none", "--count", "1", "--timeout", "100ms"}, {"PUBSUB", "TOPICS"}, {"PUBSUB", "NUMSUB", "a"}, {"PUBSUB", "RETAINED"},
		{"MESH", "PEERS"}, {"MESH", "STATUS"}, {"MESH", "TOPOLOGY"}, {"DISCOVER", "--timeout", "1100ms"}, {"CONNECT", d.App},
		{"HELP"}, {"HELP", "MESH"}, {"QUIT"}, {"NOPE"}, {"PUB", "a/#", "x"},
	} {
		r := cli(t, append(slices.Clone(at), args...)...)
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		for _, l := range lines {
			if !json.Valid([]byte(l)) {
				t.Errorf("%v: line %q is not JSON (%s)", args, l, r)
			}
		}
		if len(lines) != 1 {
			t.Errorf("%v: %d lines, want one document", args, len(lines))
		}
	}
}

// TestCompletion: tab completes commands and aliases, subcommands and
// options, in the case typed.
func TestCompletion(t *testing.T) {
	do := func(line string) []string {
		cands, n := completer{}.Do([]rune(line), len([]rune(line)))
		var out []string
		for _, c := range cands {
			out = append(out, line[:len(line)-n]+line[len(line)-n:]+string(c))
		}
		return out
	}
	for _, c := range []struct {
		line string
		want []string
	}{
		{"pu", []string{"pub ", "publish ", "pubsub "}},
		{"PU", []string{"PUB ", "PUBLISH ", "PUBSUB "}},
		{"INFO S", []string{"INFO SERVER ", "INFO STATS "}},
		{"mesh t", []string{"mesh topology "}},
		{"SUB x --c", []string{"SUB x --count "}},
		{"PUBLISH t m --r", []string{"PUBLISH t m --retain "}},
		{"nothing", nil},
	} {
		if got := do(c.line); !slices.Equal(got, c.want) {
			t.Errorf("%q completes to %q, want %q", c.line, got, c.want)
		}
	}
}

// TestLineSplitting: prompt lines split as a shell would.
func TestLineSplitting(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		{`PUB a "hello world"`, []string{"PUB", "a", "hello world"}},
		{`PUB a 'it''s' x`, []string{"PUB", "a", "its", "x"}},
		{`PUB a "say \"hi\"" ""`, []string{"PUB", "a", `say "hi"`, ""}},
		{`PUB a\ b c`, []string{"PUB", "a b", "c"}},
		{"  ", nil},
	} {
		got, err := splitLine(c.line)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("%q: %q %v, want %q", c.line, got, err, c.want)
		}
	}
	if _, err := splitLine(`PUB "open`); err == nil {
		t.Error("an open quote was accepted")
	}
}
