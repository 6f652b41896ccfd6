package deploy_test

import (
	"cmp"
	"fmt"
	"net"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// shape is how nexusd is deployed.
type shape string

const (
	daemonSetShape shape = "daemonset"       // one per node, socket on a hostPath
	sidecarShape   shape = "sidecar-example" // beside the application, socket on an emptyDir
)

// idleRSSBytes is an idle daemon's measured resident memory (BENCHMARKS.md,
// idle-rss 16.2 MB): a memory request below it is wrong on its face.
const idleRSSBytes = 16_200_000

// essentials says what every deployment of nexusd must have, whatever
// wrote it (the plain manifests or the chart).
type essentials struct {
	shape shape
	// existingSecret names a Secret the objects do not hold; "" when one of
	// them must be the cluster key's.
	existingSecret string
	// namespace the --peers name must carry; "" when it may be short.
	namespace string
}

// check reports, through t, everything objs lack of e.
func (e essentials) check(t *testing.T, objs []any) {
	t.Helper()
	tmpl, selector, ok := e.workload(t, objs)
	if !ok {
		return
	}
	pod := tmpl.Spec
	c := findContainer(pod.Containers, "nexusd")
	if c == nil {
		t.Fatalf("%s: no container named nexusd", e.shape)
	}
	args, err := parseArgs(c.Args)
	if err != nil {
		t.Fatalf("nexusd args: %v", err)
	}

	if got := args["--mcast-addr"]; got != "off" {
		t.Errorf("--mcast-addr is %q, want off: multicast does not cross a pod network", got)
	}
	e.checkPeers(t, objs, args, tmpl.Labels)
	e.checkClusterKey(t, objs, pod, c, args)
	e.checkSocket(t, pod, c, args)
	checkProbes(t, c, args)
	checkResources(t, c, args)
	checkSecurity(t, pod, c)
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken is not false: nexusd never calls the Kubernetes API")
	}
	checkPDB(t, objs, selector, tmpl.Labels)
}

// workload finds the one DaemonSet or Deployment of e's shape.
func (e essentials) workload(t *testing.T, objs []any) (corev1.PodTemplateSpec, *metav1.LabelSelector, bool) {
	t.Helper()
	ds, deps := all[*appsv1.DaemonSet](objs), all[*appsv1.Deployment](objs)
	switch {
	case e.shape == daemonSetShape && len(ds) == 1 && len(deps) == 0:
		return ds[0].Spec.Template, ds[0].Spec.Selector, true
	case e.shape == sidecarShape && len(deps) == 1 && len(ds) == 0:
		return deps[0].Spec.Template, deps[0].Spec.Selector, true
	}
	t.Errorf("%s shape: %d DaemonSets and %d Deployments", e.shape, len(ds), len(deps))
	return corev1.PodTemplateSpec{}, nil, false
}

// checkPeers: --peers names a headless Service that lists these pods, on
// the discovery port, and the Service carries discovery and mesh.
func (e essentials) checkPeers(t *testing.T, objs []any, args map[string]string, podLabels map[string]string) {
	t.Helper()
	seeds := strings.Split(args["--peers"], ",")
	host, port, err := net.SplitHostPort(seeds[0])
	if err != nil {
		t.Errorf("--peers %q: the first seed should be the headless Service as host:port: %v", args["--peers"], err)
		return
	}
	name, ns, _ := strings.Cut(host, ".")
	if e.namespace != "" && ns != e.namespace+".svc" {
		t.Errorf("--peers %q: want the Service's name in namespace %s (NAME.%s.svc)", host, e.namespace, e.namespace)
	}
	var svc *corev1.Service
	for _, s := range all[*corev1.Service](objs) {
		if s.Name == name {
			svc = s
		}
	}
	if svc == nil {
		t.Errorf("--peers %q: no Service %q among the objects", args["--peers"], name)
		return
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: clusterIP %q, want None (headless: DNS gives every pod)", svc.Name, svc.Spec.ClusterIP)
	}
	if !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s: publishNotReadyAddresses is false: daemons that are starting would not find each other", svc.Name)
	}
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(podLabels)) {
		t.Errorf("Service %s: selector %v does not select the pods (labels %v)", svc.Name, svc.Spec.Selector, podLabels)
	}
	if mp := cmp.Or(args["--mcast-port"], "5670"); mp != port {
		t.Errorf("--peers port %s differs from the discovery port (--mcast-port) %s", port, mp)
	}
	want := map[string]corev1.Protocol{port: corev1.ProtocolUDP, "5671": corev1.ProtocolTCP}
	for _, p := range svc.Spec.Ports {
		if want[strconv.Itoa(int(p.Port))] == p.Protocol {
			delete(want, strconv.Itoa(int(p.Port)))
		}
	}
	if len(want) > 0 {
		t.Errorf("Service %s: lacks ports %v (discovery is UDP, the mesh TCP)", svc.Name, want)
	}
}

