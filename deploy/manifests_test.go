package deploy_test

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// readManifests decodes the plain manifests under kubernetes/ named by files.
func readManifests(t *testing.T, files ...string) []any {
	t.Helper()
	var objs []any
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("kubernetes", f))
		if err != nil {
			t.Fatal(err)
		}
		o, err := decodeObjects(f, data)
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	return objs
}

func TestManifestsDaemonSetShapeHasTheEssentials(t *testing.T) {
	objs := readManifests(t, "cluster-key-secret.yaml", "headless-service.yaml", "daemonset.yaml")
	essentials{shape: daemonSetShape}.check(t, objs)
}

func TestManifestsSidecarShapeHasTheEssentials(t *testing.T) {
	objs := readManifests(t, "cluster-key-secret.yaml", "headless-service.yaml", "sidecar-example.yaml")
	essentials{shape: sidecarShape}.check(t, objs)
}

// The committed Secret must not carry a usable key: one applied as it is
// would be the same key in every cluster that applied it.
func TestManifestsShipNoClusterKey(t *testing.T) {
	secrets := all[*corev1.Secret](readManifests(t, "cluster-key-secret.yaml"))
	if len(secrets) != 1 {
		t.Fatalf("cluster-key-secret.yaml holds %d Secrets, want 1", len(secrets))
	}
	for k, v := range secrets[0].StringData {
		if stripComments(v) != "" {
			t.Errorf("Secret %s: %s holds %q besides comments; ship a placeholder the daemon refuses", secrets[0].Name, k, v)
		}
	}
	if len(secrets[0].Data) > 0 {
		t.Errorf("Secret %s: data holds a key; ship a placeholder the daemon refuses", secrets[0].Name)
	}
}

// Every file under kubernetes/ is one the tests read.
func TestManifestsAreAllChecked(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("kubernetes", "*"))
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{"cluster-key-secret.yaml": true, "headless-service.yaml": true, "daemonset.yaml": true, "sidecar-example.yaml": true}
	for _, f := range files {
		if !checked[filepath.Base(f)] {
			t.Errorf("%s is not checked by any test: add it to one", f)
		}
	}
}
