package deploy_test

import (
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// The release the chart is rendered as.
const (
	chartDir         = "helm/nexusd"
	releaseName      = "nexusd"
	releaseNamespace = "mesh"
)

// lintChart runs what `helm lint --strict` runs, with vals: a warning
// fails the test.
func lintChart(t *testing.T, vals map[string]any) {
	t.Helper()
	for _, m := range lint.RunAll(chartDir, vals, releaseNamespace).Messages {
		if m.Severity >= support.WarningSev {
			t.Errorf("helm lint: %s", m)
		} else {
			t.Logf("helm lint: %s", m)
		}
	}
}

// renderChart renders the chart as `helm template` does (release
// nexusd in namespace mesh, no cluster) and decodes the manifests, in
// the order an install applies them. It calls the values, engine and
// manifest-sorting packages that `helm template` runs, not Helm's install
// action: that one brings Kubernetes' client, the registry and the storage
// drivers along, twice the packages to compile, for nothing needed here.
func renderChart(t *testing.T, vals map[string]any) ([]any, error) {
	t.Helper()
	ch, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	opts := common.ReleaseOptions{Name: releaseName, Namespace: releaseNamespace, Revision: 1, IsInstall: true}
	rv, err := util.ToRenderValuesWithSchemaValidation(ch, vals, opts, common.DefaultCapabilities, false)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(ch, rv)
	if err != nil {
		return nil, err
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, nil, releaseutil.InstallOrder)
	if err != nil {
		return nil, err
	}
	if len(hooks) > 0 {
		t.Errorf("the chart has %d hooks; it should need none", len(hooks))
	}
	var docs []string
	for _, m := range manifests {
		docs = append(docs, "# Source: "+m.Name+"\n"+m.Content)
	}
	manifest := strings.Join(docs, "\n---\n")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("rendered with %v:\n%s", vals, manifest)
		}
	})
	return decodeObjects("rendered chart", []byte(manifest))
}

func mustRender(t *testing.T, vals map[string]any) []any {
	t.Helper()
	objs, err := renderChart(t, vals)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func TestChartLintsInEachShape(t *testing.T) {
	for _, s := range []shape{daemonSetShape, sidecarShape} {
		t.Run(string(s), func(t *testing.T) { lintChart(t, map[string]any{"mode": string(s)}) })
	}
}

func TestChartDaemonSetShapeHasTheEssentials(t *testing.T) {
	objs := mustRender(t, map[string]any{"mode": string(daemonSetShape)})
	essentials{shape: daemonSetShape, namespace: releaseNamespace}.check(t, objs)
}

func TestChartSidecarShapeHasTheEssentials(t *testing.T) {
	objs := mustRender(t, map[string]any{"mode": string(sidecarShape)})
	essentials{shape: sidecarShape, namespace: releaseNamespace}.check(t, objs)
}

// With clusterKey.existingSecret the chart makes no Secret and mounts the
// one named.
func TestChartMountsAnExistingSecret(t *testing.T) {
	for _, s := range []shape{daemonSetShape, sidecarShape} {
		t.Run(string(s), func(t *testing.T) {
			vals := map[string]any{"mode": string(s), "clusterKey": map[string]any{"existingSecret": "my-key"}}
			lintChart(t, vals)
			objs := mustRender(t, vals)
			if n := len(all[*corev1.Secret](objs)); n != 0 {
				t.Errorf("rendered %d Secrets with existingSecret set, want none", n)
			}
			essentials{shape: s, existingSecret: "my-key", namespace: releaseNamespace}.check(t, objs)
		})
	}
}

// A Secret the chart makes holds a key the daemon accepts: one base64 line
// of 32 bytes (what nexusd keygen writes), or the value given.
func TestChartMakesAUsableClusterKey(t *testing.T) {
	secrets := all[*corev1.Secret](mustRender(t, map[string]any{"mode": string(daemonSetShape)}))
	if len(secrets) != 1 {
		t.Fatalf("rendered %d Secrets, want 1", len(secrets))
	}
	key := strings.TrimSpace(string(secrets[0].Data["cluster.key"]))
	if len(key) != 44 || !strings.HasSuffix(key, "=") {
		t.Errorf("made key %q: want 32 bytes in base64 (44 characters)", key)
	}
	given := "# NexusD cluster keyring\npu4oPJ9TfoNm3h3AJSDyYQ7Jtxbe7rBa2+ni2YUniPc=\n"
	secrets = all[*corev1.Secret](mustRender(t, map[string]any{"clusterKey": map[string]any{"value": given}}))
	if len(secrets) != 1 || string(secrets[0].Data["cluster.key"]) != given {
		t.Errorf("clusterKey.value not carried into the Secret as given")
	}
}

// extraArgs reach the daemon after the chart's own flags.
func TestChartPassesExtraArgs(t *testing.T) {
	objs := mustRender(t, map[string]any{"extraArgs": []any{"--log-level", "debug"}})
	c := all[*appsv1.DaemonSet](objs)[0].Spec.Template.Spec.Containers[0]
	args, err := parseArgs(c.Args)
	if err != nil {
		t.Fatal(err)
	}
	if args["--log-level"] != "debug" {
		t.Errorf("args %q: extraArgs --log-level debug missing", c.Args)
	}
}

// A mode the chart does not know fails lint and rendering, rather than
// rendering no workload.
func TestChartRefusesAnUnknownMode(t *testing.T) {
	vals := map[string]any{"mode": "deployment"}
	if _, err := renderChart(t, vals); err == nil {
		t.Errorf("mode=deployment rendered; want the values schema to refuse it")
	}
	if l := lint.RunAll(chartDir, vals, releaseNamespace); l.HighestSeverity < support.ErrorSev {
		t.Errorf("helm lint passed mode=deployment: %v", l.Messages)
	}
}