// checkClusterKey: --cluster-key is a file of a Secret mounted read-only,
// with a mode the daemon accepts (0400 or 0440) and a group it is in.
func (e essentials) checkClusterKey(t *testing.T, objs []any, pod corev1.PodSpec, c *corev1.Container, args map[string]string) {
	t.Helper()
	keyPath := args["--cluster-key"]
	if keyPath == "" {
		t.Errorf("no --cluster-key: the mesh would be open to anyone who reaches it")
		return
	}
	dir, file := path.Split(keyPath)
	m := findMount(c, path.Clean(dir))
	if m == nil {
		t.Errorf("--cluster-key %s: no volume mounted at %s", keyPath, dir)
		return
	}
	if !m.ReadOnly || m.SubPath != "" {
		t.Errorf("--cluster-key %s: mount %s is not read-only, or uses subPath (which never sees the Secret change)", keyPath, m.Name)
	}
	v := findVolume(pod, m.Name)
	if v == nil || v.Secret == nil {
		t.Errorf("--cluster-key %s: volume %s is not a Secret", keyPath, m.Name)
		return
	}
	if mode := v.Secret.DefaultMode; mode == nil || (*mode != 0o400 && *mode != 0o440) {
		t.Errorf("Secret volume %s: defaultMode %v, want 0400 or 0440 (the daemon refuses a key others can read)", v.Name, fmtMode(mode))
	} else if *mode == 0o440 && pod.SecurityContext.FSGroup == nil {
		t.Errorf("Secret volume %s: mode 0440 without a pod fsGroup: the file stays root's and nexusd cannot read it", v.Name)
	}
	key := file
	for _, it := range v.Secret.Items {
		if it.Path == file {
			key = it.Key
		}
	}
	if e.existingSecret != "" {
		if v.Secret.SecretName != e.existingSecret {
			t.Errorf("Secret volume %s: secretName %q, want the existing %q", v.Name, v.Secret.SecretName, e.existingSecret)
		}
		return
	}
	for _, s := range all[*corev1.Secret](objs) {
		if s.Name == v.Secret.SecretName {
			if _, ok := s.Data[key]; !ok {
				if _, ok := s.StringData[key]; !ok {
					t.Errorf("Secret %s has no %q for --cluster-key", s.Name, key)
				}
			}
			return
		}
	}
	t.Errorf("Secret volume %s: no Secret %q among the objects", v.Name, v.Secret.SecretName)
}

