package bot_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// guestGate trusts everyone and makes guest links, recording who asked.
type guestGate struct{ asked []string }

func (g *guestGate) Trust(_ context.Context, who bot.Actor) (bot.Actor, error) { return who, nil }

func (g *guestGate) GuestLink(_ context.Context, who bot.Actor, id flows.RequestID) (bot.Card, error) {
	g.asked = append(g.asked, who.Email+" "+string(id))
	return bot.Card{Title: "One-time link", Text: "https://jitbot.example.com/id/g/token"}, nil
}

// TestAGuestsRequestInChat: a sponsor's request for a guest reaches the
// approvers naming both; once approved, the sponsor's message offers the
// guest link and no credentials, and nothing secret is kept for chat;
// guest-link (typed or clicked) asks the gate, which only identity can be.
func TestAGuestsRequestInChat(t *testing.T) {
	w := newWorld(t, func(s *flows.PolicySpec) {
		s.Flows[0].ThirdParty = &flows.ThirdPartySpec{Sponsors: []string{"user:" + alice}, EmailDomains: []string{"partner.com"}, AMR: []string{"mfa"}}
	})
	w.slack.Add(alice, nil)
	w.slack.Add(bob, nil)
	cmd, err := bot.Parse(`request prod/Cluster0/sales/orders read 1h for vendor@partner.com "INC-9 vendor"`)
	if err != nil {
		t.Fatal(err)
	}
	reply := w.engine.Run(w.ctx, w.actor("slack", alice), cmd, "k1")
	if reply.Err != nil || !strings.Contains(reply.Card.Subtitle, "for vendor@partner.com, sponsored by "+alice) {
		t.Fatalf("submitted: %+v", reply)
	}
	rs, _ := w.svc.Mine(w.ctx, alice)
	if len(rs) != 1 || rs[0].Guest == nil {
		t.Fatalf("requests %+v", rs)
	}
	id := rs[0].ID
	w.settle()
	if cards := w.slack.To(bob); len(cards) != 1 || !strings.Contains(cards[0].Card.Subtitle, "vendor@partner.com") {
		t.Fatalf("bob's cards: %+v", cards)
	}
	if reply := w.engine.Click(w.ctx, w.actor("slack", bob), bot.Action{Kind: bot.ActionApprove, RequestID: id}, bot.ClickInput{}); reply.Err != nil {
		t.Fatal(reply.Err)
	}
	w.settle()
	var ready *bot.Card
	for _, m := range w.slack.To(alice) {
		for _, f := range m.Card.Fields {
			if f.Label == "Password" {
				t.Fatalf("a password went to the sponsor: %+v", m.Card)
			}
		}
		if strings.Contains(m.Card.Title, "Access for vendor@partner.com is ready") {
			c := m.Card
			ready = &c
		}
	}
	if ready == nil {
		t.Fatalf("no activation message: %+v", w.slack.To(alice))
	}
	if calls := w.prov.Calls(); len(calls) == 0 || calls[len(calls)-1].Op == "rotate" {
		t.Fatalf("calls %+v", calls)
	}

	// Without identity, guest-link is refused, saying why.
	link, _ := bot.Parse("guest-link " + string(id))
	if reply := w.engine.Run(w.ctx, w.actor("slack", alice), link, "k2"); flows.ErrorCode(reply.Err) != flows.EUNAVAILABLE || !strings.Contains(reply.Card.Text, "identity") {
		t.Fatalf("no linker: %+v", reply)
	}
	g := &guestGate{}
	w.engine.SetGate(g)
	if reply := w.engine.Run(w.ctx, w.actor("slack", alice), link, "k3"); reply.Err != nil || reply.Card.Title != "One-time link" {
		t.Fatalf("typed: %+v", reply)
	}
	if reply := w.engine.Click(w.ctx, w.actor("slack", alice), bot.Action{Kind: bot.ActionGuestLink, RequestID: id}, bot.ClickInput{}); reply.Err != nil || reply.Card == nil {
		t.Fatalf("clicked: %+v", reply)
	}
	if len(g.asked) != 2 || g.asked[0] != alice+" "+string(id) {
		t.Fatalf("asked %v", g.asked)
	}
}
