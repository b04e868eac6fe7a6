package teams

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/flows"
)

// TestJourney follows one request through Teams from the typed command to expiry: approval
// card to the owner, Approve, credentials to the requester, reminder with Extend, expiry, and
// every stored card replaced with the final state.
func TestJourney(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)

	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-123")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if r.Origin != Platform || r.Reason != "INC-123" || r.Duration != time.Hour || !slices.Equal(r.Approvers, []string{"owner@example.com"}) {
		t.Fatalf("request: %+v", r)
	}
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "Request "+string(r.ID)+" sent for approval") {
		t.Fatalf("requester's confirmation:\n%s", cardText(c))
	}

	cardAct, card := h.last(ownerConv)
	text := cardText(card)
	for _, want := range []string{"Access request " + string(r.ID), "Requester: alice@example.com", "Resource: " + orders, "Reason: INC-123", "Waiting for 1 approval from owner@example.com"} {
		if !strings.Contains(text, want) {
			t.Errorf("approval card lacks %q:\n%s", want, text)
		}
	}
	if got := actionTitles(card); !slices.Equal(got, []string{"Approve", "Deny", "Deny request"}) {
		t.Errorf("approval card actions %v", got)
	}
	if cardAct.Activity.Recipient.ID != owner.ID || cardAct.Activity.ReplyToID != "" {
		t.Errorf("approval card addressed to %+v, reply to %q", cardAct.Activity.Recipient, cardAct.Activity.ReplyToID)
	}

	h.click(owner, ownerConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	r = h.request(string(r.ID))
	if r.State != flows.StateActive {
		t.Fatalf("after approval: %s", r.State)
	}
	creds := h.sentWith(aliceConv, "Access granted")
	if len(creds) != 1 {
		t.Fatalf("credentials messages: %d", len(creds))
	}
	credText := cardText(creds[0].Cards()[0])
	password := "pw-" + r.Principal + "-1"
	for _, want := range []string{"Username", r.Principal, password, "mongodb+srv://Cluster0.example.mongodb.net", "mongosh"} {
		if !strings.Contains(credText, want) {
			t.Errorf("credentials lack %q:\n%s", want, credText)
		}
	}
	if strings.Contains(creds[0].Activity.Summary, password) {
		t.Error("the password is in the notification summary")
	}
	if c := h.current(ownerConv, cardAct.ActivityID); len(teamstest.CardActions(c)) != 0 ||
		!strings.Contains(cardText(c), "Approved by owner@example.com") || !strings.Contains(cardText(c), "access active until") {
		t.Errorf("approval card after approval:\n%s\n%v", cardText(c), actionTitles(c))
	}
	for _, a := range h.activitiesIn(ownerConv) {
		if strings.Contains(cardText(teamstest.AdaptiveCards(a.Activity)[0]), password) {
			t.Fatal("the password reached the approver")
		}
	}

	// The reminder, with Extend buttons within what the flow still allows (8h - 1h).
	h.clock.Set(r.RemindAt)
	if _, err := h.svc.Sweep(h.ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	reminders := h.sentWith(aliceConv, "Access ends soon")
	if len(reminders) != 1 {
		t.Fatalf("reminders: %d", len(reminders))
	}
	rem := reminders[0].Cards()[0]
	if got := actionTitles(rem); !slices.Equal(got, []string{"Extend 30m", "Extend 1h", "Extend 2h", "Extend 4h", "I'm done: revoke", "Yes, revoke"}) {
		t.Errorf("reminder actions %v", got)
	}
	if d := submitData(t, rem, "Extend 4h"); d[dataKey] != "extend:"+string(r.ID)+":4h" {
		t.Errorf("extend data %v", d)
	}

	// Expiry.
	h.clock.Set(r.ExpiresAt)
	if _, err := h.svc.Sweep(h.ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if r = h.request(string(r.ID)); r.State != flows.StateExpired {
		t.Fatalf("after expiry: %s", r.State)
	}
	if len(h.sentWith(aliceConv, "Access expired: request "+string(r.ID))) != 1 {
		t.Error("no expiry message")
	}
	if h.prov.Count("create") != 1 || h.prov.Count("delete") != 1 {
		t.Errorf("atlas calls: %+v", h.prov.Calls())
	}

	// Every stored card shows the final state, without buttons.
	refs, err := h.store.MessageRefs(h.ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, ref := range refs {
		kinds[ref.Kind] = true
		if ref.Platform != Platform || ref.ServiceURL != h.bf.ServiceURL() {
			t.Errorf("ref %+v", ref)
		}
		c := h.current(ref.Conversation, ref.ID)
		if got := actionTitles(c); len(got) != 0 {
			t.Errorf("%s card still has %v", ref.Kind, got)
		}
		if strings.Contains(cardText(c), password) {
			t.Errorf("%s card still shows the password", ref.Kind)
		}
	}
	for _, k := range []string{bot.KindApproval, bot.KindCredentials, bot.KindReminder, bot.KindClosed} {
		if !kinds[k] {
			t.Errorf("no %s ref among %+v", k, refs)
		}
	}
	final := cardText(h.current(ownerConv, cardAct.ActivityID))
	if !strings.Contains(final, "Approved by owner@example.com") || !strings.Contains(final, "access expired at Sun 23 Nov 10:00 UTC") {
		t.Errorf("final approval card:\n%s", final)
	}
	if gone := cardText(h.current(aliceConv, creds[0].ActivityID)); !strings.Contains(gone, "removed") {
		t.Errorf("credentials card after expiry:\n%s", gone)
	}

	if logs := h.logs.String(); strings.Contains(logs, password) {
		t.Fatal("the password is in the logs")
	}
}

func TestDenyWithReason(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.say(alice, aliceConv, "access request "+orders+" read 2h \"INC-7 export\"")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	cardAct, card := h.last(ownerConv)

	// The deny form asks for the reason the flow requires.
	var reason map[string]any
	for _, a := range teamstest.CardActions(card) {
		if a.Type == "Action.ShowCard" && a.Title == "Deny" {
			raw, _ := card["actions"].([]any)
			for _, x := range raw {
				if m, _ := x.(map[string]any); m["title"] == "Deny" {
					sub, _ := m["card"].(map[string]any)
					body, _ := sub["body"].([]any)
					reason, _ = body[0].(map[string]any)
				}
			}
		}
	}
	if reason == nil || reason["id"] != inputReason || reason["isRequired"] != true {
		t.Fatalf("deny form input: %v", reason)
	}

	// Without a reason flows refuses, and says why.
	deny := submitData(t, card, "Deny request")
	h.click(owner, ownerConv, cardAct.ActivityID, deny)
	if _, c := h.last(ownerConv); !strings.Contains(cardText(c), "say why you deny request "+string(r.ID)) {
		t.Fatalf("refusal:\n%s", cardText(c))
	}
	if h.request(string(r.ID)).State != flows.StatePending {
		t.Fatal("denied without a reason")
	}

	deny[inputReason] = "  use the [replica](https://evil.example.com)  "
	h.click(owner, ownerConv, cardAct.ActivityID, deny)
	if r = h.request(string(r.ID)); r.State != flows.StateDenied || r.Denial.Reason != "use the [replica](https://evil.example.com)" {
		t.Fatalf("after deny: %s %+v", r.State, r.Denial)
	}
	c := h.current(ownerConv, cardAct.ActivityID)
	if got := cardText(c); !strings.Contains(got, "Denied by owner@example.com at Sun 23 Nov 09:00 UTC: use the [replica]") || len(actionTitles(c)) != 0 {
		t.Errorf("approval card after deny:\n%s %v", got, actionTitles(c))
	}
	_, dm := h.last(aliceConv)
	if got := cardText(dm); !strings.Contains(got, "Request "+string(r.ID)+" denied") || !strings.Contains(got, "Reason: use the [replica]") {
		t.Errorf("requester's message:\n%s", got)
	}
}

func TestSelfApprovalAndStrangersRefused(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	_, card := h.last(ownerConv)
	approve := submitData(t, card, "Approve")

	// The requester forges the owner's click in her own chat.
	h.click(alice, aliceConv, "1:whatever", approve)
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "you cannot approve your own request") {
		t.Errorf("self-approval answer:\n%s", cardText(c))
	}
	// So does someone who is no approver.
	h.click(eve, eveConv, "1:whatever", approve)
	if _, c := h.last(eveConv); !strings.Contains(cardText(c), "there is no request "+string(r.ID)+" that you can see") {
		t.Errorf("stranger's answer:\n%s", cardText(c))
	}
	// An unknown action id is refused without touching anything.
	h.click(eve, eveConv, "1:whatever", map[string]any{dataKey: "approve:" + string(r.ID) + ":now"})
	if _, c := h.last(eveConv); !strings.Contains(cardText(c), "that button does nothing here") {
		t.Errorf("bogus action answer:\n%s", cardText(c))
	}
	if got := h.request(string(r.ID)); got.State != flows.StatePending || len(got.Approvals) != 0 {
		t.Fatalf("request after refused clicks: %s %+v", got.State, got.Approvals)
	}
	if h.prov.Count("create") != 0 {
		t.Fatal("a refused click provisioned")
	}

	// A repeated Approve after the decision is a no-op that says so.
	cardAct, _ := h.last(ownerConv)
	h.click(owner, ownerConv, cardAct.ActivityID, approve)
	h.click(owner, ownerConv, cardAct.ActivityID, approve)
	if h.prov.Count("create") != 1 {
		t.Fatalf("creates: %d", h.prov.Count("create"))
	}
	if _, c := h.last(ownerConv); !strings.Contains(cardText(c), "cannot approve request "+string(r.ID)+": it is already") {
		t.Errorf("second approval answer:\n%s", cardText(c))
	}
}

// inputIDs lists a card's input ids, in order.
func inputIDs(card map[string]any) []string {
	var ids []string
	body, _ := card["body"].([]any)
	for _, e := range body {
		if m, _ := e.(map[string]any); m["id"] != nil {
			ids = append(ids, m["id"].(string))
		}
	}
	return ids
}

// choicesOf lists the values an input of a card offers.
func choicesOf(card map[string]any, id string) []string {
	var out []string
	body, _ := card["body"].([]any)
	for _, e := range body {
		if m, _ := e.(map[string]any); m["id"] == id {
			cs, _ := m["choices"].([]any)
			for _, c := range cs {
				out = append(out, c.(map[string]any)["value"].(string))
			}
		}
	}
	return out
}

func TestRequestForm(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.say(alice, aliceConv, "access")
	formAct, form := h.last(aliceConv)
	if !strings.Contains(cardText(form), "Request access") {
		t.Fatalf("form:\n%s", cardText(form))
	}
	// First card: one kind, its resources; no roles or durations yet.
	if ids := inputIDs(form); !slices.Equal(ids, []string{inputResource}) {
		t.Fatalf("first card's inputs %v", ids)
	}
	value := submitData(t, form, "Next")
	value[inputResource] = "database_user:" + orders
	h.click(alice, aliceConv, formAct.ActivityID, value)
	// Second card, in place of the first: the roles and durations of orders.
	details := h.current(aliceConv, formAct.ActivityID)
	if ids := inputIDs(details); !slices.Equal(ids, []string{inputRole, inputDuration, inputReason}) {
		t.Fatalf("second card's inputs %v:\n%s", ids, cardText(details))
	}
	if got := choicesOf(details, inputDuration); len(got) == 0 || got[len(got)-1] != "8h" {
		t.Errorf("durations %v", got)
	}
	value = submitData(t, details, "Request")
	value[inputRole] = "read"
	value[inputDuration] = "2h"
	value[inputReason] = "INC-9"
	h.click(alice, aliceConv, formAct.ActivityID, value)
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if r.Resource.String() != orders || r.Duration != 2*time.Hour || r.Reason != "INC-9" || r.Origin != Platform {
		t.Fatalf("request from the form: %+v", r)
	}
	// The form is replaced by the request, so it cannot be sent twice.
	if got := cardText(h.current(aliceConv, formAct.ActivityID)); !strings.Contains(got, "Request "+string(r.ID)+" sent for approval") {
		t.Errorf("form after submit:\n%s", got)
	}
	if len(h.sent(ownerConv)) != 1 {
		t.Errorf("approval cards: %d", len(h.sent(ownerConv)))
	}

	// "request" alone is the form too; a form submitted without a reason gets flows' answer.
	h.say(alice, aliceConv, "request")
	formAct, form = h.last(aliceConv)
	value = submitData(t, form, "Next")
	value[inputResource] = "database_user:prod/Cluster0/sales/customers"
	h.click(alice, aliceConv, formAct.ActivityID, value)
	value = submitData(t, h.current(aliceConv, formAct.ActivityID), "Request")
	value[inputRole] = "read"
	value[inputDuration] = "1h"
	h.click(alice, aliceConv, formAct.ActivityID, value)
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "requires a reason") {
		t.Errorf("answer to a form without reason:\n%s", cardText(c))
	}

	// A resource the form never offered, forged into either step, is refused.
	h.say(alice, aliceConv, "access")
	formAct, form = h.last(aliceConv)
	value = submitData(t, form, "Next")
	value[inputResource] = "database_user:prod/Secret/*"
	h.click(alice, aliceConv, formAct.ActivityID, value)
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "not something you may ask for here") {
		t.Errorf("forged first step:\n%s", cardText(c))
	}
	forged := map[string]any{dataKey: formMarker, dataChoice: "database_user:prod/Cluster0/billing", inputRole: "read", inputDuration: "1h", inputReason: "x"}
	h.click(alice, aliceConv, formAct.ActivityID, forged)
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "no access flow covers prod/Cluster0/billing") {
		t.Errorf("forged submit:\n%s", cardText(c))
	}
	forged[dataChoice], forged[inputAddress], forged[inputRole] = "access_list_entry:prod", "203.0.113.7", "connect"
	h.click(alice, aliceConv, formAct.ActivityID, forged)
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "no access flow covers prod/203.0.113.7/32") {
		t.Errorf("forged network submit:\n%s", cardText(c))
	}
	if rs, _ := h.svc.Mine(h.ctx, "alice@example.com"); len(rs) != 1 {
		t.Errorf("forged submissions made requests: %d", len(rs))
	}

	// A network request with an address that is none: the second card comes
	// back with the error under the address.
	forged[inputAddress] = "203.0.113.999"
	h.click(alice, aliceConv, formAct.ActivityID, forged)
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "not something you may ask for here") {
		t.Errorf("bad address for a kind alice may not ask for:\n%s", cardText(c))
	}
}

