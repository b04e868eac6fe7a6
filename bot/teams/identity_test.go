package teams

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/flows"
)

// storedContact reads the contact stored for email.
func (h *harness) storedContact(email string) contact {
	h.t.Helper()
	data, err := h.contacts.Contact(h.ctx, Platform, email)
	if err != nil {
		h.t.Fatal(err)
	}
	var c contact
	if err := json.Unmarshal(data, &c); err != nil {
		h.t.Fatal(err)
	}
	return c
}

// TestOnlyTheConfiguredTenant: an activity whose conversation names another tenant, or none,
// is ignored; a member lookup that answers for another tenant is refused.
func TestOnlyTheConfiguredTenant(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	card := submitData(t, h.current(ownerConv, h.sent(ownerConv)[0].ActivityID), "Approve")

	// The conversation names no tenant: nothing happens, not even a member lookup.
	lookups := h.bf.CallCount("GET", "/v3/conversations/*/members/*")
	before := len(h.activities())
	noTenant := h.bf.Submit(ownerConv, owner, "1:x", card)
	noTenant.Conversation.TenantID = ""
	h.deliver(noTenant)
	if h.request(string(r.ID)).State != flows.StatePending || len(h.activities()) != before ||
		h.bf.CallCount("GET", "/v3/conversations/*/members/*") != lookups {
		t.Fatal("an activity without a tenant was acted on")
	}

	// The conversation claims our tenant, but Teams says the member belongs to another one:
	// that tenant's admin chose the email, so it proves nothing.
	mallory := teamstest.Member{ID: "29:mallory", Email: "owner@example.com", AadObjectID: "aad-mallory", TenantID: "evil-tenant"}
	h.bf.AddMember(teamstest.AllConversations, mallory)
	act := h.bf.Submit("a:mallory", mallory, "1:x", card)
	act.Conversation.TenantID = tenant
	h.deliver(act)
	if got := h.request(string(r.ID)).State; got != flows.StatePending {
		t.Fatalf("a member of another tenant decided: %s", got)
	}
	if _, c := h.last("a:mallory"); !strings.Contains(cardText(c), "Teams says your account belongs to another") {
		t.Errorf("answer to a member of another tenant:\n%s", cardText(c))
	}
	if !strings.Contains(h.logs.String(), `"event":"identity_other_tenant"`) {
		t.Error("the other tenant's member was not logged")
	}
	if c := h.storedContact("owner@example.com"); c.Conversation.ID != ownerConv {
		t.Errorf("owner's contact now points at %s", c.Conversation.ID)
	}
}

