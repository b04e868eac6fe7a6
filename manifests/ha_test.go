package manifests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/jitbot/jitbot/cmd/jitbot/config"
)

// Several replicas on etcd: components/ha (the jitbot side), components/etcd (an etcd
// cluster in the namespace), and the two example overlays using them.
const (
	haComponent       = "components/ha"
	etcdComponent     = "components/etcd"
	haExample         = "../examples/ha"
	haExternalExample = "../examples/ha-external-etcd"
	storeMark         = "# ---- store ----\n"
	etcdImage         = "quay.io/coreos/etcd:v3.6.5"
	etcdClientSecret  = "jitbot-etcd-client-tls"
)

// renderExample renders an example overlay built on examples/overlay, with the secret files
// that overlay generates jitbot-secrets from, as TestExampleOverlay does.
func renderExample(t *testing.T, dir string) *bundle {
	t.Helper()
	docs, err := cachedBuild("example "+dir, func() ([][]byte, error) {
		fsys, err := memRepo()
		if err != nil {
			return nil, err
		}
		for _, k := range []string{"admin-token", "slack-bot-token", "slack-signing-secret", "teams-app-password", "atlas-client-secret"} {
			if err := fsys.WriteFile(path.Join(repoRoot, "examples/overlay/secrets", k), []byte("value-of-"+k+"\n")); err != nil {
				return nil, err
			}
		}
		rel, err := filepath.Rel("..", dir)
		if err != nil {
			return nil, err
		}
		return kustomize(fsys, path.Join(repoRoot, filepath.ToSlash(rel)))
	})
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	return decodeAny(t, dir, docs)
}

// genTLS writes a CA certificate and a client certificate with its key signed by it, as
// ca.crt, tls.crt and tls.key: what the etcd client Secret holds, so that jitbot's config
// loader (which loads them) accepts the store section.
func genTLS(t *testing.T) map[string][]byte {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, leafKey := key(), key()
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test etcd CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "jitbot"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(leafKey)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{
		"ca.crt":  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}),
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}),
	}
}

// loadHAConfig loads a build's jitbot.yaml with jitbot's config loader, each file it names
// under a Secret the container mounts written into a directory standing in for the mount:
// jitbot-secrets' files as loadConfig writes them, the etcd client Secret's certificates.
// A file under no mounted Secret is left out, and the loader says so.
func loadHAConfig(t *testing.T, b *bundle) *config.Config {
	t.Helper()
	c := container(t, b.deploy)
	secretVols := map[string]string{} // volume name -> Secret name
	for _, v := range b.deploy.Spec.Template.Spec.Volumes {
		if v.Secret != nil {
			secretVols[v.Name] = v.Secret.SecretName
		}
	}
	raw := strings.ReplaceAll(string(exampleConfig(t, b)), "mdb_sa_id_REPLACE-ME", "mdb_sa_id_65e0d2f4a1b2c3d4e5f60718")
	certs := genTLS(t)
	root := t.TempDir()
	for _, m := range c.VolumeMounts {
		if _, ok := secretVols[m.Name]; !ok {
			continue
		}
		dir := filepath.Join(root, m.Name)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, r := range fileRefs(t, b) {
			if path.Dir(r.file) != m.MountPath {
				continue
			}
			data, ok := certs[path.Base(r.file)]
			if !ok {
				data = []byte(fakeSecret(r.key) + "\n")
			}
			if err := os.WriteFile(filepath.Join(dir, path.Base(r.file)), data, 0o400); err != nil {
				t.Fatal(err)
			}
		}
		raw = strings.ReplaceAll(raw, m.MountPath+"/", filepath.ToSlash(dir)+"/")
	}
	cfg, err := config.Parse(configKey, []byte(raw), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("%s does not load:\n%v", configKey, err)
	}
	return cfg
}

// TestStoreMarks: components/ha swaps the lines between the two marks of the default
// jitbot.yaml, which must be there, twice, around the store section alone.
func TestStoreMarks(t *testing.T) {
	s := string(exampleConfig(t, loadBundle(t)))
	parts := strings.Split(s, storeMark)
	if len(parts) != 3 {
		t.Fatalf("%s holds %q %d times, want 2 (around the store section): components/ha would append rather than swap", configKey, storeMark, len(parts)-1)
	}
	if strings.TrimSpace(parts[1]) != "store:\n  path: /data/jitbot.db" {
		t.Errorf("between the store marks: %q, want the store section alone", parts[1])
	}
}

