package slack

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
)

func TestRequestFormOffersOnlyTheChoices(t *testing.T) {
	// views.open is the only Slack call made before the ack; the lookups
	// come after it. Every other call is held until the ack has arrived: one
	// made before the ack would hold the ack back.
	hold := newHoldingTransport("views.open")
	h := newHarness(t, func(s *setup) {
		s.cfg = func(c *Config) { c.HTTPClient = &http.Client{Transport: hold} }
	})
	t.Cleanup(hold.release) // before the harness closes the bot
	req, err := slacktest.SignedRequest(h.ctx, h.srv.URL+"/slack/commands", slacktest.SlashCommandForm(slackgo.SlashCommand{
		Command: "/access", UserID: alice.ID, UserName: alice.Name, TeamID: h.slack.TeamID(), ChannelID: "CGENERAL",
		TriggerID: h.slack.NewTriggerIDFor(alice.ID), ResponseURL: h.slack.NewResponseURL(),
	}), signingSecret, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	type answer struct {
		status int
		body   []byte
		err    error
	}
	acked := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			acked <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		acked <- answer{resp.StatusCode, body, err}
	}()
	select {
	case a := <-acked:
		if a.err != nil || a.status != http.StatusOK || len(a.body) != 0 {
			t.Fatalf("the form's ack: %d %q %v", a.status, a.body, a.err)
		}
	case <-time.After(10 * time.Second): // a hang guard, not a latency bound
		t.Fatal("no ack while the Slack calls other than views.open were held: the ack waits for one of them")
	}
	if calls := h.slack.Calls(); len(calls) != 1 || calls[0].Method != "views.open" {
		t.Fatalf("Slack calls made before the ack: %+v", calls)
	}
	hold.release()
	h.idle()
	if calls := h.slack.Calls(); len(calls) < 3 || calls[1].Method == "views.update" {
		t.Errorf("no lookups after the ack: %+v", calls)
	}
	views := h.slack.Views()
	if len(views) != 2 || views[0].Method != "views.open" || views[0].TriggerID == "" || views[1].Method != "views.update" || views[1].ID != views[0].ID {
		t.Fatalf("views: %+v", views)
	}
	var form struct {
		Blocks []struct {
			BlockID  string `json:"block_id"`
			Optional bool   `json:"optional"`
			Element  struct {
				OptionGroups []struct {
					Label   struct{ Text string } `json:"label"`
					Options []struct {
						Value string
						Text  struct{ Text string }
					} `json:"options"`
				} `json:"option_groups"`
				Options []struct{ Value string } `json:"options"`
				Initial *struct{ Value string }  `json:"initial_option"`
			} `json:"element"`
		} `json:"blocks"`
		Submit struct{ Text string } `json:"submit"`
	}
	if err := json.Unmarshal(views[1].JSON, &form); err != nil {
		t.Fatal(err)
	}
	byID := map[string]int{}
	for i, b := range form.Blocks {
		byID[strings.Split(b.BlockID, ":")[0]] = i
	}
	if _, ok := byID[fieldKind]; ok {
		t.Error("a kind selector for one kind")
	}
	res := form.Blocks[byID[fieldResource]].Element.OptionGroups
	if len(res) != 1 || res[0].Label.Text != "prod · Cluster0" || len(res[0].Options) != 3 {
		t.Fatalf("resource options: %+v", res)
	}
	var values []string
	for _, o := range res[0].Options {
		values = append(values, o.Value)
	}
	if !slices.Equal(values, []string{"database_user:prod/Cluster0/sales", "database_user:prod/Cluster0/sales/customers", "database_user:prod/Cluster0/sales/orders"}) {
		t.Errorf("resource values %v", values)
	}
	// Roles and durations follow the resource chosen: none before.
	for _, f := range []string{fieldRole, fieldDuration, fieldDatabase, fieldCollection} {
		if _, ok := byID[f]; ok {
			t.Errorf("a %s input before a resource is chosen", f)
		}
	}
	h.noViolations()
}

