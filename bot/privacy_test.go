package bot_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// TestStrangersAreAnsweredAsForAMadeUpID: someone who takes no part in a
// request (not its requester, not an approver, not an admin) learns nothing
// about it from chat: every command and click naming it gets, word for
// word, the answer a made-up id of the same shape gets, and nothing changes
// (no store write, no audit record, no message, no Atlas call).
func TestStrangersAreAnsweredAsForAMadeUpID(t *testing.T) {
	const eve = "eve@example.com"
	w := newWorld(t)
	w.slack.Add(alice, nil)
	w.slack.Add(bob, nil)
	w.slack.Add(eve, nil)
	asked := w.ask("slack", "delivery-a")
	active, err := w.svc.Decide(w.ctx, flows.DecideInput{RequestID: asked.ID, Actor: bob, Approve: true})
	if err != nil || active.State != flows.StateActive {
		t.Fatalf("approve: %v %v", active, err)
	}
	pending, err := w.svc.Submit(w.ctx, flows.SubmitInput{Requester: "frank@example.com", Resource: orders, Roles: []string{"read"},
		Duration: time.Hour, Reason: "INC-2", Origin: "slack"})
	if err != nil {
		t.Fatal(err)
	}

	type ask struct {
		name string
		run  func(id string) bot.Reply
	}
	stranger := w.actor("slack", eve)
	asks := []ask{}
	for _, v := range []bot.Verb{bot.VerbCancel, bot.VerbRevoke, bot.VerbExtend, bot.VerbRotate} {
		asks = append(asks, ask{"typed " + string(v), func(id string) bot.Reply {
			return w.engine.Run(w.ctx, stranger, bot.Command{Verb: v, RequestID: flows.RequestID(id), Duration: time.Hour, Reason: "curious"}, "")
		}})
	}
	for _, k := range []bot.ActionKind{bot.ActionApprove, bot.ActionDeny, bot.ActionApproveExtension, bot.ActionDenyExtension,
		bot.ActionRevoke, bot.ActionCancel, bot.ActionExtend, bot.ActionRotate} {
		asks = append(asks, ask{"clicked " + string(k), func(id string) bot.Reply {
			return w.engine.Click(w.ctx, stranger, bot.Action{Kind: k, RequestID: flows.RequestID(id), Extension: 1, Duration: time.Hour}, bot.ClickInput{Reason: "curious"})
		}})
	}
	// answer renders a reply as the person sees it, with the id named in it
	// replaced, so a real id's answer and a made-up one's compare.
	answer := func(r bot.Reply, id string) string {
		s := fmt.Sprintf("code=%s card=%+v list=%+v form=%v", flows.ErrorCode(r.Err), r.Card, r.List, r.Form)
		return strings.ReplaceAll(s, id, "<id>")
	}
	for _, real := range []*flows.Request{pending, active} {
		madeUp := strings.Repeat("z", len(real.ID))
		for _, a := range asks {
			t.Run(string(real.State)+"/"+a.name, func(t *testing.T) {
				before, events := w.get(string(real.ID)), len(w.store.Events())
				messages, calls := len(w.slack.Messages()), len(w.prov.Calls())
				got, want := answer(a.run(string(real.ID)), string(real.ID)), answer(a.run(madeUp), madeUp)
				if got != want {
					t.Errorf("a stranger can tell a real request from a made-up one:\nreal:    %s\nmade up: %s", got, want)
				}
				if !strings.Contains(got, "code="+string(flows.ENOTFOUND)+" ") {
					t.Errorf("want a not-found answer, got %s", got)
				}
				if diff := cmp.Diff(before, w.get(string(real.ID))); diff != "" {
					t.Errorf("the request changed (-before +after):\n%s", diff)
				}
				if n := len(w.store.Events()); n != events {
					t.Errorf("%d audit records written", n-events)
				}
				if n := len(w.slack.Messages()); n != messages {
					t.Errorf("%d messages sent", n-messages)
				}
				if n := len(w.prov.Calls()); n != calls {
					t.Errorf("%d Atlas calls", n-calls)
				}
			})
		}
	}
}
