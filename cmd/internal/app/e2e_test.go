package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/buildinfo"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// TestMixedJourney is the whole life of a grant through jitbot's real HTTP
// handlers: alice asks in Slack, olivia (the cluster's owner, known to jitbot
// by the same email in both) approves in Teams, Atlas provisions, alice gets
// her credentials in Slack, the reminder and the expiry follow, and every
// card on both platforms ends showing the outcome.
func TestMixedJourney(t *testing.T) {
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := rigtest.New(t, clock)
	h.Start()
	addr := h.Addr()

	// olivia talks to the bot in Teams once, so it may write to her later.
	h.TeamsSay(addr, rig.OliviaInTeams, rig.OliviaConv, "access help")
	h.WaitTeams(func(a teamstest.Activity) bool { return a.ConversationID == rig.OliviaConv })

	ack := h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-123 checkout errors")
	if !strings.Contains(ack, "Working on it") {
		t.Fatalf("ack: %s", ack)
	}
	slackCard := h.WaitDM(rig.Olivia, "Approve")
	teamsCard := h.WaitTeams(func(a teamstest.Activity) bool {
		_, ok := teamstest.FindAction(firstCard(a), "Approve")
		return a.ConversationID == rig.OliviaConv && a.Op == teamstest.OpSend && ok
	})
	approve, _ := teamstest.FindAction(firstCard(teamsCard), "Approve")

	resp, err := h.BF.Deliver(h.Ctx, h.URL("/teams/messages"), h.BF.Submit(rig.OliviaConv, rig.OliviaInTeams, teamsCard.ActivityID, approve.Data))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	creds := h.WaitDM(rig.Alice, "Password")
	users := h.Atlas.Users(rig.Project)
	if len(users) != 1 || !strings.Contains(creds.AllText(), users[0].Username) {
		t.Fatalf("Atlas users %+v; credentials:\n%s", users, creds.AllText())
	}
	u := users[0]
	// The password in the DM is the one Atlas holds for that user, and it
	// was sent only once Atlas said APPLIED (the simulator applies at the
	// first status poll).
	pw := regexp.MustCompile("\\*Password\\*\\\\n`([A-Za-z0-9]+)`").FindStringSubmatch(string(creds.BlocksJSON))
	if pw == nil || !h.Atlas.CheckPassword(rig.Project, u.Username, pw[1]) {
		t.Fatalf("the password in the DM is not the Atlas user's:\n%s", creds.BlocksJSON)
	}
	if n := h.Atlas.CountCalls("getClusterStatus"); n < 1 {
		t.Fatalf("credentials sent after %d status polls", n)
	}
	if len(u.Roles) != 1 || u.Roles[0].RoleName != "read" || u.Roles[0].DatabaseName != "sales" || u.Roles[0].CollectionName != "orders" ||
		len(u.Scopes) != 1 || u.Scopes[0].Name != "Cluster0" {
		t.Fatalf("the Atlas user is not scoped to what was asked: %+v", u)
	}
	if v, _ := u.Label("managed-by"); v != "jitbot" {
		t.Fatalf("labels: %+v", u.Labels)
	}
	// The credentials went to alice only, in Slack where she asked.
	for _, a := range h.BF.Activities() {
		if strings.Contains(a.Activity.Text+cardsText(a), "Password") {
			t.Fatalf("credentials leaked to Teams conversation %s", a.ConversationID)
		}
	}
	for _, m := range h.Slack.Messages() {
		if m.Channel != "D"+rig.Alice.ID && strings.Contains(m.AllText(), "Password") {
			t.Fatalf("credentials leaked to Slack channel %s", m.Channel)
		}
	}

	r := onlyRequest(h)
	clock.Set(r.ExpiresAt.Add(-15 * time.Minute))
	h.Main.Sweep(h.Ctx)
	h.WaitDM(rig.Alice, "Access ends soon")
	clock.Set(r.ExpiresAt)
	h.Main.Sweep(h.Ctx)
	h.WaitDM(rig.Alice, "Access expired")
	if n := len(h.Atlas.Users(rig.Project)); n != 0 {
		t.Fatalf("%d Atlas users left after expiry", n)
	}

	// Both cards show the outcome and offer nothing more to click.
	final, _ := h.Slack.Message(slackCard.Channel, slackCard.TS)
	if len(final.Buttons()) != 0 || !strings.Contains(final.AllText(), "expired") {
		t.Fatalf("Slack card:\n%s", final.AllText())
	}
	cur, ok := h.BF.Current(rig.OliviaConv, teamsCard.ActivityID)
	if !ok {
		t.Fatal("the Teams card is gone")
	}
	if _, ok := teamstest.FindAction(teamstest.AdaptiveCards(cur)[0], "Approve"); ok {
		t.Fatal("the Teams card still offers Approve")
	}
	if !strings.Contains(teamstest.CardText(teamstest.AdaptiveCards(cur)[0]), "expired") {
		t.Fatalf("Teams card:\n%s", teamstest.CardText(teamstest.AdaptiveCards(cur)[0]))
	}

	if n := h.Atlas.CountCalls("createDatabaseUser"); n != 1 {
		t.Fatalf("creates: %d", n)
	}
	sum, err := h.Main.Store().VerifyAudit(h.Ctx)
	if err != nil || sum.Records < 7 {
		t.Fatalf("audit: %+v %v", sum, err)
	}
}