// TestHAComponent: components/ha on the default build adds the PodDisruptionBudget and takes
// the PVC away, and nothing else (the etcd client Secret is created out of band).
func TestHAComponent(t *testing.T) {
	docs, err := cachedBuild("components ha", func() ([][]byte, error) {
		fsys, err := memRepo()
		if err != nil {
			return nil, err
		}
		dir := path.Join(repoRoot, "overlay")
		k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../manifests\ncomponents:\n  - ../manifests/" + haComponent + "\n"
		if err := fsys.MkdirAll(dir); err != nil {
			return nil, err
		}
		if err := fsys.WriteFile(path.Join(dir, "kustomization.yaml"), []byte(k)); err != nil {
			return nil, err
		}
		return kustomize(fsys, dir)
	})
	if err != nil {
		t.Fatal(err)
	}
	b := decodeAny(t, haComponent, docs)
	base, got := identities(loadBundle(t)), identities(b)
	var add, gone []string
	for _, id := range got {
		if !slices.Contains(base, id) {
			add = append(add, id)
		}
	}
	for _, id := range base {
		if !slices.Contains(got, id) {
			gone = append(gone, id)
		}
	}
	if !slices.Equal(add, []string{"PodDisruptionBudget/jitbot/jitbot"}) || !slices.Equal(gone, []string{"PersistentVolumeClaim/jitbot/jitbot-data"}) {
		t.Errorf("components/ha adds %v and removes %v; want the PodDisruptionBudget jitbot added and the PVC jitbot-data removed", add, gone)
	}
	if len(b.secrets) > 0 {
		t.Errorf("components/ha generates %d Secrets; the etcd client Secret is made out of band", len(b.secrets))
	}
}

