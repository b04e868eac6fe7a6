package atlas

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mongodb-forks/digest"
	"go.mongodb.org/atlas-sdk/v20250312020/admin"
	"go.mongodb.org/atlas-sdk/v20250312020/auth"

	"github.com/jitbot/jitbot/flows"
)

// Labels jitbot puts on the users it makes. Reconcile finds its users by
// LabelManagedBy; LabelRequest ties a user to the request that made it,
// LabelAttempt to the provisioning attempt that set its password.
const (
	LabelManagedBy    = "managed-by"
	ManagedByValue    = "jitbot"
	LabelRequest      = "jitbot-request"
	LabelAttempt      = "jitbot-attempt"
	labelCheck        = "jitbot-check"
	authDatabase      = "admin"     // SCRAM users authenticate against admin
	externalDatabase  = "$external" // OIDC and AWS IAM users, against $external
	usernamePrefix    = "jit-"
	maxDescription    = 100 // Atlas's limit on a user's description
	passwordLength    = 32
	passwordAlphabet  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	statusApplied     = "APPLIED"
	usersPerPage      = 500 // the most Atlas returns per page
	maxPages          = 1000
	scopeTypeCluster  = "CLUSTER"
	staleCatalogTimes = 10 // a catalog older than this many TTLs is not served
)

// Provisioner makes the grants of kind flows.KindDatabaseUser over the Atlas
// Admin API, one SDK client per integration, with every optional capability:
// it waits for APPLIED, sets deleteAfterDate as the backstop, reissues
// passwords and lists the users it made for reconcile.
type Provisioner struct {
	cfg      Config
	clock    flows.Clock
	log      *slog.Logger
	projects map[string]*project
	stats    *counters
	catalog  *Catalog
	watch    *watchers // change-status watchers (watcher.go)
	base     http.RoundTripper
	// cancel ends the context the OAuth token sources live on.
	cancel    context.CancelFunc
	closeOnce sync.Once
	// foreign remembers users found under our name but not ours, so that the
	// cleanup flows does after a failed create never deletes them.
	foreign sync.Map // integration + "/" + username → struct{}
	// accessList makes network access with the same clients (accesslist.go).
	accessList *AccessList
	// views are the per-project views of organization-wide integrations.
	views sync.Map // integration + "/" + project id → *project
}

var (
	_ flows.Provisioner = (*Provisioner)(nil)
	_ flows.ApplyWaiter = (*Provisioner)(nil)
	_ flows.Backstopper = (*Provisioner)(nil)
	_ flows.Reissuer    = (*Provisioner)(nil)
	_ flows.Inventory   = (*Provisioner)(nil)
)

// project is one integration and its SDK client. In an organization-wide
// integration a view (Provisioner.view) aims the client at one project of the
// organization: its ProjectID is that project's and org the integration's.
type project struct {
	Integration
	api *admin.APIClient
	org *project // the organization-wide integration of a view; nil otherwise
	// owner is the client of the integration's Organization Owner
	// credential (Integration.OrgOwner), for API keys only; nil: none.
	owner *admin.APIClient
}

func (pr *project) credentialKind() string {
	if pr.usesOAuth() {
		return "service account " + pr.ClientID
	}
	return "API key " + pr.PublicKey
}

// New checks cfg and builds one Atlas client per integration. No call is made:
// use Check to prove the credentials. ctx carries values only; the OAuth token
// sources outlive it and stop at Close.
func New(ctx context.Context, cfg Config) (*Provisioner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	base := cfg.Transport
	if base == nil {
		base = defaultTransport(cfg.HTTPTimeout)
	}
	// The token sources fetch tokens on this context for as long as the
	// Provisioner lives, whatever happens to the caller's.
	tokenCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &Provisioner{
		cfg: cfg, clock: cfg.Clock, log: cfg.Log, projects: map[string]*project{},
		stats: &counters{}, base: base, cancel: cancel,
	}
	for _, in := range cfg.Integrations {
		api, err := p.client(tokenCtx, in)
		if err != nil {
			cancel()
			return nil, fmt.Errorf("atlas: integration %q: %w", in.Name, err)
		}
		p.projects[in.Name] = &project{Integration: in, api: api}
		if in.OrgOwner.Set() {
			oi := in
			oi.ClientID, oi.ClientSecret, oi.PublicKey, oi.PrivateKey = in.OrgOwner.ClientID, in.OrgOwner.ClientSecret, in.OrgOwner.PublicKey, in.OrgOwner.PrivateKey
			if p.projects[in.Name].owner, err = p.client(tokenCtx, oi); err != nil {
				cancel()
				return nil, fmt.Errorf("atlas: integration %q: org_owner: %w", in.Name, err)
			}
		}
	}
	p.catalog = newCatalog(p)
	p.accessList = &AccessList{p: p}
	p.watch = newWatchers(p.pollStatus, cfg.Clock, cfg.Sleep, schedule{first: cfg.ApplyFirstPoll, poll: cfg.ApplyPoll,
		fastFor: cfg.ApplyFastFor, max: cfg.ApplyPollMax, timeout: cfg.ApplyTimeout}, cfg.Log)
	return p, nil
}

