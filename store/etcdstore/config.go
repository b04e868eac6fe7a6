package etcdstore

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Config is the store.etcd section of jitbot.yaml.
type Config struct {
	// Endpoints are the etcd members' client URLs
	// (https://etcd-0.etcd:2379).
	Endpoints []string `yaml:"endpoints"`
	// Prefix is put before every key jitbot writes ("/jitbot/"), so that
	// one cluster can hold several jitbots, or other tenants.
	Prefix string `yaml:"prefix"`
	// DialTimeout bounds connecting (5s); RequestTimeout bounds each
	// operation, retries on conflict included (5s). Go durations: 500ms, 5s.
	DialTimeout    string `yaml:"dial_timeout"`
	RequestTimeout string `yaml:"request_timeout"`
	// Username and Password authenticate with etcd's own users.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	TLS          *TLS   `yaml:"tls"`
	// MaxTxnOps is the cluster's --max-txn-ops (128, etcd's default): no
	// transaction jitbot sends holds more operations.
	MaxTxnOps int `yaml:"max_txn_ops"`
	// Compaction is how long the history of jitbot's keys is kept before
	// the leader compacts it (1m, DefaultCompaction; 1m to 30d), or "off"
	// to leave compaction to etcd's --auto-compaction-retention.
	Compaction string `yaml:"compaction"`
}

// TLS configures the connection to etcd: the CA that signed the members'
// certificates, and a client certificate when the cluster asks for one.
type TLS struct {
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Defaults.
const (
	DefaultPrefix         = "/jitbot/"
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 5 * time.Second
	DefaultMaxTxnOps      = 128
)

// Validate reports what is wrong with the section, each problem with its
// path in it. A password counts as given when password_file is set: the
// loader reads the file into it.
func (c Config) Validate() []flows.FieldError {
	var errs flows.ValidationError
	if len(c.Endpoints) == 0 {
		errs.Add("endpoints", "required: the etcd members' client URLs, for example https://etcd-0.etcd:2379")
	}
	for i, e := range c.Endpoints {
		if err := checkEndpoint(e, c.TLS != nil, c.Username != ""); err != nil {
			errs.Add(fmt.Sprintf("endpoints[%d]", i), "%v", err)
		}
	}
	if c.Prefix != "" && (!strings.HasPrefix(c.Prefix, "/") || !strings.HasSuffix(c.Prefix, "/") || len(c.Prefix) < 2) {
		errs.Add("prefix", "%q: a prefix starts and ends with / and names something (/jitbot/)", c.Prefix)
	}
	for _, d := range []struct{ key, value string }{{"dial_timeout", c.DialTimeout}, {"request_timeout", c.RequestTimeout}} {
		if d.value == "" {
			continue
		}
		v, err := time.ParseDuration(d.value)
		switch {
		case err != nil:
			errs.Add(d.key, "%q is not a duration such as 5s or 500ms", d.value)
		case v < 100*time.Millisecond || v > time.Minute:
			errs.Add(d.key, "%s: use between 100ms and 1m", d.value)
		}
	}
	if (c.Username == "") != (c.Password == "" && c.PasswordFile == "") {
		errs.Add("username", "set username and password (or password_file) together")
	}
	if c.Compaction != "" && c.Compaction != "off" {
		v, err := time.ParseDuration(c.Compaction)
		switch {
		case err != nil:
			errs.Add("compaction", "%q is not a duration such as 1h, nor off", c.Compaction)
		case v < time.Minute || v > 30*24*time.Hour:
			errs.Add("compaction", "%s: keep between 1m and 720h of history, or say off (and run etcd with --auto-compaction-retention)", c.Compaction)
		}
	}
	if c.MaxTxnOps != 0 && c.MaxTxnOps < 32 {
		errs.Add("max_txn_ops", "%d: etcd's --max-txn-ops is 128 unless raised; jitbot needs at least 32", c.MaxTxnOps)
	}
	if t := c.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			errs.Add("tls.cert_file", "set cert_file and key_file together (a client certificate and its key)")
		}
		for _, f := range []struct{ key, path string }{{"tls.ca_file", t.CAFile}, {"tls.cert_file", t.CertFile}, {"tls.key_file", t.KeyFile}} {
			if f.path == "" {
				continue
			}
			if _, err := os.Stat(f.path); err != nil {
				errs.Add(f.key, "cannot read %s: %v", f.path, err)
			}
		}
		if len(errs) == 0 {
			if _, err := t.config(); err != nil {
				errs.Add("tls", "%v", err)
			}
		}
	}
	return errs
}

// checkEndpoint accepts scheme://host:port. Plain http is refused when tls
// is configured (the operator meant it), and left to the operator
// otherwise (a cluster on a private network, the tests), unless a password
// would cross it.
func checkEndpoint(e string, withTLS, withPassword bool) error {
	u, err := url.Parse(e)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Port() == "":
		return fmt.Errorf("%q is not an etcd client URL such as https://etcd-0.etcd:2379", e)
	case u.User != nil:
		return fmt.Errorf("%q carries a user name or password: use username and password", u.Redacted())
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("%q has a path: an etcd endpoint is scheme://host:port", e)
	case withTLS && u.Scheme != "https":
		return fmt.Errorf("%q is plain http but tls is configured: use https", e)
	case withPassword && u.Scheme != "https" && !loopback(u.Hostname()):
		return fmt.Errorf("%q is plain http: the password would cross the network in clear; use https (http is for a loopback etcd only)", e)
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// config builds the client's TLS configuration.
func (t *TLS) config() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read the CA %s: %w", t.CAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s holds no PEM certificate", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load the client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// settings are Config's values with the defaults applied.
type settings struct {
	prefix         string
	dialTimeout    time.Duration
	requestTimeout time.Duration
	maxOps         int
}

func (c Config) settings() (settings, error) {
	if errs := c.Validate(); len(errs) > 0 {
		return settings{}, fmt.Errorf("etcdstore: %w", flows.ValidationError(errs))
	}
	s := settings{prefix: c.Prefix, dialTimeout: DefaultDialTimeout, requestTimeout: DefaultRequestTimeout, maxOps: c.MaxTxnOps}
	if s.prefix == "" {
		s.prefix = DefaultPrefix
	}
	if s.maxOps == 0 {
		s.maxOps = DefaultMaxTxnOps
	}
	if c.DialTimeout != "" {
		s.dialTimeout, _ = time.ParseDuration(c.DialTimeout)
	}
	if c.RequestTimeout != "" {
		s.requestTimeout, _ = time.ParseDuration(c.RequestTimeout)
	}
	return s, nil
}

// CompactionRetention is how much history the leader keeps when it
// compacts: DefaultCompaction unless configured, 0 for off.
func (c Config) CompactionRetention() time.Duration {
	switch c.Compaction {
	case "":
		return DefaultCompaction
	case "off":
		return 0
	}
	d, err := time.ParseDuration(c.Compaction)
	if err != nil {
		return DefaultCompaction // Validate refused it already
	}
	return d
}