func firstCard(a teamstest.Activity) map[string]any {
	if cs := a.Cards(); len(cs) > 0 {
		return cs[0]
	}
	return nil
}

func cardsText(a teamstest.Activity) string {
	var b strings.Builder
	for _, c := range a.Cards() {
		b.WriteString(teamstest.CardText(c))
	}
	return b.String()
}

func onlyRequest(h *rigtest.Harness) *flows.Request {
	h.T.Helper()
	rs, err := h.Main.Service().Requests(h.Ctx, flows.Query{})
	if err != nil || len(rs) != 1 {
		h.T.Fatalf("requests: %d %v", len(rs), err)
	}
	return rs[0]
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// ticker is an injected sleep for the dependency checks: a wait ends when
// the test ticks, so checks run when the test says, never on a real timer.
type ticker chan struct{}

func (tk ticker) sleep(ctx context.Context, _ time.Duration) error {
	select {
	case <-tk:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// tick lets one waiting check loop run its next check, if one waits.
func (tk ticker) tick() {
	select {
	case tk <- struct{}{}:
	default:
	}
}

// noSleep is the Atlas client's retry sleep in tests that make Atlas fail:
// its retries run at once.
func noSleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// status reads GET /admin/status.
func status(t *testing.T, h *rigtest.Harness) app.Status {
	t.Helper()
	code, body := get(t, "http://"+h.Main.AdminAddr()+"/admin/status", rig.AdminToken)
	if code != http.StatusOK {
		t.Fatalf("admin status: %d %s", code, body)
	}
	var s app.Status
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatalf("admin status: %v\n%s", err, body)
	}
	return s
}

func integration(s app.Status, name string) app.IntegrationStatus {
	for _, in := range s.Integrations {
		if in.Integration == name {
			return in
		}
	}
	return app.IntegrationStatus{}
}

func metricsText(t *testing.T, h *rigtest.Harness) string {
	t.Helper()
	code, body := get(t, "http://"+h.Main.AdminAddr()+"/metrics", "")
	if code != http.StatusOK {
		t.Fatalf("metrics: %d", code)
	}
	return body
}

func TestHealthReadinessMetricsAndAdmin(t *testing.T) {
	started := time.Now()
	h := rigtest.New(t, nil)
	tk := make(ticker)
	h.StartWith(app.Options{HealthSleep: tk.sleep, AtlasSleep: noSleep})
	build := buildinfo.Read()
	if code, body := get(t, h.URL("/healthz"), ""); code != 200 || body != fmt.Sprintf(`{"status":"ok","version":%q,"revision":%q,"modified":%v,"go":%q}`+"\n",
		build.Version, build.Revision, build.Modified, build.GoVersion) {
		t.Fatalf("healthz %d %q", code, body)
	}
	if code, body := get(t, h.URL("/readyz"), ""); code != 200 || body != "ready\n" {
		t.Fatalf("readyz %d %q", code, body)
	}
	h.Eventually("every dependency checked", func() bool {
		s := status(t, h)
		return integration(s, "prod").State == app.DepUp && s.Slack != nil && s.Slack.State == app.DepUp && s.Teams != nil && s.Teams.State == app.DepUp
	})
	h.Slash(h.Addr(), rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-7")
	h.WaitDM(rig.Olivia, "Approve")
	// The DM can reach the Slack fake a moment before the transport that
	// counts the call has seen its answer: read the metrics until they agree.
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, body := get(t, h.URL("/metrics"), "")
		missing := ""
		for _, want := range []string{`jitbot_requests{state="pending"} 1`, `jitbot_events_total{type="submitted"} 1`, `jitbot_atlas_calls_total{operation=`,
			`jitbot_slack_calls_total{method="chat.postMessage",status="2xx"}`, `jitbot_slack_rate_limited_total 0`, `jitbot_teams_calls_total{method=`,
			`jitbot_dependency_up{dependency="atlas:prod"} 1`, `jitbot_dependency_up{dependency="slack"} 1`, `jitbot_dependency_up{dependency="teams"} 1`,
			`jitbot_integration_up{integration="prod"} 1`, `jitbot_integration_checks_total{integration="prod",result="ok"} 1`,
			"# TYPE jitbot_atlas_watchers gauge\njitbot_atlas_watchers 0", "# TYPE jitbot_atlas_apply_waits gauge\njitbot_atlas_apply_waits 0",
			`jitbot_atlas_apply_waits_total{result="applied"} 0`, `jitbot_atlas_apply_waits_total{result="timed_out"} 0`,
			"jitbot_inbox_depth 0", "jitbot_inbox_oldest_age_seconds 0",
			fmt.Sprintf("# TYPE jitbot_build_info gauge\njitbot_build_info{revision=%q,version=%q} 1", build.Revision, build.Version)} {
			if code != 200 || !strings.Contains(body, want) {
				missing = want
				break
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %q:\n%s", missing, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The sweep at start set when it began (the HA bench times a
	// failover to it).
	var sweepStart float64
	for line := range strings.Lines(metricsText(t, h)) {
		if v, ok := strings.CutPrefix(line, "jitbot_sweep_last_start_timestamp_seconds "); ok {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				sweepStart = f
			}
		}
	}
	if s := time.Unix(0, int64(sweepStart*1e9)); s.Before(started.Add(-time.Second)) || s.After(time.Now()) {
		t.Fatalf("jitbot_sweep_last_start_timestamp_seconds = %v (%v), want the start's sweep, after %v", sweepStart, s, started)
	}
	if code, _ := get(t, h.URL("/admin/grants"), "wrong-token"); code != http.StatusUnauthorized {
		t.Fatalf("admin with a wrong token: %d", code)
	}
	if code, _ := get(t, h.URL("/admin/status"), ""); code != http.StatusUnauthorized {
		t.Fatalf("admin status without a token: %d", code)
	}
	if code, body := get(t, h.URL("/admin/grants?state=pending"), rig.AdminToken); code != 200 || !strings.Contains(body, `"state":"pending"`) {
		t.Fatalf("admin grants: %d %s", code, body)
	}
	if code, body := get(t, h.URL("/admin/audit/verify"), rig.AdminToken); code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("audit verify: %d %s", code, body)
	}
	if s := status(t, h); !s.Ready || s.Store.State != "up" {
		t.Fatalf("status: %+v", s)
	}
	// The command was run and its card sent: nothing waits in the inbox or
	// the outbox (the card's delivery leaves the outbox a moment after the
	// DM reached Slack).
	h.Eventually("an empty pipeline", func() bool {
		p := status(t, h).Pipeline
		return p.Inbox == 0 && p.Outbox == 0 && p.Error == ""
	})

	// Atlas down: this replica still takes webhooks (ready), while the
	// metrics and the admin status say Atlas is down, and why.
	h.Atlas.Inject(atlastest.Fault{OperationID: "getGroup", Kind: atlastest.FaultServerError})
	h.Eventually("atlas prod degraded", func() bool {
		tk.tick()
		return integration(status(t, h), "prod").State == app.DepDegraded
	})
	if code, body := get(t, h.URL("/readyz"), ""); code != http.StatusOK || body != "ready\n" {
		t.Fatalf("readyz with Atlas down: %d %q", code, body)
	}
	s := status(t, h)
	prod := integration(s, "prod")
	if !s.Ready || prod.LastError == "" || prod.Since.IsZero() || prod.ChecksBad < 1 || s.Slack.State != app.DepUp {
		t.Fatalf("status with Atlas down: %+v", s)
	}
	body := metricsText(t, h)
	for _, want := range []string{`jitbot_dependency_up{dependency="atlas:prod"} 0`, `jitbot_integration_up{integration="prod"} 0`,
		`jitbot_integration_checks_total{integration="prod",result="error"} `, `jitbot_dependency_up{dependency="slack"} 1`} {
		if !strings.Contains(body, want) {
			t.Fatalf("metrics with Atlas down lack %q:\n%s", want, body)
		}
	}
	if !strings.Contains(h.Logs(), `"msg":"dependency down: retrying in the background (this integration is degraded; the others are unaffected)","component":"health","dependency":"atlas:prod","integration":"prod","err":`) {
		t.Fatalf("the reason is not logged:\n%s", h.LogTail(3000))
	}

	// Atlas back: up again at the next check.
	h.Atlas.ClearFaults()
	h.Eventually("atlas prod up again", func() bool {
		tk.tick()
		return integration(status(t, h), "prod").State == app.DepUp
	})
	if !strings.Contains(h.Logs(), `"msg":"dependency up again","component":"health","dependency":"atlas:prod"`) {
		t.Fatalf("the recovery is not logged:\n%s", h.LogTail(3000))
	}
}

// stagingProject is the second integration's project, which the Atlas
// simulator does not know until the test adds it: until then every call
// for it answers 404, as for a project deleted or a key not given access.
const stagingProject = "5cf5a45a9ccf6400e60981b7"

// TestOneBrokenIntegrationDoesNotStopTheRest: with two integrations, one of
// which Atlas refuses at start-up, jitbot serves (ready) with that one
// degraded; a grant in the healthy one is given, expires on time and its
// user is deleted; the broken one comes back and is marked up.
func TestOneBrokenIntegrationDoesNotStopTheRest(t *testing.T) {
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := rigtest.New(t, clock)
	h.EditConfig("\nflows:\n", fmt.Sprintf(`
  - name: staging
    project_id: %s
    atlas: {base_url: %s, client_id: %s, client_secret: %s}
    owners: [group:dba]
    databases:
      Cluster0: {sales: [orders]}
flows:
`, stagingProject, h.Atlas.URL(), atlastest.DefaultClientID, atlastest.DefaultClientSecret))
	tk := make(ticker)
	h.StartWith(app.Options{HealthSleep: tk.sleep, AtlasSleep: noSleep})
	addr := h.Addr()

	h.Eventually("staging degraded, prod up", func() bool {
		s := status(t, h)
		return integration(s, "staging").State == app.DepDegraded && integration(s, "prod").State == app.DepUp
	})
	if s := integration(status(t, h), "staging"); !strings.Contains(s.LastError, "404") || !s.Since.Equal(clock.Now()) {
		t.Fatalf("staging: %+v", s)
	}
	if !strings.Contains(h.Logs(), `"level":"WARN","msg":"dependency down at start-up: serving on, retrying in the background (this integration is degraded; the others are unaffected)","component":"health","dependency":"atlas:staging"`) {
		t.Fatalf("the degraded integration is not logged:\n%s", h.LogTail(3000))
	}
	if code, body := get(t, h.URL("/readyz"), ""); code != http.StatusOK {
		t.Fatalf("readyz with staging degraded: %d %q", code, body)
	}
	if body := metricsText(t, h); !strings.Contains(body, `jitbot_integration_up{integration="staging"} 0`) || !strings.Contains(body, `jitbot_integration_up{integration="prod"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}

	// The healthy integration works end to end: a grant is given, and
	// deleted when it expires.
	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-9 checkout errors")
	card := h.WaitDM(rig.Olivia, "Approve")
	h.Click(addr, rig.Olivia, card, "approve:")
	h.WaitDM(rig.Alice, "Password")
	if n := len(h.Atlas.Users(rig.Project)); n != 1 {
		t.Fatalf("%d Atlas users in prod, want 1", n)
	}
	r := onlyRequest(h)
	clock.Set(r.ExpiresAt)
	h.Main.Sweep(h.Ctx)
	if n := len(h.Atlas.Users(rig.Project)); n != 0 {
		t.Fatalf("%d Atlas users left in prod after the expiry sweep:\n%s", n, h.LogTail(3000))
	}
	if r = onlyRequest(h); r.State != flows.StateExpired {
		t.Fatalf("request %s after its expiry sweep", r.State)
	}
	h.WaitDM(rig.Alice, "Access expired")

	// The broken integration comes back and is marked up again.
	h.Atlas.AddProject(stagingProject, "staging")
	h.Eventually("staging up again", func() bool {
		tk.tick()
		return integration(status(t, h), "staging").State == app.DepUp
	})
	if body := metricsText(t, h); !strings.Contains(body, `jitbot_integration_up{integration="staging"} 1`) {
		t.Fatalf("metrics after staging came back:\n%s", body)
	}
	if !strings.Contains(h.Logs(), `"msg":"dependency up again","component":"health","dependency":"atlas:staging"`) {
		t.Fatalf("the recovery is not logged:\n%s", h.LogTail(3000))
	}
}