func TestRequestFormValidation(t *testing.T) {
	h := newHarness(t)
	h.slash(alice, "")
	view := h.slack.Views()[1]
	submit := func(values map[string]string) (int, []byte) {
		state := map[string]map[string]slackgo.BlockAction{}
		for k, v := range values {
			if k == fieldResource || k == fieldRole || k == fieldDuration {
				state[k] = map[string]slackgo.BlockAction{k: slacktest.OptionValue(v)}
			} else {
				state[k] = map[string]slackgo.BlockAction{k: slacktest.TextValue(v)}
			}
		}
		// The form as laid out for the resource chosen, whose flow requires a reason.
		return h.interact(slacktest.ViewSubmission(slacktest.Submission{
			UserID: alice.ID, TeamID: h.slack.TeamID(), ViewID: view.ID, CallbackID: requestCallback, Values: state,
			PrivateMetadata: `{"kind":"database_user","choice":"database_user:prod/Cluster0/sales","reason":true}`,
		}))
	}
	good := map[string]string{fieldResource: "database_user:prod/Cluster0/sales", fieldRole: "read", fieldDuration: "2h", fieldReason: "INC-7"}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range good {
			m[a] = b
		}
		m[k] = v // an input left empty is in the state, empty
		return m
	}
	tests := []struct {
		name   string
		values map[string]string
		block  string
		says   string
	}{
		{"no resource", with(fieldResource, ""), fieldResource, "Choose what you need access to."},
		{"no reason", with(fieldReason, ""), fieldReason, "requires a reason"},
		{"no role", with(fieldRole, ""), fieldRole, "Choose a role."},
		{"cluster-wide role", with(fieldRole, "readAnyDatabase"), fieldRole, "applies to every database"},
		{"bad duration", with(fieldDuration, "forever"), fieldDuration, "use a number and a unit"},
		{"system collection", with(fieldCollection, "system.users"), fieldCollection, "is a system collection"},
		{"collection of a collection", func() map[string]string {
			m := with(fieldResource, "database_user:prod/Cluster0/sales/orders")
			m[fieldCollection] = "x"
			return m
		}(), fieldCollection, "already a collection"},
		{"database for a named one", with(fieldDatabase, "other"), fieldDatabase, "Leave this empty"},
		{"long reason", with(fieldReason, strings.Repeat("x", 501)), fieldReason, "under 500"},
	}
	for _, tt := range tests {
		status, body := submit(tt.values)
		var resp slackgo.ViewSubmissionResponse
		if err := json.Unmarshal(body, &resp); status != http.StatusOK || err != nil || resp.ResponseAction != slackgo.RAErrors || !strings.Contains(resp.Errors[tt.block], tt.says) {
			t.Errorf("%s: %d %s", tt.name, status, body)
		}
	}
	if rs, _ := h.svc.Mine(h.ctx, "alice@example.com"); len(rs) != 0 {
		t.Fatalf("an invalid form made a request")
	}

	// Valid, with a collection: the modal closes and the request is made,
	// once, however often Slack delivers the submission.
	ok := with(fieldCollection, "orders")
	for range 2 {
		if status, body := submit(ok); status != http.StatusOK || len(body) != 0 {
			t.Fatalf("valid form: %d %s", status, body)
		}
	}
	r := h.only("alice@example.com")
	if r.Resource.String() != "prod/Cluster0/sales/orders" || r.Duration != 2*time.Hour || r.Reason != "INC-7" || r.Origin != "slack" {
		t.Errorf("request %+v", r)
	}
	if dm := h.lastDM(alice); !strings.Contains(dm.AllText(), "Request "+string(r.ID)+" sent for approval") {
		t.Errorf("confirmation:\n%s", dm.AllText())
	}
	if n := len(h.dms(bob)); n != 1 {
		t.Errorf("bob got %d cards", n)
	}
	// A policy refusal found after the modal closed arrives by DM.
	h.slash(alice, "")
	view = h.slack.Views()[len(h.slack.Views())-1]
	submit(ok) // the same resource and role again: refused by flows
	if dm := h.lastDM(alice); !strings.Contains(dm.AllText(), "you already have request") {
		t.Errorf("refusal:\n%s", dm.AllText())
	}
}