func TestCommands(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)

	h.say(alice, aliceConv, "access help")
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "extend <id> <duration>") {
		t.Errorf("help:\n%s", cardText(c))
	}
	h.say(alice, aliceConv, "access lsit")
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), `unknown subcommand "lsit"; did you mean list?`) {
		t.Errorf("typo:\n%s", cardText(c))
	}
	h.say(alice, aliceConv, "access request prod/Cluster0 read 1h")
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "That command did not work") {
		t.Errorf("bad resource:\n%s", cardText(c))
	}
	h.say(alice, aliceConv, "list")
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "You have no requests under way") {
		t.Errorf("empty list:\n%s", cardText(c))
	}

	h.say(alice, aliceConv, "<at>jitbot</at>&nbsp;access request "+orders+" read 1h INC-5")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	h.say(owner, ownerConv, "<at>jitbot</at> access pending")
	a, c := h.last(ownerConv)
	if a.Activity.Text != "Waiting for your approval" || !strings.Contains(cardText(c), string(r.ID)) || !slices.Contains(actionTitles(c), "Approve") {
		t.Errorf("pending:\n%s %v", cardText(c), actionTitles(c))
	}
	h.say(alice, aliceConv, "access cancel "+string(r.ID))
	if got := h.request(string(r.ID)); got.State != flows.StateCancelled {
		t.Fatalf("after cancel: %s", got.State)
	}
	if _, c := h.last(aliceConv); !strings.Contains(cardText(c), "Cancelled.") {
		t.Errorf("cancel answer:\n%s", cardText(c))
	}
	// The approval card follows.
	cards := h.sent(ownerConv)
	if got := cardText(h.current(ownerConv, cards[0].ActivityID)); !strings.Contains(got, "Cancelled by alice@example.com") {
		t.Errorf("approval card after cancel:\n%s", got)
	}
	h.say(eve, eveConv, "access revoke "+string(r.ID))
	if _, c := h.last(eveConv); !strings.Contains(cardText(c), "there is no request "+string(r.ID)+" that you can see") {
		t.Errorf("stranger's revoke:\n%s", cardText(c))
	}
}

