package atlas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// DefaultBaseURL is the Atlas commercial cloud. Atlas for Government and tests
// set Integration.BaseURL instead.
const DefaultBaseURL = "https://cloud.mongodb.com"

// Config configures a Provisioner. Zero values take the defaults noted.
type Config struct {
	Integrations []Integration

	// HTTPTimeout bounds one Atlas operation, its retries included (20s).
	HTTPTimeout time.Duration
	// ApplyTimeout bounds a wait for Atlas to apply a change (90s): then
	// WaitApplied returns flows.ErrNotApplied.
	ApplyTimeout time.Duration
	// The change-status poll schedule of a wait (one watcher per cluster
	// polls for everyone waiting there, whenever the first of them wants a
	// poll; see watcher.go). A cluster nobody was watching is polled at once,
	// for a change Atlas has applied already. Then a wait's polls start
	// ApplyFirstPoll (750ms) after it began (Atlas takes seconds to apply a
	// user change), then ApplyPoll (250ms) apart until it is ApplyFastFor
	// (3s) old; after that the gap is ApplyPoll × waited / ApplyFastFor (a
	// twelfth of the wait), at most ApplyPollMax (5s, reached after 60s).
	// With Atlas answering at once, a change applied after 0.75s to 3s is
	// noticed at most 250ms late, after 11 polls at 3s (12 just after);
	// later ones at most a twelfth late (0.8s and 27 polls at 10s); a wait
	// that times out at 90s costs 55 polls. A poll answered later than the
	// next is due is followed at once by the next: one is in flight per
	// cluster at a time.
	ApplyFirstPoll, ApplyPoll, ApplyFastFor, ApplyPollMax time.Duration
	// CatalogTTL is how long a project's cluster list is served from cache (5m).
	CatalogTTL time.Duration
	// CatalogRefresh is how often Catalog.Start refreshes the catalog of an
	// organization-wide integration (CatalogTTL), ±10%; DatabaseRefresh how
	// often a refresh also reads the databases of the dedicated clusters
	// through the monitoring API (30m; at least every refresh).
	CatalogRefresh, DatabaseRefresh time.Duration
	// DiscoveryConcurrency is how many projects a refresh reads at once (4),
	// and DiscoveryTimeout bounds one of its calls, retries and Retry-After
	// waits included (2m): a refresh runs in the background and may wait out
	// Atlas's rate limits, where a request's call may not.
	DiscoveryConcurrency int
	DiscoveryTimeout     time.Duration
	// MaxRetries is how many times one HTTP request is retried after a 429,
	// a 5xx or a broken connection (5; negative: never).
	MaxRetries int
	// RetryBase and RetryMax bound the exponential backoff between retries
	// that come without a Retry-After (250ms and 8s); each wait has ±50% jitter.
	RetryBase, RetryMax time.Duration
	// Sleep waits d or until ctx is done. Tests inject one that returns at
	// once and records what it was asked to wait.
	Sleep func(ctx context.Context, d time.Duration) error
	// Clock decides deleteAfterDate bounds and catalog ages (flows.SystemClock).
	Clock flows.Clock
	// Log receives the adapter's logs (discarded when nil).
	Log *slog.Logger
	// UserAgent is sent with every call ("jitbot").
	UserAgent string
	// Transport is the base HTTP transport under retries and authentication
	// (a clone of http.DefaultTransport's settings).
	Transport http.RoundTripper
}