// defaultTransport copies http.DefaultTransport's settings (proxy, dialer,
// HTTP/2) into a transport of our own, so nothing global is shared or changed.
func defaultTransport(timeout time.Duration) http.RoundTripper {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second}
	}
	t.MaxIdleConnsPerHost = 16
	t.ResponseHeaderTimeout = timeout
	return t
}

// client builds the SDK client of one integration.
func (p *Provisioner) client(tokenCtx context.Context, in Integration) (*admin.APIClient, error) {
	retry := func(next http.RoundTripper) *retryTransport {
		return &retryTransport{
			next: next, maxRetries: p.cfg.MaxRetries, base: p.cfg.RetryBase, max: p.cfg.RetryMax,
			sleep: p.cfg.Sleep, stats: p.stats, log: p.log, integration: in.Name,
		}
	}
	// UseBaseURL must come first: UseOAuthAuth reads the token URL from it.
	mods := []admin.ClientModifier{admin.UseBaseURL(in.BaseURL)}
	if in.usesOAuth() {
		// Token fetches and API calls both go through this client's transport
		// (the SDK puts the bearer-token transport on top of it). Handing it
		// over in the context keeps the SDK from rewriting http.DefaultClient.
		// Its timeout bounds token fetches, which run on tokenCtx rather than
		// on a call's context.
		hc := &http.Client{Transport: retry(p.base), Timeout: p.cfg.HTTPTimeout}
		mods = append(mods, admin.UseOAuthAuth(context.WithValue(tokenCtx, auth.HTTPClient, hc), in.ClientID, in.ClientSecret))
	} else {
		// Retries wrap the digest transport so that each one gets its own
		// challenge rather than replaying a used nonce.
		dt := digest.NewTransportWithHTTPRoundTripper(in.PublicKey, in.PrivateKey, p.base)
		// No client timeout: every call carries its own deadline (see do).
		mods = append(mods, admin.UseHTTPClient(&http.Client{Transport: retry(dt)}))
	}
	mods = append(mods, admin.UseUserAgent(p.cfg.UserAgent))
	api, err := admin.NewClient(mods...)
	if err != nil {
		return nil, err
	}
	if hc := api.GetConfig().HTTPClient; in.usesOAuth() && hc != nil {
		// The API client inherits the token client's timeout; API calls carry
		// deadlines of their own (do), some longer than HTTPTimeout (a
		// discovery waiting out a Retry-After).
		hc.Timeout = 0
	}
	return api, nil
}

// Close stops token refreshes and drops idle connections. The Provisioner
// must not be used afterwards.
func (p *Provisioner) Close() {
	p.closeOnce.Do(func() {
		p.watch.close()
		p.cancel()
		p.catalog.wait()
		if c, ok := p.base.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	})
}

// Stats returns the call counters.
func (p *Provisioner) Stats() Stats { return p.stats.snapshot() }

// Catalog returns the catalog sharing this Provisioner's clients.
func (p *Provisioner) Catalog() *Catalog { return p.catalog }

func (p *Provisioner) project(name string) (*project, error) {
	pr, ok := p.projects[name]
	if !ok {
		return nil, flows.Errorf(flows.EINVALID, "there is no Atlas integration %q configured", name)
	}
	return pr, nil
}

// target returns the project a grant lives in: its integration's project,
// or in an organization-wide integration the project the grant names, by the
// id the service took from the catalog (by name or id through the catalog
// for a grant without one). A grant is created only in a project the
// catalog holds: one of the organization's, which the credential can see.
func (p *Provisioner) target(ctx context.Context, g flows.Grant, create bool) (*project, error) {
	pr, err := p.project(g.Integration)
	if err != nil || !pr.OrgWide() {
		return pr, err
	}
	id := g.Resource.ProjectID
	if id == "" || create {
		snap, err := p.catalog.snapshot(ctx, pr.Name, false)
		if err != nil {
			return nil, err
		}
		if id == "" {
			id = snap.projectID(g.Resource.Project)
		} else if _, ok := snap.projects[id]; !ok {
			return nil, flows.Errorf(flows.EINVALID, "project %s is not one of the organization of integration %s", id, pr.Name)
		}
	}
	if id == "" {
		return nil, flows.Errorf(flows.EINTERNAL, "the grant of %q names no project of organization-wide integration %s (%q)", g.Principal, pr.Name, g.Resource.Project)
	}
	return p.view(pr, id), nil
}

