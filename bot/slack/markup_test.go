package slack

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/bottest"
	"github.com/jitbot/jitbot/flows"
)

// Words people chose that Slack would read as markup: a channel ping, a user
// mention and a disguised link.
const (
	markupCollection = "<!channel><@U123ABC><mailto:evil@example.com|orders>"
	markupReason     = "<!channel> <@U123ABC> <https://evil.example.com|click to approve>"
)

// noRawMarkup fails unless everything Slack reads as mrkdwn in a message, its
// notification text included, has &, < and > escaped. plain_text objects and
// rich text are shown as sent, so they may hold the words as typed.
func noRawMarkup(t *testing.T, where, text string, blocks json.RawMessage) {
	t.Helper()
	if strings.ContainsAny(text, "<>") {
		t.Errorf("%s: the text carries markup: %q", where, text)
	}
	var tree any
	if len(blocks) > 0 {
		if err := json.Unmarshal(blocks, &tree); err != nil {
			t.Fatalf("%s: %v", where, err)
		}
	}
	for _, o := range bottest.Objects(tree) {
		if s, _ := o["text"].(string); o["type"] == "mrkdwn" && strings.ContainsAny(s, "<>") {
			t.Errorf("%s: mrkdwn carries markup: %q", where, s)
		}
	}
}

// TestPeoplesWordsPingNobody: a collection and a reason holding a channel
// ping, a mention and a link reach every message escaped (the notification text
// included): the approvers' cards, the approvals channel, the requester's
// credentials and her list, before and after updates. They show as typed,
// and ping or link nobody.
func TestPeoplesWordsPingNobody(t *testing.T) {
	h := newHarness(t, withChannel("#db-access"))
	res := flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: markupCollection}
	r, err := h.svc.Submit(h.ctx, flows.SubmitInput{Requester: alice.Email, Resource: res, Roles: []string{"read"}, Duration: time.Hour,
		Reason: markupReason, Origin: Platform})
	if err != nil {
		t.Fatal(err)
	}
	card := h.lastDM(bob)
	h.click(bob, card, "approve:"+string(r.ID))
	if s := h.get(string(r.ID)).State; s != flows.StateActive {
		t.Fatalf("state %s", s)
	}
	_, ru := h.slash(alice, "list")
	if _, err := h.svc.Revoke(h.ctx, r.ID, alice.Email, ""); err != nil {
		t.Fatal(err)
	}

	seen := 0
	for _, m := range h.messages() {
		noRawMarkup(t, "message to "+m.Channel, m.Text, m.BlocksJSON)
		for _, u := range m.Updates {
			noRawMarkup(t, "update in "+m.Channel, u.Text, u.BlocksJSON)
		}
		if strings.Contains(m.Text, "&lt;!channel&gt;&lt;@U123ABC&gt;&lt;mailto:evil@example.com|orders&gt;") {
			seen++
		}
	}
	if seen < 2 {
		t.Errorf("the collection shows, escaped, in the notification text of %d messages; want the cards to bob and the channel", seen)
	}
	if text := card.AllText(); !strings.Contains(text, "&lt;!channel&gt; &lt;@U123ABC&gt; &lt;https://evil.example.com|click to approve&gt;") {
		t.Errorf("the reason does not show as typed:\n%s", text)
	}
	list := h.outcome(ru)
	noRawMarkup(t, "list", list.Text, list.BlocksJSON)
	if !strings.Contains(list.AllText(), "&lt;https://evil.example.com|click to approve&gt;") {
		t.Errorf("list:\n%s", list.AllText())
	}
}
