package sim

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nexusd/nexusd/state"
)

// Script runs the scenario language, one command per line, against a
// world it creates with its first `world` command. Every command returns
// canonical text: virtual times, node names (n1, n2...), sorted lists; no
// addresses, ids or wall-clock durations, so a diff of two runs is a
// review of what changed.
//
// Commands (one handler each, in cmd_*.go):
//
//	world nodes=N [seed=S] [clusters=A,A,B...] [config=Field:Value,...]
//	net [loss=P] [dup=P] [reorder=P] [delay=MIN..MAX] [mcast-loss=P]
//	subscribe node=I topic=PATTERN... [sub=NAME] [retained] [queue=K] [policy=drop-oldest|drop-newest|block] [rate=N/s|stalled] [resume-window=DURATION] [group=NAME] [by-number]
//	unsubscribe node=I sub=NAME [pause]
//	resume node=I sub=NAME [mode=replay|retained|none]
//	close sub=NAME
//	publish node=I topic=T [n=K] [topics=M] [every=DURATION] [retain] [payload=TEXT|size=BYTES] [ttl=DURATION] [reply-to=INBOX] [batch]
//	({nI} in a topic, pattern or reply-to= is node I's instance id: _inbox/{n2}/r names n2's inbox)
//	inject node=I from=J topic=T seq=N [prev=N] [payload=TEXT] [retain] [timestamp=MS]
//	run for=DURATION
//	stabilize [max=DURATION]
//	partition I,J|K,L   cut from=I to=J   isolate node=I   heal
//	crash node=I   restart node=I   pause node=I for=DURATION   wake node=I   clock node=I jump=DURATION
//	slow node=I sub=NAME rate=N/s   reconnect sub=NAME [after=DURATION]
//	check converged | delivered node=I sub=NAME count=K | retained node=I topic=T payload=TEXT|none
//	check no-dups | order | no-loss | bounds | invariants | gap node=I sub=NAME
//	deliveries sub=NAME   peers node=I   status node=I   rejected node=I   memory node=I
type Script struct {
	w        *World
	handlers map[string]handler
	pubs     int
	injected int
	packed   bool   // Packed's
	big      []byte // sizedPayload's
}

// Packed runs the script as clients on the packed RPCs would: every
// publish goes in frames (PublishedBatch, the batch option's path) as the
// Go client's publisher makes them, at most 1024 records or 256 KiB, a
// lone message in a frame of one; every subscription is opened by number
// (the by-number option), as SubscribePacked opens it. The nodes must do
// what they do for the v1 calls, so a scenario's expected output holds
// for both.
func (s *Script) Packed() { s.packed = true }

type handler func(s *Script, a *args) (string, error)

// ErrCheck marks a failed check; the output says what differs.
var ErrCheck = errors.New("check failed")

// NewScript returns a script runner with no world yet.
func NewScript() *Script {
	return &Script{handlers: map[string]handler{
		"world": cmdWorld, "net": cmdNet,
		"subscribe": cmdSubscribe, "unsubscribe": cmdUnsubscribe, "resume": cmdResume, "close": cmdClose,
		"publish": cmdPublish, "inject": cmdInject, "run": cmdRun, "stabilize": cmdStabilize,
		"partition": cmdPartition, "cut": cmdCut, "isolate": cmdIsolate, "heal": cmdHeal,
		"crash": cmdCrash, "leave": cmdLeave, "restart": cmdRestart, "pause": cmdPause, "wake": cmdWake, "clock": cmdClock,
		"slow": cmdSlow, "reconnect": cmdReconnect, "check": cmdCheck,
		"deliveries": cmdDeliveries, "peers": cmdPeers, "status": cmdStatus, "rejected": cmdRejected,
		"memory": cmdMemory, "replay": cmdReplay, "rekey": cmdRekey, "repair": cmdRepair,
	}}
}

// World is the script's world (nil before the `world` command).
func (s *Script) World() *World { return s.w }

// Run executes one command line. A failed check returns its description
// and an error wrapping ErrCheck; a bad command returns an error that says
// what is wrong with it.
func (s *Script) Run(line string) (string, error) {
	a, err := parseArgs(line)
	if err != nil {
		return "", err
	}
	h := s.handlers[a.cmd]
	if h == nil {
		names := make([]string, 0, len(s.handlers))
		for n := range s.handlers {
			names = append(names, n)
		}
		slices.Sort(names)
		return "", fmt.Errorf("unknown command %q: want one of %s", a.cmd, strings.Join(names, ", "))
	}
	if s.w == nil && a.cmd != "world" {
		return "", fmt.Errorf("%s: start with a `world nodes=N` command", a.cmd)
	}
	out, err := h(s, a)
	if err == nil {
		err = a.unused()
	}
	return out, err
}