// checkSocket: --app-socket sits on a volume of the shape's kind, and in a
// sidecar pod the application mounts it too and is told where it is.
func (e essentials) checkSocket(t *testing.T, pod corev1.PodSpec, c *corev1.Container, args map[string]string) {
	t.Helper()
	sock := args["--app-socket"]
	if sock == "" {
		t.Errorf("no --app-socket: applications would need the TCP port")
		return
	}
	dir := path.Dir(sock)
	m := findMount(c, dir)
	if m == nil {
		t.Errorf("--app-socket %s: no volume mounted at %s (the root filesystem is read-only)", sock, dir)
		return
	}
	v := findVolume(pod, m.Name)
	switch {
	case v == nil:
		t.Errorf("--app-socket %s: no volume %s", sock, m.Name)
	case e.shape == daemonSetShape && (v.HostPath == nil || v.HostPath.Path != dir):
		t.Errorf("--app-socket %s: volume %s is not the node's %s (hostPath): other pods on the node could not reach it", sock, v.Name, dir)
	case e.shape == sidecarShape && v.EmptyDir == nil:
		t.Errorf("--app-socket %s: volume %s is not an emptyDir the pod shares", sock, v.Name)
	case e.shape == sidecarShape:
		shared := false
		for i := range pod.Containers {
			a := &pod.Containers[i]
			if a.Name == c.Name {
				continue
			}
			if am := findMount(a, dir); am != nil && am.Name == v.Name && envValue(a, "NEXUSD_APP_SOCKET") == sock {
				shared = true
			}
		}
		if !shared {
			t.Errorf("--app-socket %s: no application container mounts %s with NEXUSD_APP_SOCKET=%s", sock, v.Name, sock)
		}
	}
}

// checkProbes: liveness on /healthz and readiness on /readyz, at the port
// --http-addr listens on, bound where kubelet reaches it.
func checkProbes(t *testing.T, c *corev1.Container, args map[string]string) {
	t.Helper()
	host, port, err := net.SplitHostPort(args["--http-addr"])
	if err != nil {
		t.Errorf("--http-addr %q: %v (the probes need the admin endpoint)", args["--http-addr"], err)
		return
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		t.Errorf("--http-addr %s: loopback, where kubelet's probes cannot reach", args["--http-addr"])
	}
	for _, p := range []struct {
		name, path string
		probe      *corev1.Probe
	}{{"liveness", "/healthz", c.LivenessProbe}, {"readiness", "/readyz", c.ReadinessProbe}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path {
			t.Errorf("%s probe path %q, want %s", p.name, g.Path, p.path)
		}
		probePort := g.Port.String()
		for _, cp := range c.Ports {
			if cp.Name == probePort {
				probePort = strconv.Itoa(int(cp.ContainerPort))
			}
		}
		if probePort != port {
			t.Errorf("%s probe port %s, but --http-addr listens on %s", p.name, probePort, port)
		}
	}
}

// checkResources: requests and a memory limit, and the daemon's own
// budgets inside that limit.
func checkResources(t *testing.T, c *corev1.Container, args map[string]string) {
	t.Helper()
	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := req[r]; !ok {
			t.Errorf("no %s request", r)
		}
	}
	if m, ok := req[corev1.ResourceMemory]; ok && m.Value() < idleRSSBytes {
		t.Errorf("memory request %s is below an idle daemon's RSS (16.2 MB)", m.String())
	}
	limit, ok := lim[corev1.ResourceMemory]
	if !ok {
		t.Errorf("no memory limit")
		return
	}
	buf, err := parseBytes(args["--max-buffer-bytes"])
	if err != nil {
		t.Errorf("--max-buffer-bytes: %v (the default, 512MiB, is more than the memory limit %s)", err, limit.String())
	} else if buf > limit.Value()/2 {
		t.Errorf("--max-buffer-bytes %s is over half the memory limit %s: the runtime and gRPC need the rest", args["--max-buffer-bytes"], limit.String())
	}
	if gml, err := parseBytes(envValue(c, "GOMEMLIMIT")); err != nil {
		t.Errorf("GOMEMLIMIT: %v", err)
	} else if gml >= limit.Value() || gml <= buf {
		t.Errorf("GOMEMLIMIT %s should lie between --max-buffer-bytes and the memory limit %s", envValue(c, "GOMEMLIMIT"), limit.String())
	}
	if r, ok := req[corev1.ResourceMemory]; ok && r.Cmp(limit) > 0 {
		t.Errorf("memory request %s over its limit %s", r.String(), limit.String())
	}
}

