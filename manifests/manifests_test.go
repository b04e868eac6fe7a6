package manifests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"io"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/jitbot/jitbot/cmd/jitbot/config"
)

const (
	namespace          = "jitbot"
	serviceName        = "jitbot"
	metricsServiceName = "jitbot-metrics"
	dockerfilePath     = "../Dockerfile"
	dockerignore       = "../.dockerignore"
	kustomization      = "kustomization.yaml"
	slackManifest      = "slack-app.yaml"
	teamsManifest      = "teams/manifest.json"
	teamsReadme        = "teams/README.md"
	configKey          = "jitbot.yaml"
	publicHost         = "jitbot.example.com"
)

// nonKubernetesYAML are the YAML files in this directory that are not Kubernetes objects.
var nonKubernetesYAML = []string{kustomization, slackManifest}

// kinds maps every kind a build may contain to its apiVersion and a new typed object.
var kinds = map[string]struct {
	apiVersion string
	new        func() any
}{
	"Namespace":             {"v1", func() any { return new(corev1.Namespace) }},
	"ServiceAccount":        {"v1", func() any { return new(corev1.ServiceAccount) }},
	"Secret":                {"v1", func() any { return new(corev1.Secret) }},
	"ConfigMap":             {"v1", func() any { return new(corev1.ConfigMap) }},
	"PersistentVolumeClaim": {"v1", func() any { return new(corev1.PersistentVolumeClaim) }},
	"Deployment":            {"apps/v1", func() any { return new(appsv1.Deployment) }},
	"Service":               {"v1", func() any { return new(corev1.Service) }},
	"NetworkPolicy":         {"networking.k8s.io/v1", func() any { return new(networkingv1.NetworkPolicy) }},
	"Ingress":               {"networking.k8s.io/v1", func() any { return new(networkingv1.Ingress) }},
	"PodMonitor":            {"monitoring.coreos.com/v1", func() any { return new(podMonitor) }},
	"StatefulSet":           {"apps/v1", func() any { return new(appsv1.StatefulSet) }},
	"PodDisruptionBudget":   {"policy/v1", func() any { return new(policyv1.PodDisruptionBudget) }},
}

// baseKinds are the kinds the default build's own files hold: each file one object.
var baseKinds = []string{"Namespace", "ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "NetworkPolicy"}

// yamlDocuments splits a YAML stream into its non-empty documents.
func yamlDocuments(data []byte) ([][]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs [][]byte
	for {
		var n yaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if n.Kind == yaml.DocumentNode && len(n.Content) == 0 {
			continue
		}
		out, err := yaml.Marshal(&n)
		if err != nil {
			return nil, err
		}
		docs = append(docs, out)
	}
}

// scanFiles decodes every top-level *.yaml / *.yml of the directory that is not a known
// non-Kubernetes file, strictly, into the type its kind names, and returns file -> kind.
// The tests of the objects themselves use the kustomize build (loadBundle).
func scanFiles(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || (path.Ext(name) != ".yaml" && path.Ext(name) != ".yml") || slices.Contains(nonKubernetesYAML, name) {
			continue
		}
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		docs, err := yamlDocuments(data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(docs) != 1 {
			t.Fatalf("%s: %d YAML documents, want exactly one object per file", name, len(docs))
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := k8syaml.Unmarshal(docs[0], &meta); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		k, ok := kinds[meta.Kind]
		if !ok {
			t.Fatalf("%s: kind %q is not a Kubernetes kind this test knows (a typo, or add it to kinds / nonKubernetesYAML)", name, meta.Kind)
		}
		if meta.APIVersion != k.apiVersion {
			t.Errorf("%s: apiVersion %q, want %q for %s", name, meta.APIVersion, k.apiVersion, meta.Kind)
		}
		if err := k8syaml.UnmarshalStrict(docs[0], k.new()); err != nil {
			t.Fatalf("%s: strict decode as %s: %v", name, meta.Kind, err)
		}
		files[name] = meta.Kind
	}
	for _, kind := range baseKinds {
		if !slices.Contains(slices.Collect(maps.Values(files)), kind) {
			t.Fatalf("no manifest holds a %s", kind)
		}
	}
	return files
}

func TestKubernetesObjects(t *testing.T) {
	b := loadBundle(t)
	if b.namespace.Name != namespace {
		t.Errorf("Namespace is %q, want %q", b.namespace.Name, namespace)
	}
	for _, o := range b.objects {
		if o.name == "" {
			t.Errorf("%s has no name", o.kind)
		}
		if o.kind != "Namespace" && o.namespace != namespace {
			t.Errorf("%s %s: namespace %q, want %q", o.kind, o.name, o.namespace, namespace)
		}
		if o.labels["app.kubernetes.io/name"] != "jitbot" || o.labels["app.kubernetes.io/part-of"] != "jitbot" {
			t.Errorf("%s %s: missing label app.kubernetes.io/name=jitbot or app.kubernetes.io/part-of=jitbot", o.kind, o.name)
		}
	}
	if b.sa.AutomountServiceAccountToken == nil || *b.sa.AutomountServiceAccountToken {
		t.Error("ServiceAccount: automountServiceAccountToken must be false")
	}
}

// kustomizationFile is the part of kustomization.yaml the manifests use; unknown keys fail.
type kustomizationFile struct {
	APIVersion   string            `yaml:"apiVersion"`
	Kind         string            `yaml:"kind"`
	Namespace    string            `yaml:"namespace"`
	Resources    []string          `yaml:"resources"`
	Components   []string          `yaml:"components"`
	CommonLabels map[string]string `yaml:"commonLabels"`
	Labels       []struct {
		Pairs            map[string]string `yaml:"pairs"`
		IncludeSelectors bool              `yaml:"includeSelectors"`
		IncludeTemplates bool              `yaml:"includeTemplates"`
	} `yaml:"labels"`
	Images []struct {
		Name    string `yaml:"name"`
		NewName string `yaml:"newName"`
		NewTag  string `yaml:"newTag"`
		Digest  string `yaml:"digest"`
	} `yaml:"images"`
}

func decodeYAMLStrict(t *testing.T, file string, v any) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

func TestKustomization(t *testing.T) {
	files := scanFiles(t)
	var k kustomizationFile
	decodeYAMLStrict(t, kustomization, &k)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization: apiVersion/kind %q/%q", k.APIVersion, k.Kind)
	}
	if k.Namespace != namespace {
		t.Errorf("kustomization: namespace %q, want %q", k.Namespace, namespace)
	}
	seen := map[string]bool{}
	for _, r := range k.Resources {
		if seen[r] {
			t.Errorf("kustomization: resource %s listed twice", r)
		}
		seen[r] = true
		if _, err := os.Stat(r); err != nil {
			t.Errorf("kustomization: resource %s: %v", r, err)
		}
	}
	var want []string
	for f := range files {
		want = append(want, f)
	}
	got := slices.Clone(k.Resources)
	sort.Strings(want)
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("kustomization resources %v, want exactly the Kubernetes files %v", got, want)
	}
	labelled := len(k.CommonLabels) > 0
	for _, l := range k.Labels {
		labelled = labelled || len(l.Pairs) > 0
	}
	if !labelled {
		t.Error("kustomization: no labels or commonLabels")
	}
	if len(k.Components) > 0 {
		t.Errorf("kustomization: components %v in the default build; they are optional (an overlay adds them)", k.Components)
	}
}

