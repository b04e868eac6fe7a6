package atlas

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
)

func TestNewValidatesConfig(t *testing.T) {
	ok := Integration{Name: "prod", ProjectID: projectID, API: API{BaseURL: "http://127.0.0.1:1", ClientID: "id", ClientSecret: "secret"}}
	tests := []struct {
		name string
		edit func(cfg *Config)
		want string
	}{
		{"no integrations", func(cfg *Config) { cfg.Integrations = nil }, "no integrations"},
		{"both methods", func(cfg *Config) { cfg.Integrations[0].PublicKey, cfg.Integrations[0].PrivateKey = "pub", "priv" }, "not both"},
		{"no credentials", func(cfg *Config) { cfg.Integrations[0].ClientID, cfg.Integrations[0].ClientSecret = "", "" }, "credentials required"},
		{"client id alone", func(cfg *Config) { cfg.Integrations[0].ClientSecret = "" }, "atlas.client_secret: required"},
		{"client secret alone", func(cfg *Config) { cfg.Integrations[0].ClientID = "" }, "atlas.client_id: required with client_secret"},
		{"public key alone", func(cfg *Config) {
			cfg.Integrations[0].ClientID, cfg.Integrations[0].ClientSecret, cfg.Integrations[0].PublicKey = "", "", "pub"
		}, "atlas.private_key: required"},
		{"bad project id", func(cfg *Config) { cfg.Integrations[0].ProjectID = "prod" }, "not 24 hexadecimal"},
		{"twice", func(cfg *Config) { cfg.Integrations = append(cfg.Integrations, cfg.Integrations[0]) }, "configured twice"},
		{"no name", func(cfg *Config) { cfg.Integrations[0].Name = "" }, "name is empty"},
		{"plain http", func(cfg *Config) { cfg.Integrations[0].BaseURL = "http://cloud.mongodb.com" }, "use https"},
		{"not a URL", func(cfg *Config) { cfg.Integrations[0].BaseURL = "cloud.mongodb.com" }, "not an http(s) URL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{Integrations: []Integration{ok}}
			tt.edit(&cfg)
			p, err := New(context.Background(), cfg)
			if err == nil {
				p.Close()
				t.Fatal("New accepted a bad config")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") && strings.Contains(err.Error(), `"secret"`) {
				t.Fatalf("error quotes a secret: %v", err)
			}
		})
	}
	// The default base URL is valid.
	cfg := Config{Integrations: []Integration{{Name: "prod", ProjectID: projectID, API: API{PublicKey: "pub", PrivateKey: "priv"}}}}
	p, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New with the default base URL: %v", err)
	}
	p.Close()
	p.Close() // idempotent
}

// The SDK's UseOAuthAuth rewrites http.DefaultClient unless it is given a
// client in the context; New must give it one.
func TestNewLeavesHTTPDefaultsAlone(t *testing.T) {
	defaultTransport := http.DefaultTransport
	defaultClientTransport := http.DefaultClient.Transport
	e := newEnv(t)
	e.create(e.grant("aaaaaaaaaa"))
	if http.DefaultClient.Transport != defaultClientTransport {
		t.Fatalf("http.DefaultClient.Transport changed to %T", http.DefaultClient.Transport)
	}
	if http.DefaultTransport != defaultTransport {
		t.Fatal("http.DefaultTransport changed")
	}
	if n := e.srv.TokensIssued(); n != 1 {
		t.Fatalf("tokens issued: %d", n)
	}
}

