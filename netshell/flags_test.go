package netshell

import (
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nexusd/nexusd/state"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestNoFlagsGiveTheSpecDefaults(t *testing.T) {
	o, err := ParseFlags(nil, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultOptions()
	if !reflect.DeepEqual(o, d) {
		t.Fatalf("parsed %+v\nwant %+v", o, d)
	}
	for name, got := range map[string]any{
		"cluster": o.Cluster, "mcast-addr": o.McastAddr, "mcast-port": o.McastPort, "mesh-port": o.MeshPort,
		"app-port": o.AppPort, "bind": o.Bind, "app-bind": o.AppBind, "http-addr": o.HTTPAddr,
		"peer-timeout": o.PeerTimeout, "message-buffer-size": o.MessageBufferSize, "max-buffer-memory": o.RingBytes,
		"paused-subscription-ttl": o.PausedTTL, "subscriber-queue-limit": o.QueueLimit, "backpressure-policy": o.BackpressurePolicy,
		"block-timeout-ms": o.BlockTimeout, "default-message-ttl": o.DefaultTTL, "max-payload": o.MaxPayloadBytes,
		"beacon-interval": o.BeaconInterval, "suspect-after": o.SuspectAfter, "seed-resolve-interval": o.SeedResolveInterval,
		"max-fetches-in-flight": o.MaxFetchesInFlight, "heartbeat-interval": o.HeartbeatInterval,
		"max-patterns": o.MaxPatterns, "max-retained": o.MaxRetained, "mesh-packed": o.MeshPacked,
	} {
		want := map[string]any{
			"cluster": "default", "mcast-addr": "239.255.42.1", "mcast-port": 5670, "mesh-port": 5671, "app-port": 5672,
			"bind": "0.0.0.0", "app-bind": "127.0.0.1", "http-addr": "127.0.0.1:8080", "peer-timeout": 5 * time.Second,
			"message-buffer-size": 1024, "max-buffer-memory": 64 << 20, "paused-subscription-ttl": 300 * time.Second,
			"subscriber-queue-limit": 10000, "backpressure-policy": state.DropOldest, "block-timeout-ms": 5 * time.Second,
			"default-message-ttl": time.Duration(0), "max-payload": 1 << 20,
			"beacon-interval": time.Second, "suspect-after": 3 * time.Second, "seed-resolve-interval": 30 * time.Second,
			"max-fetches-in-flight": 16, "heartbeat-interval": 30 * time.Second, "max-patterns": 10000, "max-retained": 100000,
			"mesh-packed": true,
		}[name]
		if got != want {
			t.Errorf("--%s defaults to %v, want %v (docs/protocol.md §12)", name, got, want)
		}
	}
}

func TestFlagsTakeBothFormsAndEnvironmentFillsTheRest(t *testing.T) {
	o, err := ParseFlags([]string{
		"--cluster=prod", "--mesh-port", "6000", "-app-port=6001", "--peers", "a.example:5670, 10.0.0.9",
		"--log-level", "trace", "--log-format=json", "--max-buffer-memory", "512KiB", "--default-message-ttl", "90s",
		"--backpressure-policy", "block", "--block-timeout-ms", "250", "--mcast-addr", "",
	}, env(map[string]string{
		"NEXUSD_CLUSTER":                 "ignored-because-the-flag-wins",
		"NEXUSD_SUBSCRIBER_QUEUE_LIMIT":  "500",
		"NEXUSD_PAUSED_SUBSCRIPTION_TTL": "1m",
		"NEXUSD_MAX_PAYLOAD":             "2MiB",
		"NEXUSD_MESH_PACKED":             "false",
	}))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"cluster", o.Cluster, "prod"}, {"mesh-port", o.MeshPort, 6000}, {"app-port", o.AppPort, 6001},
		{"peers", strings.Join(o.Peers, "|"), "a.example:5670|10.0.0.9"}, {"log-level", o.LogLevel, LevelTrace},
		{"log-format", o.LogFormat, "json"}, {"max-buffer-memory", o.RingBytes, 512 << 10},
		{"default-message-ttl", o.DefaultTTL, 90 * time.Second}, {"backpressure-policy", o.BackpressurePolicy, state.Block},
		{"block-timeout-ms", o.BlockTimeout, 250 * time.Millisecond}, {"mcast-addr", o.McastAddr, ""},
		{"subscriber-queue-limit (env)", o.QueueLimit, 500}, {"paused-subscription-ttl (env)", o.PausedTTL, time.Minute},
		{"max-payload (env)", o.MaxPayloadBytes, 2 << 20}, {"mesh-packed (env)", o.MeshPacked, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestBadValuesNameTheFlagAndWhatItAccepts(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want []string // all in the one-line message
	}{
		{[]string{"--mesh-port", "http"}, nil, []string{"--mesh-port", `"http"`, "port number"}},
		{[]string{"--mcast-port=70000"}, nil, []string{"--mcast-port", "port number"}},
		{[]string{"--log-level", "loud"}, nil, []string{"--log-level", "TRACE, DEBUG, INFO, WARN, ERROR or FATAL"}},
		{[]string{"--log-format", "xml"}, nil, []string{"--log-format", "text or json"}},
		{[]string{"--backpressure-policy", "sometimes"}, nil, []string{"--backpressure-policy", "drop-oldest, drop-newest or block"}},
		{[]string{"--peer-timeout", "5"}, nil, []string{"--peer-timeout", "duration"}},
		{[]string{"--peer-timeout", "100ms"}, nil, []string{"--peer-timeout", "500ms"}},
		{[]string{"--max-payload", "lots"}, nil, []string{"--max-payload", "size"}},
		{[]string{"--beacon-interval", "5ms"}, nil, []string{"--beacon-interval", "10ms"}},
		{[]string{"--beacon-interval", "3s"}, nil, []string{"--peer-timeout", "two beacons"}},
		{[]string{"--suspect-after", "500ms"}, nil, []string{"--suspect-after", "--beacon-interval"}},
		{[]string{"--seed-resolve-interval", "0"}, nil, []string{"--seed-resolve-interval", "duration"}},
		{[]string{"--heartbeat-interval", "100ms"}, nil, []string{"--heartbeat-interval", "1s or more"}},
		{[]string{"--max-fetches-in-flight", "0"}, nil, []string{"--max-fetches-in-flight", "1 to 1024"}},
		{[]string{"--max-fetches-in-flight", "5000"}, nil, []string{"--max-fetches-in-flight", "1 to 1024"}},
		{[]string{"--max-patterns", "none"}, nil, []string{"--max-patterns", "positive"}},
		{nil, map[string]string{"NEXUSD_MAX_RETAINED": "-3"}, []string{"--max-retained", "NEXUSD_MAX_RETAINED"}},
		{[]string{"--mcast-addr", "10.0.0.1"}, nil, []string{"--mcast-addr", "multicast"}},
		{[]string{"--bind", "localhost"}, nil, []string{"--bind", "IPv4"}},
		{[]string{"--mcast-iface", "no-such-if0"}, nil, []string{"--mcast-iface", "no-such-if0"}},
		{[]string{"--app-bind", "0.0.0.0"}, nil, []string{"--app-token", "--app-bind"}},
		{[]string{"--app-port", "5671"}, nil, []string{"--app-port", "--mesh-port"}},
		{[]string{"--peers", "a:b:c"}, nil, []string{"--peers", "a:b:c"}},
		{[]string{"--no-such-flag"}, nil, []string{"--no-such-flag", "unknown flag"}},
		{[]string{"--cluster"}, nil, []string{"--cluster", "needs a value"}},
		{[]string{"stray"}, nil, []string{"stray", "flags only"}},
		{nil, map[string]string{"NEXUSD_MESH_PORT": "x"}, []string{"--mesh-port", "NEXUSD_MESH_PORT", "port number"}},
		{[]string{"--mesh-packed=maybe"}, nil, []string{"--mesh-packed", `"maybe"`, "true or false"}},
		{[]string{"--mesh-packed", "maybe"}, nil, []string{"--mesh-packed", `"maybe"`, "true or false"}},
		{nil, map[string]string{"NEXUSD_MESH_PACKED": "yes"}, []string{"--mesh-packed", "NEXUSD_MESH_PACKED", "true or false"}},
	}
	for _, c := range cases {
		_, err := ParseFlags(c.args, env(c.env))
		if err == nil {
			t.Errorf("%v %v: accepted", c.args, c.env)
			continue
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") {
			t.Errorf("%v: message spans lines: %q", c.args, msg)
		}
		for _, w := range c.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%v %v: %q does not mention %q", c.args, c.env, msg, w)
			}
		}
	}
}