// TestHADeployment: examples/ha's jitbot runs 3 replicas on etcd, rolled one at a time,
// spread, under a PodDisruptionBudget, with no bbolt volume.
func TestHADeployment(t *testing.T) {
	for _, dir := range []string{haExample, haExternalExample} {
		t.Run(path.Base(dir), func(t *testing.T) {
			b := renderExample(t, dir)
			d := b.deploy
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 3 {
				t.Errorf("replicas %v, want 3", d.Spec.Replicas)
			}
			st := d.Spec.Strategy
			if st.Type != appsv1.RollingUpdateDeploymentStrategyType || st.RollingUpdate == nil ||
				st.RollingUpdate.MaxUnavailable == nil || *st.RollingUpdate.MaxUnavailable != intstr.FromInt32(1) ||
				st.RollingUpdate.MaxSurge == nil || *st.RollingUpdate.MaxSurge != intstr.FromInt32(1) {
				t.Errorf("strategy %+v, want RollingUpdate with maxUnavailable 1 and maxSurge 1", st)
			}
			if b.pvc != nil {
				t.Errorf("the build keeps the PVC %s: the store is etcd", b.pvc.Name)
			}
			spec := d.Spec.Template.Spec
			for _, v := range spec.Volumes {
				if v.PersistentVolumeClaim != nil || v.Name == "data" {
					t.Errorf("volume %s (%+v): no bbolt file on etcd", v.Name, v.VolumeSource)
				}
			}
			for _, m := range container(t, d).VolumeMounts {
				if m.MountPath == "/data" {
					t.Errorf("%s is still mounted at /data", m.Name)
				}
			}

			cfg := loadHAConfig(t, b)
			if cfg.StorePath != "" || cfg.StoreEtcd == nil {
				t.Fatalf("store: path %q, etcd %+v: want store.etcd alone", cfg.StorePath, cfg.StoreEtcd)
			}
			if tls := cfg.StoreEtcd.TLS; tls == nil || tls.CAFile == "" || tls.CertFile == "" || tls.KeyFile == "" {
				t.Errorf("store.etcd.tls %+v: want ca_file, cert_file and key_file (etcd asks for a client certificate)", tls)
			}
			// The certificates are files of the etcd client Secret's mount.
			mount := secretMountOf(t, b, etcdClientSecret)
			for _, r := range fileRefs(t, b) {
				if r.key == "ca" || r.key == "cert" || r.key == "key" {
					if path.Dir(r.file) != mount.MountPath {
						t.Errorf("store.etcd.tls.%s_file %s is not under the mount of %s (%s)", r.key, r.file, etcdClientSecret, mount.MountPath)
					}
				}
			}

			pdb := b.pdbs["jitbot"]
			if pdb == nil {
				t.Fatal("no PodDisruptionBudget jitbot")
			}
			if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(2) || pdb.Spec.MaxUnavailable != nil {
				t.Errorf("PodDisruptionBudget jitbot: minAvailable %v, maxUnavailable %v; want minAvailable 2", pdb.Spec.MinAvailable, pdb.Spec.MaxUnavailable)
			}
			if !selects(pdb.Spec.Selector, d.Spec.Template.Labels) {
				t.Errorf("PodDisruptionBudget jitbot selector %+v does not select the jitbot pods", pdb.Spec.Selector)
			}
			for _, s := range b.statefulSets {
				if selects(pdb.Spec.Selector, s.Spec.Template.Labels) {
					t.Errorf("PodDisruptionBudget jitbot selects the pods of the StatefulSet %s too", s.Name)
				}
			}

			keys := map[string]corev1.UnsatisfiableConstraintAction{}
			for _, c := range spec.TopologySpreadConstraints {
				if c.MaxSkew != 1 || !selects(c.LabelSelector, d.Spec.Template.Labels) {
					t.Errorf("topology spread on %s: maxSkew %d, selector %+v; want 1 and the jitbot pods", c.TopologyKey, c.MaxSkew, c.LabelSelector)
				}
				keys[c.TopologyKey] = c.WhenUnsatisfiable
			}
			if _, ok := keys["topology.kubernetes.io/zone"]; !ok {
				t.Error("no topology spread across zones")
			}
			if keys["kubernetes.io/hostname"] != corev1.DoNotSchedule {
				t.Errorf("topology spread across nodes: %q, want DoNotSchedule", keys["kubernetes.io/hostname"])
			}
		})
	}
}

// selects reports whether a label selector (matchLabels alone) selects labels.
func selects(sel *metav1.LabelSelector, labels map[string]string) bool {
	return sel != nil && len(sel.MatchExpressions) == 0 && subset(sel.MatchLabels, labels)
}

// secretMountOf returns the jitbot container's mount of the Secret named name.
func secretMountOf(t *testing.T, b *bundle, name string) corev1.VolumeMount {
	t.Helper()
	for _, v := range b.deploy.Spec.Template.Spec.Volumes {
		if v.Secret == nil || v.Secret.SecretName != name {
			continue
		}
		if m := v.Secret.DefaultMode; m == nil || *m != 0o400 {
			t.Errorf("Secret volume %s: defaultMode %v, want 0400", v.Name, m)
		}
		for _, m := range container(t, b.deploy).VolumeMounts {
			if m.Name == v.Name {
				if !m.ReadOnly {
					t.Errorf("the mount of %s is not read-only", name)
				}
				return m
			}
		}
	}
	t.Fatalf("the jitbot container mounts no Secret %s", name)
	return corev1.VolumeMount{}
}

// etcdArgs returns the etcd container's --flag=value arguments.
func etcdArgs(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	args := map[string]string{}
	for _, a := range c.Args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || !strings.HasPrefix(k, "--") {
			t.Errorf("etcd argument %q is not --flag=value", a)
			continue
		}
		if _, dup := args[k]; dup {
			t.Errorf("etcd flag %s given twice", k)
		}
		args[k] = v
	}
	return args
}

// urlPort returns the port of an etcd URL (https://0.0.0.0:2379).
func urlPort(t *testing.T, raw string) int32 {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || u.Port() == "" {
		t.Fatalf("%q is not a URL with a port", raw)
	}
	n, err := strconv.ParseInt(u.Port(), 10, 32)
	if err != nil {
		t.Fatal(err)
	}
	return int32(n)
}