// do runs one Atlas operation under its own deadline, counts it, and turns a
// failure into a *flows.Error whose cause is a *callError.
func (p *Provisioner) do(ctx context.Context, pr *project, op string, fn func(ctx context.Context) (*http.Response, error)) error {
	return p.doWithin(ctx, pr, op, p.cfg.HTTPTimeout, fn)
}

// doWithin is do under a deadline of its own choosing.
func (p *Provisioner) doWithin(ctx context.Context, pr *project, op string, timeout time.Duration, fn func(ctx context.Context) (*http.Response, error)) error {
	p.stats.call(op)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	resp, err := fn(ctx)
	drain(resp)
	if err == nil {
		p.log.LogAttrs(ctx, slog.LevelDebug, "atlas call", slog.String("integration", pr.Name),
			slog.String("operation", op), slog.Duration("duration", time.Since(start)))
		return nil
	}
	p.stats.errors.Add(1)
	ce := newCallError(op, resp, err)
	// A 404 or 409 is often the answer a caller hoped for (a user already
	// gone, a create to resume); the caller logs what it means.
	level := slog.LevelWarn
	if ce.Status == http.StatusNotFound || ce.Status == http.StatusConflict {
		level = slog.LevelDebug
	}
	p.log.LogAttrs(ctx, level, "atlas call failed", slog.String("integration", pr.Name),
		slog.String("operation", op), slog.Int("status", ce.Status), slog.String("error_code", ce.Code),
		slog.Duration("duration", time.Since(start)), slog.Any("err", err))
	return pr.classify(ce)
}

// checkGrant refuses grants the adapter must never act on: a username outside
// jitbot's namespace could be somebody else's user, and a grant of another
// kind is not a database user. A passwordless user's name is the person's
// identity, not jitbot's: it must have the form its method requires, and
// the adapter acts on it only when it carries the request's label.
func checkGrant(g flows.Grant, full bool) error {
	if g.Kind != "" && g.Kind != flows.KindDatabaseUser {
		return flows.Errorf(flows.EINTERNAL, "refusing a grant of kind %s: this provisioner makes database users", g.Kind)
	}
	switch g.Auth {
	case flows.AuthPassword:
		if !strings.HasPrefix(g.Principal, usernamePrefix) {
			return flows.Errorf(flows.EINTERNAL, "refusing to manage Atlas user %q: jitbot's users are named %s...", g.Principal, usernamePrefix)
		}
	case flows.AuthOIDC:
		if !oidcUsername.MatchString(g.Principal) {
			return flows.Errorf(flows.EINTERNAL, "refusing OIDC user %q: want <identity provider id>/<user name>", g.Principal)
		}
	case flows.AuthAWSIAM:
		if iamType(g.Principal) == "" {
			return flows.Errorf(flows.EINTERNAL, "refusing AWS IAM user %q: want the ARN of an IAM role or user", g.Principal)
		}
	default:
		return flows.Errorf(flows.EINTERNAL, "refusing a database user that signs in by %q: jitbot knows password, oidc and aws_iam", string(g.Auth))
	}
	if full && (g.RequestID == "" || len(g.Roles) == 0 || g.Resource.Cluster == "" || g.Resource.Database == "") {
		return flows.Errorf(flows.EINTERNAL, "grant for %q is missing its request id, role, cluster or database", g.Principal)
	}
	return nil
}

// backstop returns the grant's deleteAfterDate as Atlas wants it (UTC, whole
// seconds), refusing one Atlas would reject: it must be in the future and at
// most a week ahead.
func (p *Provisioner) backstop(g flows.Grant) (time.Time, error) {
	at := g.BackstopAt.UTC().Truncate(time.Second)
	now := p.clock.Now()
	if !at.After(now) || at.After(now.Add(flows.Week)) {
		return time.Time{}, flows.Errorf(flows.EINTERNAL, "the backstop %s of %q is not within a week from now (%s)",
			at.Format(time.RFC3339), g.Principal, now.UTC().Format(time.RFC3339))
	}
	return at, nil
}