// TestAppTypeChoosesTheTokenAuthority: a single-tenant bot gets its token from its tenant, a
// multi-tenant app registration from botframework.com; both accept activities from TenantID
// only.
func TestAppTypeChoosesTheTokenAuthority(t *testing.T) {
	h := newHarness(t)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: rewriteTransport{
		from: "login.microsoftonline.com", to: h.bf.URL(), base: h.bf.Client().Transport,
	}}
	for appType, want := range map[string]string{"": tenant, AppTypeSingleTenant: tenant, AppTypeMultiTenant: MultiTenant} {
		before := len(h.bf.TokenTenants())
		b, err := New(Config{
			AppID: h.bf.AppID(), AppPassword: h.bf.AppPassword(), TenantID: tenant, AppType: appType,
			OpenIDMetadataURL: h.bf.MetadataURL(), Runtime: bot.Runtime{HTTPClient: hc, Inbox: testInbox(t)},
		}, h.engine, h.contacts, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := b.Ping(h.ctx); err != nil {
			t.Fatalf("app type %q: %v", appType, err)
		}
		if got := h.bf.TokenTenants()[before:]; len(got) != 1 || got[0] != want {
			t.Errorf("app type %q: token fetched for %v, want %s", appType, got, want)
		}
		if b.people.tenant != tenant {
			t.Errorf("app type %q: activities accepted from %q", appType, b.people.tenant)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestEmailBoundToFirstEntraAccount: mail and UPN are attributes an admin can set on any
// account. An email belongs to the first Entra account seen with it; another account showing
// the same email can neither act as that person nor take over their chat, before or after a
// restart, and the attempt is logged as an identity conflict.
func TestEmailBoundToFirstEntraAccount(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	if c := h.storedContact("owner@example.com"); c.AadObjectID != "aad-owner" || c.Conversation.ID != ownerConv {
		t.Fatalf("owner's contact: bound to %q, conversation %s", c.AadObjectID, c.Conversation.ID)
	}
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	cardAct, card := h.last(ownerConv)
	approve := submitData(t, card, "Approve")

	// Another account of the same tenant whose mail was set to the owner's address.
	impostor := teamstest.Member{ID: "29:impostor", Name: "Owner", Email: "owner@example.com", AadObjectID: "aad-impostor", TenantID: tenant}
	h.bf.AddMember(teamstest.AllConversations, impostor)
	const impostorConv = "a:impostor-1on1"
	refusedAs := func(what string) {
		t.Helper()
		if got := h.request(string(r.ID)).State; got != flows.StatePending {
			t.Fatalf("%s: the impostor's approval counted: %s", what, got)
		}
		if _, c := h.last(impostorConv); !strings.Contains(cardText(c), "jitbot knows that address as another Microsoft Entra account") {
			t.Errorf("%s: answer to the impostor:\n%s", what, cardText(c))
		}
		if c := h.storedContact("owner@example.com"); c.AadObjectID != "aad-owner" || c.Conversation.ID != ownerConv {
			t.Fatalf("%s: the impostor took over the contact: bound to %q, conversation %s", what, c.AadObjectID, c.Conversation.ID)
		}
	}

	h.install(impostor, impostorConv)
	h.click(impostor, impostorConv, "1:x", approve)
	refusedAs("click")
	h.say(impostor, impostorConv, "access pending")
	refusedAs("typed command")
	if !strings.Contains(h.logs.String(), `"event":"identity_conflict"`) || !strings.Contains(h.logs.String(), `"bound_aad_object_id":"aad-owner"`) {
		t.Errorf("the conflict was not logged as an alert-worthy event:\n%s", h.logs.String())
	}

	// After a restart nothing is cached: the stored binding still decides.
	h.restart()
	h.click(impostor, impostorConv, "1:x", approve)
	refusedAs("click after a restart")

	// The owner still decides, and the credentials go to alice; nothing reaches the impostor.
	sentToImpostor := len(h.sent(impostorConv))
	h.click(owner, ownerConv, cardAct.ActivityID, approve)
	if got := h.request(string(r.ID)).State; got != flows.StateActive {
		t.Fatalf("the owner's approval: %s", got)
	}
	if len(h.sent(impostorConv)) != sentToImpostor {
		t.Error("the impostor's chat got something after the owner's approval")
	}
	if got := cardText(h.current(ownerConv, cardAct.ActivityID)); !strings.Contains(got, "Approved by owner@example.com") {
		t.Errorf("owner's card:\n%s", got)
	}
}

// TestUnboundContactsBindOnNextActivity: a contact stored before emails were bound to Entra
// accounts binds to the next account that shows the email; a person without an Entra account
// is refused.
func TestUnboundContactsBindOnNextActivity(t *testing.T) {
	h := newHarness(t)
	legacy := `{"conversation":{"id":"` + ownerConv + `","conversationType":"personal","tenantId":"` + tenant + `"},"serviceUrl":"` + h.bf.ServiceURL() + `"}`
	if err := h.contacts.PutContact(h.ctx, Platform, "owner@example.com", []byte(legacy)); err != nil {
		t.Fatal(err)
	}
	h.restart()
	h.say(owner, ownerConv, "access pending")
	if c := h.storedContact("owner@example.com"); c.AadObjectID != "aad-owner" {
		t.Fatalf("legacy contact bound to %q", c.AadObjectID)
	}

	nobody := teamstest.Member{ID: "29:nobody", Email: "nobody@example.com", TenantID: tenant}
	h.bf.AddMember(teamstest.AllConversations, nobody)
	h.say(nobody, "a:nobody-1on1", "access list")
	if _, c := h.last("a:nobody-1on1"); !strings.Contains(cardText(c), "Teams shows no Microsoft Entra account for you") {
		t.Errorf("answer to an account without an object id:\n%s", cardText(c))
	}
	if _, err := h.contacts.Contact(h.ctx, Platform, "nobody@example.com"); err == nil {
		t.Error("an account without an object id was stored")
	}
}

// TestForgetContactRebindsTheEmail: when an email moves to another Entra account (a renamed
// mailbox, a re-hired person), an admin has jitbot forget the contact; the next account to show
// the email binds it. Nothing cached brings the old binding back: not the binding, not the old
// account's member lookup, not a restart.
func TestForgetContactRebindsTheEmail(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	_, card := h.last(ownerConv)
	approve := submitData(t, card, "Approve")

	// The owner's mailbox moves to a new account; until the contact is forgotten, that account
	// is refused like any other.
	successor := teamstest.Member{ID: "29:successor", Name: "Owner", Email: "owner@example.com", AadObjectID: "aad-successor", TenantID: tenant}
	h.bf.AddMember(teamstest.AllConversations, successor)
	const successorConv = "a:successor-1on1"
	h.install(successor, successorConv)
	h.say(successor, successorConv, "access pending")
	if _, c := h.last(successorConv); !strings.Contains(cardText(c), "jitbot knows that address as another Microsoft Entra account") {
		t.Fatalf("the new account before the contact was forgotten:\n%s", cardText(c))
	}
	if c := h.storedContact("owner@example.com"); c.AadObjectID != "aad-owner" {
		t.Fatalf("bound to %q before the contact was forgotten", c.AadObjectID)
	}
	// The old account now shows another address, but its earlier lookup is still cached.
	h.bf.AddMember(teamstest.AllConversations, teamstest.Member{ID: owner.ID, Name: "Owner", UserPrincipalName: "owner.old@example.com", AadObjectID: owner.AadObjectID, TenantID: tenant})

	if err := h.bot.ForgetContact(h.ctx, "not an email"); flows.ErrorCode(err) != flows.EINVALID {
		t.Errorf("forget a non-email: %v", err)
	}
	if err := h.bot.ForgetContact(h.ctx, "nobody@example.com"); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Errorf("forget an unknown contact: %v", err)
	}
	ev := flows.Event{Type: flows.EventContactForgotten, Actor: "admin@example.com", At: t0, Message: "forgot the Teams contact of owner@example.com"}
	if err := h.bot.ForgetContact(h.ctx, " Owner@Example.com", ev); err != nil {
		t.Fatal(err)
	}
	if _, err := h.contacts.Contact(h.ctx, Platform, "owner@example.com"); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("the contact after ForgetContact: %v", err)
	}
	var audited []flows.Event
	for _, ev := range h.store.Events() {
		if ev.Type == flows.EventContactForgotten {
			audited = append(audited, ev)
		}
	}
	if len(audited) != 1 || audited[0].Actor != "admin@example.com" {
		t.Errorf("audited: %+v", audited)
	}
	if !strings.Contains(h.logs.String(), `"event":"contact_forgotten"`) || !strings.Contains(h.logs.String(), `"bound_aad_object_id":"aad-owner"`) {
		t.Errorf("the forget was not logged with the binding it removed:\n%s", h.logs.String())
	}

	// The old account writes first: looked up afresh, it is owner.old now, and binds only that.
	h.say(owner, ownerConv, "access pending")
	if _, err := h.contacts.Contact(h.ctx, Platform, "owner@example.com"); flows.ErrorCode(err) != flows.ENOTFOUND {
		t.Fatalf("the old account took the forgotten email back: %v", err)
	}
	if c := h.storedContact("owner.old@example.com"); c.AadObjectID != "aad-owner" {
		t.Errorf("the old account's new address bound to %q", c.AadObjectID)
	}

	// The new account is accepted, binds the email, and acts as its owner.
	h.click(successor, successorConv, "1:x", approve)
	if got := h.request(string(r.ID)).State; got != flows.StateActive {
		t.Fatalf("the new account's approval: %s", got)
	}
	if c := h.storedContact("owner@example.com"); c.AadObjectID != "aad-successor" || c.Conversation.ID != successorConv {
		t.Fatalf("after the new account wrote: bound to %q, conversation %s", c.AadObjectID, c.Conversation.ID)
	}

	// The binding holds across a restart, now against the old account's identity.
	h.restart()
	h.bf.AddMember(teamstest.AllConversations, owner) // the old account shows the address again
	h.say(owner, ownerConv, "access pending")
	if _, c := h.last(ownerConv); !strings.Contains(cardText(c), "jitbot knows that address as another Microsoft Entra account") {
		t.Errorf("the old account after the email moved:\n%s", cardText(c))
	}
	if c := h.storedContact("owner@example.com"); c.AadObjectID != "aad-successor" {
		t.Errorf("after a restart: bound to %q", c.AadObjectID)
	}
}