// container returns the jitbot container of the Deployment.
func container(t *testing.T, d *appsv1.Deployment) corev1.Container {
	t.Helper()
	cs := d.Spec.Template.Spec.Containers
	if len(cs) != 1 || cs[0].Name != "jitbot" {
		t.Fatalf("Deployment: want exactly one container named jitbot, have %d", len(cs))
	}
	return cs[0]
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestDeployment(t *testing.T) {
	b := loadBundle(t)
	d := b.deploy
	spec := d.Spec.Template.Spec
	c := container(t, d)

	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Error("replicas must be exactly 1: bbolt holds an exclusive file lock")
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q, want Recreate (the old pod must release the bbolt lock first)", d.Spec.Strategy.Type)
	}
	if d.Spec.Selector == nil || !subset(d.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Error("selector does not match the pod template labels")
	}
	if spec.ServiceAccountName != b.sa.Name {
		t.Errorf("serviceAccountName %q, want %q", spec.ServiceAccountName, b.sa.Name)
	}
	if spec.EnableServiceLinks == nil || *spec.EnableServiceLinks {
		t.Error("enableServiceLinks must be false")
	}
	if g := spec.TerminationGracePeriodSeconds; g == nil || *g < 10 || *g > 120 {
		t.Error("terminationGracePeriodSeconds must be set (10..120)")
	}

	psc := spec.SecurityContext
	if psc == nil {
		t.Fatal("no pod securityContext")
	}
	if psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext: runAsNonRoot must be true")
	}
	if psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("pod securityContext: runAsUser must be a non-zero uid")
	} else if uid := dockerfileUID(t); uid != "" && strconv.FormatInt(*psc.RunAsUser, 10) != uid {
		t.Errorf("pod runAsUser %d differs from the Dockerfile's USER %s", *psc.RunAsUser, uid)
	}
	if psc.FSGroup == nil || *psc.FSGroup == 0 {
		t.Error("pod securityContext: fsGroup must be set (the PVC must be writable)")
	}
	if psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod securityContext: seccompProfile must be RuntimeDefault")
	}

	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("no container securityContext")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container: allowPrivilegeEscalation must be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("container: readOnlyRootFilesystem must be true")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("container: privileged")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
		t.Error("container: capabilities must drop ALL and add none")
	}

	if !strings.HasPrefix(c.Image, "ghcr.io/jitbot/jitbot:") {
		t.Errorf("image %q, want ghcr.io/jitbot/jitbot:<tag>", c.Image)
	}
	if len(c.Command) > 0 {
		t.Errorf("command %v overrides the image's ENTRYPOINT; use args", c.Command)
	}
	if cmd := dockerfile(t).cmd; !slices.Equal(c.Args, cmd) {
		t.Errorf("args %q differ from the Dockerfile's CMD %q", c.Args, cmd)
	}

	if len(c.Ports) != 2 || c.Ports[0].Name != "http" || c.Ports[0].ContainerPort != 8080 ||
		c.Ports[1].Name != "admin" || c.Ports[1].ContainerPort != 9090 {
		t.Errorf("ports %+v, want http/8080 and admin/9090", c.Ports)
	}
	// The admin port is the config's admin_listen, so the admin API and
	// /metrics are not on the port the Service and the Ingress expose.
	if cfg := loadConfig(t, b); cfg.AdminListen != ":9090" || cfg.Listen != ":8080" {
		t.Errorf("config listen %q, admin_listen %q: want :8080 and :9090", cfg.Listen, cfg.AdminListen)
	}
	for name, p := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe", name)
			continue
		}
		if port := p.HTTPGet.Port.String(); port != "http" && port != "8080" {
			t.Errorf("%s: port %s, want http", name, port)
		}
	}
	if p := c.LivenessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "/healthz" {
		t.Errorf("livenessProbe path %q, want /healthz", p.HTTPGet.Path)
	}
	if p := c.ReadinessProbe; p != nil && p.HTTPGet != nil && p.HTTPGet.Path != "/readyz" {
		t.Errorf("readinessProbe path %q, want /readyz", p.HTTPGet.Path)
	}

	req, lim := c.Resources.Requests, c.Resources.Limits
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		rq, okq := req[r]
		lm, okl := lim[r]
		if !okq || !okl || rq.IsZero() || lm.IsZero() {
			t.Errorf("resources: %s request and limit must both be set", r)
			continue
		}
		if rq.Cmp(lm) > 0 {
			t.Errorf("resources: %s request %s above limit %s", r, rq.String(), lm.String())
		}
	}

	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range c.VolumeMounts {
		if _, ok := volumes[m.Name]; !ok {
			t.Errorf("volumeMount %s: no such volume", m.Name)
		}
		mounts[m.MountPath] = m
	}
	if m, ok := mounts["/data"]; !ok {
		t.Error("no volume mounted at /data")
	} else if pvc := volumes[m.Name].PersistentVolumeClaim; pvc == nil || pvc.ClaimName != b.pvc.Name {
		t.Errorf("/data must be the PVC %s", b.pvc.Name)
	}
	if m, ok := mounts["/etc/jitbot"]; !ok {
		t.Error("no volume mounted at /etc/jitbot")
	} else {
		cm := volumes[m.Name].ConfigMap
		if cm == nil || cm.Name != b.configMap.Name {
			t.Errorf("/etc/jitbot must be the ConfigMap %s", b.configMap.Name)
		}
		if !m.ReadOnly {
			t.Error("/etc/jitbot must be mounted read-only")
		}
		if cm != nil {
			for _, it := range cm.Items {
				if _, ok := b.configMap.Data[it.Key]; !ok {
					t.Errorf("ConfigMap volume item %q: no such key", it.Key)
				}
			}
		}
		if !slices.Contains(c.Args, path.Join("/etc/jitbot", configKey)) {
			t.Errorf("args %q do not point at /etc/jitbot/%s", c.Args, configKey)
		}
	}
	if m, ok := mounts["/tmp"]; !ok || volumes[m.Name].EmptyDir == nil {
		t.Error("want an emptyDir at /tmp (the root filesystem is read-only)")
	}

	modes := b.pvc.Spec.AccessModes
	if len(modes) != 1 || modes[0] != corev1.ReadWriteOnce {
		t.Errorf("PVC accessModes %v, want [ReadWriteOnce]", modes)
	}
	if s, ok := b.pvc.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || s.IsZero() {
		t.Error("PVC: no storage request")
	}
}