// The token source must outlive the context New was given.
func TestOAuthOutlivesNewContext(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := e.prov.cfg
	p, err := New(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cancel()
	if err := p.Ping(context.Background(), "prod"); err != nil {
		t.Fatalf("Ping after New's context was cancelled: %v", err)
	}
}

func TestCreate(t *testing.T) {
	for _, m := range authMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.opt)
			g := e.grant("k7m2x9q4ta")
			creds := e.create(g)

			if field(creds, flows.FieldUsername) != g.Principal || field(creds, flows.FieldConnectionString) != "mongodb+srv://cluster0.jitbot.mongodb.net" {
				t.Fatalf("credentials: %+v", creds)
			}
			pw := password(creds)
			if len(pw) < 24 || strings.Trim(pw, passwordAlphabet) != "" {
				t.Fatalf("password %q: want 24+ alphanumerics", pw)
			}
			if !e.srv.CheckPassword(projectID, g.Principal, pw) {
				t.Fatal("the returned password does not work")
			}
			u := e.user(g.Principal)
			if u.DatabaseName != "admin" || !u.HasPassword {
				t.Fatalf("user: %+v", u)
			}
			if want := []atlastest.Role{{RoleName: "read", DatabaseName: "sales", CollectionName: "orders"}}; !slices.Equal(u.Roles, want) {
				t.Fatalf("roles: %+v", u.Roles)
			}
			if want := []atlastest.Scope{{Name: "Cluster0", Type: "CLUSTER"}}; !slices.Equal(u.Scopes, want) {
				t.Fatalf("scopes: %+v", u.Scopes)
			}
			if v, _ := u.Label("managed-by"); v != "jitbot" {
				t.Fatalf("labels: %+v", u.Labels)
			}
			if v, _ := u.Label("jitbot-request"); v != string(g.RequestID) {
				t.Fatalf("labels: %+v", u.Labels)
			}
			if !strings.Contains(u.Description, string(g.RequestID)) || !strings.Contains(u.Description, g.Requester) || len(u.Description) > 100 {
				t.Fatalf("description: %q", u.Description)
			}
			if want := g.BackstopAt.Truncate(time.Second); !u.DeleteAfterDate.Equal(want) {
				t.Fatalf("deleteAfterDate: got %v, want %v", u.DeleteAfterDate, want)
			}
			// The second grant's connection string comes from the first lookup.
			e.create(e.grant("b7m2x9q4tb"))
			e.wantCalls(map[string]int{"createDatabaseUser": 2, "getCluster": 1})
			e.noViolations()
		})
	}
}

func TestCreateWholeDatabaseAndLongNames(t *testing.T) {
	e := newEnv(t)
	g := e.grant("c7m2x9q4tc")
	g.Resource.Collection = ""
	g.Roles = []string{"dbAdmin"}
	g.Requester = strings.Repeat("x", 90) + "@example.com"
	e.create(g)
	u := e.user(g.Principal)
	if want := []atlastest.Role{{RoleName: "dbAdmin", DatabaseName: "sales"}}; !slices.Equal(u.Roles, want) {
		t.Fatalf("roles: %+v", u.Roles)
	}
	if len(u.Description) != 100 {
		t.Fatalf("description not cut to 100: %d %q", len(u.Description), u.Description)
	}
	e.noViolations()
}

// A create that finds this request's user (a retry, or a crash between the
// create and recording it) resets the password and the settings.
func TestCreateResumesItsOwnUser(t *testing.T) {
	for _, m := range authMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.opt)
			g := e.grant("d7m2x9q4td")
			first := password(e.create(g))

			g.Roles = []string{"readWrite"}
			g.BackstopAt = e.clock.Now().Add(3 * time.Hour)
			second := password(e.create(g))
			if first == second {
				t.Fatal("the resumed create kept the password")
			}
			if e.srv.CheckPassword(projectID, g.Principal, first) || !e.srv.CheckPassword(projectID, g.Principal, second) {
				t.Fatal("want the new password to work and the old one not")
			}
			u := e.user(g.Principal)
			if u.Roles[0].RoleName != "readWrite" || !u.DeleteAfterDate.Equal(g.BackstopAt) || u.PasswordChanges != 1 {
				t.Fatalf("user not updated: %+v", u)
			}
			if v, _ := u.Label("jitbot-request"); v != string(g.RequestID) {
				t.Fatalf("labels: %+v", u.Labels)
			}
			e.wantCalls(map[string]int{"createDatabaseUser": 2, "getDatabaseUser": 1, "updateDatabaseUser": 1})
			e.noViolations()
		})
	}
}

// An attempt whose replica was cut off from the store past its lease
// creates after the attempt that took the request over: it finds the
// later attempt's user and leaves it alone, so the password the later
// attempt issued is the one that works. A later attempt still resets an
// earlier one's user.
func TestAStaleAttemptLeavesALaterAttemptsUserAlone(t *testing.T) {
	e := newEnv(t)
	g := e.grant("f7m2x9q4tf")
	g.Attempt = 1
	first := password(e.create(g))
	g.Attempt = 2
	second := password(e.create(g)) // the takeover resets the first's user
	if e.srv.CheckPassword(projectID, g.Principal, first) || !e.srv.CheckPassword(projectID, g.Principal, second) {
		t.Fatal("the later attempt's password must be the one that works")
	}
	if v, _ := e.user(g.Principal).Label("jitbot-attempt"); v != "2" {
		t.Fatalf("attempt label: %q", v)
	}
	g.Attempt = 1 // the cut-off attempt, late
	_, err := e.prov.Create(e.ctx, g)
	wantError(t, err, flows.ECONFLICT, "attempt 2 of request f7m2x9q4tf made database user")
	if !e.srv.CheckPassword(projectID, g.Principal, second) {
		t.Fatal("the stale attempt replaced the password the later attempt issued")
	}
	if u := e.user(g.Principal); u.PasswordChanges != 1 {
		t.Fatalf("password changes: %d, want the takeover's 1", u.PasswordChanges)
	}
	e.noViolations()
}