func TestHelpIsNotAnError(t *testing.T) {
	for _, a := range []string{"-h", "--help"} {
		if _, err := ParseFlags([]string{a}, env(nil)); !errors.Is(err, ErrHelp) {
			t.Errorf("%s: %v, want ErrHelp", a, err)
		}
	}
	var b strings.Builder
	Usage(&b)
	for _, d := range flagDefs() {
		if !strings.Contains(b.String(), "--"+d.name) || !strings.Contains(b.String(), EnvName(d.name)) {
			t.Errorf("usage does not list --%s with %s", d.name, EnvName(d.name))
		}
	}
	for _, w := range []string{"nexusd keygen", "nexusd --version"} { // what main takes besides flags
		if !strings.Contains(b.String(), w) {
			t.Errorf("usage does not mention %q", w)
		}
	}
}

func TestLogLevelsInAnyCase(t *testing.T) {
	for in, want := range map[string]slog.Level{"trace": LevelTrace, "Debug": slog.LevelDebug, "INFO": slog.LevelInfo,
		"warn": slog.LevelWarn, "Warning": slog.LevelWarn, "error": slog.LevelError, "FATAL": LevelFatal} {
		if got, err := ParseLevel(in); err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	var b strings.Builder
	NewLogger(&b, LevelTrace, "text").Log(t.Context(), LevelTrace, "x")
	NewLogger(&b, LevelTrace, "text").Log(t.Context(), LevelFatal, "y")
	if !strings.Contains(b.String(), "level=TRACE") || !strings.Contains(b.String(), "level=FATAL") {
		t.Errorf("levels print as %q, want TRACE and FATAL", b.String())
	}
}

// The membership, gossip and limit flags reach the core's configuration;
// the suspicion time stays within 3/5 of the peer timeout.
func TestMembershipAndLimitFlagsReachTheCore(t *testing.T) {
	o, err := ParseFlags([]string{"--beacon-interval", "500ms", "--suspect-after", "2s", "--peer-timeout", "10s",
		"--max-fetches-in-flight", "4", "--heartbeat-interval", "5s", "--max-patterns", "50", "--max-retained", "70"}, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	c := o.nodeConfig("n", nil)
	got := []any{c.BeaconInterval, c.SuspectAfter, c.PeerTimeout, c.MaxFetchesInFlight, c.HeartbeatInterval, c.MaxPatterns, c.MaxRetained}
	want := []any{500 * time.Millisecond, 2 * time.Second, 10 * time.Second, 4, 5 * time.Second, 50, 70}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("core config %v, want %v", got, want)
	}
	o, _ = ParseFlags([]string{"--peer-timeout", "2s"}, env(nil))
	if c := o.nodeConfig("n", nil); c.SuspectAfter != 1200*time.Millisecond {
		t.Fatalf("--peer-timeout 2s: suspected after %s, want 1.2s (3/5 of it)", c.SuspectAfter)
	}
}

// The byte caps and the daemon's budget are flags, with environment
// variables, and reach the core; a bad one names its flag.
func TestMemoryFlagsReachTheCore(t *testing.T) {
	o, err := ParseFlags([]string{"--max-buffer-bytes=256MiB", "--subscriber-queue-bytes", "8MiB", "--peer-backlog-bytes", "16MiB"},
		env(map[string]string{"NEXUSD_MAX_BUFFER_MEMORY": "32MiB"}))
	if err != nil {
		t.Fatal(err)
	}
	c := o.nodeConfig("n", nil)
	got := []int{c.BudgetBytes, c.QueueBytes, c.PeerBacklogBytes, c.RingBytes}
	if want := []int{256 << 20, 8 << 20, 16 << 20, 32 << 20}; !reflect.DeepEqual(got, want) {
		t.Fatalf("core config %v, want %v", got, want)
	}
	if d := DefaultOptions(); d.BudgetBytes != 512<<20 || d.QueueBytes != 64<<20 {
		t.Fatalf("defaults: budget %d, queue %d; want 512 MiB and 64 MiB", d.BudgetBytes, d.QueueBytes)
	}
	for _, bad := range [][]string{{"--max-buffer-bytes", "lots"}, {"--max-buffer-bytes", "1KiB"}} {
		_, err := ParseFlags(bad, env(nil))
		if err == nil || !strings.Contains(err.Error(), "--max-buffer-bytes") {
			t.Errorf("%v: %v, want an error naming --max-buffer-bytes", bad, err)
		}
	}
}

// --block-timeout is a duration like every other time flag; the older
// --block-timeout-ms still works, and the newer spelling wins from the
// environment too.
func TestBlockTimeoutIsADurationWithItsOldSpelling(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  map[string]string
		want time.Duration
	}{
		{[]string{"--block-timeout", "1500ms"}, nil, 1500 * time.Millisecond},
		{[]string{"--block-timeout-ms", "250"}, nil, 250 * time.Millisecond},
		{nil, map[string]string{"NEXUSD_BLOCK_TIMEOUT": "2s"}, 2 * time.Second},
		{nil, map[string]string{"NEXUSD_BLOCK_TIMEOUT": "2s", "NEXUSD_BLOCK_TIMEOUT_MS": "100"}, 2 * time.Second},
		{nil, nil, 5 * time.Second},
	} {
		o, err := ParseFlags(c.args, env(c.env))
		if err != nil || o.BlockTimeout != c.want {
			t.Errorf("%v %v: block timeout %v (%v), want %v", c.args, c.env, o.BlockTimeout, err, c.want)
		}
	}
	if _, err := ParseFlags([]string{"--block-timeout", "0s"}, env(nil)); err == nil || !strings.Contains(err.Error(), "--block-timeout") {
		t.Errorf("--block-timeout 0s: %v, want an error naming the flag", err)
	}
}

// A boolean flag alone means true; its value may follow it after "=" or
// as the next argument, as any flag's does.
func TestBooleanFlagsStandAloneOrTakeAValue(t *testing.T) {
	for _, c := range []struct {
		args        []string
		packed, qgl bool
	}{
		{nil, true, false},
		{[]string{"--queue-group-local-first"}, true, true},
		{[]string{"--queue-group-local-first", "--mesh-packed=false"}, false, true},
		{[]string{"--mesh-packed", "false", "--queue-group-local-first", "true"}, false, true},
		{[]string{"-mesh-packed=0", "--queue-group-local-first=false"}, false, false},
		{[]string{"--queue-group-local-first", "--cluster", "c"}, true, true},
	} {
		o, err := ParseFlags(c.args, env(nil))
		if err != nil {
			t.Errorf("%v: %v", c.args, err)
			continue
		}
		if o.MeshPacked != c.packed || o.QueueGroupLocalFirst != c.qgl {
			t.Errorf("%v: mesh-packed %v, queue-group-local-first %v; want %v, %v", c.args, o.MeshPacked, o.QueueGroupLocalFirst, c.packed, c.qgl)
		}
	}
}