func TestService(t *testing.T) {
	b := loadBundle(t)
	if len(b.services) != 2 {
		t.Errorf("%d Services, want %s and %s", len(b.services), serviceName, metricsServiceName)
	}
	for _, s := range b.services {
		if s.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("Service %s: type %q, want ClusterIP", s.Name, s.Spec.Type)
		}
		if !subset(s.Spec.Selector, b.deploy.Spec.Template.Labels) {
			t.Errorf("Service %s: selector does not match the pod labels", s.Name)
		}
	}
	// The README's Deploy section gives these numbers (TestReadmeDeploy).
	if ps := b.services[serviceName].Spec.Ports; len(ps) != 1 || ps[0].Name != "http" || ps[0].Port != 8080 || ps[0].TargetPort.String() != "http" {
		t.Errorf("Service %s ports %+v, want http 8080 -> http", serviceName, ps)
	}
	if ps := b.services[metricsServiceName].Spec.Ports; len(ps) != 1 || ps[0].Name != "metrics" || ps[0].Port != 9090 || ps[0].TargetPort.String() != "admin" {
		t.Errorf("Service %s ports %+v, want metrics 9090 -> admin", metricsServiceName, ps)
	}
}

func TestNetworkPolicy(t *testing.T) {
	b := loadBundle(t)
	np := b.netpol
	if !subset(np.Spec.PodSelector.MatchLabels, b.deploy.Spec.Template.Labels) {
		t.Error("NetworkPolicy podSelector does not select the jitbot pods")
	}
	types := np.Spec.PolicyTypes
	if !slices.Contains(types, networkingv1.PolicyTypeIngress) || !slices.Contains(types, networkingv1.PolicyTypeEgress) {
		t.Errorf("policyTypes %v, want Ingress and Egress", types)
	}
	if len(np.Spec.Ingress) == 0 {
		t.Error("no ingress rule: Slack and Teams could not reach the bot")
	}
	admin := false
	for i, r := range np.Spec.Ingress {
		if len(r.Ports) == 0 {
			t.Errorf("ingress rule %d allows every port", i)
		}
		for _, p := range r.Ports {
			if p.Protocol != nil && *p.Protocol != corev1.ProtocolTCP {
				t.Errorf("ingress rule %d: protocol %v, want TCP", i, *p.Protocol)
			}
			switch {
			case p.Port != nil && (p.Port.String() == "8080" || p.Port.String() == "http"):
			case p.Port != nil && (p.Port.String() == "9090" || p.Port.String() == "admin"):
				// The admin API and /metrics: only from a named namespace.
				admin = true
				if len(r.From) == 0 || r.From[0].NamespaceSelector == nil || len(r.From[0].NamespaceSelector.MatchLabels) == 0 {
					t.Errorf("ingress rule %d opens the admin port to everyone", i)
				}
			default:
				t.Errorf("ingress rule %d: port %v, want TCP 8080, or 9090 from a namespace", i, p.Port)
			}
		}
	}
	if !admin {
		t.Error("no ingress rule for the admin port: Prometheus could not scrape /metrics")
	}
	allowed := map[string]bool{"TCP/443": true, "TCP/53": true, "UDP/53": true}
	seen := map[string]bool{}
	for i, r := range np.Spec.Egress {
		if len(r.Ports) == 0 {
			t.Errorf("egress rule %d allows every port", i)
		}
		for _, p := range r.Ports {
			proto := corev1.ProtocolTCP
			if p.Protocol != nil {
				proto = *p.Protocol
			}
			key := "?"
			if p.Port != nil && p.EndPort == nil {
				key = fmt.Sprintf("%s/%s", proto, p.Port.String())
			}
			if !allowed[key] {
				t.Errorf("egress rule %d: %s is not allowed (only TCP 443 and DNS 53)", i, key)
			}
			seen[key] = true
		}
	}
	for _, k := range []string{"TCP/443", "UDP/53"} {
		if !seen[k] {
			t.Errorf("egress: %s missing", k)
		}
	}
}