func TestCreateLeavesSomeoneElsesUserAlone(t *testing.T) {
	e := newEnv(t)
	g := e.grant("e7m2x9q4te")
	if err := e.srv.AddUser(projectID, atlastest.User{Username: g.Principal,
		Roles: []atlastest.Role{{RoleName: "readWrite", DatabaseName: "sales"}}}, "their-password"); err != nil {
		t.Fatal(err)
	}
	_, err := e.prov.Create(e.ctx, g)
	wantError(t, err, flows.ECONFLICT, "already exists in integration prod and is not jitbot's")

	// flows deletes the user of a failed request; this one is not ours.
	if err := e.prov.Delete(e.ctx, g); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if !e.srv.CheckPassword(projectID, g.Principal, "their-password") {
		t.Fatal("the other user was changed or deleted")
	}
	e.wantCalls(map[string]int{"updateDatabaseUser": 0, "deleteDatabaseUser": 0})

	// A jitbot user of another request is not ours either.
	other := e.grant("f7m2x9q4tf")
	if err := e.srv.AddUser(projectID, atlastest.User{Username: other.Principal,
		Labels: []atlastest.Label{{Key: "managed-by", Value: "jitbot"}, {Key: "jitbot-request", Value: "zzzzzzzzzz"}}}, "x-password"); err != nil {
		t.Fatal(err)
	}
	_, err = e.prov.Create(e.ctx, other)
	wantError(t, err, flows.ECONFLICT, "is not jitbot's")
	e.noViolations()
}

func TestCreateRefusesWhatAtlasWouldReject(t *testing.T) {
	e := newEnv(t)
	for name, edit := range map[string]func(g *flows.Grant){
		"backstop in the past":    func(g *flows.Grant) { g.BackstopAt = e.clock.Now().Add(-time.Minute) },
		"backstop beyond a week":  func(g *flows.Grant) { g.BackstopAt = e.clock.Now().Add(flows.Week + time.Minute) },
		"not a jitbot username":   func(g *flows.Grant) { g.Principal = "admin" },
		"no request id":           func(g *flows.Grant) { g.RequestID = "" },
		"no database in resource": func(g *flows.Grant) { g.Resource.Database = "" },
	} {
		g := e.grant("g7m2x9q4tg")
		edit(&g)
		_, err := e.prov.Create(e.ctx, g)
		if flows.ErrorCode(err) != flows.EINTERNAL {
			t.Errorf("%s: got %v, want an internal error", name, err)
		}
	}
	if calls := e.srv.Calls(); len(calls) != 0 {
		t.Fatalf("bad grants reached Atlas: %+v", calls)
	}
	_, err := e.prov.Create(e.ctx, flows.Grant{Integration: "staging"})
	wantError(t, err, flows.EINVALID, `no Atlas integration "staging"`)
}

func TestCreateUnknownCluster(t *testing.T) {
	e := newEnv(t)
	g := e.grant("h7m2x9q4th")
	g.Resource.Cluster = "Nope"
	_, err := e.prov.Create(e.ctx, g)
	wantError(t, err, flows.EINVALID, `unknown cluster "Nope"`)
	e.wantCalls(map[string]int{"createDatabaseUser": 0})
}

