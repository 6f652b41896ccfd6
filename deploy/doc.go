// Package deploy holds no code: it is the home of the container image
// build (image/, with the Containerfile at the repository's root), the
// Kubernetes manifests (kubernetes/) and the Helm chart (helm/nexusd), and
// its tests check them. It is a Go module of its own so that Helm and the
// Kubernetes API types its tests use stay out of the daemon's module.
package deploy