// TestEtcdStatefulSet: components/etcd's cluster has 3 members on volumes of their own,
// under a PodDisruptionBudget, apart on nodes, TLS from Secrets made out of band, compaction
// and a quota; and jitbot's endpoints are its client Service's port.
func TestEtcdStatefulSet(t *testing.T) {
	b := renderExample(t, haExample)
	if len(b.statefulSets) != 1 {
		t.Fatalf("%s has %d StatefulSets, want etcd's", haExample, len(b.statefulSets))
	}
	s := b.statefulSets[0]
	if s.Spec.Replicas == nil || *s.Spec.Replicas != 3 {
		t.Errorf("etcd replicas %v, want 3", s.Spec.Replicas)
	}
	if s.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy %q: an ordered start waits forever for the first member's quorum", s.Spec.PodManagementPolicy)
	}
	spec := s.Spec.Template.Spec
	if len(spec.Containers) != 1 {
		t.Fatalf("etcd pods: %d containers, want 1", len(spec.Containers))
	}
	c := spec.Containers[0]
	if c.Image != etcdImage {
		t.Errorf("etcd image %q, want %s (pinned by version)", c.Image, etcdImage)
	}
	args := etcdArgs(t, c)

	// Volumes: a claim per member, mounted above the data dir.
	if len(s.Spec.VolumeClaimTemplates) != 1 {
		t.Fatalf("volumeClaimTemplates: %d, want 1", len(s.Spec.VolumeClaimTemplates))
	}
	vct := s.Spec.VolumeClaimTemplates[0]
	if q := vct.Spec.Resources.Requests[corev1.ResourceStorage]; q.IsZero() || !slices.Contains(vct.Spec.AccessModes, corev1.ReadWriteOnce) {
		t.Errorf("volumeClaimTemplate %s: storage %v, access modes %v", vct.Name, q.String(), vct.Spec.AccessModes)
	}
	var dataMount string
	for _, m := range c.VolumeMounts {
		if m.Name == vct.Name {
			dataMount = m.MountPath
		}
	}
	if dataMount == "" || !strings.HasPrefix(args["--data-dir"], dataMount+"/") {
		t.Errorf("--data-dir %q is not under the claim %s's mount %q", args["--data-dir"], vct.Name, dataMount)
	}
	for _, v := range spec.Volumes {
		if v.EmptyDir != nil || v.HostPath != nil {
			t.Errorf("etcd volume %s is not persistent", v.Name)
		}
	}

	for _, f := range []string{"--auto-compaction-retention", "--quota-backend-bytes", "--client-cert-auth", "--peer-client-cert-auth", "--trusted-ca-file", "--peer-trusted-ca-file"} {
		if args[f] == "" {
			t.Errorf("etcd has no %s", f)
		}
	}
	if q, err := strconv.ParseInt(args["--quota-backend-bytes"], 10, 64); err != nil || q <= 0 || q > 8<<30 {
		t.Errorf("--quota-backend-bytes %q: want a size up to 8 GiB (etcd's suggested maximum)", args["--quota-backend-bytes"])
	}
	// TLS everywhere, from Secrets the build does not hold.
	for _, f := range []string{"--listen-client-urls", "--advertise-client-urls", "--listen-peer-urls", "--initial-advertise-peer-urls"} {
		if !strings.HasPrefix(args[f], "https://") {
			t.Errorf("%s %q is not https", f, args[f])
		}
	}
	for _, cluster := range strings.Split(args["--initial-cluster"], ",") {
		name, u, _ := strings.Cut(cluster, "=")
		if !strings.HasPrefix(u, "https://"+name+"."+s.Spec.ServiceName+".") || urlPort(t, u) != urlPort(t, args["--listen-peer-urls"]) {
			t.Errorf("--initial-cluster member %q: want https://<name>.%s.<namespace>.svc on the peer port", cluster, s.Spec.ServiceName)
		}
	}
	if n := len(strings.Split(args["--initial-cluster"], ",")); n != 3 {
		t.Errorf("--initial-cluster has %d members, want 3", n)
	}
	for _, f := range []string{"--trusted-ca-file", "--cert-file", "--key-file", "--peer-trusted-ca-file", "--peer-cert-file", "--peer-key-file"} {
		if !underSecret(spec, c, args[f]) {
			t.Errorf("%s %s is not a file of a mounted Secret", f, args[f])
		}
	}

	// Apart on nodes, for certain; on zones, where there are any.
	aa := spec.Affinity
	if aa == nil || aa.PodAntiAffinity == nil {
		t.Fatal("etcd has no pod anti-affinity")
	}
	var nodes, zones bool
	for _, term := range aa.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution {
		nodes = nodes || (term.TopologyKey == "kubernetes.io/hostname" && selects(term.LabelSelector, s.Spec.Template.Labels))
	}
	for _, w := range aa.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		zones = zones || (w.PodAffinityTerm.TopologyKey == "topology.kubernetes.io/zone" && selects(w.PodAffinityTerm.LabelSelector, s.Spec.Template.Labels))
	}
	if !nodes || !zones {
		t.Errorf("etcd anti-affinity: required across nodes %v, preferred across zones %v; want both", nodes, zones)
	}

	pdb := b.pdbs["etcd"]
	if pdb == nil {
		t.Fatal("no PodDisruptionBudget etcd")
	}
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(2) || !selects(pdb.Spec.Selector, s.Spec.Template.Labels) || selects(pdb.Spec.Selector, b.deploy.Spec.Template.Labels) {
		t.Errorf("PodDisruptionBudget etcd: minAvailable %v, selector %+v; want 2 and the etcd pods alone", pdb.Spec.MinAvailable, pdb.Spec.Selector)
	}

	// The governing Service is headless and publishes members before they are ready.
	peers := b.services[s.Spec.ServiceName]
	if peers == nil || peers.Spec.ClusterIP != corev1.ClusterIPNone || !peers.Spec.PublishNotReadyAddresses {
		t.Fatalf("the StatefulSet's Service %q: want a headless Service publishing not-ready addresses", s.Spec.ServiceName)
	}

	// jitbot's endpoints: the client Service, on its port, which reaches etcd's client port.
	cfg := loadHAConfig(t, b)
	if cfg.StoreEtcd == nil || len(cfg.StoreEtcd.Endpoints) == 0 {
		t.Fatal("jitbot.yaml has no store.etcd endpoints")
	}
	clientPort := urlPort(t, args["--listen-client-urls"])
	for _, e := range cfg.StoreEtcd.Endpoints {
		u, err := url.Parse(e)
		if err != nil {
			t.Fatal(err)
		}
		name, ns, ok := strings.Cut(strings.TrimSuffix(u.Hostname(), ".svc"), ".")
		svc := b.services[name]
		if !ok || ns != namespace || svc == nil || !strings.HasSuffix(u.Hostname(), ".svc") {
			t.Errorf("endpoint %s is not a Service of the build (<name>.%s.svc)", e, namespace)
			continue
		}
		if svc.Spec.ClusterIP == corev1.ClusterIPNone || !selects(&metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, s.Spec.Template.Labels) {
			t.Errorf("endpoint %s: Service %s is not a client Service of the etcd pods", e, name)
		}
		var found bool
		for _, p := range svc.Spec.Ports {
			if p.Port != urlPort(t, e) {
				continue
			}
			found = true
			if cp, ok := resolvePort(c, p.TargetPort); !ok || cp.ContainerPort != clientPort {
				t.Errorf("endpoint %s: Service %s port %d reaches %v, not etcd's client port %d", e, name, p.Port, p.TargetPort.String(), clientPort)
			}
		}
		if !found {
			t.Errorf("endpoint %s: Service %s has no port %s", e, name, u.Port())
		}
	}
	if len(b.pdbs) != 2 {
		t.Errorf("PodDisruptionBudgets %v, want jitbot's and etcd's", len(b.pdbs))
	}
}