// roles are the grant's roles, each limited to its database or collection.
func roles(g flows.Grant) []admin.DatabaseUserRole {
	out := make([]admin.DatabaseUserRole, len(g.Roles))
	for i, role := range g.Roles {
		out[i] = admin.DatabaseUserRole{RoleName: role, DatabaseName: g.Resource.Database}
		if g.Resource.Collection != "" {
			out[i].CollectionName = admin.PtrString(g.Resource.Collection)
		}
	}
	return out
}

func labels(kv ...string) *[]admin.ComponentLabel {
	out := make([]admin.ComponentLabel, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, admin.ComponentLabel{Key: admin.PtrString(kv[i]), Value: admin.PtrString(kv[i+1])})
	}
	return &out
}

func description(g flows.Grant) string {
	d := fmt.Sprintf("jitbot request %s by %s", g.RequestID, g.Requester)
	return truncate(d, maxDescription)
}

// truncate shortens s to at most n bytes without splitting a character.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// desiredUser is the whole user a grant asks for, as created or restored: a
// passwordless one in $external, as an OIDC user (never an IdP group) or an
// IAM role or user, without a password.
func desiredUser(pr *project, g flows.Grant, password string, backstop time.Time) *admin.CloudDatabaseUser {
	u := admin.NewCloudDatabaseUser(userDatabase(g), pr.ProjectID, roles(g), g.Principal)
	switch g.Auth {
	case flows.AuthOIDC:
		u.OidcAuthType = admin.PtrString(oidcUser)
	case flows.AuthAWSIAM:
		u.AwsIAMType = admin.PtrString(iamType(g.Principal))
	default:
		u.Password = admin.PtrString(password)
	}
	u.Scopes = &[]admin.UserScope{{Name: g.Resource.Cluster, Type: scopeTypeCluster}}
	u.Labels = labels(LabelManagedBy, ManagedByValue, LabelRequest, string(g.RequestID), LabelAttempt, strconv.Itoa(g.Attempt))
	u.Description = admin.PtrString(description(g))
	u.DeleteAfterDate = &backstop
	return u
}

// patch is the smallest update body the API takes: Atlas requires the
// identity and the roles on every PATCH, so the grant's roles go along.
func patch(pr *project, g flows.Grant) *admin.CloudDatabaseUser {
	return &admin.CloudDatabaseUser{DatabaseName: userDatabase(g), GroupId: pr.ProjectID, Username: g.Principal, Roles: roles(g)}
}

// newPassword returns a random alphanumeric password (about 190 bits), safe in
// connection strings without escaping.
func newPassword() string {
	out := make([]byte, 0, passwordLength)
	var buf [64]byte
	for len(out) < passwordLength {
		_, _ = rand.Read(buf[:]) // never fails: crypto/rand aborts the program instead
		for _, b := range buf {
			// 248 is the largest multiple of 62 below 256: rejecting the rest
			// keeps every character equally likely.
			if b < 248 && len(out) < passwordLength {
				out = append(out, passwordAlphabet[int(b)%len(passwordAlphabet)])
			}
		}
	}
	return string(out)
}

// Create makes the grant's database user. A user of the same name that is
// this request's (a retried or resumed create) gets the intended settings and
// a new password; one that is not jitbot's is left alone with ECONFLICT.
func (p *Provisioner) Create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	creds, err := p.create(ctx, g)
	if err == nil {
		creds, err = p.addEntry(ctx, g, creds) // a combined grant's address (combined.go)
	}
	if err != nil {
		return flows.Credentials{}, fmt.Errorf("atlas: create user %q: %w", g.Principal, err)
	}
	return creds, nil
}

func (p *Provisioner) create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	if _, err := p.project(g.Integration); err != nil {
		return flows.Credentials{}, err
	}
	if err := checkGrant(g, true); err != nil {
		return flows.Credentials{}, err
	}
	pr, err := p.target(ctx, g, true)
	if err != nil {
		return flows.Credentials{}, err
	}
	at, err := p.backstop(g)
	if err != nil {
		return flows.Credentials{}, err
	}
	// The connection string first: an unknown cluster fails here, before a
	// user exists, and it usually comes from the catalog without a call.
	conn, err := p.connectionString(ctx, pr, g.Resource.Cluster)
	if err != nil {
		return flows.Credentials{}, err
	}
	var password string
	if !g.Auth.Passwordless() {
		password = newPassword()
	}
	err = p.do(ctx, pr, "createDatabaseUser", func(ctx context.Context) (*http.Response, error) {
		_, resp, err := pr.api.DatabaseUsersApi.CreateDatabaseUser(ctx, pr.ProjectID, desiredUser(pr, g, password, at)).Execute()
		return resp, err
	})
	if status, _ := failure(err); status == http.StatusConflict {
		err = p.restore(ctx, pr, g, password, at)
	}
	if err != nil {
		return flows.Credentials{}, clusterError(err, pr, g.Resource.Cluster)
	}
	p.log.InfoContext(ctx, "atlas user created", "integration", pr.Name, "username", g.Principal,
		"request_id", g.RequestID, "role", flows.FormatRoles(g.Roles), "resource", g.Resource.String(), "delete_after", at,
		"auth", g.Auth.String())
	if g.Auth.Passwordless() {
		return withNote(flows.PasswordlessCredentials(g.Auth, g.Principal, conn.conn), conn.note), nil
	}
	return withNote(flows.DatabaseUserCredentials(g.Principal, flows.NewSecret(password), conn.conn), conn.note), nil
}