func TestSetBackstop(t *testing.T) {
	e := newEnv(t)
	g := e.grant("i7m2x9q4ti")
	pw := password(e.create(g))
	g.BackstopAt = e.clock.Now().Add(5*time.Hour + 300*time.Millisecond)
	if err := e.prov.SetBackstop(e.ctx, g); err != nil {
		t.Fatalf("SetBackstop: %v", err)
	}
	u := e.user(g.Principal)
	if want := e.clock.Now().Add(5 * time.Hour); !u.DeleteAfterDate.Equal(want) {
		t.Fatalf("deleteAfterDate %v, want %v", u.DeleteAfterDate, want)
	}
	if !e.srv.CheckPassword(projectID, g.Principal, pw) || u.PasswordChanges != 0 || u.Roles[0].CollectionName != "orders" {
		t.Fatalf("SetBackstop changed more than the date: %+v", u)
	}

	g.BackstopAt = e.clock.Now().Add(8 * 24 * time.Hour)
	wantError(t, e.prov.SetBackstop(e.ctx, g), flows.EINTERNAL, "")

	gone := e.grant("j7m2x9q4tj")
	wantError(t, e.prov.SetBackstop(e.ctx, gone), flows.ENOTFOUND, "no longer exists")
	e.noViolations()
}

func TestRotate(t *testing.T) {
	for _, m := range authMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.opt)
			g := e.grant("k7m2x9q4tk")
			old := password(e.create(g))
			creds, err := e.prov.Reissue(e.ctx, g)
			if err != nil {
				t.Fatalf("Reissue: %v", err)
			}
			pw := password(creds)
			if pw == old || e.srv.CheckPassword(projectID, g.Principal, old) || !e.srv.CheckPassword(projectID, g.Principal, pw) {
				t.Fatal("want the new password to work and the old one not")
			}
			if field(creds, flows.FieldConnectionString) == "" || field(creds, flows.FieldUsername) != g.Principal {
				t.Fatalf("credentials: %+v", creds)
			}
			if u := e.user(g.Principal); !slices.Equal(u.Scopes, []atlastest.Scope{{Name: "Cluster0", Type: "CLUSTER"}}) {
				t.Fatalf("rotate changed the scopes: %+v", u)
			}
			e.noViolations()
		})
	}
}

func TestDelete(t *testing.T) {
	e := newEnv(t)
	g := e.grant("l7m2x9q4tl")
	e.create(g)
	if err := e.prov.Delete(e.ctx, g); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if _, ok := e.srv.User(projectID, g.Principal); ok {
		t.Fatal("the user is still there")
	}
	if err := e.prov.Delete(e.ctx, g); err != nil {
		t.Fatalf("Delete of a user already gone: %v", err)
	}
	e.wantCalls(map[string]int{"deleteDatabaseUser": 2})
	if err := e.prov.Delete(e.ctx, flows.Grant{Integration: "prod", Principal: "appuser"}); flows.ErrorCode(err) != flows.EINTERNAL {
		t.Fatalf("Delete of a user outside jitbot's names: %v", err)
	}
	e.noViolations()
}

func TestDeleteInMissingProjectFails(t *testing.T) {
	e := newEnv(t, withIntegration(func(in *Integration) { in.ProjectID = "6a0000000000000000000001" }))
	err := e.prov.Delete(e.ctx, e.grant("m7m2x9q4tm"))
	wantError(t, err, flows.EINVALID, "Atlas has no project 6a0000000000000000000001")
	wantError(t, e.prov.Ping(e.ctx, "prod"), flows.EINVALID, "check its project id")
}

func TestBadCredentials(t *testing.T) {
	for _, m := range []struct {
		name string
		opt  option
	}{
		{"oauth", withIntegration(func(in *Integration) { in.ClientSecret = "mdb_sa_sk_wrong" })},
		{"digest", func(so *atlastest.Options, cfg *Config, in *Integration) {
			withDigest(so, cfg, in)
			in.PrivateKey = "11111111-0000-4000-8000-000000000000"
		}},
	} {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.opt)
			_, err := e.prov.Create(e.ctx, e.grant("n7m2x9q4tn"))
			wantError(t, err, flows.EFORBIDDEN, "Atlas rejected jitbot's credentials for integration prod (check the ")
			if s := e.prov.Stats(); s.Retries != 0 {
				t.Fatalf("a 401 was retried: %+v", s)
			}
			if strings.Contains(err.Error(), "mdb_sa_sk_wrong") || strings.Contains(err.Error(), "11111111") {
				t.Fatalf("the error quotes the secret: %v", err)
			}
		})
	}
}

func TestMissingRoles(t *testing.T) {
	e := newEnv(t, withRoles(atlastest.RoleReadOnly))
	_, err := e.prov.Create(e.ctx, e.grant("o7m2x9q4to"))
	wantError(t, err, flows.EFORBIDDEN, "Project Database Access Admin (and Project Read Only for discovery)")
}