// Integration is one Atlas project, or every project of one Atlas
// organization, and the credentials jitbot uses for it: an entry of
// integrations in jitbot.yaml, read by cmd/jitbot/config. The loader expands
// ${ENV}, reads each secret from its *_file twin, refuses placeholders in
// secrets and in the fields tagged check:"id", and checks the fields tagged
// check:"endpoint"; Validate says what else is wrong. The entry's other keys
// (owners, access_details) belong to the policy, as do the rules on Name
// (flows.Compile).
type Integration struct {
	Name      string `yaml:"name"`
	ProjectID string `yaml:"project_id"`
	// OrganizationID makes the integration span every project of an Atlas
	// organization, instead of the one of ProjectID: one organization-level
	// credential, the projects (with their tags) and their clusters
	// discovered on start-up and on a schedule (Catalog.Start). Exactly one
	// of the two is set.
	OrganizationID string `yaml:"organization_id"`
	// API is the integration's atlas section: where and how jitbot calls the
	// Admin API. Exactly one of its two credential pairs is set.
	API `yaml:"atlas"`
	// OwnerTag is the cluster tag whose value names the cluster's owners
	// ("owner").
	OwnerTag string `yaml:"owner_tag"`
	// Connection is how people reach the integration's clusters, and so
	// which connection string their credentials carry, for a cluster
	// without a TagConnection tag: standard (the default), private
	// (network peering), private-endpoint or private-endpoint:<endpoint id>.
	Connection string `yaml:"connection"`
	// Databases are catalog hints, cluster → database → collections: the Admin
	// API cannot list collections, so the databases people may pick from are
	// configured. In an organization-wide integration a key is a cluster of
	// any project, or project/cluster for one project's (by name or id); the
	// databases of its dedicated clusters are read from Atlas besides, and
	// the hints add their collections.
	Databases map[string]map[string][]string `yaml:"databases"`
	// OrgOwner is a second credential, of an Organization Owner of the
	// integration's organization, used for programmatic API keys (kind
	// api_key, apikey.go) and nothing else: deleting an API key takes
	// Organization Owner, which the integration's own credential should
	// not hold. Unset: the integration grants no API keys.
	OrgOwner OrgOwner `yaml:"org_owner"`
}

