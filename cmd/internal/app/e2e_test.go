package app_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
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

func TestHealthReadinessMetricsAndAdmin(t *testing.T) {
	h := rigtest.New(t, nil)
	h.Start()
	if code, body := get(t, h.URL("/healthz"), ""); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	if code, body := get(t, h.URL("/readyz"), ""); code != 200 {
		t.Fatalf("readyz %d %q", code, body)
	}
	h.Slash(h.Addr(), rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-7")
	h.WaitDM(rig.Olivia, "Approve")
	// The DM can reach the Slack fake a moment before the transport that
	// counts the call has seen its answer: read the metrics until they agree.
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, body := get(t, h.URL("/metrics"), "")
		missing := ""
		for _, want := range []string{`jitbot_requests{state="pending"} 1`, `jitbot_events_total{type="submitted"} 1`, `jitbot_atlas_calls_total{operation=`,
			`jitbot_slack_calls_total{method="chat.postMessage",status="2xx"}`, `jitbot_slack_rate_limited_total 0`, `jitbot_teams_calls_total{method=`} {
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
	if code, _ := get(t, h.URL("/admin/grants"), "wrong-token"); code != http.StatusUnauthorized {
		t.Fatalf("admin with a wrong token: %d", code)
	}
	if code, body := get(t, h.URL("/admin/grants?state=pending"), rig.AdminToken); code != 200 || !strings.Contains(body, `"state":"pending"`) {
		t.Fatalf("admin grants: %d %s", code, body)
	}
	if code, body := get(t, h.URL("/admin/audit/verify"), rig.AdminToken); code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("audit verify: %d %s", code, body)
	}
	// Atlas down: not ready, naming the part that is down; why is in the
	// log, not in the answer (anyone reaching the probe would read it).
	h.Atlas.Inject(atlastest.Fault{OperationID: "getGroup", Kind: atlastest.FaultServerError})
	h.Main.ExpireReadiness()
	if code, body := get(t, h.URL("/readyz"), ""); code != http.StatusServiceUnavailable || strings.TrimSpace(body) != "not ready: atlas prod" {
		t.Fatalf("readyz with Atlas down: %d %q", code, body)
	}
	if !strings.Contains(h.Logs(), `"msg":"not ready","part":"atlas prod"`) {
		t.Fatalf("the reason is not logged:\n%s", h.LogTail(2000))
	}
}
