package bot_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// gate trusts the chat accounts it was told of, as the emails it holds,
// and sends anyone else a "link" through the outbox.
type gate struct {
	store flowsOutbox
	bound map[string]string // user id -> email
	asked []string
}

type flowsOutbox interface {
	Enqueue(ctx context.Context, cursor uint64, ds ...flows.Delivery) ([]flows.Delivery, error)
}

func (g *gate) Trust(ctx context.Context, who bot.Actor) (bot.Actor, error) {
	g.asked = append(g.asked, who.UserID)
	if email, ok := g.bound[who.UserID]; ok {
		who.Email = email
		return who, nil
	}
	if _, err := g.store.Enqueue(ctx, 0, flows.Delivery{Conversation: who.Platform + ":dm:" + who.Email, Platform: who.Platform,
		What: "signin", Recipient: who.Email, Payload: []byte(`{"link":"l1"}`)}); err != nil {
		return who, err
	}
	return who, flows.Errorf(flows.EFORBIDDEN, "sign in first: the link is in your direct messages")
}

func TestGateDecidesWhomTheEngineActsFor(t *testing.T) {
	w := newWorld(t)
	g := &gate{store: w.store, bound: map[string]string{"id-" + alice: alice}}
	w.engine.SetGate(g)
	d, err := bot.NewDispatcher(bot.DispatcherConfig{}, bot.DispatcherDeps{
		Store: w.store, Platforms: w.engine.Platforms, Audience: w.svc.Audience, Secrets: bot.NewSecrets(w.clock, 0, 0), Clock: w.clock,
		Rand: func() float64 { return 0.5 },
		Renderers: map[string]bot.Renderer{"signin": func(_ context.Context, dl flows.Delivery) (bot.Card, error) {
			return bot.Card{Title: "Sign in", Text: "https://jitbot.example.com/id/l/" + strings.TrimSuffix(strings.TrimPrefix(string(dl.Payload), `{"link":"`), `"}`)}, nil
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	w.outbox = d
	w.slack.Add(alice, nil)
	w.slack.Add(carol, nil)

	// An unproven person is answered with what to do, and nothing is asked
	// of the domain.
	cmd, _ := bot.Parse("request prod/Cluster0/sales/orders read 1h INC-1")
	reply := w.engine.Run(w.ctx, w.actor("slack", carol), cmd, "k1")
	if flows.ErrorCode(reply.Err) != flows.EFORBIDDEN || !strings.Contains(reply.Card.Text, "sign in first") {
		t.Fatalf("unproven: %+v", reply)
	}
	if rs, _ := w.svc.Mine(w.ctx, carol); len(rs) != 0 {
		t.Fatalf("submitted for an unproven person: %d", len(rs))
	}
	w.settle()
	dms := w.slack.To(carol)
	if len(dms) != 1 || !strings.Contains(dms[0].Card.Text, "/id/l/l1") {
		t.Fatalf("carol's DMs: %+v", dms)
	}
	// Help needs no proof.
	if reply := w.engine.Run(w.ctx, w.actor("slack", carol), bot.Command{Verb: bot.VerbHelp}, "k2"); reply.Err != nil {
		t.Fatalf("help: %v", reply.Err)
	}
	// A proven person acts as the gate says, whatever the profile says.
	who := w.actor("slack", "mallory@example.com")
	who.UserID = "id-" + alice
	if reply := w.engine.Run(w.ctx, who, cmd, "k3"); reply.Err != nil {
		t.Fatalf("proven: %v", reply.Err)
	}
	if rs, _ := w.svc.Mine(w.ctx, alice); len(rs) != 1 {
		t.Fatalf("alice's requests: %d", len(rs))
	}
	// Clicks pass the gate too.
	r, _ := w.svc.Mine(w.ctx, alice)
	if reply := w.engine.Click(w.ctx, w.actor("slack", carol), bot.Action{Kind: bot.ActionApprove, RequestID: r[0].ID}, bot.ClickInput{}); flows.ErrorCode(reply.Err) != flows.EFORBIDDEN {
		t.Fatalf("unproven click: %+v", reply.Err)
	}
	if got := w.get(string(r[0].ID)).State; got != flows.StatePending {
		t.Fatalf("state %s", got)
	}
}

// stepUpGate trusts everyone and records step-ups.
type stepUpGate struct{ asked []*flows.StepUpNeeded }

func (g *stepUpGate) Trust(_ context.Context, who bot.Actor) (bot.Actor, error) { return who, nil }

func (g *stepUpGate) StepUp(_ context.Context, who bot.Actor, need *flows.StepUpNeeded) error {
	g.asked = append(g.asked, need)
	return nil
}

func TestApproveClickOnAStepUpFlowAnswersWithASignIn(t *testing.T) {
	w := newWorld(t, func(s *flows.PolicySpec) {
		s.Flows[0].StepUp = &flows.StepUpSpec{Approve: true, AMR: []string{"mfa"}}
	})
	g := &stepUpGate{}
	w.engine.SetGate(g)
	r := w.ask("slack", "k1")
	reply := w.engine.Click(w.ctx, w.actor("slack", bob), bot.Action{Kind: bot.ActionApprove, RequestID: r.ID}, bot.ClickInput{})
	if reply.Err != nil || reply.Card == nil || !strings.Contains(reply.Card.Text, "sign-in link is in your direct messages") {
		t.Fatalf("reply: %+v", reply)
	}
	if len(g.asked) != 1 || g.asked[0].RequestID != r.ID {
		t.Fatalf("step-ups: %+v", g.asked)
	}
	if got := w.get(string(r.ID)); got.State != flows.StatePending || len(got.Approvals) != 0 {
		t.Fatalf("approved by a plain click: %s %+v", got.State, got.Approvals)
	}
	// Without a gate that can step up, the click is refused, saying why.
	w.engine.SetGate(nil)
	reply = w.engine.Click(w.ctx, w.actor("slack", bob), bot.Action{Kind: bot.ActionApprove, RequestID: r.ID}, bot.ClickInput{})
	if flows.ErrorCode(reply.Err) != flows.EFORBIDDEN || !strings.Contains(reply.Card.Text, "multi-factor") {
		t.Fatalf("no gate: %+v", reply)
	}
}

func TestBreakGlassOnAStepUpFlowAnswersWithASignIn(t *testing.T) {
	w := newWorld(t, func(s *flows.PolicySpec) {
		s.Flows[0] = flows.FlowSpec{Name: "prod-breakglass", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales"},
			Roles: []string{"read"}, BreakGlass: &flows.BreakGlassSpec{Reviewers: []string{"group:dba"}},
			StepUp: &flows.StepUpSpec{Request: true, AMR: []string{"mfa"}}}
	})
	g := &stepUpGate{}
	w.engine.SetGate(g)
	cmd, err := bot.Parse("breakglass prod/Cluster0/sales/orders read 30m INC-1 primary down")
	if err != nil {
		t.Fatal(err)
	}
	reply := w.engine.Run(w.ctx, w.actor("slack", alice), cmd, "k1")
	w.settle()
	if reply.Err != nil || reply.Card == nil || reply.Card.Title != "Break glass with a fresh sign-in" || !strings.Contains(reply.Card.Text, "nothing is granted yet") {
		t.Fatalf("reply: %+v", reply)
	}
	if len(g.asked) != 1 || g.asked[0].BreakGlass == nil || g.asked[0].BreakGlass.Requester != alice || g.asked[0].BreakGlass.Duration != 30*time.Minute {
		t.Fatalf("step-ups: %+v", g.asked)
	}
	if rs, _ := w.svc.Mine(w.ctx, alice); len(rs) != 0 || len(w.prov.Calls()) != 0 {
		t.Fatalf("granted before the sign-in: %v %v", rs, w.prov.Calls())
	}
	// Without a gate that can step up, it is refused, saying why.
	w.engine.SetGate(nil)
	reply = w.engine.Run(w.ctx, w.actor("slack", alice), cmd, "k2")
	if flows.ErrorCode(reply.Err) != flows.EFORBIDDEN || !strings.Contains(reply.Card.Text, "multi-factor") {
		t.Fatalf("no gate: %+v", reply)
	}
}
