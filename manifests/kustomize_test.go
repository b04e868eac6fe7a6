package manifests

import (
	"cmp"
	"fmt"
	"io/fs"
	"maps"
	"net"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/jitbot/jitbot/cmd/jitbot/config"
)

// The kustomize builds the tests render in-process, as `kubectl apply -k` would (CI has no
// kubectl): the default build, each optional component on top of it, and the example overlay.
const (
	podMonitorComponent = "components/podmonitor"
	ingressComponent    = "components/ingress"
	exampleOverlay      = "../examples/overlay"
	secretName          = "jitbot-secrets"
	image               = "ghcr.io/jitbot/jitbot"
	versionFile         = "../VERSION"
	readmePath          = "../README.md"
)

// podMonitor is the part of the Prometheus Operator's PodMonitor (monitoring.coreos.com/v1)
// that components/podmonitor may use, mirrored here so that it decodes strictly without the
// operator's API module (and the Kubernetes versions it would pull in).
type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		JobLabel          string               `json:"jobLabel,omitempty"`
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector *struct {
			Any        bool     `json:"any,omitempty"`
			MatchNames []string `json:"matchNames,omitempty"`
		} `json:"namespaceSelector,omitempty"`
		PodMetricsEndpoints []struct {
			Port          string `json:"port,omitempty"`
			PortNumber    *int32 `json:"portNumber,omitempty"`
			Path          string `json:"path,omitempty"`
			Scheme        string `json:"scheme,omitempty"`
			Interval      string `json:"interval,omitempty"`
			ScrapeTimeout string `json:"scrapeTimeout,omitempty"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// object is one resource of a build: its identity and the typed object it decoded to.
type object struct {
	kind, name, namespace string
	labels                map[string]string
	obj                   any
}

// bundle is a build's resources, each decoded strictly into its k8s.io/api type.
type bundle struct {
	objects     []object // in build order
	namespace   *corev1.Namespace
	sa          *corev1.ServiceAccount
	configMap   *corev1.ConfigMap
	pvc         *corev1.PersistentVolumeClaim
	deploy      *appsv1.Deployment
	netpol      *networkingv1.NetworkPolicy
	services    map[string]*corev1.Service
	secrets     []*corev1.Secret
	ingresses   []*networkingv1.Ingress
	podMonitors []*podMonitor
	// Several replicas on etcd (components/ha, components/etcd).
	statefulSets []*appsv1.StatefulSet
	pdbs         map[string]*policyv1.PodDisruptionBudget
	netpols      map[string]*networkingv1.NetworkPolicy
}

// kustomize renders the kustomization at dir of fsys, one YAML document per resource.
func kustomize(fsys filesys.FileSystem, dir string) ([][]byte, error) {
	// The defaults kubectl apply -k uses too: resources in the order the kustomizations
	// list them, only files under each kustomization's root.
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(fsys, dir)
	if err != nil {
		return nil, err
	}
	var docs [][]byte
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			return nil, err
		}
		docs = append(docs, y)
	}
	return docs, nil
}

// decodeBuild decodes every resource of a build strictly into the type its kind names.
func decodeBuild(t *testing.T, what string, docs [][]byte) *bundle {
	t.Helper()
	b := decodeAny(t, what, docs)
	if b.pvc == nil {
		t.Fatalf("%s: no PersistentVolumeClaim for the bbolt file", what)
	}
	return b
}

// decodeAny is decodeBuild for builds with or without the PVC (components/ha removes it).
func decodeAny(t *testing.T, what string, docs [][]byte) *bundle {
	t.Helper()
	b := &bundle{services: map[string]*corev1.Service{}, pdbs: map[string]*policyv1.PodDisruptionBudget{}, netpols: map[string]*networkingv1.NetworkPolicy{}}
	single := func(kind string, set bool) {
		if set {
			t.Fatalf("%s: more than one %s", what, kind)
		}
	}
	for _, doc := range docs {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := k8syaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		k, ok := kinds[meta.Kind]
		if !ok {
			t.Fatalf("%s: kind %q is not one this test knows (add it to kinds)", what, meta.Kind)
		}
		if meta.APIVersion != k.apiVersion {
			t.Errorf("%s: %s has apiVersion %q, want %q", what, meta.Kind, meta.APIVersion, k.apiVersion)
		}
		obj := k.new()
		if err := k8syaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s: strict decode as %s: %v\n%s", what, meta.Kind, err, doc)
		}
		m := obj.(interface {
			GetName() string
			GetNamespace() string
			GetLabels() map[string]string
		})
		b.objects = append(b.objects, object{kind: meta.Kind, name: m.GetName(), namespace: m.GetNamespace(), labels: m.GetLabels(), obj: obj})
		switch o := obj.(type) {
		case *corev1.Namespace:
			single(meta.Kind, b.namespace != nil)
			b.namespace = o
		case *corev1.ServiceAccount:
			single(meta.Kind, b.sa != nil)
			b.sa = o
		case *corev1.ConfigMap:
			single(meta.Kind, b.configMap != nil)
			b.configMap = o
		case *corev1.PersistentVolumeClaim:
			single(meta.Kind, b.pvc != nil)
			b.pvc = o
		case *appsv1.Deployment:
			single(meta.Kind, b.deploy != nil)
			b.deploy = o
		case *networkingv1.NetworkPolicy:
			if b.netpols[o.Name] != nil {
				t.Fatalf("%s: two NetworkPolicies named %s", what, o.Name)
			}
			b.netpols[o.Name] = o
			if o.Name == "jitbot" {
				b.netpol = o
			}
		case *appsv1.StatefulSet:
			b.statefulSets = append(b.statefulSets, o)
		case *policyv1.PodDisruptionBudget:
			if b.pdbs[o.Name] != nil {
				t.Fatalf("%s: two PodDisruptionBudgets named %s", what, o.Name)
			}
			b.pdbs[o.Name] = o
		case *corev1.Service:
			if b.services[o.Name] != nil {
				t.Fatalf("%s: two Services named %s", what, o.Name)
			}
			b.services[o.Name] = o
		case *corev1.Secret:
			b.secrets = append(b.secrets, o)
		case *networkingv1.Ingress:
			b.ingresses = append(b.ingresses, o)
		case *podMonitor:
			b.podMonitors = append(b.podMonitors, o)
		}
	}
	if b.namespace == nil || b.sa == nil || b.configMap == nil || b.deploy == nil || b.netpol == nil {
		t.Fatalf("%s: want a Namespace, ServiceAccount, ConfigMap, Deployment and NetworkPolicy jitbot", what)
	}
	for _, name := range []string{serviceName, metricsServiceName} {
		if b.services[name] == nil {
			t.Fatalf("%s: no Service %s", what, name)
		}
	}
	return b
}

// builds caches each rendering: the tests share them, and each takes some milliseconds.
var builds sync.Map // string -> func() ([][]byte, error)

func cachedBuild(key string, render func() ([][]byte, error)) ([][]byte, error) {
	f, _ := builds.LoadOrStore(key, sync.OnceValues(render))
	return f.(func() ([][]byte, error))()
}

// loadBundle is the default build, `kubectl apply -k manifests/`, rendered from the disk.
func loadBundle(t *testing.T) *bundle {
	t.Helper()
	docs, err := cachedBuild("default", func() ([][]byte, error) { return kustomize(filesys.MakeFsOnDisk(), ".") })
	if err != nil {
		t.Fatalf("kustomize build manifests/: %v", err)
	}
	return decodeBuild(t, "the default build", docs)
}

// repoRoot is where memRepo puts the repository in its in-memory file system.
const repoRoot = "/repo"

// memRepo copies manifests/ and the example overlay into an in-memory file system under
// repoRoot, so that a test can add what the disk must not hold (secret files, a
// kustomization using a component).
func memRepo() (filesys.FileSystem, error) {
	fsys := filesys.MakeFsInMemory()
	for _, dir := range []string{"../manifests", exampleOverlay, haExample, haExternalExample} {
		err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			if ext := filepath.Ext(p); ext == ".go" || ext == ".png" {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			rel, err := filepath.Rel("..", p)
			if err != nil {
				return err
			}
			dst := path.Join(repoRoot, filepath.ToSlash(rel))
			if err := fsys.MkdirAll(path.Dir(dst)); err != nil {
				return err
			}
			return fsys.WriteFile(dst, data)
		})
		if err != nil {
			return nil, err
		}
	}
	return fsys, nil
}

// withComponents renders the default build with the given components of manifests/, as an
// overlay listing them would.
func withComponents(t *testing.T, components ...string) *bundle {
	t.Helper()
	key := "components " + strings.Join(components, " ")
	docs, err := cachedBuild(key, func() ([][]byte, error) {
		fsys, err := memRepo()
		if err != nil {
			return nil, err
		}
		k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../manifests\ncomponents:\n"
		for _, c := range components {
			k += "  - ../manifests/" + c + "\n"
		}
		dir := path.Join(repoRoot, "overlay")
		if err := fsys.MkdirAll(dir); err != nil {
			return nil, err
		}
		if err := fsys.WriteFile(path.Join(dir, "kustomization.yaml"), []byte(k)); err != nil {
			return nil, err
		}
		return kustomize(fsys, dir)
	})
	if err != nil {
		t.Fatalf("kustomize build with %v: %v", components, err)
	}
	return decodeBuild(t, fmt.Sprintf("the build with %v", components), docs)
}

// identities lists a build's resources as kind/namespace/name.
func identities(b *bundle) []string {
	var ids []string
	for _, o := range b.objects {
		ids = append(ids, o.kind+"/"+o.namespace+"/"+o.name)
	}
	slices.Sort(ids)
	return ids
}

// added returns the resources of b that the default build does not have.
func added(t *testing.T, b *bundle) []string {
	t.Helper()
	base := identities(loadBundle(t))
	var out []string
	for _, id := range identities(b) {
		if !slices.Contains(base, id) {
			out = append(out, id)
		}
	}
	for _, id := range base {
		if !slices.Contains(identities(b), id) {
			t.Errorf("%s of the default build is missing", id)
		}
	}
	return out
}

// resolvePort finds the container port a Service targetPort, probe, NetworkPolicy or
// PodMonitor port names, by name or number.
func resolvePort(c corev1.Container, p intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, cp := range c.Ports {
		if (p.Type == intstr.String && p.StrVal == cp.Name) || (p.Type == intstr.Int && p.IntVal == cp.ContainerPort) {
			return cp, true
		}
	}
	return corev1.ContainerPort{}, false
}

// splitPort returns the host and port of a listen address such as ":8080".
func splitPort(addr string) (string, int32, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.ParseInt(port, 10, 32)
	if err != nil {
		return "", 0, err
	}
	return host, int32(n), nil
}

// listenerPorts returns the container ports of the config's listen and admin_listen.
func listenerPorts(t *testing.T, b *bundle) (public, admin corev1.ContainerPort) {
	t.Helper()
	cfg := loadConfig(t, b)
	c := container(t, b.deploy)
	port := func(key, addr string) corev1.ContainerPort {
		_, p, err := splitPort(addr)
		if err != nil {
			t.Fatalf("%s %q: %v", key, addr, err)
		}
		cp, ok := resolvePort(c, intstr.FromInt32(p))
		if !ok {
			t.Fatalf("%s %q: port %d is not a container port of the Deployment", key, addr, p)
		}
		return cp
	}
	if cfg.AdminListen == "" {
		t.Fatal("the shipped jitbot.yaml sets no admin_listen: /metrics and the admin API would share the public port")
	}
	return port("listen", cfg.Listen), port("admin_listen", cfg.AdminListen)
}

func TestDefaultBuildHasNoSecret(t *testing.T) {
	files := scanFiles(t)
	for f, kind := range files {
		if kind == "Secret" {
			t.Errorf("%s holds a Secret: `kubectl apply -k manifests/` would overwrite the real one", f)
		}
	}
	builds := map[string]*bundle{
		"default":    loadBundle(t),
		"podmonitor": withComponents(t, podMonitorComponent),
		"ingress":    withComponents(t, ingressComponent),
	}
	for name, b := range builds {
		for _, s := range b.secrets {
			t.Errorf("the %s build holds the Secret %s: `kubectl apply -k` would overwrite the one made out of band", name, s.Name)
		}
		if len(b.objects) == 0 || b.objects[0].kind != "Namespace" {
			t.Errorf("the %s build does not start with the Namespace: a first apply would fail", name)
		}
	}
	// Nor does the ConfigMap hold one: every value of jitbot.yaml is checked against the
	// shapes of real credentials.
	b := loadBundle(t)
	secrets := secretConfigKeys()
	for _, k := range []string{"admin_token", "bot_token", "signing_secret", "app_token", "app_password", "client_secret", "private_key"} {
		if !secrets[k] {
			t.Errorf("the config loader has no %s_file twin for %s (as this test knows it)", k, k)
		}
	}
	guid := regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	walkScalars(t, exampleConfig(t, b), func(key, value string) {
		if guid.MatchString(value) {
			return // app and tenant IDs: not secrets
		}
		for _, re := range realSecret {
			if re.MatchString(value) {
				t.Errorf("%s: %s = %q looks like a real credential (%s)", configKey, key, value, re)
			}
		}
		if secrets[key] && value != "" {
			t.Errorf("%s: the secret %s is set inline; read it from the Secret with %s_file", configKey, key, key)
		}
	})
}

// secretConfigKeys returns the keys of jitbot.yaml that are secrets, as the config loader
// knows them: each key k of config.File (at any depth) with a sibling k_file.
func secretConfigKeys() map[string]bool {
	keys := map[string]bool{}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Map {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct || seen[t] {
			return
		}
		seen[t] = true
		tags := map[string]bool{}
		var fields []reflect.StructField
		var collect func(t reflect.Type)
		collect = func(t reflect.Type) {
			for f := range t.Fields() {
				tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
				switch {
				case !f.IsExported() || tag == "-":
				case strings.Contains(opts, "inline"):
					collect(f.Type)
				default:
					tags[tag] = true
					fields = append(fields, f)
				}
			}
		}
		collect(t)
		for tag := range tags {
			if tags[tag+"_file"] {
				keys[tag] = true
			}
		}
		for _, f := range fields {
			walk(f.Type)
		}
	}
	walk(reflect.TypeFor[config.File]())
	return keys
}

// TestSecretsAreFiles: the Secret reaches the pod as read-only files named by the config's
// *_file keys, never as environment variables.
func TestSecretsAreFiles(t *testing.T) {
	b := loadBundle(t)
	c := container(t, b.deploy)
	if len(c.EnvFrom) > 0 {
		t.Errorf("envFrom %+v: secrets are files, not environment variables", c.EnvFrom)
	}
	for _, e := range c.Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			t.Errorf("env %s comes from a Secret: mount it as a file instead", e.Name)
		}
	}
	if strings.Contains(string(exampleConfig(t, b)), "${") {
		t.Errorf("%s references ${...}: the container has no environment to expand it from", configKey)
	}
	mount, vol := secretMount(t, b)
	if !mount.ReadOnly {
		t.Errorf("the Secret's mount %s is not read-only", mount.MountPath)
	}
	if m := vol.Secret.DefaultMode; m == nil || *m != 0o400 {
		mode := "unset (0644)"
		if m != nil {
			mode = fmt.Sprintf("%#o", *m)
		}
		t.Errorf("the Secret's defaultMode is %s, want 0400", mode)
	}
	// The files are root's, 0400: the kubelet adds group read for fsGroup alone, so jitbot
	// reads them only if fsGroup is its own group.
	psc := b.deploy.Spec.Template.Spec.SecurityContext
	if psc == nil || psc.FSGroup == nil || psc.RunAsGroup == nil || *psc.FSGroup != *psc.RunAsGroup {
		t.Error("the pod's fsGroup must be its runAsGroup: jitbot could not read the Secret's 0400 files otherwise")
	}
	if vol.Secret.Optional != nil && *vol.Secret.Optional {
		t.Error("the Secret volume is optional: a missing Secret must stop the pod, not start it without secrets")
	}
	refs := fileRefs(t, b)
	if len(refs) == 0 {
		t.Fatalf("%s names no *_file", configKey)
	}
	for _, r := range refs {
		if path.Dir(r.file) != mount.MountPath {
			t.Errorf("%s: %s = %s is not a file of the Secret mounted at %s", configKey, r.key+"_file", r.file, mount.MountPath)
		}
	}
	// The Secret's keys are the file names: those jitbot.yaml reads.
	if len(vol.Secret.Items) > 0 {
		var paths []string
		for _, it := range vol.Secret.Items {
			paths = append(paths, it.Path)
		}
		for _, k := range secretKeys(refs) {
			if !slices.Contains(paths, k) {
				t.Errorf("the Secret volume's items do not project %s", k)
			}
		}
	}
}

// secretMount returns the container's mount of the Secret jitbot-secrets and its volume.
func secretMount(t *testing.T, b *bundle) (corev1.VolumeMount, corev1.Volume) {
	t.Helper()
	c := container(t, b.deploy)
	for _, v := range b.deploy.Spec.Template.Spec.Volumes {
		if v.Secret == nil || !strings.HasPrefix(v.Secret.SecretName, secretName) {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name {
				return m, v
			}
		}
		t.Fatalf("the Secret volume %s is not mounted", v.Name)
	}
	t.Fatalf("the Deployment mounts no Secret %s", secretName)
	return corev1.VolumeMount{}, corev1.Volume{}
}

// fileRef is a *_file key of jitbot.yaml: the secret key (bot_token) and the file.
type fileRef struct{ key, file string }

// fileRefs lists the *_file keys of the ConfigMap's jitbot.yaml.
func fileRefs(t *testing.T, b *bundle) []fileRef {
	t.Helper()
	var refs []fileRef
	walkScalars(t, exampleConfig(t, b), func(key, value string) {
		if k, ok := strings.CutSuffix(key, "_file"); ok {
			refs = append(refs, fileRef{key: k, file: value})
		}
	})
	return refs
}

// secretKeys are the Secret keys jitbot.yaml reads: the base names of its *_file paths.
func secretKeys(refs []fileRef) []string {
	var keys []string
	for _, r := range refs {
		keys = append(keys, path.Base(r.file))
	}
	slices.Sort(keys)
	return slices.Compact(keys)
}

func TestImageTag(t *testing.T) {
	raw, err := os.ReadFile(versionFile)
	if err != nil {
		t.Fatal(err)
	}
	version := strings.TrimSpace(string(raw))
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+$`).MatchString(version) {
		t.Fatalf("VERSION %q is not vX.Y.Z", version)
	}
	want := image + ":" + version
	for what, b := range map[string]*bundle{"default build": loadBundle(t), "deployment.yaml": rawDeployment(t)} {
		c := container(t, b.deploy)
		if c.Image != want {
			t.Errorf("%s: image %q, want %q (the VERSION file)", what, c.Image, want)
		}
		if strings.HasSuffix(c.Image, ":latest") || !strings.Contains(path.Base(c.Image), ":") {
			t.Errorf("%s: image %q has no release tag", what, c.Image)
		}
	}
	var k kustomizationFile
	decodeYAMLStrict(t, kustomization, &k)
	if len(k.Images) != 1 || k.Images[0].Name != image || k.Images[0].NewTag != version {
		t.Errorf("kustomization images %+v, want %s with newTag %s", k.Images, image, version)
	}
	if deploy := readmeSection(t, "### 5. Deploy"); !strings.Contains(deploy, want) {
		t.Errorf("README's Deploy section does not name the image %s", want)
	}
}

