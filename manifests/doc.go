// Package manifests holds jitbot's deployment manifests and their tests: the Kubernetes
// objects applied with `kubectl apply -k manifests/` (a kustomization holding no Secret),
// its optional components (components/podmonitor, components/ingress, and components/ha with components/etcd for several replicas on etcd), the Slack app
// manifest (slack-app.yaml) and the Teams app package (teams/). Its tests render the
// kustomize builds in-process with sigs.k8s.io/kustomize/api (the default build, each
// component on it, and the example overlays examples/overlay, examples/ha and examples/ha-external-etcd), decode every resource
// strictly, and load the ConfigMap's jitbot.yaml with jitbot's own config loader. They
// also check the repository's Dockerfile, .dockerignore, VERSION and the README's Deploy
// section.
//
// The package has no code of its own; only its tests import the project (the config loader).
package manifests