// restore takes over a user that already exists under the grant's name, if it
// is this request's: jitbot never stores passwords, so a resumed create must
// set a new one, and the settings are brought in line with the grant.
func (p *Provisioner) restore(ctx context.Context, pr *project, g flows.Grant, password string, at time.Time) error {
	var existing *admin.CloudDatabaseUser
	err := p.do(ctx, pr, "getDatabaseUser", func(ctx context.Context) (*http.Response, error) {
		u, resp, err := pr.api.DatabaseUsersApi.GetDatabaseUser(ctx, pr.ProjectID, userDatabase(g), g.Principal).Execute()
		existing = u
		return resp, err
	})
	if err != nil {
		return err
	}
	if !ours(existing, string(g.RequestID)) {
		if !g.Auth.Passwordless() {
			// A passwordless user's name is its person's, not this request's:
			// Delete checks its label instead.
			p.foreign.Store(pr.Name+"/"+g.Principal, struct{}{})
		}
		p.log.WarnContext(ctx, "atlas user exists and is not jitbot's; leaving it alone", "integration", pr.Name,
			"username", g.Principal, "request_id", g.RequestID)
		return flows.Errorf(flows.ECONFLICT, "a database user named %s already exists in integration %s and is not jitbot's; jitbot will not touch it", g.Principal, pr.Name)
	}
	// A later attempt made it: this one lost the request to it (its
	// replica was cut off from the store past its lease, and another took
	// over) and must not set a password nobody will be given.
	if later := attemptOf(existing); later > g.Attempt {
		p.log.WarnContext(ctx, "atlas user was made by a later attempt; leaving it alone", "integration", pr.Name,
			"username", g.Principal, "request_id", g.RequestID, "attempt", g.Attempt, "later_attempt", later)
		return flows.Errorf(flows.ECONFLICT, "attempt %d of request %s made database user %s in integration %s; attempt %d leaves it alone", later, g.RequestID, g.Principal, pr.Name, g.Attempt)
	}
	err = p.do(ctx, pr, "updateDatabaseUser", func(ctx context.Context) (*http.Response, error) {
		u := desiredUser(pr, g, password, at)
		u.AwsIAMType, u.LdapAuthType, u.OidcAuthType, u.X509Type = nil, nil, nil, nil // an update cannot change how a user authenticates
		_, resp, err := pr.api.DatabaseUsersApi.UpdateDatabaseUser(ctx, pr.ProjectID, userDatabase(g), g.Principal, u).Execute()
		return resp, err
	})
	if err == nil {
		p.log.InfoContext(ctx, "atlas user existed from an earlier attempt; reset it", "integration", pr.Name,
			"username", g.Principal, "request_id", g.RequestID)
	}
	return err
}

// attemptOf is the provisioning attempt that set u's password (0 for a
// user made before jitbot labelled attempts).
func attemptOf(u *admin.CloudDatabaseUser) int {
	v, _ := label(u, LabelAttempt)
	n, _ := strconv.Atoi(v)
	return n
}

// ours reports whether u carries jitbot's label and the request's id.
func ours(u *admin.CloudDatabaseUser, requestID string) bool {
	managed, _ := label(u, LabelManagedBy)
	req, _ := label(u, LabelRequest)
	return managed == ManagedByValue && req == requestID
}

func label(u *admin.CloudDatabaseUser, key string) (string, bool) {
	if u == nil || u.Labels == nil {
		return "", false
	}
	for _, l := range *u.Labels {
		if l.GetKey() == key {
			return l.GetValue(), true
		}
	}
	return "", false
}

// clusterError names the cluster in an unknown-cluster error.
func clusterError(err error, pr *project, cluster string) error {
	if _, code := failure(err); code == "CLUSTER_NOT_FOUND" {
		return flows.WrapError(flows.EINVALID, err, "unknown cluster %q in integration %s", cluster, pr.Name)
	}
	return err
}