// OrgOwner is an Organization Owner credential: a service account or an
// API key pair, each secret with its *_file twin.
type OrgOwner struct {
	ClientID         string `yaml:"client_id" check:"id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	PublicKey        string `yaml:"public_key" check:"id"`
	PrivateKey       string `yaml:"private_key"`
	PrivateKeyFile   string `yaml:"private_key_file"`
}

// Set reports whether any of the credential is given.
func (o OrgOwner) Set() bool { return o != OrgOwner{} }

// validate checks the pair given, as for the integration's own.
func (o OrgOwner) validate(errs *flows.ValidationError) {
	oauth := o.ClientID != "" || o.ClientSecret != "" || o.ClientSecretFile != ""
	digest := o.PublicKey != "" || o.PrivateKey != "" || o.PrivateKeyFile != ""
	switch {
	case oauth && digest:
		errs.Add("org_owner", "use a service account (client_id, client_secret) or an API key pair (public_key, private_key), not both")
	case oauth && o.ClientID == "":
		errs.Add("org_owner.client_id", "required with client_secret")
	case oauth && o.ClientSecret == "" && o.ClientSecretFile == "":
		errs.Add("org_owner.client_secret", "required with client_id")
	case digest && o.PublicKey == "":
		errs.Add("org_owner.public_key", "required with private_key")
	case digest && o.PrivateKey == "" && o.PrivateKeyFile == "":
		errs.Add("org_owner.private_key", "required with public_key")
	}
}

// OrgWide reports whether the integration spans an organization.
func (in Integration) OrgWide() bool { return in.OrganizationID != "" }

// API is how jitbot reaches a project's Atlas Admin API. A secret may be
// given in its *_file twin instead, which only the configuration file uses:
// the loader reads the file into the secret.
type API struct {
	// BaseURL defaults to DefaultBaseURL.
	BaseURL string `yaml:"base_url" check:"endpoint"`
	// ClientID and ClientSecret are a service account (OAuth 2.0 client
	// credentials), the method Atlas recommends.
	ClientID         string `yaml:"client_id" check:"id"`
	ClientSecret     string `yaml:"client_secret"`
	ClientSecretFile string `yaml:"client_secret_file"`
	// PublicKey and PrivateKey are a programmatic API key (HTTP Digest), the
	// legacy method.
	PublicKey      string `yaml:"public_key" check:"id"`
	PrivateKey     string `yaml:"private_key"`
	PrivateKeyFile string `yaml:"private_key_file"`
	// RateLimit is Atlas's budget for database-user changes, which flows
	// plans revocations with (Bucket); nil: none is planned for.
	RateLimit *RateLimit `yaml:"rate_limit"`
}

// RateLimit describes the Atlas token bucket for database users, so that
// revocations can start early enough to finish on time.
type RateLimit struct {
	Capacity int `yaml:"capacity"`
	Refill   int `yaml:"refill"`
	// Per is the refill period as written (flows.ParseDuration), so that a
	// problem can quote it; empty is a minute.
	Per string `yaml:"per"`
}

func (r RateLimit) period() (time.Duration, error) {
	if r.Per == "" {
		return time.Minute, nil
	}
	return flows.ParseDuration(r.Per)
}

// Bucket is the rate limit as flows plans with it; false when there is none
// or it is not valid (Validate says why).
func (r *RateLimit) Bucket() (flows.RateLimit, bool) {
	if r == nil || r.Capacity < 1 || r.Refill < 1 {
		return flows.RateLimit{}, false
	}
	per, err := r.period()
	if err != nil {
		return flows.RateLimit{}, false
	}
	return flows.RateLimit{Capacity: r.Capacity, Refill: r.Refill, Per: per}, true
}

// Validate reports what is wrong with the integration's credentials, rate
// limit and catalog hints, each with its path in the integration's entry
// (atlas.client_id, databases.Cluster0). A secret counts as given when its
// *_file twin is set: the loader reads the file into it and reports a file
// it cannot read.
func (in Integration) Validate() []flows.FieldError {
	var errs flows.ValidationError
	switch {
	case in.ProjectID != "" && in.OrganizationID != "":
		errs.Add("organization_id", "set project_id (one project) or organization_id (every project of an organization), not both")
	case in.OrganizationID != "" && !projectIDPattern.MatchString(in.OrganizationID):
		errs.Add("organization_id", "%q is not an Atlas organization id (24 hexadecimal characters)", in.OrganizationID)
	}
	oauth := in.ClientID != "" || in.ClientSecret != "" || in.ClientSecretFile != ""
	digest := in.PublicKey != "" || in.PrivateKey != "" || in.PrivateKeyFile != ""
	switch {
	case oauth && digest:
		errs.Add("atlas", "use a service account (client_id, client_secret) or an API key pair (public_key, private_key), not both")
	case oauth:
		if in.ClientID == "" {
			errs.Add("atlas.client_id", "required with client_secret")
		}
		if in.ClientSecret == "" && in.ClientSecretFile == "" {
			errs.Add("atlas.client_secret", "required")
		}
	case digest:
		if in.PublicKey == "" {
			errs.Add("atlas.public_key", "required with private_key")
		}
		if in.PrivateKey == "" && in.PrivateKeyFile == "" {
			errs.Add("atlas.private_key", "required")
		}
	default:
		errs.Add("atlas", "credentials required: a service account (client_id, client_secret; recommended) or an API key pair (public_key, private_key)")
	}
	if rl := in.RateLimit; rl != nil {
		if _, err := rl.period(); err != nil {
			errs.Add("atlas.rate_limit.per", "%s", flows.ErrorMessage(err))
		}
		if rl.Capacity < 1 || rl.Refill < 1 {
			errs.Add("atlas.rate_limit", "capacity and refill must be at least 1")
		}
	}
	if in.Connection != "" {
		if _, err := parseConnectivity(in.Connection); err != nil {
			errs.Add("connection", "%v", err)
		}
	}
	// The hints name what the database-user kind grants, in its grammar.
	// The key is judged even without databases under it: New refuses a hint
	// that names no cluster whatever it holds.
	for key, dbs := range in.Databases {
		project, cluster, scoped := strings.Cut(key, "/")
		switch {
		case !scoped:
			project, cluster = "", key
		case !in.OrgWide():
			errs.Add("databases."+key, "project/cluster keys are for an organization-wide integration (organization_id); name the cluster alone")
			continue
		case project == "":
			errs.Add("databases."+key, "the project is empty: write project/cluster, or the cluster alone")
			continue
		}
		if cluster == "" {
			errs.Add("databases."+key, "the cluster is empty: a hint names the cluster whose databases it lists")
			continue
		}
		if err := (flows.Resource{Integration: "x", Project: project, Cluster: cluster, Database: "x"}).Validate(); err != nil {
			errs.Add("databases."+key, "%s", flows.ErrorMessage(err))
			continue
		}
		for db, colls := range dbs {
			res := flows.Resource{Integration: "x", Project: project, Cluster: cluster, Database: db}
			if err := res.Validate(); err != nil {
				errs.Add("databases."+key, "%s", flows.ErrorMessage(err))
				continue
			}
			for _, c := range colls {
				res.Collection = c
				if err := res.Validate(); err != nil {
					errs.Add("databases."+key+"."+db, "%s", flows.ErrorMessage(err))
				}
			}
		}
	}
	in.OrgOwner.validate(&errs)
	return errs
}

// secretsRead is the integration as New sees it: the *_file twins are the
// configuration file's, which config.Load reads into the secrets (or
// refuses), so New judges the secrets themselves.
func (in Integration) secretsRead() Integration {
	in.ClientSecretFile, in.PrivateKeyFile = "", ""
	in.OrgOwner.ClientSecretFile, in.OrgOwner.PrivateKeyFile = "", ""
	return in
}

var projectIDPattern = regexp.MustCompile(`^[a-f0-9]{24}$`)

// withDefaults returns cfg with every zero value replaced by its default.
func (cfg Config) withDefaults() Config {
	def := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&cfg.HTTPTimeout, 20*time.Second)
	def(&cfg.ApplyTimeout, 90*time.Second)
	def(&cfg.ApplyFirstPoll, 750*time.Millisecond)
	def(&cfg.ApplyPoll, 250*time.Millisecond)
	def(&cfg.ApplyFastFor, 3*time.Second)
	def(&cfg.ApplyPollMax, 5*time.Second)
	def(&cfg.CatalogTTL, 5*time.Minute)
	def(&cfg.CatalogRefresh, cfg.CatalogTTL)
	def(&cfg.DatabaseRefresh, 30*time.Minute)
	def(&cfg.DiscoveryTimeout, 2*time.Minute)
	if cfg.DiscoveryConcurrency <= 0 {
		cfg.DiscoveryConcurrency = 4
	}
	def(&cfg.RetryBase, 250*time.Millisecond)
	def(&cfg.RetryMax, 8*time.Second)
	switch {
	case cfg.MaxRetries == 0:
		cfg.MaxRetries = 5
	case cfg.MaxRetries < 0:
		cfg.MaxRetries = 0
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleep
	}
	if cfg.Clock == nil {
		cfg.Clock = flows.SystemClock{}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "jitbot"
	}
	integrations := make([]Integration, len(cfg.Integrations))
	for i, in := range cfg.Integrations {
		if in.BaseURL == "" {
			in.BaseURL = DefaultBaseURL
		}
		if in.OwnerTag == "" {
			in.OwnerTag = flows.DefaultOwnerTag
		}
		integrations[i] = in
	}
	cfg.Integrations = integrations
	return cfg
}

// validate reports every problem of the configuration, naming the integration
// at fault. Secrets are never quoted.
//
// It is what `jitbot check` runs (config.Load), so that a configuration it
// accepts is one New accepts: each integration's own Validate, and the rules
// the loader applies to the entry besides, which New repeats for the callers
// that build a Config by hand: a unique name and the project id
// (flows.Compile's rules), and base_url (the loader's endpoint check, the
// stricter).
func (cfg Config) validate() error {
	if len(cfg.Integrations) == 0 {
		return errors.New("atlas: no integrations configured")
	}
	var errs []error
	seen := map[string]bool{}
	for i, in := range cfg.Integrations {
		at := fmt.Sprintf("atlas: integration %q", in.Name)
		if in.Name == "" {
			at = fmt.Sprintf("atlas: integration #%d", i+1)
			errs = append(errs, fmt.Errorf("%s: the name is empty", at))
		} else if seen[in.Name] {
			errs = append(errs, fmt.Errorf("%s is configured twice", at))
		}
		seen[in.Name] = true
		if !in.OrgWide() && !projectIDPattern.MatchString(in.ProjectID) {
			errs = append(errs, fmt.Errorf("%s: project id %q is not 24 hexadecimal characters", at, in.ProjectID))
		}
		if err := checkBaseURL(in.BaseURL); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", at, err))
		}
		for _, fe := range in.secretsRead().Validate() {
			errs = append(errs, fmt.Errorf("%s: %s: %s", at, fe.Path, fe.Message))
		}
	}
	return errors.Join(errs...)
}

func (in Integration) usesOAuth() bool { return in.ClientID != "" || in.ClientSecret != "" }

// checkBaseURL insists on HTTPS, except on loopback where the simulator and
// local proxies live: the credentials travel with every request.
func checkBaseURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("base URL %q is not an http(s) URL", raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return fmt.Errorf("base URL %q: use https (plain http is allowed only on loopback)", raw)
	}
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sleep is the real Sleep: a timer that gives up when ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