// underSecret reports whether file is in a directory where container c mounts a Secret.
func underSecret(spec corev1.PodSpec, c corev1.Container, file string) bool {
	for _, v := range spec.Volumes {
		if v.Secret == nil {
			continue
		}
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && path.Dir(file) == m.MountPath {
				return true
			}
		}
	}
	return false
}

// TestHASecrets: the HA builds hold no Secret but the one examples/overlay generates from
// the operator's files; the TLS Secrets they mount are made out of band, never generated
// with placeholder values.
func TestHASecrets(t *testing.T) {
	for _, dir := range []string{haExample, haExternalExample} {
		b := renderExample(t, dir)
		var generated string
		for _, s := range b.secrets {
			if !strings.HasPrefix(s.Name, secretName+"-") {
				t.Errorf("%s holds the Secret %s: TLS Secrets are made out of band", dir, s.Name)
				continue
			}
			generated = s.Name
			for k, v := range s.Data {
				if strings.TrimSpace(string(v)) != "value-of-"+k {
					t.Errorf("%s: the Secret %s key %s is not the operator's file", dir, s.Name, k)
				}
			}
		}
		if generated == "" {
			t.Errorf("%s: the generated Secret %s is missing", dir, secretName)
		}
		// Every Secret a pod mounts is the generated one or one made out of band.
		specs := []corev1.PodSpec{b.deploy.Spec.Template.Spec}
		for _, s := range b.statefulSets {
			specs = append(specs, s.Spec.Template.Spec)
		}
		for _, spec := range specs {
			for _, v := range spec.Volumes {
				if v.Secret == nil || v.Secret.SecretName == generated {
					continue
				}
				if !slices.Contains([]string{etcdClientSecret, "etcd-server-tls", "etcd-peer-tls"}, v.Secret.SecretName) {
					t.Errorf("%s mounts the Secret %s, which neither the build nor the README makes", dir, v.Secret.SecretName)
				}
				if v.Secret.Optional != nil && *v.Secret.Optional {
					t.Errorf("%s: the Secret %s is optional: a pod must not start without its certificates", dir, v.Secret.SecretName)
				}
			}
		}
	}
}