// connectionString returns the connection string that fits the cluster
// (connection.go), from the catalog's cache whatever its age (addresses and
// tags rarely change), or from Atlas, with a note for the requester when
// there is none to give.
func (p *Provisioner) connectionString(ctx context.Context, pr *project, cluster string) (connChoice, error) {
	cc, ok := p.catalog.connectionStrings(pr.Name, pr.ProjectID, cluster)
	if !ok {
		var c *admin.ClusterDescription20240805
		err := p.do(ctx, pr, "getCluster", func(ctx context.Context) (*http.Response, error) {
			var resp *http.Response
			var err error
			c, resp, err = pr.api.ClustersApi.GetCluster(ctx, pr.ProjectID, cluster).Execute()
			return resp, err
		})
		if err != nil {
			return connChoice{}, clusterError(err, pr, cluster)
		}
		cc = connOf(c.GetConnectionStrings(), c.GetTags())
		p.catalog.rememberConnectionStrings(pr.Name, pr.ProjectID, cluster, cc)
	}
	choice := cc.choose(cluster, pr.Connection)
	if choice.note != "" {
		p.log.WarnContext(ctx, "atlas: no connection string fits the cluster's connectivity", "integration", pr.Name,
			"project_id", pr.ProjectID, "cluster", cluster, "tag", cc.tag, "default", pr.Connection, "note", choice.note)
	}
	return choice, nil
}

// WaitApplied returns once Atlas has applied the grant's user change (until
// then the user cannot log in), or flows.ErrNotApplied after ApplyTimeout.
// The change must have been written before the call: the cluster's watcher
// counts only the polls that start after it (watcher.go).
func (p *Provisioner) WaitApplied(ctx context.Context, g flows.Grant) error {
	pr, err := p.target(ctx, g, false)
	if err == nil {
		err = p.watch.wait(ctx, pr, g.Resource.Cluster)
	}
	if err == nil && g.Resource.Address != "" {
		err = p.accessList.WaitApplied(ctx, entryGrant(g))
	}
	if err != nil {
		return fmt.Errorf("atlas: wait for user %q: %w", g.Principal, err)
	}
	return nil
}

// SetBackstop moves the user's deleteAfterDate to g.BackstopAt.
func (p *Provisioner) SetBackstop(ctx context.Context, g flows.Grant) error {
	if err := p.update(ctx, g, "backstop", func(u *admin.CloudDatabaseUser, at time.Time) { u.DeleteAfterDate = &at }); err != nil {
		return fmt.Errorf("atlas: move the backstop of user %q: %w", g.Principal, err)
	}
	if g.Resource.Address != "" {
		return p.accessList.SetBackstop(ctx, entryGrant(g))
	}
	return nil
}

// Reissue sets a new password and returns it, once Atlas has applied it (or,
// if that takes longer than ApplyTimeout, anyway: the old one is gone).
func (p *Provisioner) Reissue(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	if g.Auth.Passwordless() {
		return flows.Credentials{}, flows.Errorf(flows.EINVALID, "the Atlas user %s signs in with %s: it has no password to replace", g.Principal, g.Auth)
	}
	password := newPassword()
	if err := p.update(ctx, g, "rotate", func(u *admin.CloudDatabaseUser, _ time.Time) { u.Password = &password }); err != nil {
		return flows.Credentials{}, fmt.Errorf("atlas: rotate the password of user %q: %w", g.Principal, err)
	}
	pr, _ := p.target(ctx, g, false) // known: the update found it
	// Atlas applies a password change like any user change: the new one
	// works once the cluster's watcher reads APPLIED.
	if err := p.watch.wait(ctx, pr, g.Resource.Cluster); err != nil {
		p.log.WarnContext(ctx, "new password not yet applied; handing it out anyway", "integration", g.Integration,
			"username", g.Principal, "err", err)
	}
	conn, err := p.connectionString(ctx, pr, g.Resource.Cluster)
	if err != nil {
		// The password has changed: losing it over the address would lock the
		// requester out, so hand it over without one.
		p.log.WarnContext(ctx, "no connection string for rotated credentials", "integration", g.Integration,
			"cluster", g.Resource.Cluster, "err", err)
	}
	p.log.InfoContext(ctx, "atlas user password rotated", "integration", g.Integration, "username", g.Principal, "request_id", g.RequestID)
	return withNote(flows.DatabaseUserCredentials(g.Principal, flows.NewSecret(password), conn.conn), conn.note), nil
}