// TestGroupChatsAndOtherTenants: jitbot talks about access in 1:1 chats only, and ignores
// tenants other than its own.
func TestGroupChatsAndOtherTenants(t *testing.T) {
	h := newHarness(t)
	group := h.bf.Message("19:group@thread.v2", alice, "<at>jitbot</at> access list")
	group.Conversation.ConversationType = "groupChat"
	group.Conversation.IsGroup = true
	h.deliver(group)
	if _, c := h.last("19:group@thread.v2"); !strings.Contains(cardText(c), "1:1 chat only") {
		t.Errorf("group chat answer:\n%s", cardText(c))
	}
	if n := h.bf.CallCount("GET", "/v3/conversations/*/members/*"); n != 0 {
		t.Errorf("looked up a group chat member %d times", n)
	}
	if _, err := h.contacts.Contact(h.ctx, Platform, "alice@example.com"); err == nil {
		t.Error("a group chat was stored as alice's contact")
	}

	foreign := teamstest.Member{ID: "29:mallory", Email: "owner@example.com", TenantID: "evil-tenant"}
	h.bf.AddMember(teamstest.AllConversations, foreign)
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	before := len(h.activities())
	h.click(foreign, "a:mallory", "1:x", map[string]any{dataKey: "approve:" + string(r.ID)})
	if h.request(string(r.ID)).State != flows.StatePending || len(h.activities()) != before {
		t.Fatal("an activity from another tenant was acted on")
	}
	if !strings.Contains(h.logs.String(), "ignored an activity from another tenant") {
		t.Error("not logged")
	}
}
