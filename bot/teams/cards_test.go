package teams

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/flows"
)

// maxCardBytes is Teams' message size budget for jitbot's cards: the documented limit is about
// 100 KB (80 KB recommended); cards here stay far below, so growth is noticed early.
const maxCardBytes = 20 << 10

func fixedRequest() *flows.Request {
	return &flows.Request{
		ID: "abc23def45", Requester: "alice@example.com",
		Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"},
		Roles:    []string{"read"}, Duration: time.Hour, Reason: "INC-123 see [the runbook](https://evil.example.com) *now*", Origin: Platform,
		Flow: "prod-read", Approvers: []string{"owner@example.com", "carol@example.com"}, Quorum: 1, MaxDuration: 8 * time.Hour,
		DenyReasonRequired: true, State: flows.StatePending, CreatedAt: t0, UpdatedAt: t0, PendingUntil: t0.Add(time.Hour),
	}
}

func must(ev flows.Event, err error) flows.Event {
	if err != nil {
		panic(err)
	}
	return ev
}

func activeFixed() (*flows.Request, flows.Event) {
	r := fixedRequest()
	must(r.Approve("owner@example.com", t0.Add(5*time.Minute)))
	must(r.StartProvisioning(t0.Add(5*time.Minute), t0.Add(7*time.Minute), "jit-alice-abc23def45", t0.Add(3*time.Hour), time.Time{}))
	return r, must(r.Activate(t0.Add(6*time.Minute), 15*time.Minute))
}