// rawDeployment decodes deployment.yaml itself, before kustomize sets the tag.
func rawDeployment(t *testing.T) *bundle {
	t.Helper()
	d := new(appsv1.Deployment)
	data, err := os.ReadFile("deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := k8syaml.UnmarshalStrict(data, d); err != nil {
		t.Fatal(err)
	}
	return &bundle{deploy: d}
}

// TestPortsExist: every port a Service, probe, annotation, NetworkPolicy, PodMonitor or
// Ingress refers to is a port of the jitbot container (or of the Service the Ingress routes
// to), and the listeners of jitbot.yaml are where they are expected.
func TestPortsExist(t *testing.T) {
	all := withComponents(t, podMonitorComponent, ingressComponent)
	c := container(t, all.deploy)
	public, admin := listenerPorts(t, all)
	if public.Name != "http" || admin.Name != "admin" || public.ContainerPort == admin.ContainerPort {
		t.Errorf("listen is container port %s/%d and admin_listen %s/%d: want http and admin, apart", public.Name, public.ContainerPort, admin.Name, admin.ContainerPort)
	}
	names := map[string]bool{}
	numbers := map[int32]bool{}
	for _, p := range c.Ports {
		if names[p.Name] || numbers[p.ContainerPort] {
			t.Errorf("container port %s/%d declared twice", p.Name, p.ContainerPort)
		}
		names[p.Name], numbers[p.ContainerPort] = true, true
	}

	for _, s := range all.services {
		if !subset(s.Spec.Selector, all.deploy.Spec.Template.Labels) {
			t.Errorf("Service %s does not select the jitbot pods", s.Name)
		}
		for _, p := range s.Spec.Ports {
			if _, ok := resolvePort(c, p.TargetPort); !ok {
				t.Errorf("Service %s port %s: targetPort %s is no container port", s.Name, p.Name, p.TargetPort.String())
			}
		}
	}
	for name, p := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			continue // TestDeployment says so
		}
		if _, ok := resolvePort(c, p.HTTPGet.Port); !ok {
			t.Errorf("%s: port %s is no container port", name, p.HTTPGet.Port.String())
		}
	}
	for i, r := range all.netpol.Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port == nil {
				continue
			}
			if _, ok := resolvePort(c, *p.Port); !ok {
				t.Errorf("NetworkPolicy ingress rule %d: port %s is no container port", i, p.Port.String())
			}
		}
	}

	// The public Service carries the public listener alone, so no route to it reaches the
	// admin API or /metrics; the metrics Service carries the admin listener, for Prometheus.
	for _, p := range all.services[serviceName].Spec.Ports {
		if cp, _ := resolvePort(c, p.TargetPort); cp.ContainerPort != public.ContainerPort {
			t.Errorf("Service %s port %s reaches container port %d, not the public listener %d", serviceName, p.Name, cp.ContainerPort, public.ContainerPort)
		}
	}
	ms := all.services[metricsServiceName]
	a := ms.Annotations
	if a["prometheus.io/scrape"] != "true" || a["prometheus.io/path"] != "/metrics" {
		t.Errorf("Service %s: prometheus.io/scrape %q, prometheus.io/path %q: want true and /metrics", ms.Name, a["prometheus.io/scrape"], a["prometheus.io/path"])
	}
	if cp, ok := resolvePort(c, intstr.Parse(a["prometheus.io/port"])); !ok || cp.ContainerPort != admin.ContainerPort {
		t.Errorf("Service %s: prometheus.io/port %q is not the admin listener's container port %d", ms.Name, a["prometheus.io/port"], admin.ContainerPort)
	}
	if len(ms.Spec.Ports) != 1 {
		t.Errorf("Service %s: %d ports, want the metrics port alone", ms.Name, len(ms.Spec.Ports))
	}
	for _, p := range ms.Spec.Ports {
		if cp, _ := resolvePort(c, p.TargetPort); cp.ContainerPort != admin.ContainerPort {
			t.Errorf("Service %s port %s reaches container port %d, not the admin listener %d", ms.Name, p.Name, cp.ContainerPort, admin.ContainerPort)
		}
	}

	for _, pm := range all.podMonitors {
		for _, ep := range pm.Spec.PodMetricsEndpoints {
			cp, ok := resolvePort(c, intstr.FromString(ep.Port))
			if !ok {
				t.Errorf("PodMonitor %s: port %q is no container port", pm.Name, ep.Port)
			}
			if cp.ContainerPort != admin.ContainerPort {
				t.Errorf("PodMonitor %s scrapes port %q, not the admin listener (%s)", pm.Name, ep.Port, admin.Name)
			}
		}
	}
	for _, ing := range all.ingresses {
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil {
				continue
			}
			for _, p := range r.HTTP.Paths {
				if cp := ingressTarget(t, all, p.Backend); cp.ContainerPort != public.ContainerPort {
					t.Errorf("Ingress %s: %s reaches container port %d, not the public listener %d", ing.Name, p.Path, cp.ContainerPort, public.ContainerPort)
				}
			}
		}
	}
}

