package atlas

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

const projectID = "5cf5a45a9ccf6400e60981b6"

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// sleeps records what the adapter asked to wait and returns at once, so
// retries and polls cost no real time.
type sleeps struct {
	mu sync.Mutex
	ds []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.ds = append(s.ds, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) all() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.ds...)
}

func (s *sleeps) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ds = nil
}

// syncBuffer collects log output from concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// env is a simulator with one project (Cluster0 tagged with owners, Cluster1
// untagged) and a Provisioner pointed at it, sharing a fake clock.
type env struct {
	t      testing.TB
	ctx    context.Context
	srv    *atlastest.Server
	clock  *flowstest.Clock
	prov   *Provisioner
	sleeps *sleeps
	logs   *syncBuffer
}

type option func(so *atlastest.Options, cfg *Config, in *Integration)

// withDigest switches the integration from the service account to an API key.
func withDigest(_ *atlastest.Options, _ *Config, in *Integration) {
	in.ClientID, in.ClientSecret = "", ""
	in.PublicKey, in.PrivateKey = atlastest.DefaultPublicKey, atlastest.DefaultPrivateKey
}

func withRoles(roles ...string) option {
	return func(so *atlastest.Options, _ *Config, _ *Integration) { so.Roles = roles }
}

func withConfig(f func(cfg *Config)) option {
	return func(_ *atlastest.Options, cfg *Config, _ *Integration) { f(cfg) }
}

func withSim(f func(so *atlastest.Options)) option {
	return func(so *atlastest.Options, _ *Config, _ *Integration) { f(so) }
}

func withIntegration(f func(in *Integration)) option {
	return func(_ *atlastest.Options, _ *Config, in *Integration) { f(in) }
}

var authMethods = []struct {
	name string
	opt  option
}{
	{"oauth", func(*atlastest.Options, *Config, *Integration) {}},
	{"digest", withDigest},
}

func newEnv(t testing.TB, opts ...option) *env {
	t.Helper()
	e := &env{t: t, ctx: context.Background(), clock: flowstest.NewClock(t0), sleeps: &sleeps{}, logs: &syncBuffer{}}
	so := atlastest.Options{T: t, Clock: e.clock}
	in := Integration{
		Name: "prod", ProjectID: projectID,
		API:       API{ClientID: atlastest.DefaultClientID, ClientSecret: atlastest.DefaultClientSecret},
		Databases: map[string]map[string][]string{"Cluster0": {"sales": {"orders", "customers"}, "hr": nil}},
	}
	cfg := Config{
		Clock: e.clock, Sleep: e.sleeps.sleep,
		Log: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, o := range opts {
		o(&so, &cfg, &in)
	}
	srv, err := atlastest.New(so)
	if err != nil {
		t.Fatalf("atlastest.New: %v", err)
	}
	t.Cleanup(srv.Close)
	srv.AddProject(projectID, "prod")
	srv.AddCluster(projectID, atlastest.Cluster{Name: "Cluster0", Tags: []atlastest.Tag{
		{Key: "owner", Value: "alice@example.com group:dba;bob@example.com"},
		{Key: "env", Value: "production"},
	}})
	srv.AddCluster(projectID, atlastest.Cluster{Name: "Cluster1"})
	e.srv = srv
	in.BaseURL = srv.URL()
	cfg.Integrations = append([]Integration{in}, cfg.Integrations...)
	p, err := New(e.ctx, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(p.Close)
	e.prov = p
	return e
}

// grant is a read grant on Cluster0/sales/orders expiring in an hour.
func (e *env) grant(id string) flows.Grant {
	now := e.clock.Now()
	return flows.Grant{
		RequestID: flows.RequestID(id), Integration: "prod", Requester: "carol@example.com",
		Kind: flows.KindDatabaseUser, Principal: flows.DatabaseUser().Principal("carol@example.com", flows.RequestID(id)),
		Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"},
		Roles:    []string{"read"}, ExpiresAt: now.Add(time.Hour), BackstopAt: now.Add(2*time.Hour + 500*time.Millisecond),
	}
}

// field returns the value of a credentials field ("" when missing).
func field(c flows.Credentials, key string) string {
	f, _ := c.Field(key)
	return f.Value
}

// password returns the password a database user's credentials carry.
func password(c flows.Credentials) string {
	f, _ := c.Field(flows.FieldPassword)
	return f.Secret.Reveal()
}

func (e *env) create(g flows.Grant) flows.Credentials {
	e.t.Helper()
	creds, err := e.prov.Create(e.ctx, g)
	if err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return creds
}

func (e *env) user(name string) atlastest.User {
	e.t.Helper()
	u, ok := e.srv.User(projectID, name)
	if !ok {
		e.t.Fatalf("user %s does not exist in the simulator", name)
	}
	return u
}

func (e *env) noViolations() {
	e.t.Helper()
	if v := e.srv.SpecViolations(); len(v) != 0 {
		e.t.Fatalf("spec violations: %v", v)
	}
}

// wantCalls checks the simulator's count of authenticated calls per operation.
func (e *env) wantCalls(want map[string]int) {
	e.t.Helper()
	for op, n := range want {
		if got := e.srv.CountCalls(op); got != n {
			e.t.Errorf("%s calls: got %d, want %d", op, got, n)
		}
	}
}

// wantError checks an error's code and that its safe message says what it should.
func wantError(t testing.TB, err error, code flows.Code, msg string) {
	t.Helper()
	if err == nil {
		t.Fatalf("want a %s error, got nil", code)
	}
	if got := flows.ErrorCode(err); got != code {
		t.Fatalf("code: got %s, want %s (%v)", got, code, err)
	}
	if !strings.Contains(flows.ErrorMessage(err), msg) {
		t.Fatalf("message %q does not say %q", flows.ErrorMessage(err), msg)
	}
	var fe *flows.Error
	if !errors.As(err, &fe) {
		t.Fatalf("%v is not a *flows.Error", err)
	}
}
