package atlas

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
)

func TestRetriesHonourRetryAfter(t *testing.T) {
	for _, m := range authMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.opt)
			e.srv.Inject(atlastest.Fault{OperationID: "createDatabaseUser", Kind: atlastest.FaultRateLimited, RetryAfter: 7, Times: 2})
			e.srv.Inject(atlastest.Fault{OperationID: "deleteDatabaseUser", Kind: atlastest.FaultUnavailable, RetryAfter: 3, Times: 1})
			g := e.grant("a1m2x9q4ta")
			creds := e.create(g)
			if !e.srv.CheckPassword(projectID, g.Principal, password(creds)) {
				t.Fatal("the password of the retried create does not work")
			}
			if err := e.prov.Delete(e.ctx, g); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if got, want := e.sleeps.all(), []time.Duration{7 * time.Second, 7 * time.Second, 3 * time.Second}; !slices.Equal(got, want) {
				t.Fatalf("waits: got %v, want %v", got, want)
			}
			e.wantCalls(map[string]int{"createDatabaseUser": 3, "deleteDatabaseUser": 2})
			if s := e.prov.Stats(); s.RateLimited != 2 || s.Retries != 3 || s.Errors != 0 {
				t.Fatalf("stats: %+v", s)
			}
			e.noViolations()
		})
	}
}

func TestRetriesServerErrorsWithBackoff(t *testing.T) {
	e := newEnv(t)
	e.srv.Inject(atlastest.Fault{OperationID: "createDatabaseUser", Kind: atlastest.FaultServerError, Times: 3})
	e.create(e.grant("b1m2x9q4tb"))
	waits := e.sleeps.all()
	if len(waits) != 3 {
		t.Fatalf("waits: %v", waits)
	}
	// 250ms doubling, each ±50%.
	for i, w := range waits {
		base := 250 * time.Millisecond << i
		if w < base/2 || w >= base*3/2 {
			t.Fatalf("wait %d = %v, want within ±50%% of %v", i, w, base)
		}
	}
	e.wantCalls(map[string]int{"createDatabaseUser": 4})
	e.noViolations()
}

func TestRetriesDroppedConnection(t *testing.T) {
	for _, m := range authMethods {
		t.Run(m.name, func(t *testing.T) {
			e := newEnv(t, m.opt)
			e.srv.Inject(atlastest.Fault{OperationID: "createDatabaseUser", Kind: atlastest.FaultDrop, Times: 1})
			g := e.grant("c1m2x9q4tc")
			creds := e.create(g)
			if !e.srv.CheckPassword(projectID, g.Principal, password(creds)) {
				t.Fatal("the password does not work")
			}
			if s := e.prov.Stats(); s.Retries != 1 {
				t.Fatalf("stats: %+v", s)
			}
			e.noViolations()
		})
	}
}

// A create whose answer was lost after Atlas made the user comes back as a
// 409 on retry, and is resolved as ours.
func TestRetriedCreateThatLandedIsResumed(t *testing.T) {
	e := newEnv(t)
	g := e.grant("d1m2x9q4td")
	e.create(g)
	e.srv.ResetCalls()
	creds := e.create(g)
	if !e.srv.CheckPassword(projectID, g.Principal, password(creds)) {
		t.Fatal("the password does not work")
	}
	e.wantCalls(map[string]int{"createDatabaseUser": 1, "getDatabaseUser": 1, "updateDatabaseUser": 1})
}

func TestRetriesGiveUp(t *testing.T) {
	tests := []struct {
		name  string
		fault atlastest.Fault
		msg   string
	}{
		{"5xx", atlastest.Fault{Kind: atlastest.FaultServerError}, "Atlas is unavailable (integration prod)"},
		{"429", atlastest.Fault{Kind: atlastest.FaultRateLimited, RetryAfter: 2}, "Atlas is rate limiting jitbot (integration prod); it will retry"},
		{"dropped", atlastest.Fault{Kind: atlastest.FaultDrop}, "Atlas is unavailable (integration prod)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, withConfig(func(cfg *Config) { cfg.MaxRetries = 2 }))
			tt.fault.OperationID = "createDatabaseUser"
			e.srv.Inject(tt.fault)
			_, err := e.prov.Create(e.ctx, e.grant("e1m2x9q4te"))
			wantError(t, err, flows.EUNAVAILABLE, tt.msg)
			e.wantCalls(map[string]int{"createDatabaseUser": 3})
			if s := e.prov.Stats(); s.Retries != 2 || s.Errors != 1 {
				t.Fatalf("stats: %+v", s)
			}
		})
	}
}