// goldenCards are every card the adapter sends, built from fixed requests.
func goldenCards(t *testing.T) map[string]adaptiveCard {
	t.Helper()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	owner := bot.Viewer{Email: "owner@example.com"}
	requester := bot.Viewer{Email: "alice@example.com", Location: paris}
	out := map[string]adaptiveCard{}

	pending := fixedRequest()
	out["approval_pending"] = renderCard(bot.ApprovalCard(pending, owner))

	active, activated := activeFixed()
	out["approval_active"] = renderCard(bot.ApprovalCard(active, owner))
	creds := flows.DatabaseUserCredentials("jit-alice-abc23def45", flows.NewSecret("s3cr3t*_[pw]"), "mongodb+srv://cluster0.example.mongodb.net")
	creds.Instructions = `mongosh "mongodb+srv://cluster0.example.mongodb.net" --username jit-alice-abc23def45`
	c, _ := bot.NoticeCard(flows.Notice{Event: activated, Request: active, To: []string{"alice@example.com"}, Credentials: &creds}, requester)
	out["credentials"] = renderCard(c)

	remind := must(active.Remind(active.RemindAt))
	c, _ = bot.NoticeCard(flows.Notice{Event: remind, Request: active}, requester)
	out["reminder"] = renderCard(c)

	ext := active.Clone()
	ext.ExtendNeedsApproval = true
	extEv := must(ext.Extend("alice@example.com", time.Hour, t0.Add(30*time.Minute), 15*time.Minute))
	out["extension_pending"] = renderCard(bot.ExtensionCard(ext, 1, extEv, owner))

	expired := active.Clone()
	revoking := must(expired.StartRevoking(active.ExpiresAt, flows.SystemActor, flows.StateExpired, "expired"))
	done := must(expired.FinishRevocation(active.ExpiresAt.Add(time.Second)))
	out["approval_expired"] = renderCard(bot.ApprovalCard(expired, owner))
	c, _ = bot.NoticeCard(flows.Notice{Event: done, Request: expired}, requester)
	out["expired"] = renderCard(c)
	out["credentials_gone"] = renderCard(bot.CredentialsGoneCard(expired, revoking, requester))
	c, _, _ = bot.Refresh(bot.KindReminder, flows.Notice{Event: done, Request: expired}, requester)
	out["reminder_done"] = renderCard(c)

	denied := fixedRequest()
	denyEv := must(denied.Deny("owner@example.com", "use the replica", t0.Add(time.Minute)))
	out["approval_denied"] = renderCard(bot.ApprovalCard(denied, owner))
	c, _ = bot.NoticeCard(flows.Notice{Event: denyEv, Request: denied}, requester)
	out["denied"] = renderCard(c)

	// Every other direct message, one per event type, as the people in n.To see it.
	admin := bot.Viewer{Email: "admin@example.com"}
	for _, ev := range []flows.Event{
		{Type: flows.EventCancelled, Actor: "admin@example.com"},
		{Type: flows.EventTimedOut, Message: "1h"},
		{Type: flows.EventApplyDelayed},
		{Type: flows.EventExtended, Actor: "owner@example.com", Duration: time.Hour, Extension: 1},
		{Type: flows.EventExtensionDenied, Actor: "owner@example.com", Message: "enough for today", Duration: time.Hour, Extension: 1},
		{Type: flows.EventRevoked, Actor: "owner@example.com"},
		{Type: flows.EventRevokeFailed, Attempt: 6, Message: "Atlas is unavailable"},
		{Type: flows.EventProvisionFailed, Attempt: 5, Message: "Atlas refused the user"},
		{Type: flows.EventCredentialsUndelivered, Message: "the credentials could not be delivered"},
		{Type: flows.EventGrantMissing},
	} {
		ev.RequestID, ev.At = active.ID, t0.Add(30*time.Minute)
		c, ok := bot.NoticeCard(flows.Notice{Event: ev, Request: active}, admin)
		if !ok {
			t.Fatalf("%s: no card", ev.Type)
		}
		out["notice_"+string(ev.Type)] = renderCard(c)
	}
	orphan, _ := bot.NoticeCard(flows.Notice{Event: flows.Event{Type: flows.EventOrphanDeleted, Principal: "jit-bob-zzz",
		RequestID: "zzz", Message: "no request holds this user", At: t0}}, admin)
	out["notice_orphan_deleted"] = renderCard(orphan)

	out["summary_requester"] = renderCard(bot.SummaryCard(active, requester))
	out["submitted"] = renderCard(bot.SubmittedCard(fixedRequest(), requester))
	w := (&Bot{}).Wording()
	out["usage"] = renderCard(bot.UsageCard(w, nil))
	out["usage_error"] = renderCard(bot.UsageCard(w, flows.Errorf(flows.EINVALID, "unknown subcommand \"lsit\"; did you mean list?")))
	out["error_internal"] = renderCard(bot.ErrorCard(errors.New("bbolt: database not open")))

	db := []flows.Choice{
		{Kind: flows.KindDatabaseUser, Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales"}, Roles: []string{"read", "readWrite"},
			DefaultDuration: time.Hour, MaxDuration: 8 * time.Hour, RequireReason: true},
		{Kind: flows.KindDatabaseUser, Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"}, Roles: []string{"read"},
			DefaultDuration: time.Hour, MaxDuration: 8 * time.Hour, RequireReason: true},
		{Kind: flows.KindDatabaseUser, Resource: flows.Resource{Integration: "prod", Cluster: "Staging"}, Roles: []string{"dbAdmin"},
			DefaultDuration: 30 * time.Minute, MaxDuration: 90 * time.Minute},
	}
	all := append(slices.Clone(db),
		flows.Choice{Kind: flows.KindAtlasUI, Resource: flows.Resource{Integration: "acme", Project: "payments-prod"}, Roles: []string{"GROUP_READ_ONLY"},
			DefaultDuration: time.Hour, MaxDuration: 2 * time.Hour},
		flows.Choice{Kind: flows.KindAccessListEntry, Resource: flows.Resource{Integration: "prod"}, Roles: []string{flows.RoleConnect},
			DefaultDuration: time.Hour, MaxDuration: 4 * time.Hour, AskAddress: true})
	out["request_form"] = requestForm(all)
	out["request_form_one_kind"] = requestForm(db)
	out["request_details"] = requestDetails(bot.NewForm(all, bot.Selection{Choice: bot.ChoiceValue(db[2])}), nil, nil)
	out["request_details_bad_address"] = requestDetails(bot.NewForm(all, bot.Selection{Kind: flows.KindAccessListEntry}),
		map[string]string{inputAddress: "203.0.113.999", inputReason: "INC-4"},
		map[string]string{inputAddress: `"203.0.113.999" is not an IP address or a CIDR range (such as 203.0.113.7 or 203.0.113.0/28)`})
	return out
}