func TestCommands(t *testing.T) {
	h := newHarness(t, withExtendApproval())
	h.slash(alice, `request prod/Cluster0/sales/orders read 1h "INC-1"`)
	active := h.only("alice@example.com")
	h.click(bob, h.lastDM(bob), "approve:"+string(active.ID))
	active = h.get(string(active.ID))
	h.slash(alice, `request prod/Cluster0/sales/customers readWrite 30m fixing the import`)
	var pending *flows.Request
	rs, _ := h.svc.Mine(h.ctx, "alice@example.com")
	for _, r := range rs {
		if r.State == flows.StatePending {
			pending = r
		}
	}
	if pending == nil || pending.Reason != "fixing the import" {
		t.Fatalf("pending %+v", pending)
	}

	run := func(u slacktest.User, text string) slacktest.ResponsePost {
		t.Helper()
		ack, ru := h.slash(u, text)
		if ack.Text != "Working on it…" {
			t.Fatalf("%s: ack %+v", text, ack)
		}
		return h.outcome(ru)
	}
	out := run(alice, "list")
	if text := out.AllText(); !strings.Contains(text, string(active.ID)) || !strings.Contains(text, string(pending.ID)) || !slices.Contains(actionIDs(out), "cancel:"+string(pending.ID)) || !slices.Contains(actionIDs(out), "revoke:"+string(active.ID)) {
		t.Errorf("list:\n%s\n%v", text, actionIDs(out))
	}
	out = run(bob, "pending")
	if got := actionIDs(out); !slices.Equal(got, []string{"approve:" + string(pending.ID), "deny:" + string(pending.ID)}) {
		t.Errorf("pending: %v\n%s", got, out.AllText())
	}
	if out := run(carol, "pending"); !strings.Contains(out.AllText(), "Nothing waits for your approval.") {
		t.Errorf("carol's pending:\n%s", out.AllText())
	}
	// Extending needs approval in this flow: the owner gets an extension card.
	out = run(alice, "extend "+string(active.ID)+" 1h")
	if !strings.Contains(out.AllText(), "Asked bob@example.com to approve 1h more.") {
		t.Errorf("extend:\n%s", out.AllText())
	}
	ext := h.lastDM(bob)
	if got := actionIDs(ext); !slices.Equal(got, []string{"approve-ext:" + string(active.ID) + ":1", "deny-ext:" + string(active.ID) + ":1"}) {
		t.Fatalf("extension card: %v", got)
	}
	h.click(bob, ext, "approve-ext:"+string(active.ID)+":1")
	if r := h.get(string(active.ID)); !r.ExpiresAt.Equal(active.ExpiresAt.Add(time.Hour)) {
		t.Errorf("extension not applied: %s", r.ExpiresAt)
	}
	ext, _ = h.message(ext.Channel, ext.TS)
	if len(ext.Buttons()) != 0 || !strings.Contains(ext.AllText(), "Approved by bob@example.com") {
		t.Errorf("extension card after approval:\n%s", ext.AllText())
	}
	if dm := h.lastDM(alice); !strings.Contains(dm.AllText(), "Access extended") {
		t.Errorf("requester told:\n%s", dm.AllText())
	}
	// Rotate: new credentials by DM, the old message loses its password.
	before := len(h.dms(alice))
	out = run(alice, "rotate "+string(active.ID))
	if !strings.Contains(out.AllText(), "New credentials were sent in your direct messages") || strings.Contains(string(out.Body), "pw-") {
		t.Errorf("rotate:\n%s", out.AllText())
	}
	dms := h.dms(alice)
	if len(dms) != before+1 || !strings.Contains(string(dms[len(dms)-1].BlocksJSON), "pw-"+active.Principal+"-2") {
		t.Fatalf("rotated credentials not sent: %d DMs before, %d after; last:\n%s", before, len(dms), dms[len(dms)-1].BlocksJSON)
	}
	for _, m := range dms[:len(dms)-1] {
		if strings.Contains(string(m.BlocksJSON), "pw-"+active.Principal+"-1") {
			m, _ = h.message(m.Channel, m.TS)
			if strings.Contains(string(m.BlocksJSON), "pw-"+active.Principal+"-1") {
				t.Error("the old password is still shown")
			}
		}
	}
	out = run(alice, "cancel "+string(pending.ID))
	if !strings.Contains(out.AllText(), "Cancelled.") || h.get(string(pending.ID)).State != flows.StateCancelled {
		t.Errorf("cancel:\n%s", out.AllText())
	}
	out = run(alice, `revoke `+string(active.ID)+` "done early"`)
	if r := h.get(string(active.ID)); r.State != flows.StateRevoked || r.EndReason != "done early" || !strings.Contains(out.AllText(), "Revoked.") {
		t.Errorf("revoke: %s\n%s", r.State, out.AllText())
	}
	if out := run(eve, "cancel "+string(active.ID)); !strings.Contains(out.AllText(), "there is no request "+string(active.ID)+" that you can see") {
		t.Errorf("eve's cancel:\n%s", out.AllText())
	}
	if out := run(alice, "revoke nosuchid1"); !strings.Contains(out.AllText(), "there is no request nosuchid1") {
		t.Errorf("unknown id:\n%s", out.AllText())
	}
	h.noViolations()
}