func TestUserCap(t *testing.T) {
	e := newEnv(t)
	e.srv.SetUserCap(1)
	if err := e.srv.AddUser(projectID, atlastest.User{Username: "app"}, "app-password"); err != nil {
		t.Fatal(err)
	}
	_, err := e.prov.Create(e.ctx, e.grant("p7m2x9q4tp"))
	wantError(t, err, flows.ECONFLICT, "has reached its limit of 100 database users")
}

func TestManagedGrantsReadsEveryPage(t *testing.T) {
	e := newEnv(t)
	e.srv.SetUserCap(1000)
	want := map[string]string{}
	for i := range 620 {
		u := atlastest.User{Username: "app-" + strings.Repeat("u", 1+i%3) + "-" + strconv.Itoa(i)}
		if i%2 == 0 {
			u.Username = "jit-seed-" + strconv.Itoa(i)
			u.Labels = []atlastest.Label{{Key: "managed-by", Value: "jitbot"}, {Key: "jitbot-request", Value: "req" + strconv.Itoa(i)}}
			want[u.Username] = "req" + strconv.Itoa(i)
		}
		if err := e.srv.AddUser(projectID, u, ""); err != nil {
			t.Fatal(err)
		}
	}
	// A jitbot label on an $external user is not one of ours.
	if err := e.srv.AddUser(projectID, atlastest.User{Username: "CN=x", DatabaseName: "$external", X509Type: "CUSTOMER",
		Labels: []atlastest.Label{{Key: "managed-by", Value: "jitbot"}}}, ""); err != nil {
		t.Fatal(err)
	}
	got, err := e.prov.ManagedGrants(e.ctx, "prod")
	if err != nil {
		t.Fatalf("ManagedGrants: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d managed users, want %d", len(got), len(want))
	}
	for _, u := range got {
		if want[u.Principal] != string(u.RequestID) {
			t.Fatalf("user %+v: want request %q", u, want[u.Principal])
		}
	}
	e.wantCalls(map[string]int{"listDatabaseUsers": 2})
	e.noViolations()
}

func TestPasswordsNeverLogged(t *testing.T) {
	e := newEnv(t)
	// A retry and a resumed create add log lines on the paths that handle passwords.
	e.srv.Inject(atlastest.Fault{OperationID: "createDatabaseUser", Kind: atlastest.FaultServerError, Times: 1})
	g := e.grant("s7m2x9q4ts")
	var secrets []string
	secrets = append(secrets, password(e.create(g)), password(e.create(g)))
	creds, err := e.prov.Reissue(e.ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, password(creds), atlastest.DefaultClientSecret)
	logs := e.logs.String()
	if !strings.Contains(logs, "atlas: retrying") || !strings.Contains(logs, g.Principal) {
		t.Fatalf("expected log lines missing:\n%s", logs)
	}
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			t.Fatalf("a secret appears in the logs:\n%s", logs)
		}
	}
}

func TestStats(t *testing.T) {
	e := newEnv(t)
	e.srv.Inject(atlastest.Fault{OperationID: "createDatabaseUser", Kind: atlastest.FaultRateLimited, RetryAfter: 1, Times: 1})
	g := e.grant("t7m2x9q4tt")
	e.create(g)
	_ = e.prov.Delete(e.ctx, g)
	_ = e.prov.SetBackstop(e.ctx, g) // gone: an error
	s := e.prov.Stats()
	if s.Calls["createDatabaseUser"] != 1 || s.Calls["deleteDatabaseUser"] != 1 || s.Calls["updateDatabaseUser"] != 1 ||
		s.Errors != 1 || s.Retries != 1 || s.RateLimited != 1 || s.Requests < 5 {
		t.Fatalf("stats: %+v", s)
	}
}

func TestPasswordAlphabetAndUniqueness(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		pw := newPassword()
		if len(pw) != passwordLength || strings.Trim(pw, passwordAlphabet) != "" || seen[pw] {
			t.Fatalf("bad password %q", pw)
		}
		seen[pw] = true
		for _, r := range pw {
			counts[r]++
		}
	}
	if len(counts) != len(passwordAlphabet) {
		t.Fatalf("only %d of %d characters used", len(counts), len(passwordAlphabet))
	}
}

func TestTruncate(t *testing.T) {
	if got := truncate("héllo", 2); got != "h" {
		t.Fatalf("cut inside a character: %q", got)
	}
	if got := truncate("hello", 10); got != "hello" {
		t.Fatal(got)
	}
}
