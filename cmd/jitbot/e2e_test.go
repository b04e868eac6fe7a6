package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/teams/teamstest"
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
	h := newHarness(t, clock)
	h.start()
	addr := h.main.Addr()

	// olivia talks to the bot in Teams once, so it may write to her later.
	h.teams(addr, "access help")
	h.waitTeams(func(a teamstest.Activity) bool { return a.ConversationID == oliviaConv })

	ack := h.slash(addr, alice, "request prod/Cluster0/sales/orders read 1h INC-123 checkout errors")
	if !strings.Contains(ack, "Working on it") {
		t.Fatalf("ack: %s", ack)
	}
	slackCard := h.waitDM(olivia, "Approve")
	teamsCard := h.waitTeams(func(a teamstest.Activity) bool {
		_, ok := teamstest.FindAction(firstCard(a), "Approve")
		return a.ConversationID == oliviaConv && a.Op == teamstest.OpSend && ok
	})
	approve, _ := teamstest.FindAction(firstCard(teamsCard), "Approve")

	resp, err := h.bf.Deliver(h.ctx, h.url("/teams/messages"), h.bf.Submit(oliviaConv, oliviaTeams, teamsCard.ActivityID, approve.Data))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	creds := h.waitDM(alice, "Password")
	users := h.atlas.Users(testProject)
	if len(users) != 1 || !strings.Contains(creds.AllText(), users[0].Username) {
		t.Fatalf("Atlas users %+v; credentials:\n%s", users, creds.AllText())
	}
	u := users[0]
	if len(u.Roles) != 1 || u.Roles[0].RoleName != "read" || u.Roles[0].DatabaseName != "sales" || u.Roles[0].CollectionName != "orders" ||
		len(u.Scopes) != 1 || u.Scopes[0].Name != "Cluster0" {
		t.Fatalf("the Atlas user is not scoped to what was asked: %+v", u)
	}
	if v, _ := u.Label("managed-by"); v != "jitbot" {
		t.Fatalf("labels: %+v", u.Labels)
	}
	// The credentials went to alice only, in Slack where she asked.
	for _, a := range h.bf.Activities() {
		if strings.Contains(a.Activity.Text+cardsText(a), "Password") {
			t.Fatalf("credentials leaked to Teams conversation %s", a.ConversationID)
		}
	}
	for _, m := range h.slack.Messages() {
		if m.Channel != "D"+alice.id && strings.Contains(m.AllText(), "Password") {
			t.Fatalf("credentials leaked to Slack channel %s", m.Channel)
		}
	}

	r := h.onlyRequest()
	clock.Set(r.ExpiresAt.Add(-15 * time.Minute))
	h.sweep()
	h.waitDM(alice, "Access ends soon")
	clock.Set(r.ExpiresAt)
	h.sweep()
	h.waitDM(alice, "Access expired")
	if n := len(h.atlas.Users(testProject)); n != 0 {
		t.Fatalf("%d Atlas users left after expiry", n)
	}

	// Both cards show the outcome and offer nothing more to click.
	final, _ := h.slack.Message(slackCard.Channel, slackCard.TS)
	if len(final.Buttons()) != 0 || !strings.Contains(final.AllText(), "expired") {
		t.Fatalf("Slack card:\n%s", final.AllText())
	}
	cur, ok := h.bf.Current(oliviaConv, teamsCard.ActivityID)
	if !ok {
		t.Fatal("the Teams card is gone")
	}
	if _, ok := teamstest.FindAction(teamstest.AdaptiveCards(cur)[0], "Approve"); ok {
		t.Fatal("the Teams card still offers Approve")
	}
	if !strings.Contains(teamstest.CardText(teamstest.AdaptiveCards(cur)[0]), "expired") {
		t.Fatalf("Teams card:\n%s", teamstest.CardText(teamstest.AdaptiveCards(cur)[0]))
	}

	if n := h.atlas.CountCalls("createDatabaseUser"); n != 1 {
		t.Fatalf("creates: %d", n)
	}
	sum, err := h.main.Store().VerifyAudit(h.ctx)
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

func (h *harness) onlyRequest() *flows.Request {
	h.t.Helper()
	rs, err := h.main.Service().Requests(h.ctx, flows.Query{})
	if err != nil || len(rs) != 1 {
		h.t.Fatalf("requests: %d %v", len(rs), err)
	}
	return rs[0]
}

// TestDemo runs the main job as `jitbot demo` would and checks every step happened.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	code := cli(context.Background(), []string{"demo"}, &out, &out, func(string) (string, bool) { return "", false })
	if code != 0 || !strings.Contains(out.String(), "RESULT: all 10 steps happened.") {
		t.Fatalf("exit %d:\n%s", code, out.String())
	}
	if !strings.Contains(out.String(), "(hidden in this transcript)") {
		t.Fatal("the transcript must not print the password")
	}
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
	h := newHarness(t, nil)
	h.start()
	if code, body := get(t, h.url("/healthz"), ""); code != 200 || body != "ok\n" {
		t.Fatalf("healthz %d %q", code, body)
	}
	if code, body := get(t, h.url("/readyz"), ""); code != 200 {
		t.Fatalf("readyz %d %q", code, body)
	}
	h.slash(h.main.Addr(), alice, "request prod/Cluster0/sales/orders read 1h INC-7")
	h.waitDM(olivia, "Approve")
	// The DM can reach the Slack fake a moment before the transport that
	// counts the call has seen its answer: read the metrics until they agree.
	for deadline := time.Now().Add(10 * time.Second); ; {
		code, body := get(t, h.url("/metrics"), "")
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
	if code, _ := get(t, h.url("/admin/grants"), "wrong-token"); code != http.StatusUnauthorized {
		t.Fatalf("admin with a wrong token: %d", code)
	}
	if code, body := get(t, h.url("/admin/grants?state=pending"), "test-admin-token-0123456789"); code != 200 || !strings.Contains(body, `"state":"pending"`) {
		t.Fatalf("admin grants: %d %s", code, body)
	}
	if code, body := get(t, h.url("/admin/audit/verify"), "test-admin-token-0123456789"); code != 200 || !strings.Contains(body, `"ok":true`) {
		t.Fatalf("audit verify: %d %s", code, body)
	}
	// Atlas down: not ready, naming the part that is down; why is in the
	// log, not in the answer (anyone reaching the probe would read it).
	h.atlas.Inject(atlasDown())
	h.main.ExpireReadiness()
	if code, body := get(t, h.url("/readyz"), ""); code != http.StatusServiceUnavailable || strings.TrimSpace(body) != "not ready: atlas prod" {
		t.Fatalf("readyz with Atlas down: %d %q", code, body)
	}
	if !strings.Contains(h.logs.String(), `"msg":"not ready","part":"atlas prod"`) {
		t.Fatalf("the reason is not logged:\n%s", tail(h.logs.String(), 2000))
	}
}
