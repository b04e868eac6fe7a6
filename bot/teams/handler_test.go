package teams

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infracloudio/msbotbuilder-go/connector/auth"
	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/flows"
)

// TestUnauthenticatedDeliveriesDoNothing sends deliveries that must all fail authentication,
// concurrently (run it with -race): each gets 401, nothing panics, and nothing is processed:
// no member lookup, no reply, no request, no stored contact.
func TestUnauthenticatedDeliveriesDoNothing(t *testing.T) {
	h := newHarness(t)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	act := h.bf.Message(aliceConv, alice, "access request "+orders+" read 1h INC-1")
	bf := h.bf
	kid := bf.KeyID()
	cases := map[string]string{
		"forged signature":    bf.MintTokenWithKey(otherKey, kid, teamstest.TokenClaims{}),
		"wrong audience":      bf.MintToken(teamstest.TokenClaims{Audience: "someone-else"}),
		"two audiences":       bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"aud": []string{bf.AppID(), "other"}}}),
		"wrong issuer":        bf.MintToken(teamstest.TokenClaims{Issuer: "https://evil.example.com"}),
		"expired":             bf.MintToken(teamstest.TokenClaims{ExpiresAt: time.Now().Add(-time.Hour)}),
		"no expiry":           bf.MintToken(teamstest.TokenClaims{Omit: []string{"exp"}}),
		"not yet valid":       bf.MintToken(teamstest.TokenClaims{NotBefore: time.Now().Add(time.Hour)}),
		"missing serviceurl":  bf.MintToken(teamstest.TokenClaims{Omit: []string{"serviceurl"}}),
		"serviceurl mismatch": bf.MintToken(teamstest.TokenClaims{ServiceURL: "https://attacker.example.com/"}),
		"serviceurl number":   bf.MintToken(teamstest.TokenClaims{Extra: map[string]any{"serviceurl": 42}}),
		"unknown kid":         bf.MintToken(teamstest.TokenClaims{KeyID: "nope"}),
		"alg none":            bf.Unsigned(teamstest.TokenClaims{}),
		"hs256 public key":    bf.MintHMAC(bf.PublicKeyPEM(), teamstest.TokenClaims{}),
		"garbage":             "garbage",
		"empty":               "",
	}
	var wg sync.WaitGroup
	for name, tok := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := teamstest.NewActivityRequest(h.ctx, h.url(), act, tok)
			if err != nil {
				t.Error(err)
				return
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
			}
		}()
	}
	wg.Wait()

	// A body that is not JSON, or too large, with a valid token.
	tok := bf.MintToken(teamstest.TokenClaims{})
	for name, body := range map[string][]byte{
		"not json":  []byte("{{{"),
		"too large": append([]byte(`{"type":"message","text":"`), bytes.Repeat([]byte("a"), maxBody)...),
	} {
		req, _ := http.NewRequestWithContext(h.ctx, http.MethodPost, h.url(), bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", name, resp.StatusCode)
		}
	}
	// Only POST is served.
	resp, err := http.Get(h.url())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", resp.StatusCode)
	}

	h.idle()
	for _, c := range h.bf.Calls() {
		if strings.HasPrefix(c.Path, "/v3/") {
			t.Errorf("connector called after a refused delivery: %s %s", c.Method, c.Path)
		}
	}
	if rs, _ := h.svc.Mine(h.ctx, "alice@example.com"); len(rs) != 0 {
		t.Errorf("requests made: %d", len(rs))
	}
	if _, err := h.contacts.Contact(h.ctx, Platform, "alice@example.com"); err == nil {
		t.Error("a contact was stored")
	}
	if !strings.Contains(h.logs.String(), "refused a teams delivery") {
		t.Error("refusals are not logged")
	}

	// The genuine delivery still works afterwards.
	h.deliver(act)
	h.only(h.svc.Mine(h.ctx, "alice@example.com"))
}

// panickingValidator stands in for a library defect.
type panickingValidator struct{}

func (panickingValidator) AuthenticateRequest(context.Context, schema.Activity, string, auth.CredentialProvider, string) (auth.ClaimsIdentity, error) {
	panic("interface conversion: interface {} is nil, not string")
}

