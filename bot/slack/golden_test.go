package slack

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/flows"
)

// golden compares v, as indented JSON, with testdata/<name>.golden.json.
func golden(t *testing.T, name string, v any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	bottest.Golden(t, filepath.Join("testdata", name+".golden.json"), buf.Bytes())
	// Every payload must also be what slack-go (and so Slack) can read back.
	var probe struct {
		Blocks slackgo.Blocks `json:"blocks"`
	}
	if err := json.Unmarshal(buf.Bytes(), &probe); err != nil {
		t.Errorf("%s: not valid Block Kit: %v", name, err)
	}
}

// messagePayload is what chat.postMessage and chat.update send.
func messagePayload(c bot.Card) map[string]any {
	return map[string]any{"text": fallbackText(c), "blocks": renderCard(c, "")}
}

var (
	newYork = mustLoad("America/New_York")
	paris   = mustLoad("Europe/Paris")
)

func mustLoad(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func step(_ flows.Event, err error) {
	if err != nil {
		panic(err)
	}
}

// goldenRequest is a pending request with fixed ids and times.
func goldenRequest() *flows.Request {
	return &flows.Request{
		ID: "abc23def45", Requester: "alice@example.com",
		Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"},
		Roles:    []string{"read"}, Duration: time.Hour, Reason: "INC-123 <!channel> checkout *errors*", Origin: "slack", Flow: "prod-read",
		Approvers: []string{"bob@example.com", "carol@example.com"}, Quorum: 1, MaxDuration: 8 * time.Hour,
		DenyReasonRequired: true, State: flows.StatePending, CreatedAt: t0, UpdatedAt: t0, PendingUntil: t0.Add(time.Hour),
	}
}

func goldenActive() *flows.Request {
	r := goldenRequest()
	step(r.Approve("bob@example.com", t0.Add(5*time.Minute)))
	step(r.StartProvisioning(t0.Add(5*time.Minute), t0.Add(7*time.Minute), "jit-alice-abc23def45", t0.Add(2*time.Hour+6*time.Minute), time.Time{}))
	step(r.Activate(t0.Add(6*time.Minute), 15*time.Minute))
	return r
}

func goldenCreds() *flows.Credentials { return credsWithPassword("Xq7vT2mK9pLr4sW8nZ3c") }

func credsWithPassword(password string) *flows.Credentials {
	c := flows.DatabaseUserCredentials("jit-alice-abc23def45", flows.NewSecret(password), "mongodb+srv://cluster0.ab1cd.mongodb.net")
	c.Instructions = `mongosh "mongodb+srv://cluster0.ab1cd.mongodb.net" --username jit-alice-abc23def45`
	return &c
}

func TestGoldenApprovalCards(t *testing.T) {
	bobV := bot.Viewer{Email: "bob@example.com", Location: newYork}
	r := goldenRequest()
	golden(t, "approval_pending", messagePayload(bot.ApprovalCard(r, bobV)))
	golden(t, "approval_channel", messagePayload(bot.ApprovalCard(r, bot.Viewer{})))

	q := goldenRequest()
	q.Quorum = 2
	step(q.Approve("bob@example.com", t0.Add(3*time.Minute)))
	golden(t, "approval_quorum_approver_waiting", messagePayload(bot.ApprovalCard(q, bot.Viewer{Email: "carol@example.com"})))
	golden(t, "approval_quorum_approver_done", messagePayload(bot.ApprovalCard(q, bobV)))

	golden(t, "approval_active", messagePayload(bot.ApprovalCard(goldenActive(), bobV)))

	d := goldenRequest()
	step(d.Deny("bob@example.com", "use the read replica", t0.Add(2*time.Minute)))
	golden(t, "approval_denied", messagePayload(bot.ApprovalCard(d, bobV)))

	e := goldenActive()
	step(e.StartRevoking(e.ExpiresAt, flows.SystemActor, flows.StateExpired, "expired"))
	step(e.FinishRevocation(e.ExpiresAt.Add(time.Second)))
	golden(t, "approval_expired", messagePayload(bot.ApprovalCard(e, bot.Viewer{})))

	x := goldenActive()
	x.ExtendNeedsApproval = true
	ev, err := x.Extend("alice@example.com", time.Hour, t0.Add(50*time.Minute), 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "extension_pending", messagePayload(bot.ExtensionCard(x, 1, ev, bobV)))
	done, err := x.DecideExtension(1, "carol@example.com", true, "", t0.Add(52*time.Minute), 15*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "extension_approved", messagePayload(bot.ExtensionCard(x, 1, done, bobV)))
}

func TestGoldenDirectMessages(t *testing.T) {
	aliceV := bot.Viewer{Email: "alice@example.com", Location: paris}
	daveV := bot.Viewer{Email: "dave@example.com"}
	active := goldenActive()
	notice := func(r *flows.Request, ev flows.Event, creds *flows.Credentials) flows.Notice {
		ev.RequestID = r.ID
		return flows.Notice{Event: ev, Request: r, Credentials: creds}
	}
	at := t0.Add(6 * time.Minute)
	tests := []struct {
		name string
		n    flows.Notice
		v    bot.Viewer
	}{
		{"activated", notice(active, flows.Event{Type: flows.EventActivated, At: at}, goldenCreds()), aliceV},
		{"credentials_rotated", notice(active, flows.Event{Type: flows.EventCredentialsRotated, At: at.Add(time.Hour)}, goldenCreds()), aliceV},
		{"apply_delayed", notice(active, flows.Event{Type: flows.EventApplyDelayed, At: at}, nil), aliceV},
		{"reminder", notice(active, flows.Event{Type: flows.EventReminder, At: active.ExpiresAt.Add(-15 * time.Minute)}, nil), aliceV},
		{"extended", notice(active, flows.Event{Type: flows.EventExtended, Actor: "carol@example.com", Duration: time.Hour, Extension: 1, At: at}, nil), aliceV},
		{"extension_denied", notice(active, flows.Event{Type: flows.EventExtensionDenied, Actor: "carol@example.com", Message: "not tonight", Duration: time.Hour, Extension: 1, At: at}, nil), aliceV},
		{"revoke_failed", notice(active, flows.Event{Type: flows.EventRevokeFailed, Attempt: 6, Message: "Atlas is unavailable", At: at}, nil), daveV},
		{"provision_failed", notice(active, flows.Event{Type: flows.EventProvisionFailed, Attempt: 5, Message: "Atlas refused the user", At: at}, nil), daveV},
		{"credentials_undelivered", notice(active, flows.Event{Type: flows.EventCredentialsUndelivered, Message: "Slack did not deliver the direct message", At: at}, nil), daveV},
		{"grant_missing", notice(active, flows.Event{Type: flows.EventGrantMissing, Message: "the Atlas user of this active grant is gone", At: at}, nil), daveV},
		{"orphan_deleted", flows.Notice{Event: flows.Event{Type: flows.EventOrphanDeleted, RequestID: "zzz9999999", Principal: "jit-bob-zzz9999999", Message: "deleted an Atlas user labelled managed-by=jitbot: no request holds this user", At: at}}, daveV},
	}
	d := goldenRequest()
	step(d.Deny("bob@example.com", "use the read replica", at))
	tests = append(tests, struct {
		name string
		n    flows.Notice
		v    bot.Viewer
	}{"denied", notice(d, flows.Event{Type: flows.EventDenied, Actor: "bob@example.com", Message: "use the read replica", At: at}, nil), aliceV})
	to := goldenRequest()
	step(to.TimeOut(t0.Add(time.Hour)))
	tests = append(tests, struct {
		name string
		n    flows.Notice
		v    bot.Viewer
	}{"timed_out", notice(to, flows.Event{Type: flows.EventTimedOut, Message: "nobody decided within 1h", At: t0.Add(time.Hour)}, nil), aliceV})
	c := goldenRequest()
	step(c.Cancel("dave@example.com", true, at))
	tests = append(tests, struct {
		name string
		n    flows.Notice
		v    bot.Viewer
	}{"cancelled", notice(c, flows.Event{Type: flows.EventCancelled, Actor: "dave@example.com", At: at}, nil), aliceV})
	ex := goldenActive()
	step(ex.StartRevoking(ex.ExpiresAt, flows.SystemActor, flows.StateExpired, "expired"))
	step(ex.FinishRevocation(ex.ExpiresAt.Add(time.Second)))
	rv := goldenActive()
	step(rv.StartRevoking(at.Add(10*time.Minute), "bob@example.com", flows.StateRevoked, "leaked in a screenshot"))
	step(rv.FinishRevocation(at.Add(11 * time.Minute)))
	tests = append(tests, []struct {
		name string
		n    flows.Notice
		v    bot.Viewer
	}{
		{"expired", notice(ex, flows.Event{Type: flows.EventExpired, At: ex.EndedAt}, nil), aliceV},
		{"revoked", notice(rv, flows.Event{Type: flows.EventRevoked, Actor: "bob@example.com", Message: "leaked in a screenshot", At: rv.EndedAt}, nil), aliceV},
	}...)

	for _, tt := range tests {
		card, ok := bot.NoticeCard(tt.n, tt.v)
		if !ok {
			t.Errorf("%s: no message", tt.name)
			continue
		}
		golden(t, "dm_"+tt.name, messagePayload(card))
	}

	// A password a code span cannot hold goes out as rich text, unaltered.
	odd := credsWithPassword("a`b*c_d~e<f>g&h")
	card, _ := bot.NoticeCard(notice(active, flows.Event{Type: flows.EventActivated, At: at}, odd), aliceV)
	golden(t, "dm_activated_unusual_password", messagePayload(card))
	golden(t, "credentials_removed", messagePayload(bot.CredentialsGoneCard(ex, flows.Event{Type: flows.EventRevoking, At: ex.ExpiresAt}, aliceV)))
	golden(t, "submitted", messagePayload(bot.SubmittedCard(goldenRequest(), aliceV)))
}

func TestGoldenCommandAnswers(t *testing.T) {
	w := (&Bot{cfg: Config{Command: "/access"}}).Wording()
	golden(t, "usage", ephemeral(bot.UsageCard(w, nil)))
	_, err := bot.Parse("reqest prod/Cluster0/sales read 1h")
	golden(t, "usage_error", ephemeral(bot.UsageCard(w, err)))
	golden(t, "refused", ephemeral(bot.ErrorCard(flows.Errorf(flows.EFORBIDDEN, "you are not an approver of request abc23def45"))))
	golden(t, "internal_error", ephemeral(bot.ErrorCard(errors.New("bolt: database not open"))))

	aliceV := bot.Viewer{Email: "alice@example.com", Location: paris}
	pending := goldenRequest()
	pending.ID = "pend234567"
	pending.Resource.Collection = "customers"
	golden(t, "list", map[string]any{"blocks": listBlocks(bot.NewList("Your requests", "none", []*flows.Request{goldenActive(), pending}, aliceV))})
	golden(t, "list_empty", map[string]any{"blocks": listBlocks(bot.NewList("Waiting for your approval", "Nothing waits for your approval.", nil, aliceV))})
	golden(t, "home", map[string]any{"type": "home", "blocks": homeBlocks("/access", bot.NewOverview(aliceV, []*flows.Request{goldenActive(), pending}, nil))})
	bobV := bot.Viewer{Email: "bob@example.com", Location: newYork}
	golden(t, "home_approver", map[string]any{"type": "home", "blocks": homeBlocks("/access", bot.NewOverview(bobV, nil, []*flows.Request{pending}))})
}

func TestGoldenModals(t *testing.T) {
	golden(t, "modal_loading", loadingModal())
	golden(t, "modal_nothing", messageModal("Request access", "No access flow lets you ask for anything yet. Ask an admin to add you to one."))
	sales := flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales"}
	orders := sales
	orders.Collection = "orders"
	choices := []flows.Choice{
		{Resource: sales, Roles: []string{"read", "readWrite"}, DefaultDuration: time.Hour, MaxDuration: 8 * time.Hour, RequireReason: true},
		{Resource: orders, Roles: []string{"read", "readWrite"}, DefaultDuration: time.Hour, MaxDuration: 8 * time.Hour, RequireReason: true},
		{Resource: flows.Resource{Integration: "staging", Cluster: "Staging"}, Roles: []string{"dbAdmin", "read"}, DefaultDuration: 90 * time.Minute, MaxDuration: 3 * 24 * time.Hour},
	}
	ui := []flows.Choice{
		{Kind: flows.KindAtlasUI, Resource: flows.Resource{Integration: "acme"}, Roles: []string{"ORG_READ_ONLY"}, DefaultDuration: time.Hour, MaxDuration: 4 * time.Hour},
		{Kind: flows.KindAtlasUI, Resource: flows.Resource{Integration: "acme", Project: "payments-prod"}, Roles: []string{"GROUP_READ_ONLY", "GROUP_CLUSTER_MANAGER"},
			DefaultDuration: time.Hour, MaxDuration: 2 * time.Hour, RequireReason: true},
		{Kind: flows.KindAccessListEntry, Resource: flows.Resource{Integration: "prod"}, Roles: []string{flows.RoleConnect}, DefaultDuration: time.Hour, MaxDuration: 8 * time.Hour, AskAddress: true},
	}
	for i := range choices {
		choices[i].Kind = flows.KindDatabaseUser
	}
	all := append(slices.Clone(choices), ui...)
	// Before a resource is chosen: the kinds, the resources of the first.
	golden(t, "modal_request", requestModal(all, bot.Selection{}))
	// A resource chosen: its own roles and durations (8h at most, not 3d).
	golden(t, "modal_request_chosen", requestModal(all, bot.Selection{Choice: bot.ChoiceValue(choices[0])}))
	golden(t, "modal_request_one_choice", requestModal(choices[1:2], bot.Selection{}))
	golden(t, "modal_request_ui", requestModal(all, bot.Selection{Choice: bot.ChoiceValue(ui[1])}))
	golden(t, "modal_request_network", requestModal(all, bot.Selection{Kind: flows.KindAccessListEntry}))
	r := goldenRequest()
	st := denyState{Action: "deny:" + string(r.ID), ResponseURL: "https://hooks.slack.com/actions/T0/1/x", Channel: "DUBOB", Required: true}
	golden(t, "modal_deny", denyModal(st, denySummary(r, bot.Action{Kind: bot.ActionDeny, RequestID: r.ID})))
	st.Action, st.Required = "deny-ext:"+string(r.ID)+":2", false
	golden(t, "modal_deny_extension", denyModal(st, denySummary(r, bot.Action{Kind: bot.ActionDenyExtension, RequestID: r.ID, Extension: 2})))
}