// ingressTarget returns the container port an Ingress backend reaches through its Service.
func ingressTarget(t *testing.T, b *bundle, be networkingv1.IngressBackend) corev1.ContainerPort {
	t.Helper()
	if be.Service == nil {
		t.Errorf("Ingress backend %+v is not a Service", be)
		return corev1.ContainerPort{}
	}
	s, ok := b.services[be.Service.Name]
	if !ok {
		t.Errorf("Ingress backend: no Service %s in the build", be.Service.Name)
		return corev1.ContainerPort{}
	}
	for _, p := range s.Spec.Ports {
		if (be.Service.Port.Name != "" && p.Name == be.Service.Port.Name) || (be.Service.Port.Number != 0 && p.Port == be.Service.Port.Number) {
			cp, _ := resolvePort(container(t, b.deploy), p.TargetPort)
			return cp
		}
	}
	t.Errorf("Ingress backend: Service %s has no port %+v", s.Name, be.Service.Port)
	return corev1.ContainerPort{}
}

func TestPodMonitorComponent(t *testing.T) {
	if b := loadBundle(t); len(b.podMonitors) > 0 {
		t.Error("the default build holds a PodMonitor: clusters without the Prometheus Operator lack its CRD")
	}
	b := withComponents(t, podMonitorComponent)
	if got := added(t, b); !slices.Equal(got, []string{"PodMonitor/" + namespace + "/jitbot"}) {
		t.Fatalf("the component adds %v, want exactly one PodMonitor jitbot", got)
	}
	pm := b.podMonitors[0]
	sel := pm.Spec.Selector
	if len(sel.MatchExpressions) > 0 || !subset(sel.MatchLabels, b.deploy.Spec.Template.Labels) ||
		!maps.Equal(sel.MatchLabels, b.deploy.Spec.Selector.MatchLabels) {
		t.Errorf("PodMonitor selector %+v, want the Deployment's pod selector %v", sel, b.deploy.Spec.Selector.MatchLabels)
	}
	if ns := pm.Spec.NamespaceSelector; ns != nil && (ns.Any || (len(ns.MatchNames) > 0 && !slices.Equal(ns.MatchNames, []string{namespace}))) {
		t.Errorf("PodMonitor namespaceSelector %+v, want the %s namespace", ns, namespace)
	}
	_, admin := listenerPorts(t, b)
	eps := pm.Spec.PodMetricsEndpoints
	if len(eps) != 1 || eps[0].Port != admin.Name || eps[0].PortNumber != nil || eps[0].Path != "/metrics" || (eps[0].Scheme != "" && eps[0].Scheme != "http") {
		t.Errorf("PodMonitor endpoints %+v, want one: port %s (admin_listen), path /metrics", eps, admin.Name)
	}
	if pm.Labels["app.kubernetes.io/name"] != "jitbot" {
		t.Error("PodMonitor: missing label app.kubernetes.io/name=jitbot")
	}
}