// update PATCHes one user with the fields set by edit.
func (p *Provisioner) update(ctx context.Context, g flows.Grant, what string, edit func(u *admin.CloudDatabaseUser, backstop time.Time)) error {
	pr, err := p.target(ctx, g, false)
	if err != nil {
		return err
	}
	if err := checkGrant(g, true); err != nil {
		return err
	}
	var at time.Time
	if what == "backstop" {
		if at, err = p.backstop(g); err != nil {
			return err
		}
	}
	if g.Auth.Passwordless() {
		// The name is the person's: change only the user this request made.
		if err := p.mustBeOurs(ctx, pr, g); err != nil {
			return err
		}
	}
	u := patch(pr, g)
	edit(u, at)
	err = p.do(ctx, pr, "updateDatabaseUser", func(ctx context.Context) (*http.Response, error) {
		_, resp, err := pr.api.DatabaseUsersApi.UpdateDatabaseUser(ctx, pr.ProjectID, userDatabase(g), g.Principal, u).Execute()
		return resp, err
	})
	if status, code := failure(err); status == http.StatusNotFound && !strings.Contains(code, "GROUP") {
		return flows.WrapError(flows.ENOTFOUND, err, "the Atlas user %s no longer exists", g.Principal)
	}
	if err == nil {
		p.log.InfoContext(ctx, "atlas user updated", "integration", pr.Name, "username", g.Principal, "change", what)
	}
	return err
}

// Delete removes the user. A user that is already gone counts as deleted.
func (p *Provisioner) Delete(ctx context.Context, g flows.Grant) error {
	if err := p.delete(ctx, g); err != nil {
		return fmt.Errorf("atlas: delete user %q: %w", g.Principal, err)
	}
	if g.Resource.Address != "" {
		return p.accessList.Delete(ctx, entryGrant(g))
	}
	return nil
}

func (p *Provisioner) delete(ctx context.Context, g flows.Grant) error {
	pr, err := p.target(ctx, g, false)
	if err != nil {
		return err
	}
	if err := checkGrant(g, false); err != nil {
		return err
	}
	if _, found := p.foreign.Load(pr.Name + "/" + g.Principal); found && !g.Auth.Passwordless() {
		p.log.WarnContext(ctx, "not deleting an Atlas user that is not jitbot's", "integration", pr.Name, "username", g.Principal)
		return nil
	}
	if g.Auth.Passwordless() {
		// The name is the person's: delete only the user this request made.
		switch err := p.mustBeOurs(ctx, pr, g); flows.ErrorCode(err) {
		case "":
		case flows.ENOTFOUND:
			p.log.InfoContext(ctx, "atlas user already gone", "integration", pr.Name, "username", g.Principal)
			return nil
		case flows.ECONFLICT:
			p.log.WarnContext(ctx, "not deleting an Atlas user this request did not make", "integration", pr.Name, "username", g.Principal, "request_id", g.RequestID)
			return nil
		default:
			return err
		}
	}
	err = p.do(ctx, pr, "deleteDatabaseUser", func(ctx context.Context) (*http.Response, error) {
		return pr.api.DatabaseUsersApi.DeleteDatabaseUser(ctx, pr.ProjectID, userDatabase(g), g.Principal).Execute()
	})
	if status, code := failure(err); status == http.StatusNotFound && !strings.Contains(code, "GROUP") {
		p.log.InfoContext(ctx, "atlas user already gone", "integration", pr.Name, "username", g.Principal)
		return nil
	}
	if err != nil {
		return err
	}
	p.log.InfoContext(ctx, "atlas user deleted", "integration", pr.Name, "username", g.Principal, "request_id", g.RequestID)
	return nil
}

