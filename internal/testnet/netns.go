// Package testnet runs real nexusd processes for end-to-end tests, inside
// network namespaces the tests create: a private one for the whole test
// binary (loopback with multicast on), and, for multi-host tests, one per
// host joined by a bridge. Nothing a test sends leaves those namespaces.
//
// It builds the daemon once per test run, starts and stops daemons with
// their logs captured (and printed when a test fails), freezes and thaws
// them (SIGSTOP, SIGCONT), reads their metrics and their memory, and waits
// for conditions with a deadline instead of sleeping.
package testnet

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// envInside marks a test binary re-executed inside its private namespace;
// envSkip carries the reason the namespace could not be made.
const (
	envInside = "NEXUSD_E2E_NETNS"
	envSkip   = "NEXUSD_E2E_SKIP"
)

// Main is TestMain for end-to-end packages. As root, it re-executes the
// test binary under `unshare -n` in a private network namespace whose
// loopback is up, multicast-capable and routes 224.0.0.0/4, and returns its
// exit code. Otherwise the tests run here and skip, saying why.
func Main(m *testing.M) int {
	if os.Getenv(envInside) == "1" {
		if err := setupLoopback(); err != nil {
			fmt.Fprintf(os.Stderr, "testnet: cannot set up loopback in the private namespace: %v\n", err)
			return 1
		}
		defer removeBinary()
		return m.Run()
	}
	if reason := cannotUnshare(); reason != "" {
		os.Setenv(envSkip, reason)
		return m.Run()
	}
	cmd := exec.Command("unshare", append([]string{"--net", "--", os.Args[0]}, os.Args[1:]...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), envInside+"=1")
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "testnet: running the tests under unshare: %v\n", err)
		return 1
	}
	return 0
}

// Require skips t unless it runs inside the private namespace.
func Require(t testing.TB) {
	t.Helper()
	if os.Getenv(envInside) != "1" {
		reason := os.Getenv(envSkip)
		if reason == "" {
			reason = "not started through testnet.Main"
		}
		t.Skipf("end-to-end test needs its own network namespace: %s", reason)
	}
}

func cannotUnshare() string {
	if os.Geteuid() != 0 {
		return "not root (run as root, as CI does, to create network namespaces)"
	}
	for _, tool := range []string{"unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Sprintf("%s is not installed (util-linux provides unshare, iproute2 provides ip)", tool)
		}
	}
	if out, err := exec.Command("unshare", "--net", "true").CombinedOutput(); err != nil {
		return fmt.Sprintf("unshare --net fails: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return ""
}

func setupLoopback() error {
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"link", "set", "lo", "multicast", "on"},
		{"route", "add", "224.0.0.0/4", "dev", "lo"},
	} {
		if err := ip(args...); err != nil {
			return err
		}
	}
	return nil
}

// ip runs the ip command (iproute2) and reports its output on failure.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

var nextPort atomic.Int32

// Port returns a TCP/UDP port no other daemon of this test run uses. The
// private namespace has no other listeners, so any free range works.
func Port() int { return int(nextPort.Add(1)) + 21000 }

// Network is a set of hosts, each its own network namespace with one
// interface (eth0) on a bridge in the test's namespace, the network the
// daemons use, and a point-to-point management link (mgmt) to the test's
// namespace, which the test reaches the host's daemon over, so it can still
// ask a host whose eth0 link it has cut.
type Network struct {
	t      testing.TB
	bridge string
	Subnet string // the first three octets, "10.77.0"
	Gate   string // the bridge's address
	Hosts  []*Host
	mgmt   []string // the test's ends of the management links
}

// Host is one network namespace of a Network.
type Host struct {
	Name   string // the namespace, as `ip netns` names it
	IP     string // of its eth0, on the bridge
	MgmtIP string // of its mgmt link; only the test's namespace reaches it
	veth   string // the bridge's end of its link
}

var netSeq atomic.Int32

// NewNetwork makes n hosts on a fresh bridge; cleanup removes them all.
func NewNetwork(t testing.TB, n int) *Network {
	t.Helper()
	Require(t)
	id := netSeq.Add(1)
	tag := fmt.Sprintf("nx%d-%d", os.Getpid()%100000, id)
	nw := &Network{t: t, bridge: "br-" + tag, Subnet: fmt.Sprintf("10.77.%d", id), Gate: fmt.Sprintf("10.77.%d.254", id)}
	t.Cleanup(nw.remove)
	must := func(args ...string) {
		t.Helper()
		if err := ip(args...); err != nil {
			t.Fatal(err)
		}
	}
	must("link", "add", nw.bridge, "type", "bridge", "mcast_snooping", "0")
	must("addr", "add", nw.Gate+"/24", "dev", nw.bridge)
	must("link", "set", nw.bridge, "up")
	for i := 1; i <= n; i++ {
		h := &Host{Name: fmt.Sprintf("%s-h%d", tag, i), IP: fmt.Sprintf("%s.%d", nw.Subnet, i),
			MgmtIP: fmt.Sprintf("10.78.%d.%d", id, 4*i+2), veth: fmt.Sprintf("v%d-%d-%d", os.Getpid()%100000, id, i)}
		mgmt, gate := "m"+h.veth[1:], fmt.Sprintf("10.78.%d.%d", id, 4*i+1)
		nw.Hosts = append(nw.Hosts, h)
		nw.mgmt = append(nw.mgmt, mgmt)
		must("netns", "add", h.Name)
		must("link", "add", h.veth, "type", "veth", "peer", "name", "eth0", "netns", h.Name)
		must("link", "set", h.veth, "master", nw.bridge)
		must("link", "set", h.veth, "up")
		must("link", "add", mgmt, "type", "veth", "peer", "name", "mgmt", "netns", h.Name)
		must("addr", "add", gate+"/30", "dev", mgmt)
		must("link", "set", mgmt, "up")
		for _, args := range [][]string{
			{"addr", "add", h.IP + "/24", "dev", "eth0"},
			{"addr", "add", h.MgmtIP + "/30", "dev", "mgmt"},
			{"link", "set", "lo", "up"},
			{"link", "set", "eth0", "up"},
			{"link", "set", "mgmt", "up"},
			{"route", "add", "224.0.0.0/4", "dev", "eth0"},
		} {
			must(append([]string{"-n", h.Name}, args...)...)
		}
	}
	return nw
}

// Cut takes a host's link down at the bridge: it can reach no one.
func (nw *Network) Cut(h *Host) {
	nw.t.Helper()
	if err := ip("link", "set", h.veth, "down"); err != nil {
		nw.t.Fatal(err)
	}
}

// Restore brings a cut link back.
func (nw *Network) Restore(h *Host) {
	nw.t.Helper()
	if err := ip("link", "set", h.veth, "up"); err != nil {
		nw.t.Fatal(err)
	}
}

func (nw *Network) remove() {
	for i, h := range nw.Hosts {
		_ = ip("netns", "delete", h.Name)
		_ = ip("link", "delete", h.veth)
		_ = ip("link", "delete", nw.mgmt[i])
	}
	_ = ip("link", "delete", nw.bridge)
}
