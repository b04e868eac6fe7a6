package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// startTimeout bounds how long a cluster may take to elect a leader.
const startTimeout = 30 * time.Second

// Member is one etcd server of a Cluster.
type Member struct {
	Name      string
	Dir       string
	ClientURL string
	PeerURL   string

	mu   sync.Mutex
	etcd *embed.Etcd // nil while stopped
}

// Cluster is a running etcd cluster.
type Cluster struct {
	t       testing.TB // nil when launched outside a test
	Members []*Member
	initial string // the initial-cluster flag naming every member
	token   string
	tls     *Certs
	quota   int64
}

// Start starts a cluster of n members (1 or 3, say) and stops it when the
// test ends.
func Start(t testing.TB, n int) *Cluster { t.Helper(); return StartWith(t, Options{Members: n}) }

// Options describe a cluster.
type Options struct {
	Members int
	// TLS, when set, makes the members serve clients over TLS with these
	// certificates and ask for a client certificate signed by its CA.
	TLS *Certs
	// QuotaBytes is each member's --quota-backend-bytes (etcd's 2 GiB when
	// 0): a small one raises the NOSPACE alarm soon.
	QuotaBytes int64
}

// StartWith starts the cluster o describes.
func StartWith(t testing.TB, o Options) *Cluster {
	t.Helper()
	c, err := launch(o, func() (string, error) { return t.TempDir(), nil })
	if c != nil {
		c.t = t
		t.Cleanup(c.Close)
	}
	if err != nil {
		t.Fatalf("etcdtest: %v", err)
	}
	return c
}

// Launch starts the cluster o describes outside a test (jitbot-bench's HA
// scenario), each member's data in a directory of its own under dir. Close
// stops it.
func Launch(o Options, dir string) (*Cluster, error) {
	n := 0
	c, err := launch(o, func() (string, error) {
		n++
		d := filepath.Join(dir, fmt.Sprintf("member%d", n-1))
		return d, os.MkdirAll(d, 0o700)
	})
	if err != nil && c != nil {
		c.Close()
		return nil, err
	}
	return c, err
}

// launch starts the cluster, on fresh ports again when one it picked was
// taken meanwhile (freeAddr's port is free when read, and another test
// binary may bind it before the member does).
func launch(o Options, newDir func() (string, error)) (*Cluster, error) {
	for attempt := 0; ; attempt++ {
		c, err := launchOnce(o, newDir)
		if err == nil || attempt == 2 || !strings.Contains(err.Error(), "address already in use") {
			return c, err
		}
		if c != nil {
			c.Close()
		}
	}
}

func launchOnce(o Options, newDir func() (string, error)) (*Cluster, error) {
	n := max(o.Members, 1)
	scheme := "http://"
	if o.TLS != nil {
		scheme = "https://"
	}
	c := &Cluster{token: fmt.Sprintf("jitbot-test-%d", time.Now().UnixNano()), tls: o.TLS, quota: o.QuotaBytes}
	var peers []string
	for i := range n {
		dir, err := newDir()
		if err != nil {
			return nil, err
		}
		client, err := freeAddr()
		if err != nil {
			return nil, err
		}
		peer, err := freeAddr()
		if err != nil {
			return nil, err
		}
		m := &Member{Name: fmt.Sprintf("m%d", i), Dir: dir, ClientURL: scheme + client, PeerURL: "http://" + peer}
		c.Members = append(c.Members, m)
		peers = append(peers, m.Name+"="+m.PeerURL)
	}
	c.initial = strings.Join(peers, ",")
	// Each member waits for a quorum before it is ready: start them all
	// before waiting for any.
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, m := range c.Members {
		wg.Go(func() { errs[i] = c.start(m, "new") })
	}
	wg.Wait()
	return c, errors.Join(errs...)
}

// Close stops every member.
func (c *Cluster) Close() {
	for _, m := range c.Members {
		m.stop()
	}
}

// freeAddr is a loopback address with a port nobody listens on now, below
// the kernel's ephemeral range (32768 and up on Linux): a member stopped
// and restarted on it, or a process killed and started again, finds it
// free still. A port from the ephemeral range (what port 0 hands out) may
// meanwhile be the local end of any outgoing connection: CI saw a member's
// restart fail with "address already in use".
func freeAddr() (string, error) {
	const low, high = 20000, 32768
	start := rand.IntN(high - low)
	for i := range high - low {
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", low+(start+i)%(high-low)))
		if err != nil {
			continue
		}
		defer l.Close()
		return l.Addr().String(), nil
	}
	return "", fmt.Errorf("find a free port: none between %d and %d", low, high-1)
}