// publicPaths are the paths the public listener serves to Slack and Teams: the request URLs
// of slack-app.yaml and the Teams messaging endpoint.
var publicPaths = []string{"/slack/commands", "/slack/events", "/slack/interactions", "/teams/messages"}

func TestIngressComponent(t *testing.T) {
	if b := loadBundle(t); len(b.ingresses) > 0 {
		t.Error("the default build holds an Ingress: it is an example for an overlay")
	}
	b := withComponents(t, ingressComponent)
	if got := added(t, b); !slices.Equal(got, []string{"Ingress/" + namespace + "/jitbot"}) {
		t.Fatalf("the component adds %v, want exactly one Ingress jitbot", got)
	}
	ing := b.ingresses[0]
	if ing.Spec.DefaultBackend != nil {
		t.Error("Ingress: a defaultBackend routes every path")
	}
	tlsHosts := map[string]bool{}
	for _, tls := range ing.Spec.TLS {
		if tls.SecretName == "" {
			t.Error("Ingress TLS entry without a secretName")
		}
		for _, h := range tls.Hosts {
			tlsHosts[h] = true
		}
	}
	if len(ing.Spec.Rules) == 0 {
		t.Fatal("Ingress: no rules")
	}
	var routed []string
	for _, r := range ing.Spec.Rules {
		if r.Host != publicHost {
			t.Errorf("Ingress host %q, want %s (slack-app.yaml's and the Teams manifest's)", r.Host, publicHost)
		}
		if !tlsHosts[r.Host] {
			t.Errorf("Ingress host %q has no TLS: Slack and Teams call https only", r.Host)
		}
		if r.HTTP == nil {
			t.Errorf("Ingress rule %q routes nothing", r.Host)
			continue
		}
		for _, p := range r.HTTP.Paths {
			routed = append(routed, p.Path)
			if p.PathType == nil || *p.PathType != networkingv1.PathTypeExact {
				t.Errorf("Ingress path %s: pathType %s, want Exact (a prefix could reach more than the webhooks)", p.Path, *cmp.Or(p.PathType, new(networkingv1.PathType)))
			}
			if !slices.Contains(publicPaths, p.Path) {
				t.Errorf("Ingress routes %s, which is not a Slack or Teams webhook (%v)", p.Path, publicPaths)
			}
			for _, private := range []string{"/admin", "/metrics", "/healthz", "/readyz"} {
				if strings.HasPrefix(p.Path, private) || strings.HasPrefix(private, strings.TrimSuffix(p.Path, "/")+"/") || p.Path == "/" {
					t.Errorf("Ingress path %s exposes %s", p.Path, private)
				}
			}
		}
	}
	slices.Sort(routed)
	want := slices.Sorted(slices.Values(publicPaths))
	if !slices.Equal(routed, want) {
		t.Errorf("Ingress routes %v, want every webhook once: %v", routed, want)
	}
}