func TestCommandErrorsAnswerAtOnce(t *testing.T) {
	h := newHarness(t)
	tests := []struct{ text, want string }{
		{"help", "How to use /access"},
		{"reqest prod/Cluster0/sales read 1h", `unknown subcommand "reqest"; did you mean request?`},
		{"request prod/Cluster0/sales read", "request needs a resource, a role and a duration"},
		{"request prod/Cluster0 read 1h", `resource "prod/Cluster0": want integration/cluster/database`},
		{"request prod/Cluster0/sales read 3w", `unknown unit "w"`},
		{"extend abc", "extend needs a duration"},
		{"request prod/Cluster0/sales read 1h &lt;!channel&gt; please", ""},
	}
	for _, tt := range tests[:len(tests)-1] {
		ack, ru := h.slash(alice, tt.text)
		text := ack.Text + "\n" + blocksText(t, ack.Blocks)
		if ack.ResponseType != "ephemeral" || !strings.Contains(text, tt.want) || !strings.Contains(text, "request &lt;integration/cluster/database[/collection]&gt;") {
			t.Errorf("%q: %s", tt.text, text)
		}
		if len(h.slack.ResponsePosts(ru)) != 0 {
			t.Errorf("%q did work after the ack", tt.text)
		}
	}
	if calls := h.slack.Calls(); len(calls) != 0 {
		t.Errorf("parse errors called Slack: %d calls", len(calls))
	}
	// Slack's escaping is undone before parsing: the reason is what was typed.
	h.slash(alice, tests[len(tests)-1].text)
	if r := h.only("alice@example.com"); r.Reason != "<!channel> please" {
		t.Errorf("reason %q", r.Reason)
	}
	// ...and escaped again for mrkdwn, so it pings nobody.
	if text := h.lastDM(bob).AllText(); strings.Contains(text, "<!channel>") || !strings.Contains(text, "&lt;!channel&gt; please") {
		t.Errorf("the reason was not escaped:\n%s", text)
	}
}

func TestUnescape(t *testing.T) {
	tests := map[string]string{
		"request a/b/c read 1h &lt;tag&gt; &amp; more":            "request a/b/c read 1h <tag> & more",
		"revoke abc see <https://x.example/t/1|ticket 1>":         "revoke abc see ticket 1",
		"revoke abc see <https://x.example/t/1>":                  "revoke abc see https://x.example/t/1",
		"revoke abc ask <mailto:bob@example.com|bob@example.com>": "revoke abc ask bob@example.com",
		"revoke abc ping <@U123|bob> in <#C1|ops>":                "revoke abc ping @bob in #ops",
	}
	for in, want := range tests {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

// blocksText is blocks as JSON without HTML escaping, for substring checks.
func blocksText(t *testing.T, blocks slackgo.Blocks) string {
	t.Helper()
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(blocks.BlockSet); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