// realSecret are shapes of real credentials that must never be committed.
var realSecret = []*regexp.Regexp{
	regexp.MustCompile(`xox[abposre]-\d`),                    // Slack bot / user / config tokens
	regexp.MustCompile(`xapp-\d`),                            // Slack app-level tokens
	regexp.MustCompile(`mdb_sa_(id|sk)_[0-9a-f]{8}`),         // Atlas service accounts
	regexp.MustCompile(`(?i)^[0-9a-f]{32,}$`),                // signing secrets, hex tokens
	regexp.MustCompile(`^[A-Za-z0-9~._-]{30,}$`),             // Entra client secrets and the like
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`), // keys
}

// exampleConfig returns the jitbot.yaml held by the ConfigMap: the one copy of the example
// configuration in the repository.
func exampleConfig(t *testing.T, b *bundle) []byte {
	t.Helper()
	s, ok := b.configMap.Data[configKey]
	if !ok {
		t.Fatalf("ConfigMap %s has no %s key", b.configMap.Name, configKey)
	}
	return []byte(s)
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// walkScalars calls fn with the key and value of every scalar that a mapping of the YAML
// document raw holds, at any depth (a sequence's scalars under the sequence's key).
func walkScalars(t *testing.T, raw []byte, fn func(key, value string)) {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(raw, &root); err != nil {
		t.Fatalf("%s: %v", configKey, err)
	}
	var walk func(key string, n *yaml.Node)
	walk = func(key string, n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(key, c)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i].Value, n.Content[i+1])
			}
		case yaml.ScalarNode:
			if key != "" {
				fn(key, n.Value)
			}
		}
	}
	walk("", &root)
}

// fakeSecret is a value of the right shape for the secret a *_file key names.
func fakeSecret(key string) string {
	switch key {
	case "bot_token":
		return "xoxb-0-fake"
	case "app_token":
		return "xapp-0-fake"
	}
	return "fake-" + key + "-0123456789abcdef"
}

// loadConfig loads the ConfigMap's jitbot.yaml with jitbot's own config loader, as the pod
// would: each *_file names a file of the mounted Secret, which the test writes (values of
// the right shape) into a directory of its own standing in for the mount; the environment
// is empty, as the container's is.
func loadConfig(t *testing.T, b *bundle) *config.Config {
	t.Helper()
	// The one id an operator must still type in is a placeholder, which the
	// loader refuses (as it should: check fails until it is edited); the
	// test stands in a real-looking one.
	raw := strings.ReplaceAll(string(exampleConfig(t, b)), "mdb_sa_id_REPLACE-ME", "mdb_sa_id_65e0d2f4a1b2c3d4e5f60718")
	mount, _ := secretMount(t, b)
	dir := t.TempDir()
	for _, r := range fileRefs(t, b) {
		if path.Dir(r.file) != mount.MountPath {
			continue // TestSecretsAreFiles says so; the loader reports the missing file
		}
		if err := os.WriteFile(filepath.Join(dir, path.Base(r.file)), []byte(fakeSecret(r.key)+"\n"), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	raw = strings.ReplaceAll(raw, mount.MountPath+"/", filepath.ToSlash(dir)+"/")
	noEnv := func(string) (string, bool) { return "", false }
	cfg, err := config.Parse(configKey, []byte(raw), noEnv)
	if err != nil {
		t.Fatalf("%s does not load:\n%v", configKey, err)
	}
	return cfg
}

// TestConfigMapConfig loads the ConfigMap's jitbot.yaml with jitbot's own
// config loader (the one `jitbot check` uses), with the Secret's files in
// place, so a misspelt key or an invalid flow fails here.
func TestConfigMapConfig(t *testing.T) {
	b := loadBundle(t)
	cfg := loadConfig(t, b)
	if !strings.HasPrefix(cfg.StorePath, "/data/") {
		t.Errorf("store path %q is not on the /data volume", cfg.StorePath)
	}
	if cfg.Listen != ":8080" {
		t.Errorf("listen %q, want :8080 (the container port)", cfg.Listen)
	}
	// /metrics and the admin API are served on admin_listen alone when it is set.
	if cfg.AdminListen != ":9090" {
		t.Errorf("admin_listen %q, want :9090 (the container port admin)", cfg.AdminListen)
	}
	if cfg.AdminToken == "" {
		t.Error("no admin_token: the admin API (jitbot grants, jitbot audit) would be off")
	}
	if cfg.Slack == nil || cfg.Slack.AppToken != "" || cfg.Slack.AppTokenFile != "" {
		t.Errorf("the example runs Slack over HTTP: %+v", cfg.Slack)
	}
	if len(cfg.Policy.Admins()) == 0 {
		t.Error("no admins to alert")
	}
}

// dockerInstruction is one instruction of a Dockerfile, continuation lines joined.
type dockerInstruction struct {
	line int
	cmd  string // upper case
	args string
}

type dockerStage struct {
	from    string // image reference, build ARGs expanded
	rawFrom string // image reference as written
	globals map[string]string
	name    string
	instr   []dockerInstruction
}

type parsedDockerfile struct {
	stages []dockerStage
	cmd    []string // the final stage's CMD, exec form
}

// parseDockerfile reads the instructions of a Dockerfile: comments and blank lines are
// dropped, `\` continuations joined, and the stages split at FROM with global ARG defaults
// expanded in the base image names.
func parseDockerfile(data string) ([]dockerStage, error) {
	var instrs []dockerInstruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(data, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if s, ok := strings.CutSuffix(trimmed, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		instrs = append(instrs, dockerInstruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, errors.New("Dockerfile ends inside a line continuation")
	}
	globals := map[string]string{}
	var stages []dockerStage
	for _, in := range instrs {
		switch {
		case in.cmd == "FROM":
			var fields []string
			for _, f := range strings.Fields(in.args) {
				if !strings.HasPrefix(f, "--") {
					fields = append(fields, f)
				}
			}
			if len(fields) != 1 && (len(fields) != 3 || !strings.EqualFold(fields[1], "AS")) {
				return nil, fmt.Errorf("line %d: FROM %s", in.line, in.args)
			}
			st := dockerStage{from: os.Expand(fields[0], func(k string) string { return globals[k] }), rawFrom: fields[0], globals: globals}
			if len(fields) == 3 {
				st.name = fields[2]
			}
			stages = append(stages, st)
		case len(stages) == 0:
			if in.cmd != "ARG" {
				return nil, fmt.Errorf("line %d: %s before the first FROM", in.line, in.cmd)
			}
			k, v, _ := strings.Cut(in.args, "=")
			globals[k] = v
		default:
			stages[len(stages)-1].instr = append(stages[len(stages)-1].instr, in)
		}
	}
	if len(stages) == 0 {
		return nil, errors.New("no FROM")
	}
	return stages, nil
}

func (s dockerStage) all(cmd string) []dockerInstruction {
	var out []dockerInstruction
	for _, in := range s.instr {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

func execForm(in dockerInstruction) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		return nil, fmt.Errorf("line %d: %s %s is not the JSON exec form: %v", in.line, in.cmd, in.args, err)
	}
	return v, nil
}

func dockerfile(t *testing.T) parsedDockerfile {
	t.Helper()
	data, err := os.ReadFile(dockerfilePath)
	if err != nil {
		t.Fatal(err)
	}
	stages, err := parseDockerfile(string(data))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	p := parsedDockerfile{stages: stages}
	if cmds := stages[len(stages)-1].all("CMD"); len(cmds) > 0 {
		if p.cmd, err = execForm(cmds[len(cmds)-1]); err != nil {
			t.Fatalf("Dockerfile: %v", err)
		}
	}
	return p
}

// dockerfileUID returns the numeric uid of the final stage's USER, or "" if it has none.
func dockerfileUID(t *testing.T) string {
	t.Helper()
	final := dockerfile(t).stages
	users := final[len(final)-1].all("USER")
	if len(users) == 0 {
		return ""
	}
	uid, _, _ := strings.Cut(users[len(users)-1].args, ":")
	if _, err := strconv.Atoi(uid); err != nil {
		return ""
	}
	return uid
}

func TestDockerfile(t *testing.T) {
	p := dockerfile(t)
	if len(p.stages) < 2 {
		t.Fatalf("Dockerfile has %d stage(s), want a multi-stage build", len(p.stages))
	}
	final := p.stages[len(p.stages)-1]
	builds := p.stages[:len(p.stages)-1]

	if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
		t.Errorf("final stage FROM %s, want distroless/static or scratch", final.from)
	}
	if len(final.all("RUN")) > 0 {
		t.Error("final stage has RUN: the distroless image has no shell")
	}
	users := final.all("USER")
	if len(users) == 0 {
		t.Error("final stage has no USER")
	} else {
		u := users[len(users)-1].args
		// distroless' nonroot user is uid 65532; any other name cannot be checked here.
		uid, gid, _ := strings.Cut(u, ":")
		if n, err := strconv.Atoi(uid); (err == nil && n == 0) || (err != nil && uid != "nonroot") {
			t.Errorf("USER %s: want a numeric non-zero uid or nonroot", u)
		}
		if g, err := strconv.Atoi(gid); err == nil && g == 0 {
			t.Errorf("USER %s: group 0", u)
		}
	}

	var build *dockerStage
	for i := range builds {
		for _, in := range builds[i].all("RUN") {
			if strings.Contains(in.args, "go build") {
				build = &builds[i]
			}
		}
	}
	if build == nil {
		t.Fatal("no build stage runs go build")
	}
	if !strings.HasPrefix(build.from, "golang:1.26") {
		t.Errorf("build stage FROM %s, want golang:1.26", build.from)
	}
	// Both base images are build arguments, so a build can pin them by digest, and the
	// header says how; a default is a tag, or a tag pinned by digest.
	imageRef := regexp.MustCompile(`^[a-z0-9][a-z0-9./_-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?(@sha256:[0-9a-f]{64})?$`)
	for _, st := range []struct {
		stage *dockerStage
		arg   string
	}{{build, "GO_IMAGE"}, {&final, "RUNTIME_IMAGE"}} {
		if st.stage.rawFrom != "${"+st.arg+"}" && st.stage.rawFrom != "$"+st.arg {
			t.Errorf("stage FROM %s: want the build argument ${%s}, so that it can be pinned by digest", st.stage.rawFrom, st.arg)
		}
		if def := st.stage.globals[st.arg]; !imageRef.MatchString(def) {
			t.Errorf("ARG %s=%s is not an image reference (name:tag or name:tag@sha256:<digest>)", st.arg, def)
		}
		raw, err := os.ReadFile(dockerfilePath)
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`--build-arg ` + st.arg + `=\S+@sha256:`).Match(raw) {
			t.Errorf("the Dockerfile does not show how to pin %s by digest (--build-arg %s=...@sha256:...)", st.arg, st.arg)
		}
	}
	var text strings.Builder
	for _, in := range build.instr {
		fmt.Fprintf(&text, "%s %s\n", in.cmd, in.args)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "./cmd/jitbot",
		// The release and revision jitbot version, /healthz and jitbot_build_info report.
		"ARG VERSION", "ARG REVISION",
		"-X github.com/jitbot/jitbot/cmd/internal/buildinfo.version=${VERSION}",
		"-X github.com/jitbot/jitbot/cmd/internal/buildinfo.revision=${REVISION}"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("build stage does not contain %q", want)
		}
	}
	// go.mod and go.sum are copied and downloaded before the sources, so the module
	// download stays a cached layer.
	order := map[string]int{}
	for i, in := range build.instr {
		switch {
		case in.cmd == "COPY" && strings.Contains(in.args, "go.mod") && strings.Contains(in.args, "go.sum"):
			order["mod"] = i + 1
		case in.cmd == "RUN" && strings.Contains(in.args, "go mod download") && order["download"] == 0:
			order["download"] = i + 1
		case in.cmd == "COPY" && strings.HasPrefix(in.args, ". ") && order["src"] == 0:
			order["src"] = i + 1
		}
	}
	if !(order["mod"] > 0 && order["mod"] < order["download"] && order["download"] < order["src"]) {
		t.Errorf("want COPY go.mod go.sum, then RUN go mod download, then COPY . (got positions %v)", order)
	}

	eps := final.all("ENTRYPOINT")
	if len(eps) == 0 {
		t.Fatal("no ENTRYPOINT")
	}
	ep, err := execForm(eps[len(eps)-1])
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ep, []string{"jitbot", "serve"}) {
		t.Errorf("ENTRYPOINT %q, want [\"jitbot\", \"serve\"]", ep)
	}
	// "jitbot" is found through PATH: the binary must be copied into a PATH directory.
	onPath := false
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.args)
		if dest := f[len(f)-1]; path.Base(dest) == "jitbot" && slices.Contains([]string{"/usr/local/bin", "/usr/bin", "/bin"}, path.Dir(dest)) {
			onPath = true
		}
	}
	if !onPath {
		t.Error("the final stage does not copy the binary to /usr/local/bin/jitbot (or another PATH directory)")
	}
	for _, in := range final.all("ENV") {
		if v, ok := strings.CutPrefix(in.args, "PATH="); ok && !slices.Contains(strings.Split(v, ":"), "/usr/local/bin") {
			t.Errorf("ENV PATH=%s lacks /usr/local/bin", v)
		}
	}
	if !slices.Equal(p.cmd, []string{"-config", "/etc/jitbot/jitbot.yaml"}) {
		t.Errorf("CMD %q, want [\"-config\", \"/etc/jitbot/jitbot.yaml\"]", p.cmd)
	}

	var volumes []string
	for _, in := range final.all("VOLUME") {
		if strings.HasPrefix(in.args, "[") {
			v, err := execForm(in)
			if err != nil {
				t.Fatal(err)
			}
			volumes = append(volumes, v...)
		} else {
			volumes = append(volumes, strings.Fields(in.args)...)
		}
	}
	if !slices.Contains(volumes, "/data") {
		t.Errorf("VOLUME %v does not include /data", volumes)
	}
	var exposed []string
	for _, in := range final.all("EXPOSE") {
		exposed = append(exposed, strings.Fields(in.args)...)
	}
	for _, port := range []string{"8080", "9090"} {
		if !slices.Contains(exposed, port) && !slices.Contains(exposed, port+"/tcp") {
			t.Errorf("EXPOSE %v does not include %s (listen and admin_listen of the manifests)", exposed, port)
		}
	}
	labels := ""
	for _, in := range final.all("LABEL") {
		labels += in.args + " "
	}
	for _, l := range []string{"org.opencontainers.image.source", "org.opencontainers.image.title", "org.opencontainers.image.version"} {
		if !strings.Contains(labels, l+"=") {
			t.Errorf("final stage lacks the OCI label %s", l)
		}
	}
}

func TestParseDockerfile(t *testing.T) {
	stages, err := parseDockerfile("ARG V=1.26\n# c\nFROM --platform=$BUILDPLATFORM golang:${V} AS b\nRUN a \\\n  # inner comment\n  b\nFROM scratch\nUSER 1:1\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || stages[0].from != "golang:1.26" || stages[0].name != "b" || stages[1].from != "scratch" {
		t.Fatalf("stages %+v", stages)
	}
	if r := stages[0].all("RUN"); len(r) != 1 || r[0].args != "a  b" || r[0].line != 4 {
		t.Errorf("RUN %+v", r)
	}
	for _, bad := range []string{"", "RUN x\nFROM scratch", "FROM a b", "FROM scratch\nRUN a \\"} {
		if _, err := parseDockerfile(bad); err == nil {
			t.Errorf("parseDockerfile(%q) accepted", bad)
		}
	}
}

// dockerignored reports whether the .dockerignore patterns exclude the context path p, or
// one of its parents (simplified Docker semantics: no ! exceptions).
func dockerignored(patterns []string, p string) bool {
	for _, pat := range patterns {
		pat = strings.TrimPrefix(pat, "/")
		for q := p; q != "." && q != "/"; q = path.Dir(q) {
			if ok, _ := path.Match(pat, q); ok {
				return true
			}
			if rest, ok := strings.CutPrefix(pat, "**/"); ok {
				if ok, _ := path.Match(rest, path.Base(q)); ok {
					return true
				}
			}
		}
	}
	return false
}

func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile(dockerignore)
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "!") {
			continue
		}
		patterns = append(patterns, l)
	}
	for _, p := range []string{".git/HEAD", "flows/testdata/x.golden.json", "store/store_test.go", "cmd/jitbot-bench/main.go", "cmd/internal/scenario/load.go", "examples/overlay/secrets/admin-token"} {
		if !dockerignored(patterns, p) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
	// Files the build needs, checked to exist (paths from the repository
	// root, where the build context starts) so a rename cannot leave the
	// check testing nothing.
	for _, p := range []string{"go.mod", "go.sum", "cmd/jitbot/main.go", "cmd/internal/app/app.go", "cmd/internal/rig/rig.go", "flows/request.go", "bot/slack/bot.go", "bot/teams/bot.go", "store/store.go", "atlas/atlastest/server.go"} {
		if _, err := os.Stat(filepath.Join("..", filepath.FromSlash(p))); err != nil {
			t.Errorf("the build needs %s: %v", p, err)
		}
		if dockerignored(patterns, p) {
			t.Errorf(".dockerignore excludes %s, which the build needs", p)
		}
	}
}

// slackApp is the part of the Slack app manifest jitbot uses; unknown keys fail.
type slackApp struct {
	Metadata struct {
		MajorVersion int `yaml:"major_version"`
		MinorVersion int `yaml:"minor_version"`
	} `yaml:"_metadata"`
	DisplayInformation struct {
		Name            string `yaml:"name"`
		Description     string `yaml:"description"`
		BackgroundColor string `yaml:"background_color"`
		LongDescription string `yaml:"long_description"`
	} `yaml:"display_information"`
	Features struct {
		AppHome struct {
			HomeTabEnabled             bool `yaml:"home_tab_enabled"`
			MessagesTabEnabled         bool `yaml:"messages_tab_enabled"`
			MessagesTabReadOnlyEnabled bool `yaml:"messages_tab_read_only_enabled"`
		} `yaml:"app_home"`
		BotUser struct {
			DisplayName  string `yaml:"display_name"`
			AlwaysOnline bool   `yaml:"always_online"`
		} `yaml:"bot_user"`
		SlashCommands []struct {
			Command      string `yaml:"command"`
			URL          string `yaml:"url"`
			Description  string `yaml:"description"`
			UsageHint    string `yaml:"usage_hint"`
			ShouldEscape bool   `yaml:"should_escape"`
		} `yaml:"slash_commands"`
	} `yaml:"features"`
	OAuthConfig struct {
		Scopes struct {
			Bot []string `yaml:"bot"`
		} `yaml:"scopes"`
	} `yaml:"oauth_config"`
	Settings struct {
		EventSubscriptions struct {
			RequestURL string   `yaml:"request_url"`
			BotEvents  []string `yaml:"bot_events"`
		} `yaml:"event_subscriptions"`
		Interactivity struct {
			IsEnabled  bool   `yaml:"is_enabled"`
			RequestURL string `yaml:"request_url"`
		} `yaml:"interactivity"`
		OrgDeployEnabled     bool `yaml:"org_deploy_enabled"`
		SocketModeEnabled    bool `yaml:"socket_mode_enabled"`
		TokenRotationEnabled bool `yaml:"token_rotation_enabled"`
	} `yaml:"settings"`
}

func checkURL(t *testing.T, what, raw, wantPath string) {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.Host != publicHost || u.Path != wantPath {
		t.Errorf("%s: %q, want https://%s%s", what, raw, publicHost, wantPath)
	}
}

func TestSlackAppManifest(t *testing.T) {
	var m slackApp
	decodeYAMLStrict(t, slackManifest, &m)
	if m.Metadata.MajorVersion != 1 {
		t.Errorf("_metadata.major_version %d, want 1", m.Metadata.MajorVersion)
	}
	di := m.DisplayInformation
	if di.Name == "" || len(di.Name) > 35 || di.Description == "" || len(di.Description) > 140 {
		t.Errorf("display_information name/description missing or too long")
	}
	if n := len(di.LongDescription); n > 0 && (n < 175 || n > 4000) {
		t.Errorf("display_information.long_description: %d characters, Slack wants 175..4000", n)
	}
	if !regexp.MustCompile(`^#[0-9a-fA-F]{6}$`).MatchString(di.BackgroundColor) {
		t.Errorf("background_color %q", di.BackgroundColor)
	}
	if m.Features.BotUser.DisplayName == "" {
		t.Error("features.bot_user.display_name missing")
	}
	if !m.Features.AppHome.HomeTabEnabled || !m.Features.AppHome.MessagesTabEnabled {
		t.Error("app_home: home and messages tabs must be enabled")
	}

	var access bool
	for _, c := range m.Features.SlashCommands {
		if c.Command != "/access" {
			continue
		}
		access = true
		checkURL(t, "/access url", c.URL, "/slack/commands")
		if c.Description == "" || c.UsageHint == "" {
			t.Error("/access needs a description and a usage hint")
		}
	}
	if !access {
		t.Error("no /access slash command")
	}

	for _, s := range []string{"commands", "chat:write", "im:write", "users:read", "users:read.email", "usergroups:read", "im:history", "channels:history", "groups:history", "channels:read", "groups:read"} {
		if !slices.Contains(m.OAuthConfig.Scopes.Bot, s) {
			t.Errorf("bot scope %s missing", s)
		}
	}
	st := m.Settings
	if !st.Interactivity.IsEnabled {
		t.Error("interactivity must be enabled (buttons, modals)")
	}
	checkURL(t, "interactivity.request_url", st.Interactivity.RequestURL, "/slack/interactions")
	checkURL(t, "event_subscriptions.request_url", st.EventSubscriptions.RequestURL, "/slack/events")
	if !slices.Contains(st.EventSubscriptions.BotEvents, "app_home_opened") {
		t.Error("bot event app_home_opened missing")
	}
	if st.SocketModeEnabled {
		t.Error("socket_mode_enabled: the shipped jitbot.yaml has no app_token_file")
	}
	if st.TokenRotationEnabled {
		t.Error("token_rotation_enabled: jitbot uses a long-lived bot token")
	}
}