// TestHAPorts: every port a Service, probe or NetworkPolicy of the HA builds refers to is a
// port of the pods it selects, and every pod a Service or NetworkPolicy selects exists.
func TestHAPorts(t *testing.T) {
	for _, dir := range []string{haExample, haExternalExample} {
		b := renderExample(t, dir)
		type pods struct {
			name   string
			labels map[string]string
			spec   corev1.PodSpec
		}
		all := []pods{{"Deployment " + b.deploy.Name, b.deploy.Spec.Template.Labels, b.deploy.Spec.Template.Spec}}
		for _, s := range b.statefulSets {
			all = append(all, pods{"StatefulSet " + s.Name, s.Spec.Template.Labels, s.Spec.Template.Spec})
		}
		selected := func(sel *metav1.LabelSelector) []pods {
			var out []pods
			for _, p := range all {
				if selects(sel, p.labels) {
					out = append(out, p)
				}
			}
			return out
		}
		hasPort := func(p pods, port intstr.IntOrString) bool {
			for _, c := range p.spec.Containers {
				if _, ok := resolvePort(c, port); ok {
					return true
				}
			}
			return false
		}
		for _, s := range b.services {
			sel := selected(&metav1.LabelSelector{MatchLabels: s.Spec.Selector})
			if len(sel) != 1 {
				t.Errorf("%s: Service %s selects %d workloads, want 1", dir, s.Name, len(sel))
				continue
			}
			for _, p := range s.Spec.Ports {
				if !hasPort(sel[0], p.TargetPort) {
					t.Errorf("%s: Service %s port %s: targetPort %s is no port of %s", dir, s.Name, p.Name, p.TargetPort.String(), sel[0].name)
				}
			}
		}
		for _, p := range all {
			for _, c := range p.spec.Containers {
				for name, pr := range map[string]*corev1.Probe{"startupProbe": c.StartupProbe, "livenessProbe": c.LivenessProbe, "readinessProbe": c.ReadinessProbe} {
					if pr == nil || pr.HTTPGet == nil {
						t.Errorf("%s: %s %s has no HTTP %s", dir, p.name, c.Name, name)
						continue
					}
					if _, ok := resolvePort(c, pr.HTTPGet.Port); !ok {
						t.Errorf("%s: %s %s: port %s is no container port", dir, p.name, name, pr.HTTPGet.Port.String())
					}
				}
			}
		}
		for _, np := range b.netpols {
			own := selected(&np.Spec.PodSelector)
			if len(own) != 1 {
				t.Errorf("%s: NetworkPolicy %s selects %d workloads, want 1", dir, np.Name, len(own))
				continue
			}
			for i, r := range np.Spec.Ingress {
				for _, p := range r.Ports {
					if p.Port != nil && !hasPort(own[0], *p.Port) {
						t.Errorf("%s: NetworkPolicy %s ingress rule %d: port %s is no port of %s", dir, np.Name, i, p.Port.String(), own[0].name)
					}
				}
				checkPeers(t, dir, np.Name, r.From, selected)
			}
			for i, r := range np.Spec.Egress {
				checkPeers(t, dir, np.Name, r.To, selected)
				for _, peer := range r.To {
					if peer.PodSelector == nil || peer.NamespaceSelector != nil {
						continue
					}
					for _, target := range selected(peer.PodSelector) {
						for _, p := range r.Ports {
							if p.Port != nil && !hasPort(target, *p.Port) {
								t.Errorf("%s: NetworkPolicy %s egress rule %d: port %s is no port of %s", dir, np.Name, i, p.Port.String(), target.name)
							}
						}
					}
				}
			}
		}
		// jitbot may reach etcd's client port; in-cluster, etcd admits it.
		cfg := loadHAConfig(t, b)
		for _, e := range cfg.StoreEtcd.Endpoints {
			port := intstr.FromInt32(urlPort(t, e))
			if !egressAllows(b.netpol, port) {
				t.Errorf("%s: the NetworkPolicy jitbot admits no egress to port %s of %s", dir, port.String(), e)
			}
		}
		if etcd := b.netpols["etcd"]; etcd != nil {
			var admitted bool
			for _, r := range etcd.Spec.Ingress {
				for _, from := range r.From {
					if from.PodSelector != nil && selects(from.PodSelector, b.deploy.Spec.Template.Labels) {
						for _, p := range r.Ports {
							admitted = admitted || (p.Port != nil && p.Port.IntVal == 2379)
						}
					}
				}
			}
			if !admitted {
				t.Errorf("%s: the NetworkPolicy etcd does not admit jitbot's pods on the client port", dir)
			}
		}
	}
}

