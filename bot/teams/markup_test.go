package teams

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/flows"
)

// noRawMarkup fails unless what Teams reads as Markdown or HTML in an activity (its summary and
// text, each card's fallback text) has its markup escaped, and every other word of its cards is
// in a TextRun, which Teams shows as typed: never in a TextBlock, which it reads as Markdown.
func noRawMarkup(t *testing.T, a teamstest.Activity) {
	t.Helper()
	where := string(a.Op) + " " + a.ActivityID + " in " + a.ConversationID
	for what, s := range map[string]string{"summary": a.Activity.Summary, "text": a.Activity.Text} {
		if strings.ContainsAny(s, "<>[]") {
			t.Errorf("%s: the %s carries markup: %q", where, what, s)
		}
	}
	for _, c := range a.Cards() {
		for _, o := range bottest.Objects(c) {
			if o["type"] == "TextBlock" {
				t.Errorf("%s: a TextBlock, read as Markdown: %v", where, o["text"])
			}
			if s, _ := o["fallbackText"].(string); strings.ContainsAny(s, "<>[]") {
				t.Errorf("%s: the fallback text carries markup: %q", where, s)
			}
		}
	}
}

// TestPeoplesWordsPingNobody: a collection and a reason holding a channel ping, mentions and
// links, typed in Teams, reach the approver's card and the requester's answers as typed, in TextRuns,
// and escaped wherever Teams reads Markdown: the summary notifications show and the cards'
// fallback texts, before and after updates.
func TestPeoplesWordsPingNobody(t *testing.T) {
	h := newHarness(t)
	h.install(owner, ownerConv)
	const (
		collection = "<!channel><@U123ABC><mailto:evil@example.com|orders>"
		reason     = "<!channel> <@U123ABC> <https://evil.example.com|click> [here](https://evil.example.com) <at>Owner</at>"
	)
	h.say(alice, aliceConv, "access request prod/Cluster0/sales/"+collection+" read 1h "+reason)
	r := h.only(h.svc.Mine(h.ctx, "alice@example.com"))
	if r.Resource.Collection != collection || r.Reason != strings.TrimSuffix(reason, " <at>Owner</at>") {
		t.Fatalf("request %s: %q", r.Resource, r.Reason)
	}
	cardAct, card := h.last(ownerConv)
	if text := cardText(card); !strings.Contains(text, "Resource: prod/Cluster0/sales/"+collection) || !strings.Contains(text, "Reason: "+r.Reason) {
		t.Errorf("the card does not show the words as typed:\n%s", text)
	}
	if s := cardAct.Activity.Summary; !strings.Contains(s, "prod/Cluster0/sales/&lt;!channel&gt;&lt;@U123ABC&gt;&lt;mailto:evil@example.com|orders&gt;") {
		t.Errorf("summary %q", s)
	}
	h.say(alice, aliceConv, "access list")
	if _, c := h.last(aliceConv); !strings.Contains(c["fallbackText"].(string), "&lt;!channel&gt; &lt;@U123ABC&gt; &lt;https://evil.example.com|click&gt; &#91;here&#93;(https://evil.example.com)") {
		t.Errorf("the list's fallback text: %q", c["fallbackText"])
	}
	h.click(owner, ownerConv, cardAct.ActivityID, submitData(t, card, "Approve"))
	if s := h.request(string(r.ID)).State; s != flows.StateActive {
		t.Fatalf("state %s", s)
	}
	for _, a := range h.activities() {
		noRawMarkup(t, a)
	}
}
