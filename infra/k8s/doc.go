// Package k8s holds the Kubernetes manifests skaffold deploys, as a
// kustomize base (base/), the overlays skaffold's profiles deploy
// (overlays/dev, overlays/gateway, overlays/jetstream, overlays/prod) and
// the components they share (components/), with a kind cluster's configuration (kind/); and the
// tests that render every overlay with kustomize and check it, the
// Dockerfile (replayed for each service) and skaffold.yaml offline: no
// cluster and no Docker engine are needed.
//
// testdata/skaffold-v4beta13.json is skaffold's JSON schema for
// skaffold/v4beta13, copied from docs-v2/content/en/schemas/ in the Go module
// github.com/GoogleContainerTools/skaffold/v2 v2.16.1 (Apache License 2.0).
package k8s