func TestPanicInAuthenticationIs401(t *testing.T) {
	h := newHarness(t)
	h.bot.adapter.TokenValidator = panickingValidator{}
	resp, err := h.bf.Deliver(h.ctx, h.url(), h.bf.Message(aliceConv, alice, "access list"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if !strings.Contains(h.logs.String(), "panic") {
		t.Error("the panic is not logged")
	}
}

// TestRedeliveredActivityMakesOneRequest: Teams redelivers what it thinks was lost, and a
// captured delivery may be replayed while its token lives. Either way one request results,
// before and after a restart (then the activity id, as idempotency key, catches it).
func TestRedeliveredActivityMakesOneRequest(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	act := h.bf.Message(aliceConv, alice, "access request "+orders+" read 1h INC-1")
	h.deliver(act)
	h.deliver(act)
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if n := len(h.sent(ownerConv)); n != 1 {
		t.Fatalf("approval cards: %d", n)
	}
	if n := len(h.sent(aliceConv)); n != 1 {
		t.Fatalf("answers: %d", n)
	}
	if !strings.Contains(h.logs.String(), "ignored a redelivered activity") {
		t.Error("the redelivery is not logged")
	}

	h.restart()
	h.deliver(act)
	if got := h.only(h.svc.Mine(h.ctx, "alice@example.com")); got.ID != r.ID {
		t.Fatalf("a second request %s", got.ID)
	}
	if n := len(h.sent(ownerConv)); n != 1 {
		t.Fatalf("approval cards after restart: %d", n)
	}

	// Ten concurrent Approve clicks (distinct activities): one approval, one Atlas user.
	cardAct, card := h.last(ownerConv)
	approve := submitData(t, card, "Approve")
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.bf.Deliver(h.ctx, h.url(), h.bf.Submit(ownerConv, owner, cardAct.ActivityID, approve))
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	h.idle()
	if h.prov.Count("create") != 1 || h.request(string(r.ID)).State != "active" {
		t.Fatalf("creates %d, state %s", h.prov.Count("create"), h.request(string(r.ID)).State)
	}
}

// TestRestartKeepsApproversReachable: conversation references and sent cards are in the store,
// so a new process reaches approvers it never heard from and updates cards sent before it.
func TestRestartKeepsApproversReachable(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.restart()

	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	cardAct, card := h.last(ownerConv)
	if !strings.Contains(cardText(card), "Access request "+string(r.ID)) || cardAct.Activity.Recipient.ID != owner.ID {
		t.Fatalf("approval card after a restart:\n%s", cardText(card))
	}

	h.restart()
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	if got := h.request(string(r.ID)).State; got != "active" {
		t.Fatalf("after approval: %s", got)
	}
	c := h.current(ownerConv, cardAct.ActivityID)
	if got := cardText(c); !strings.Contains(got, "Approved by owner@example.com") || len(actionTitles(c)) != 0 {
		t.Errorf("card sent before the restart:\n%s %v", got, actionTitles(c))
	}
	if len(h.sentWith(aliceConv, "Access granted")) != 1 {
		t.Error("no credentials after the restart")
	}
}

// TestNotifyUnreachable: a requester who asked from Teams but whose chat cannot be found does
// not get credentials: the audit says so, for the admins, and the grant nobody can use is
// revoked.
func TestNotifyUnreachable(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if err := h.contacts.PutContact(h.ctx, Platform, "alice@example.com", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	cardAct, card := h.last(ownerConv)
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	if len(h.sentWith(aliceConv, "Access granted")) != 0 {
		t.Fatal("credentials went to a chat that is not stored")
	}
	var undelivered []flows.Event
	for _, ev := range h.store.Events() {
		if ev.RequestID == r.ID && ev.Type == flows.EventCredentialsUndelivered {
			undelivered = append(undelivered, ev)
		}
	}
	if len(undelivered) != 1 || undelivered[0].Actor != flows.SystemActor || !strings.Contains(undelivered[0].Message, "alice@example.com") {
		t.Log(h.logs.String())
		t.Fatalf("credentials_undelivered events: %+v", undelivered)
	}
	if r = h.request(string(r.ID)); r.State != flows.StateRevoked || r.EndedBy != flows.SystemActor {
		t.Fatalf("after undelivered credentials: %s by %q", r.State, r.EndedBy)
	}
	if _, ok := h.prov.User(r.Principal); ok {
		t.Error("the user nobody can use is still in Atlas")
	}
}

// TestThrottledCardIsHeldNotSlept: Teams throttling the owner's chat for a minute does not
// hold the send for a minute (this test would take that long): the dispatcher holds the
// conversation on the domain's clock and sends the card once the minute has passed.
func TestThrottledCardIsHeldNotSlept(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	sends := "/v3/conversations/" + ownerConv + "/activities"
	h.bf.Fail(http.MethodPost, sends, http.StatusTooManyRequests, 1, time.Minute)
	start := time.Now()
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("took %s: the send slept on the Retry-After", took)
	}
	if got := len(h.sent(ownerConv)); got != 0 {
		t.Fatalf("%d cards sent during the Retry-After", got)
	}
	h.clock.Advance(59 * time.Second)
	if got := len(h.sent(ownerConv)); got != 0 {
		t.Fatalf("%d cards sent a second before the Retry-After ended", got)
	}
	h.clock.Advance(time.Second)
	if got := len(h.sent(ownerConv)); got != 1 {
		t.Fatalf("%d cards sent after the Retry-After, want 1", got)
	}
	if n := h.bf.CallCount(http.MethodPost, sends); n != 2 {
		t.Errorf("%d sends to the owner, want 2 (one throttled)", n)
	}
}

// TestBlockedChatRevokesCredentials: a requester whose chat answers 403 (they blocked the bot)
// can never get their credentials: the delivery is dropped at once, not retried, the audit
// says so and the grant nobody can use is revoked.
func TestBlockedChatRevokesCredentials(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	h.say(alice, aliceConv, "access request "+orders+" read 1h INC-1")
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	cardAct, card := h.last(ownerConv)
	sends := "/v3/conversations/" + aliceConv + "/activities"
	h.bf.Fail(http.MethodPost, sends, http.StatusForbidden, -1, 0)
	before := h.bf.CallCount(http.MethodPost, sends)
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	var undelivered []flows.Event
	for _, ev := range h.store.Events() {
		if ev.RequestID == r.ID && ev.Type == flows.EventCredentialsUndelivered {
			undelivered = append(undelivered, ev)
		}
	}
	if len(undelivered) != 1 || !strings.Contains(undelivered[0].Message, "403") {
		t.Fatalf("credentials_undelivered events: %+v", undelivered)
	}
	if r = h.request(string(r.ID)); r.State != flows.StateRevoked {
		t.Fatalf("after a 403 on the credentials: %s", r.State)
	}
	// Nothing is retried: the chat sees no more sends however long the outbox runs on.
	tried := h.bf.CallCount(http.MethodPost, sends) - before
	h.clock.Advance(time.Hour)
	h.settle()
	if n := h.bf.CallCount(http.MethodPost, sends) - before; n != tried {
		t.Errorf("%d sends to a chat that answers 403, then %d: retried", tried, n)
	}
}