func (c *Cluster) start(m *Member, state string) error {
	cfg := embed.NewConfig()
	cfg.Name = m.Name
	cfg.Dir = m.Dir
	cfg.LogLevel = "error"
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.New(quietCore{zapcore.NewCore(
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.Lock(os.Stderr), zapcore.ErrorLevel)}))
	cu, _ := url.Parse(m.ClientURL)
	pu, _ := url.Parse(m.PeerURL)
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	if c.tls != nil {
		cfg.ClientTLSInfo = transport.TLSInfo{CertFile: c.tls.ServerCert, KeyFile: c.tls.Server, TrustedCAFile: c.tls.CA, ClientCertAuth: true}
	}
	cfg.QuotaBackendBytes = c.quota
	cfg.BcryptCost = 4 // bcrypt's least: passwords of tests need no strength, and -race makes bcrypt slow
	cfg.InitialCluster = c.initial
	cfg.InitialClusterToken = c.token
	cfg.ClusterState = state
	// Fast elections: the failover tests kill leaders.
	cfg.TickMs, cfg.ElectionMs = 50, 500
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return fmt.Errorf("start member %s: %w", m.Name, err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return fmt.Errorf("member %s: %w", m.Name, err)
	case <-time.After(startTimeout):
		e.Close()
		return fmt.Errorf("member %s was not ready within %v", m.Name, startTimeout)
	}
	m.mu.Lock()
	m.etcd = e
	m.mu.Unlock()
	return nil
}

// Endpoints are the members' client URLs.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.Members))
	for i, m := range c.Members {
		out[i] = m.ClientURL
	}
	return out
}

// Client is a new client of every member, closed when the test ends.
func (c *Cluster) Client() *clientv3.Client {
	c.t.Helper()
	cli, err := c.NewClient()
	if err != nil {
		c.t.Fatalf("etcdtest: client: %v", err)
	}
	c.t.Cleanup(func() { _ = cli.Close() })
	return cli
}

// NewClient is a new client of every member; the caller closes it.
func (c *Cluster) NewClient() (*clientv3.Client, error) { return c.client(c.Endpoints()...) }

// client is a client of endpoints, with the cluster's client certificate
// when it serves TLS.
func (c *Cluster) client(endpoints ...string) (*clientv3.Client, error) {
	cfg := clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if c.tls != nil {
		tc, err := (transport.TLSInfo{CertFile: c.tls.ClientCert, KeyFile: c.tls.Client, TrustedCAFile: c.tls.CA}).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("client TLS: %w", err)
		}
		cfg.TLS = tc
	}
	return clientv3.New(cfg)
}

// Stop stops member i (its data stays for Restart).
func (c *Cluster) Stop(i int) { c.Members[i].stop() }

// Restart starts member i again on its data directory and ports.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	if err := c.RestartMember(i); err != nil {
		c.t.Fatalf("etcdtest: %v", err)
	}
}

// RestartMember is Restart outside a test.
func (c *Cluster) RestartMember(i int) error {
	if err := c.start(c.Members[i], "existing"); err != nil {
		return fmt.Errorf("restart: %w", err)
	}
	return nil
}

// Running reports whether member i is up.
func (c *Cluster) Running(i int) bool {
	m := c.Members[i]
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.etcd != nil
}

func (m *Member) stop() {
	m.mu.Lock()
	e := m.etcd
	m.etcd = nil
	m.mu.Unlock()
	if e != nil {
		e.Close()
	}
}

// WaitHealthy waits until every running member answers a linearizable
// read (after a restart, say).
func (c *Cluster) WaitHealthy(ctx context.Context) error {
	for i, m := range c.Members {
		if !c.Running(i) {
			continue
		}
		cli, err := c.client(m.ClientURL)
		if err != nil {
			return err
		}
		for {
			rctx, cancel := context.WithTimeout(ctx, time.Second)
			_, err = cli.Get(rctx, "health")
			cancel()
			if err == nil || ctx.Err() != nil {
				break
			}
		}
		_ = cli.Close()
		if err != nil {
			return fmt.Errorf("member %s: %w", m.Name, err)
		}
	}
	return nil
}

// quietCore drops what every member says when it is closed ("setting up
// serving from embedded etcd failed": its listeners closed under it),
// which a test stopping members would otherwise print by the dozen, and
// what a new member may say once at start ("failed to update storage
// version": it tries again). A member that cannot serve at start says so
// through StartEtcd and Err.
type quietCore struct{ zapcore.Core }

func (c quietCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if strings.HasPrefix(e.Message, "setting up serving from embedded etcd failed") || e.Message == "failed to update storage version" {
		return ce
	}
	return c.Core.Check(e, ce)
}

func (c quietCore) With(fields []zapcore.Field) zapcore.Core { return quietCore{c.Core.With(fields)} }