// ManagedGrants lists every database user of the integration's project,
// page by page, and returns those labelled as jitbot's. In an
// organization-wide integration it lists those of every project of the
// catalog that holds clusters, each with its project (ManagedGrant.Where).
func (p *Provisioner) ManagedGrants(ctx context.Context, integration string) ([]flows.ManagedGrant, error) {
	pr, err := p.project(integration)
	if err != nil {
		return nil, fmt.Errorf("atlas: list users: %w", err)
	}
	if !pr.OrgWide() {
		return p.managedGrants(ctx, pr, flows.Resource{})
	}
	snap, err := p.catalog.snapshot(ctx, integration, false)
	if err != nil {
		return nil, fmt.Errorf("atlas: list users of %s: %w", integration, err)
	}
	var ids []string
	for _, cl := range snap.clusters {
		if !slices.Contains(ids, cl.ProjectID) {
			ids = append(ids, cl.ProjectID)
		}
	}
	slices.Sort(ids)
	var out []flows.ManagedGrant
	for _, id := range ids {
		where := flows.Resource{Integration: integration, Project: snap.projects[id].name, ProjectID: id}
		got, err := p.managedGrants(ctx, p.view(pr, id), where)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

func (p *Provisioner) managedGrants(ctx context.Context, pr *project, where flows.Resource) ([]flows.ManagedGrant, error) {
	var out []flows.ManagedGrant
	seen := 0
	for page := 1; page <= maxPages; page++ {
		var res *admin.PaginatedApiAtlasDatabaseUser
		err := p.do(ctx, pr, "listDatabaseUsers", func(ctx context.Context) (*http.Response, error) {
			var resp *http.Response
			var err error
			res, resp, err = pr.api.DatabaseUsersApi.ListDatabaseUsers(ctx, pr.ProjectID).
				IncludeCount(true).ItemsPerPage(usersPerPage).PageNum(page).Execute()
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("atlas: list users of %s (page %d): %w", pr.Name, page, err)
		}
		results := res.GetResults()
		seen += len(results)
		for i := range results {
			u := &results[i]
			if managed, _ := label(u, LabelManagedBy); managed != ManagedByValue || !madeByKind(u) {
				continue
			}
			req, _ := label(u, LabelRequest)
			out = append(out, flows.ManagedGrant{Principal: u.Username, RequestID: flows.RequestID(req), Where: where, Auth: userAuth(u)})
		}
		if total, ok := res.GetTotalCountOk(); len(results) < usersPerPage || (ok && seen >= *total) {
			return out, nil
		}
	}
	return nil, fmt.Errorf("atlas: list users of %s: %w", pr.Name,
		flows.Errorf(flows.EINTERNAL, "more than %d pages of users; giving up", maxPages))
}

// Passwordless database users (flows.DatabaseAuth).
const oidcUser = "USER" // oidcAuthType of one person; IDP_GROUP, a whole group, jitbot never makes

var (
	oidcUsername = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}/\S{1,256}$`)
	iamARN       = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]{1,512}$`)
)

// userDatabase is where a grant's user authenticates: admin with a
// password, $external without.
func userDatabase(g flows.Grant) string {
	if g.Auth.Passwordless() {
		return externalDatabase
	}
	return authDatabase
}

// iamType is the awsIAMType of an IAM ARN (ROLE or USER), or "".
func iamType(arn string) string {
	m := iamARN.FindStringSubmatch(arn)
	if m == nil {
		return ""
	}
	return strings.ToUpper(m[2])
}

// mustBeOurs reads a passwordless user and says whether this request made
// it: ENOTFOUND when there is none, ECONFLICT when it is somebody else's.
func (p *Provisioner) mustBeOurs(ctx context.Context, pr *project, g flows.Grant) error {
	var u *admin.CloudDatabaseUser
	err := p.do(ctx, pr, "getDatabaseUser", func(ctx context.Context) (*http.Response, error) {
		var resp *http.Response
		var err error
		u, resp, err = pr.api.DatabaseUsersApi.GetDatabaseUser(ctx, pr.ProjectID, userDatabase(g), g.Principal).Execute()
		return resp, err
	})
	if status, code := failure(err); status == http.StatusNotFound && !strings.Contains(code, "GROUP") {
		return flows.WrapError(flows.ENOTFOUND, err, "the Atlas user %s no longer exists", g.Principal)
	}
	if err != nil {
		return err
	}
	if !ours(u, string(g.RequestID)) {
		return flows.Errorf(flows.ECONFLICT, "the Atlas user %s in integration %s was not made by request %s; jitbot will not touch it", g.Principal, pr.Name, g.RequestID)
	}
	return nil
}

// madeByKind reports whether u is a user jitbot makes: SCRAM in admin, or an
// OIDC user or IAM role or user in $external (never x.509 nor LDAP).
func madeByKind(u *admin.CloudDatabaseUser) bool {
	switch u.DatabaseName {
	case authDatabase:
		none := func(t string) bool { return t == "" || t == "NONE" }
		return none(u.GetAwsIAMType()) && none(u.GetOidcAuthType()) && none(u.GetX509Type()) && none(u.GetLdapAuthType())
	case externalDatabase:
		return u.GetOidcAuthType() == oidcUser || u.GetAwsIAMType() == "ROLE" || u.GetAwsIAMType() == "USER"
	}
	return false
}

// userAuth is how u signs in, as flows names it.
func userAuth(u *admin.CloudDatabaseUser) flows.DatabaseAuth {
	switch {
	case u.GetOidcAuthType() == oidcUser:
		return flows.AuthOIDC
	case u.GetAwsIAMType() == "ROLE" || u.GetAwsIAMType() == "USER":
		return flows.AuthAWSIAM
	}
	return flows.AuthPassword
}