func TestGoldenCards(t *testing.T) {
	for name, card := range goldenCards(t) {
		got, err := json.MarshalIndent(card, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		bottest.Golden(t, filepath.Join("testdata", name+".golden.json"), append(got, '\n'))
	}
}

// TestCardsAreWellFormed checks what golden files cannot: the rules every card follows.
func TestCardsAreWellFormed(t *testing.T) {
	for name, c := range goldenCards(t) {
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) > maxCardBytes {
			t.Errorf("%s: %d bytes", name, len(raw))
		}
		var card map[string]any
		if err := json.Unmarshal(raw, &card); err != nil {
			t.Fatal(err)
		}
		if card["type"] != "AdaptiveCard" || card["version"] != cardVersion {
			t.Errorf("%s: type %v version %v", name, card["type"], card["version"])
		}
		ids := map[string]bool{}
		var visit func(v any, inShowCard bool)
		visit = func(v any, inShowCard bool) {
			switch x := v.(type) {
			case map[string]any:
				typ, _ := x["type"].(string)
				switch typ {
				case "TextBlock":
					// TextBlocks read Markdown; people's text must only go in TextRuns.
					t.Errorf("%s: a TextBlock: %v", name, x)
				case "Input.Text", "Input.ChoiceSet":
					id, _ := x["id"].(string)
					if id == "" || ids[id] {
						t.Errorf("%s: input id %q missing or repeated", name, id)
					}
					ids[id] = true
				case "Action.Submit":
					data, _ := x["data"].(map[string]any)
					marker, _ := data[dataKey].(string)
					if _, err := bot.ParseAction(marker); err != nil && marker != formMarker && marker != nextMarker {
						t.Errorf("%s: submit %q carries %v", name, x["title"], data)
					}
				}
				for k, e := range x {
					visit(e, inShowCard || k == "card")
				}
			case []any:
				for _, e := range x {
					visit(e, inShowCard)
				}
			}
		}
		visit(card, false)
		actions, _ := card["actions"].([]any)
		if len(actions) > maxTopActions {
			t.Errorf("%s: %d actions", name, len(actions))
		}
		if strings.Contains(string(raw), "s3cr3t") != (name == "credentials") {
			t.Errorf("%s: password present = %v", name, strings.Contains(string(raw), "s3cr3t"))
		}
		if strings.Contains(string(raw), "bbolt") {
			t.Errorf("%s: an internal error leaked", name)
		}
	}
}

func TestSummaryNeverCarriesTheSecret(t *testing.T) {
	active, activated := activeFixed()
	creds := flows.DatabaseUserCredentials("u", flows.NewSecret("s3cr3t"), "")
	c, _ := bot.NoticeCard(flows.Notice{Event: activated, Request: active, Credentials: &creds}, bot.Viewer{})
	act := cardActivity(c.Summary(), renderCard(c))
	card := act.Attachments[0].Content.(adaptiveCard)
	if strings.Contains(act.Summary, "s3cr3t") || strings.Contains(card.FallbackText, "s3cr3t") {
		t.Fatalf("summary %q fallback %q", act.Summary, card.FallbackText)
	}
}

