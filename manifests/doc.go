// Package manifests holds jitbot's deployment manifests and their tests: the Kubernetes
// objects applied with `kubectl apply -k manifests/`, the Slack app manifest
// (slack-app.yaml) and the Teams app package (teams/). Its tests also check the
// repository's Dockerfile.
//
// The package has no code of its own and imports nothing of the project.
package manifests
