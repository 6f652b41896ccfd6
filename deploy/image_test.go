package deploy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// imageTag and imageVersion are what the test builds; the image lives in a
// podman store of the test's own, removed at the end.
const (
	imageTag     = "localhost/nexusd:deploy-test"
	imageVersion = "v0.0.0-imagetest"
)

// TestImageRunsNonRootFromScratch builds the image as `make image` does,
// runs nexusd --version and nexusd-cli --version in it, checks its user,
// ports and labels, then runs the daemon the way Kubernetes does (read-only
// root, a volume on /run/nexusd) and talks to it over its Unix socket.
func TestImageRunsNonRootFromScratch(t *testing.T) {
	podman := podmanOrSkip(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Minute)
	defer cancel()

	build := exec.CommandContext(ctx, "image/build.sh")
	build.Env = append(os.Environ(), "IMAGE="+imageTag, "VERSION="+imageVersion, "PODMAN_FLAGS="+strings.Join(podman.global, " "))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("image/build.sh: %v\n%s", err, out)
	}
	t.Logf("image built in %s", time.Since(start).Round(100*time.Millisecond))

	if out := podman.run(ctx, t, "--rm", imageTag, "--version"); !versionLine(out, "nexusd") {
		t.Errorf("nexusd --version in the image printed %q, want nexusd %s ...", out, imageVersion)
	}
	if out := podman.run(ctx, t, "--rm", "--entrypoint", "/usr/local/bin/nexusd-cli", imageTag, "--version"); !versionLine(out, "nexusd-cli") {
		t.Errorf("nexusd-cli --version in the image printed %q, want nexusd-cli %s ...", out, imageVersion)
	}

	var inspect []struct {
		Config struct {
			User         string
			ExposedPorts map[string]struct{}
			Entrypoint   []string
			Labels       map[string]string
		}
	}
	if err := json.Unmarshal([]byte(podman.cmd(ctx, t, "image", "inspect", imageTag)), &inspect); err != nil || len(inspect) != 1 {
		t.Fatalf("podman image inspect: %v", err)
	}
	cfg := inspect[0].Config
	if cfg.User != "65532:65532" {
		t.Errorf("image user %q, want 65532:65532 (nexusd)", cfg.User)
	}
	var ports []string
	for p := range cfg.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	if want := []string{"5670/udp", "5671/tcp", "5672/tcp", "8080/tcp"}; !slices.Equal(ports, want) {
		t.Errorf("exposed ports %v, want %v", ports, want)
	}
	for k, want := range map[string]string{"org.opencontainers.image.title": "nexusd", "org.opencontainers.image.version": imageVersion} {
		if cfg.Labels[k] != want {
			t.Errorf("label %s = %q, want %q", k, cfg.Labels[k], want)
		}
	}
	if cfg.Labels["org.opencontainers.image.revision"] == "" || cfg.Labels["org.opencontainers.image.source"] == "" {
		t.Errorf("labels %v lack the revision or the source", cfg.Labels)
	}

	// The daemon as a pod runs it: read-only root, a volume for the socket
	// (which takes the image's /run/nexusd, owned by nexusd), no network.
	name := "nexusd-deploy-test"
	podman.run(ctx, t, "-d", "--name", name, "--read-only", "--read-only-tmpfs=false", "-v", "/run/nexusd",
		imageTag, "--mcast-addr", "off", "--bind", "127.0.0.1", "--app-port", "off", "--app-socket", "/run/nexusd/app.sock")
	ping := func() (string, error) {
		out, err := exec.CommandContext(ctx, "podman", append(podman.global, "exec", name, "/usr/local/bin/nexusd-cli", "-s", "/run/nexusd/app.sock", "PING")...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	deadline := time.Now().Add(20 * time.Second)
	for out, err := ping(); out != "PONG"; out, err = ping() {
		if time.Now().After(deadline) {
			t.Fatalf("nexusd-cli PING over the socket in the container: %q, %v after 20 s\nlogs:\n%s", out, err, podman.cmd(ctx, t, "logs", name))
		}
		time.Sleep(100 * time.Millisecond)
	}
	podman.cmd(ctx, t, "stop", "-t", "10", name)
	if code := podman.cmd(ctx, t, "inspect", "--format", "{{.State.ExitCode}}", name); code != "0" {
		t.Errorf("nexusd exited %s on SIGTERM, want 0\nlogs:\n%s", code, podman.cmd(ctx, t, "logs", name))
	}
	t.Logf("image built and checked in %s", time.Since(start).Round(100*time.Millisecond))
}

// podmanStore runs podman on a store of the test's own (vfs, in a
// temporary directory), with runc and no network.
type podmanStore struct {
	global []string // podman's global flags
}

func (p podmanStore) cmd(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	c := exec.CommandContext(ctx, "podman", append(slices.Clone(p.global), args...)...)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		t.Fatalf("podman %s: %v\n%s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return strings.TrimSpace(string(out))
}

func (p podmanStore) run(ctx context.Context, t *testing.T, args ...string) string {
	t.Helper()
	return p.cmd(ctx, t, append([]string{"run", "--network", "none"}, args...)...)
}

// podmanOrSkip returns a podman store for the test, or skips it saying
// what is missing.
func podmanOrSkip(t *testing.T) podmanStore {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: building the image takes about a minute")
	}
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux: podman with vfs storage and runc (.ci/run sets this up)")
	}
	for _, tool := range []string{"podman", "runc"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (apt-get install podman runc; .ci/run does)", tool)
		}
	}
	if err := ulimitsOff(); err != nil {
		t.Skipf("%v: this sandbox refuses rlimits, so containers cannot start (.ci/run sets it)", err)
	}
	// podman refuses a runroot path over 50 characters: not t.TempDir().
	dir, err := os.MkdirTemp("/tmp", "nexusd-podman-")
	if err != nil {
		t.Fatal(err)
	}
	p := podmanStore{global: []string{
		"--storage-driver", "vfs", "--runtime", "runc",
		"--root", filepath.Join(dir, "root"), "--runroot", filepath.Join(dir, "runroot"), "--tmpdir", filepath.Join(dir, "tmp"),
	}}
	// Nothing of the store may stay mounted when it is removed.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, args := range [][]string{{"rm", "--all", "--force", "--volumes", "--time", "0"}, {"rmi", "--all", "--force"}} {
			if out, err := exec.CommandContext(ctx, "podman", append(slices.Clone(p.global), args...)...).CombinedOutput(); err != nil {
				t.Logf("podman %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing the test's podman store: %v", err)
		}
	})
	return p
}

// ulimitsOff checks that containers.conf says `default_ulimits = []` under
// [containers].
func ulimitsOff() error {
	path := os.Getenv("CONTAINERS_CONF")
	if path == "" {
		path = "/etc/containers/containers.conf"
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("no %s with default_ulimits = [] under [containers]", path)
	}
	defer f.Close()
	section := ""
	for sc := bufio.NewScanner(f); sc.Scan(); {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			section = line
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if ok && section == "[containers]" && strings.TrimSpace(k) == "default_ulimits" && strings.ReplaceAll(v, " ", "") == "[]" {
			return nil
		}
	}
	return fmt.Errorf("%s does not say default_ulimits = [] under [containers]", path)
}

// versionLine reports whether out is program's --version line with the
// version the image was built with (a commit follows when git was at hand).
func versionLine(out, program string) bool {
	rest, ok := strings.CutPrefix(out, program+" "+imageVersion)
	return ok && (strings.HasPrefix(rest, " (commit ") || strings.HasPrefix(rest, ", "))
}