func TestParseRequestForm(t *testing.T) {
	tests := []struct {
		name  string
		value map[string]any
		want  string // resource, or the error's text
	}{
		{"collection", map[string]any{"choice": "database_user:prod/Cluster0/sales/orders", "role": "read", "duration": "1h"}, "prod/Cluster0/sales/orders"},
		{"database and collection", map[string]any{"choice": "database_user:prod/Cluster0/sales", "collection": "orders", "role": "read", "duration": "1h"}, "prod/Cluster0/sales/orders"},
		{"any database", map[string]any{"choice": "database_user:prod/Staging/*", "database": "logs", "role": "dbAdmin", "duration": "30m"}, "prod/Staging/logs"},
		{"any database without one", map[string]any{"choice": "database_user:prod/Staging/*", "role": "read", "duration": "1h"}, "Type the name of the database"},
		{"two collections", map[string]any{"choice": "database_user:prod/Cluster0/sales/orders", "collection": "other", "role": "read", "duration": "1h"}, "already a collection"},
		{"no resource", map[string]any{"role": "read", "duration": "1h"}, "Choose what you need"},
		{"no role", map[string]any{"choice": "database_user:prod/Cluster0/sales/orders", "duration": "1h"}, "Choose a role"},
		{"bad duration", map[string]any{"choice": "database_user:prod/Cluster0/sales/orders", "role": "read", "duration": "forever"}, "a number and a unit"},
		{"not strings", map[string]any{"choice": 42, "role": []any{"read"}, "duration": "1h"}, "Choose what you need"},
		{"long reason", map[string]any{"choice": "database_user:prod/Cluster0/sales/orders", "role": "read", "duration": "1h", "reason": strings.Repeat("x", 501)}, "under 500"},
		{"network", map[string]any{"choice": "access_list_entry:prod", "address": "203.0.113.7", "role": "connect", "duration": "1h"}, "prod/203.0.113.7/32"},
		{"bad address", map[string]any{"choice": "access_list_entry:prod", "address": "203.0.113.999", "role": "connect", "duration": "1h"}, "is not an IP address"},
	}
	for _, tt := range tests {
		in, errs := parseRequestForm(formValues(tt.value))
		got := in.Resource.String()
		for _, msg := range errs {
			got += " " + msg
		}
		if !strings.Contains(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCommandText(t *testing.T) {
	for in, want := range map[string]string{
		"access list":                            "list",
		"  Access   pending ":                    "pending",
		"<at>jitbot</at> access help":            "help",
		"<at>jit bot</at>&nbsp;access\u00a0list": "list",
		"list":                                   "list",
		"access":                                 "",
		"accessible list":                        "accessible list",
		"request a &amp; b":                      "request a & b",
		"<p>access list</p>":                     "list",
		"<div><span class=\"x\">pending</span></div>": "pending",
		"revoke abc a<b and c>d":                      "revoke abc a<b and c>d",
	} {
		if got := commandText(in); got != want {
			t.Errorf("commandText(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzParseRequestForm: whatever a client submits, reading the form never panics and what it
// accepts is a valid target of its kind, with a role.
func FuzzParseRequestForm(f *testing.F) {
	f.Add("database_user:prod/Cluster0/sales", "", "orders", "", "read", "1h", "INC-1")
	f.Add("database_user:prod/Staging/*", "logs", "", "", "dbAdmin", "30m", "")
	f.Add("access_list_entry:prod", "", "", "203.0.113.7", "connect", "1h", "")
	f.Add("atlas_ui:acme/a b", "", "", "", "GROUP_READ_ONLY", "1h", "")
	f.Add("a/b/*", "", "", "", "", "", "")
	f.Add("x:y/z/w/v", "d", "c", "::1", "r", "1d1h", "\x00")
	f.Fuzz(func(t *testing.T, choice, db, coll, addr, role, dur, reason string) {
		in, errs := parseRequestForm(map[string]string{
			dataChoice: choice, inputDatabase: db, inputCollection: coll, inputAddress: addr, inputRole: role, inputDuration: dur, inputReason: reason,
		})
		if errs != nil {
			return
		}
		spec, ok := flows.BuiltinKind(in.Kind)
		if !ok || spec.ValidateTarget(in.Resource) != nil || len(in.Roles) != 1 || in.Roles[0] == "" {
			t.Fatalf("accepted %+v", in)
		}
	})
}

func FuzzCommandText(f *testing.F) {
	for _, s := range []string{"access list", "<at>jitbot</at> access", "&lt;at&gt;", "<at>", "access\u00a0request a b c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = bot.Parse(commandText(s))
	})
}