// A Retry-After that would end past the call's deadline is not waited for.
func TestRetryNeverOutlastsTheDeadline(t *testing.T) {
	e := newEnv(t, withConfig(func(cfg *Config) { cfg.HTTPTimeout = 5 * time.Second }))
	e.srv.Inject(atlastest.Fault{OperationID: "createDatabaseUser", Kind: atlastest.FaultRateLimited, RetryAfter: 30})
	_, err := e.prov.Create(e.ctx, e.grant("f1m2x9q4tf"))
	wantError(t, err, flows.EUNAVAILABLE, "rate limiting")
	if w := e.sleeps.all(); len(w) != 0 {
		t.Fatalf("waited %v", w)
	}
	e.wantCalls(map[string]int{"createDatabaseUser": 1})
}

func TestNoRetriesWhenDisabled(t *testing.T) {
	e := newEnv(t, withConfig(func(cfg *Config) { cfg.MaxRetries = -1 }))
	e.srv.Inject(atlastest.Fault{OperationID: "createDatabaseUser", Kind: atlastest.FaultServerError, Times: 1})
	_, err := e.prov.Create(e.ctx, e.grant("g1m2x9q4tg"))
	wantError(t, err, flows.EUNAVAILABLE, "unavailable")
	e.wantCalls(map[string]int{"createDatabaseUser": 1})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"7", 7 * time.Second, true},
		{"0", 0, true},
		{"-1", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestTokenFetchesAreRetried(t *testing.T) {
	e := newEnv(t)
	e.srv.Inject(atlastest.Fault{OperationID: "oauthToken", Kind: atlastest.FaultUnavailable, RetryAfter: 2, Times: 1})
	if err := e.prov.Ping(e.ctx, "prod"); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if got := e.sleeps.all(); !slices.Equal(got, []time.Duration{2 * time.Second}) {
		t.Fatalf("waits: %v", got)
	}
	if e.srv.TokensIssued() != 1 {
		t.Fatalf("tokens issued: %d", e.srv.TokensIssued())
	}
}

func TestTokenEndpointDown(t *testing.T) {
	e := newEnv(t, withConfig(func(cfg *Config) { cfg.MaxRetries = 1 }))
	e.srv.Inject(atlastest.Fault{OperationID: "oauthToken", Kind: atlastest.FaultServerError})
	wantError(t, e.prov.Ping(e.ctx, "prod"), flows.EUNAVAILABLE, "Atlas is unavailable (integration prod)")
}

func TestSlowAtlasTimesOut(t *testing.T) {
	e := newEnv(t, withDigest, withConfig(func(cfg *Config) { cfg.HTTPTimeout = 100 * time.Millisecond }))
	e.srv.Inject(atlastest.Fault{OperationID: "getGroup", Kind: atlastest.FaultLatency, Latency: 5 * time.Second})
	wantError(t, e.prov.Ping(e.ctx, "prod"), flows.EUNAVAILABLE, "Atlas is unavailable (integration prod did not answer in time)")
}

func TestClassify(t *testing.T) {
	pr := &project{Integration: Integration{Name: "prod", ProjectID: projectID, API: API{PublicKey: "pub"}}}
	cause := errors.New("sdk error")
	tests := []struct {
		status int
		code   string
		want   flows.Code
		msg    string
	}{
		{401, "UNAUTHORIZED", flows.EFORBIDDEN, "rejected jitbot's credentials for integration prod (check the API key pub)"},
		{403, "USER_UNAUTHORIZED", flows.EFORBIDDEN, "needs the roles Project Database Access Admin"},
		{403, "GROUP_USERS_LIMIT_EXCEEDED", flows.ECONFLICT, "limit of 100 database users"},
		{400, "DATABASE_USERS_LIMIT_REACHED", flows.ECONFLICT, "limit of 100 database users"},
		{404, "CLUSTER_NOT_FOUND", flows.EINVALID, "unknown cluster"},
		{404, "GROUP_NOT_FOUND", flows.EINVALID, "Atlas has no project"},
		{404, "USERNAME_NOT_FOUND", flows.ENOTFOUND, ""},
		{409, "USER_ALREADY_EXISTS", flows.ECONFLICT, ""},
		{429, "RATE_LIMITED", flows.EUNAVAILABLE, "rate limiting"},
		{500, "UNEXPECTED_ERROR", flows.EUNAVAILABLE, "Atlas is unavailable"},
		{502, "", flows.EUNAVAILABLE, "Atlas is unavailable"},
		{0, "", flows.EUNAVAILABLE, "Atlas is unavailable"},
		{400, "INVALID_ATTRIBUTE", flows.EINTERNAL, ""},
	}
	for _, tt := range tests {
		err := pr.classify(&callError{Op: "op", Status: tt.status, Code: tt.code, Err: cause})
		if flows.ErrorCode(err) != tt.want || !strings.Contains(flows.ErrorMessage(err)+err.Error(), tt.msg) || !errors.Is(err, cause) {
			t.Errorf("%d %s: got %v (%s)", tt.status, tt.code, err, flows.ErrorCode(err))
		}
	}
}