// TestExampleOverlay renders examples/overlay with secret files of its own: the overlay
// generates the Secret the Deployment mounts, with the keys jitbot.yaml reads.
func TestExampleOverlay(t *testing.T) {
	base := loadBundle(t)
	keys := secretKeys(fileRefs(t, base))

	ignore, err := os.ReadFile(filepath.Join(exampleOverlay, "secrets", ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Fields(string(ignore)); !slices.Contains(lines, "*") {
		t.Errorf("%s/secrets/.gitignore does not ignore every file: secret values could be committed", exampleOverlay)
	}
	entries, err := os.ReadDir(filepath.Join(exampleOverlay, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != ".gitignore" {
			t.Logf("%s/secrets/%s exists locally (git-ignored)", exampleOverlay, e.Name())
		}
	}

	fsys, err := memRepo()
	if err != nil {
		t.Fatal(err)
	}
	dir := path.Join(repoRoot, "examples/overlay")
	for _, k := range keys {
		if err := fsys.WriteFile(path.Join(dir, "secrets", k), []byte("value-of-"+k+"\n")); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := kustomize(fsys, dir)
	if err != nil {
		t.Fatalf("kustomize build %s (with the secret files %v): %v", exampleOverlay, keys, err)
	}
	b := decodeBuild(t, exampleOverlay, docs)
	if len(b.secrets) != 1 {
		t.Fatalf("%s generates %d Secrets, want 1", exampleOverlay, len(b.secrets))
	}
	s := b.secrets[0]
	if !strings.HasPrefix(s.Name, secretName+"-") || s.Namespace != namespace {
		t.Errorf("generated Secret %s/%s, want %s/%s-<hash>", s.Namespace, s.Name, namespace, secretName)
	}
	if len(b.objects) == 0 || b.objects[0].kind != "Namespace" {
		t.Error("the overlay's build does not start with the Namespace")
	}
	_, vol := secretMount(t, b)
	if vol.Secret.SecretName != s.Name {
		t.Errorf("the Deployment mounts %s, not the generated %s", vol.Secret.SecretName, s.Name)
	}
	got := slices.Sorted(maps.Keys(s.Data))
	if !slices.Equal(got, keys) {
		t.Errorf("the overlay's Secret has the keys %v, jitbot.yaml reads %v", got, keys)
	}
	if len(b.ingresses) != 1 {
		t.Errorf("the overlay has %d Ingresses, want the component's", len(b.ingresses))
	}
}

// readmeSection returns the README's section under heading (such as "### 5. Deploy"), up
// to the next heading of the same or a higher level.
func readmeSection(t *testing.T, heading string) string {
	t.Helper()
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	i := strings.Index(s, "\n"+heading+"\n")
	if i < 0 {
		t.Fatalf("README has no %q section", heading)
	}
	s = s[i+len(heading)+2:]
	level := len(heading) - len(strings.TrimLeft(heading, "#"))
	if loc := regexp.MustCompile(fmt.Sprintf(`\n#{1,%d} `, level)).FindStringIndex(s); loc != nil {
		s = s[:loc[0]]
	}
	return s
}

// TestReadmeDeploy checks the README's Deploy section against the manifests: the paths it
// names exist, the Secret it creates has the keys jitbot.yaml reads, and the ports it gives
// are the Services'.
func TestReadmeDeploy(t *testing.T) {
	b := loadBundle(t)
	deploy := readmeSection(t, "### 5. Deploy")

	for _, p := range regexp.MustCompile(`\b(?:manifests|examples)/[A-Za-z0-9_./-]*[A-Za-z0-9_/]`).FindAllString(deploy, -1) {
		if strings.HasPrefix(p, path.Join("examples/overlay", "secrets")+"/") {
			continue // the operator's own, git-ignored files
		}
		if _, err := os.Stat(filepath.Join("..", filepath.FromSlash(p))); err != nil {
			t.Errorf("README's Deploy section names %s: %v", p, err)
		}
	}
	for _, cmd := range []string{"kubectl apply -k manifests/", "kubectl apply -k examples/overlay", "kubectl apply -f manifests/namespace.yaml", "create secret generic " + secretName} {
		if !strings.Contains(deploy, cmd) {
			t.Errorf("README's Deploy section lacks %q", cmd)
		}
	}

	// kubectl create secret generic ... --from-file=[key=]path: the keys are the files
	// jitbot.yaml reads.
	// Only the command creating jitbot-secrets (the section creates etcd's TLS Secrets too).
	i := strings.Index(deploy, "create secret generic "+secretName)
	if i < 0 {
		t.FailNow() // reported above
	}
	create := deploy[i:]
	if end := strings.Index(create, "\n\n"); end >= 0 {
		create = create[:end]
	}
	if end := strings.Index(create, "kubectl apply"); end >= 0 {
		create = create[:end]
	}
	var keys []string
	for _, m := range regexp.MustCompile(`--from-file=(\S+)`).FindAllStringSubmatch(create, -1) {
		key, _, ok := strings.Cut(m[1], "=")
		if !ok {
			key = path.Base(m[1])
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	if want := secretKeys(fileRefs(t, b)); !slices.Equal(keys, want) {
		t.Errorf("README creates the Secret with the keys %v; jitbot.yaml reads %v", keys, want)
	}

	for _, s := range []*corev1.Service{b.services[serviceName], b.services[metricsServiceName]} {
		for _, p := range s.Spec.Ports {
			if !strings.Contains(deploy, fmt.Sprintf("`%s` (port %d", s.Name, p.Port)) {
				t.Errorf("README's Deploy section does not give the Service %s's port as \"`%s` (port %d\"", s.Name, s.Name, p.Port)
			}
		}
	}
}