// args is one parsed command line: key=value pairs, bare flags and
// positional words, each consumed by the handler that reads it.
type args struct {
	cmd   string
	kv    map[string][]string
	flags map[string]bool
	pos   []string
	used  map[string]bool
}

func parseArgs(line string) (*args, error) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return nil, errors.New("empty command")
	}
	a := &args{cmd: fields[0], kv: map[string][]string{}, flags: map[string]bool{}, used: map[string]bool{}}
	for _, f := range fields[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			a.kv[k] = append(a.kv[k], v)
		} else if strings.ContainsAny(f, ",|") || isNumber(f) {
			a.pos = append(a.pos, f)
		} else {
			a.flags[f] = true
		}
	}
	return a, nil
}

func isNumber(s string) bool { _, err := strconv.Atoi(s); return err == nil }

func (a *args) unused() error {
	var extra []string
	for k := range a.kv {
		if !a.used[k] {
			extra = append(extra, k+"=")
		}
	}
	for k := range a.flags {
		if !a.used[k] {
			extra = append(extra, k)
		}
	}
	if len(extra) > 0 {
		slices.Sort(extra)
		return fmt.Errorf("%s: unknown argument(s) %s", a.cmd, strings.Join(extra, " "))
	}
	return nil
}

func (a *args) has(key string) bool { a.used[key] = true; return a.flags[key] }

func (a *args) str(key, def string) string {
	a.used[key] = true
	if v := a.kv[key]; len(v) > 0 {
		return v[len(v)-1]
	}
	return def
}

func (a *args) strs(key string) []string { a.used[key] = true; return a.kv[key] }

func (a *args) need(key string) (string, error) {
	a.used[key] = true
	if v := a.kv[key]; len(v) > 0 {
		return v[len(v)-1], nil
	}
	return "", fmt.Errorf("%s: %s= is required", a.cmd, key)
}

func (a *args) int(key string, def int) (int, error) {
	v := a.str(key, "")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %s=%q is not a whole number", a.cmd, key, v)
	}
	return n, nil
}

func (a *args) prob(key string, def float64) (float64, error) {
	v := a.str(key, "")
	if v == "" {
		return def, nil
	}
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || p < 0 || p > 1 {
		return 0, fmt.Errorf("%s: %s=%q: want a probability from 0 to 1", a.cmd, key, v)
	}
	return p, nil
}

func (a *args) dur(key string, def time.Duration) (time.Duration, error) {
	v := a.str(key, "")
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%s: %s=%q: want a duration such as 500ms or 3s", a.cmd, key, v)
	}
	return d, nil
}

// node reads node=I and checks it names a node of the world.
func (s *Script) node(a *args) (int, error) {
	v, err := a.need("node")
	if err != nil {
		return 0, err
	}
	return s.nodeNum(a.cmd, v)
}

// upNode reads node=I for a command that reads a running node: the node,
// or the text to print because it is down.
func (s *Script) upNode(a *args) (*state.Node, string, error) {
	i, err := s.node(a)
	if err != nil {
		return nil, "", err
	}
	if !s.w.Up(i) {
		return nil, fmt.Sprintf("n%d is down", i), nil
	}
	return s.w.Node(i), "", nil
}

func (s *Script) nodeNum(cmd, v string) (int, error) {
	i, err := strconv.Atoi(strings.TrimPrefix(v, "n"))
	if err != nil || i < 1 || i > s.w.Size() {
		return 0, fmt.Errorf("%s: node %q: nodes are 1..%d", cmd, v, s.w.Size())
	}
	return i, nil
}

// size reads a byte count: 1048576, 64KiB or 1MiB.
func (a *args) size(key string) (int, error) {
	v := a.str(key, "")
	if v == "" {
		return 0, nil
	}
	mult := 1
	num := v
	for suffix, m := range map[string]int{"KiB": 1 << 10, "MiB": 1 << 20} {
		if strings.HasSuffix(v, suffix) {
			num, mult = strings.TrimSuffix(v, suffix), m
		}
	}
	n, err := strconv.Atoi(num)
	if err != nil || n < 1 || n > 64<<20/mult {
		return 0, fmt.Errorf("%s: %s=%q: want a size such as 100, 64KiB or 1MiB (at most 64MiB)", a.cmd, key, v)
	}
	return n * mult, nil
}

// rate reads N/s.
func (a *args) rate(key string) (float64, error) {
	v := a.str(key, "")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseFloat(strings.TrimSuffix(v, "/s"), 64)
	if err != nil || n <= 0 || !strings.HasSuffix(v, "/s") {
		return 0, fmt.Errorf("%s: %s=%q: want a rate such as 10/s", a.cmd, key, v)
	}
	return n, nil
}

func checkResult(ok bool, why string) (string, error) {
	if ok {
		return "ok", nil
	}
	return why, ErrCheck
}