// checkSecurity: nexusd runs as a user other than root, on a read-only
// root filesystem, with no capabilities and no way to gain privileges.
func checkSecurity(t *testing.T, pod corev1.PodSpec, c *corev1.Container) {
	t.Helper()
	ps, cs := pod.SecurityContext, c.SecurityContext
	if ps == nil {
		ps = &corev1.PodSecurityContext{}
	}
	if cs == nil {
		t.Errorf("nexusd has no securityContext")
		return
	}
	nonRoot := cs.RunAsNonRoot
	if nonRoot == nil {
		nonRoot = ps.RunAsNonRoot
	}
	if nonRoot == nil || !*nonRoot {
		t.Errorf("runAsNonRoot is not true")
	}
	uid := cs.RunAsUser
	if uid == nil {
		uid = ps.RunAsUser
	}
	if uid == nil || *uid == 0 {
		t.Errorf("runAsUser %v: want the image's user, 65532", uid)
	}
	if cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem {
		t.Errorf("readOnlyRootFilesystem is not true")
	}
	if cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation {
		t.Errorf("allowPrivilegeEscalation is not false")
	}
	if cs.Capabilities == nil || !slices.Contains(cs.Capabilities.Drop, "ALL") || len(cs.Capabilities.Add) > 0 {
		t.Errorf("capabilities %v: want drop ALL and nothing added", cs.Capabilities)
	}
	if ps.SeccompProfile == nil && cs.SeccompProfile == nil {
		t.Errorf("no seccompProfile (RuntimeDefault)")
	}
}

// checkPDB: a PodDisruptionBudget covers the workload's pods.
func checkPDB(t *testing.T, objs []any, selector *metav1.LabelSelector, podLabels map[string]string) {
	t.Helper()
	for _, p := range all[*policyv1.PodDisruptionBudget](objs) {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(podLabels)) {
			continue
		}
		if p.Spec.MaxUnavailable == nil && p.Spec.MinAvailable == nil {
			t.Errorf("PodDisruptionBudget %s: neither maxUnavailable nor minAvailable", p.Name)
		}
		return
	}
	t.Errorf("no PodDisruptionBudget selects the pods (workload selector %v)", selector)
}

// parseArgs reads a container's args, --flag value or --flag=value, into
// a map; a flag given twice is an error.
func parseArgs(args []string) (map[string]string, error) {
	m := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "--") {
			return nil, fmt.Errorf("%q is not a flag", a)
		}
		name, val, ok := strings.Cut(a, "=")
		if !ok {
			if i+1 == len(args) {
				return nil, fmt.Errorf("%s has no value", a)
			}
			i++
			val = args[i]
		}
		if _, dup := m[name]; dup {
			return nil, fmt.Errorf("%s given twice", name)
		}
		m[name] = val
	}
	return m, nil
}

// parseBytes reads a size the way nexusd's flags and GOMEMLIMIT write it:
// a number with an optional B, KiB, MiB or GiB.
func parseBytes(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q: want a size such as 128MiB", s)
	}
	return n * mult, nil
}

func findContainer(cs []corev1.Container, name string) *corev1.Container {
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i]
		}
	}
	return nil
}

func findMount(c *corev1.Container, mountPath string) *corev1.VolumeMount {
	for i := range c.VolumeMounts {
		if path.Clean(c.VolumeMounts[i].MountPath) == mountPath {
			return &c.VolumeMounts[i]
		}
	}
	return nil
}

func findVolume(pod corev1.PodSpec, name string) *corev1.Volume {
	for i := range pod.Volumes {
		if pod.Volumes[i].Name == name {
			return &pod.Volumes[i]
		}
	}
	return nil
}

func envValue(c *corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func fmtMode(m *int32) string {
	if m == nil {
		return "unset"
	}
	return fmt.Sprintf("%#o", *m)
}