// teamsApp is the part of the Teams manifest schema jitbot uses; unknown keys fail.
type teamsApp struct {
	Schema          string `json:"$schema"`
	ManifestVersion string `json:"manifestVersion"`
	Version         string `json:"version"`
	ID              string `json:"id"`
	Developer       struct {
		Name          string `json:"name"`
		WebsiteURL    string `json:"websiteUrl"`
		PrivacyURL    string `json:"privacyUrl"`
		TermsOfUseURL string `json:"termsOfUseUrl"`
	} `json:"developer"`
	Name struct {
		Short string `json:"short"`
		Full  string `json:"full"`
	} `json:"name"`
	Description struct {
		Short string `json:"short"`
		Full  string `json:"full"`
	} `json:"description"`
	Icons struct {
		Color   string `json:"color"`
		Outline string `json:"outline"`
	} `json:"icons"`
	AccentColor string `json:"accentColor"`
	Bots        []struct {
		BotID              string   `json:"botId"`
		Scopes             []string `json:"scopes"`
		SupportsFiles      bool     `json:"supportsFiles"`
		IsNotificationOnly bool     `json:"isNotificationOnly"`
		CommandLists       []struct {
			Scopes   []string `json:"scopes"`
			Commands []struct {
				Title       string `json:"title"`
				Description string `json:"description"`
			} `json:"commands"`
		} `json:"commandLists"`
	} `json:"bots"`
	Permissions        []string `json:"permissions"`
	ValidDomains       []string `json:"validDomains"`
	WebApplicationInfo *struct {
		ID       string `json:"id"`
		Resource string `json:"resource"`
	} `json:"webApplicationInfo"`
}