// checkPeers: a NetworkPolicy peer selecting pods of this namespace selects some.
func checkPeers[P any](t *testing.T, dir, name string, peers []networkingv1.NetworkPolicyPeer, selected func(*metav1.LabelSelector) []P) {
	t.Helper()
	for _, peer := range peers {
		if peer.PodSelector != nil && peer.NamespaceSelector == nil && len(selected(peer.PodSelector)) == 0 {
			t.Errorf("%s: NetworkPolicy %s names pods %v that no workload of the build runs", dir, name, peer.PodSelector.MatchLabels)
		}
	}
}

// egressAllows reports whether a NetworkPolicy lets its pods out to TCP port.
func egressAllows(np *networkingv1.NetworkPolicy, port intstr.IntOrString) bool {
	for _, r := range np.Spec.Egress {
		for _, p := range r.Ports {
			if p.Port != nil && *p.Port == port {
				return true
			}
		}
	}
	return false
}

// TestHAExternalEtcd: the external alternative runs no etcd of its own and points the store
// at the members its store section lists.
func TestHAExternalEtcd(t *testing.T) {
	b := renderExample(t, haExternalExample)
	if len(b.statefulSets) != 0 || b.pdbs["etcd"] != nil || b.netpols["etcd"] != nil {
		t.Errorf("%s runs an etcd of its own", haExternalExample)
	}
	cfg := loadHAConfig(t, b)
	if cfg.StoreEtcd == nil || len(cfg.StoreEtcd.Endpoints) < 3 {
		t.Fatalf("store.etcd %+v: want the external members", cfg.StoreEtcd)
	}
	for _, e := range cfg.StoreEtcd.Endpoints {
		if strings.Contains(e, ".svc:") || !strings.HasPrefix(e, "https://") {
			t.Errorf("endpoint %s: want an external member's https URL", e)
		}
	}
	if n := strings.Count(string(exampleConfig(t, b)), storeMark); n != 2 {
		t.Errorf("the store marks appear %d times after two swaps, want 2", n)
	}
}