func TestTeamsManifest(t *testing.T) {
	data, err := os.ReadFile(teamsManifest)
	if err != nil {
		t.Fatal(err)
	}
	var m teamsApp
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%s: %v", teamsManifest, err)
	}
	guid := regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

	if m.ManifestVersion != "1.17" || !strings.Contains(m.Schema, "/v1.17/MicrosoftTeams.schema.json") {
		t.Errorf("manifestVersion %q / $schema %q, want 1.17", m.ManifestVersion, m.Schema)
	}
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(m.Version) {
		t.Errorf("version %q is not x.y.z", m.Version)
	}
	if !guid.MatchString(m.ID) {
		t.Errorf("id %q is not a GUID", m.ID)
	}
	// jitbot's host serves the webhooks and the probes, no page: a developer URL there
	// would show people a 404 (or a 405) in the app's About page.
	served := append(slices.Clone(publicPaths), "/healthz", "/readyz")
	for what, raw := range map[string]string{"websiteUrl": m.Developer.WebsiteURL, "privacyUrl": m.Developer.PrivacyURL, "termsOfUseUrl": m.Developer.TermsOfUseURL} {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			t.Errorf("developer.%s %q must be an https URL", what, raw)
			continue
		}
		if strings.EqualFold(u.Hostname(), publicHost) && !slices.Contains(served, u.Path) {
			t.Errorf("developer.%s %q: jitbot serves no such page; point it at a page your organisation publishes", what, raw)
		}
	}
	// The privacy statement and the terms of use are the deploying organisation's: the
	// shipped values are placeholders, which the set-up says to replace.
	readme, err := os.ReadFile(teamsReadme)
	if err != nil {
		t.Fatal(err)
	}
	for what, raw := range map[string]string{"privacyUrl": m.Developer.PrivacyURL, "termsOfUseUrl": m.Developer.TermsOfUseURL} {
		if !strings.Contains(raw, "REPLACE-ME") {
			t.Errorf("developer.%s %q: want a placeholder (REPLACE-ME) that the operator replaces", what, raw)
		}
		if !strings.Contains(string(readme), what) {
			t.Errorf("%s does not say what to put in developer.%s", teamsReadme, what)
		}
	}
	// Without the Teams channel on the Azure Bot, Teams delivers nothing to the bot.
	for _, step := range []string{"Microsoft Teams channel", "/teams/messages", "botId"} {
		if !strings.Contains(string(readme), step) {
			t.Errorf("%s lacks the set-up step about %q", teamsReadme, step)
		}
	}
	if m.Developer.Name == "" || m.Name.Short == "" || len(m.Name.Short) > 30 || len(m.Name.Full) > 100 {
		t.Error("developer.name / name.short (<= 30) / name.full (<= 100)")
	}
	if m.Description.Short == "" || len(m.Description.Short) > 80 || m.Description.Full == "" || len(m.Description.Full) > 4000 {
		t.Error("description.short (1..80) / description.full (1..4000)")
	}
	if !regexp.MustCompile(`^#[0-9a-fA-F]{6}$`).MatchString(m.AccentColor) {
		t.Errorf("accentColor %q", m.AccentColor)
	}
	if !slices.Equal(m.ValidDomains, []string{publicHost}) {
		t.Errorf("validDomains %v, want [%s]", m.ValidDomains, publicHost)
	}

	var personal bool
	for _, bot := range m.Bots {
		if !guid.MatchString(bot.BotID) {
			t.Errorf("botId %q is not a GUID", bot.BotID)
		}
		if !slices.Contains(bot.Scopes, "personal") {
			continue
		}
		personal = true
		if bot.IsNotificationOnly {
			t.Error("bot is notification-only: people could not send it commands")
		}
		b := loadBundle(t)
		if id := loadConfig(t, b).Teams.AppID; !envRef.MatchString(id) && !strings.EqualFold(id, bot.BotID) {
			t.Errorf("botId %s differs from teams.app_id %s in the ConfigMap", bot.BotID, id)
		}
		var titles []string
		for _, cl := range bot.CommandLists {
			if len(cl.Commands) > 10 {
				t.Errorf("command list of %d commands, Teams allows 10", len(cl.Commands))
			}
			for _, c := range cl.Commands {
				if len(c.Title) > 32 || len(c.Description) > 128 {
					t.Errorf("command %q: title (<= 32) or description (<= 128) too long", c.Title)
				}
				titles = append(titles, c.Title)
			}
		}
		for _, want := range []string{"access request", "access list", "access pending", "access help"} {
			if !slices.Contains(titles, want) {
				t.Errorf("command %q missing from commandLists", want)
			}
		}
	}
	if !personal {
		t.Error("no bot with the personal scope")
	}

	for _, icon := range []struct {
		file string
		size int
	}{{m.Icons.Color, 192}, {m.Icons.Outline, 32}} {
		if icon.file == "" || strings.Contains(icon.file, "/") {
			t.Errorf("icon %q: want a file name at the root of the package", icon.file)
			continue
		}
		f, err := os.Open(filepath.Join("teams", icon.file))
		if err != nil {
			t.Error(err)
			continue
		}
		cfg, err := png.DecodeConfig(f)
		f.Close()
		if err != nil {
			t.Errorf("%s: %v", icon.file, err)
			continue
		}
		if cfg.Width != icon.size || cfg.Height != icon.size {
			t.Errorf("%s: %dx%d, want %dx%d", icon.file, cfg.Width, cfg.Height, icon.size, icon.size)
		}
	}
	// The outline icon must be white on a transparent background.
	if f, err := os.Open(filepath.Join("teams", m.Icons.Outline)); err == nil {
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y++ {
			for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x++ {
				r, g, b, a := img.At(x, y).RGBA() // premultiplied: white means r == g == b == a
				if r != a || g != a || b != a {
					t.Fatalf("%s: pixel (%d,%d) is not white or transparent", m.Icons.Outline, x, y)
				}
			}
		}
	}
}
