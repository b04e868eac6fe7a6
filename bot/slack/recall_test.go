package slack

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
)

// answerLosingTransport lets Slack take the first chat.postMessage to one
// channel and loses its answer, as a process killed mid-call or a timed
// out connection would.
type answerLosingTransport struct {
	channel string
	mu      sync.Mutex
	lost    int
}

func (a *answerLosingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, "/chat.postMessage") {
		return http.DefaultTransport.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		return nil, err
	}
	req.Body = io.NopCloser(strings.NewReader(string(body)))
	form, _ := url.ParseQuery(string(body))
	resp, err := http.DefaultTransport.RoundTrip(req)
	a.mu.Lock()
	defer a.mu.Unlock()
	if err == nil && form.Get("channel") == a.channel && a.lost == 0 {
		a.lost++
		resp.Body.Close()
		return nil, errors.New("connection reset by peer")
	}
	return resp, err
}

// isCard says whether m is an approval card.
func isCard(m slacktest.Message) bool {
	return len(m.Buttons()) > 0 || strings.Contains(m.AllText(), "asks for")
}

func bobsCards(h *harness) []slacktest.Message {
	var out []slacktest.Message
	for _, m := range h.slack.DMs(bob.ID) {
		if isCard(m) {
			out = append(out, m)
		}
	}
	return out
}

// TestACardPostedAsTheSenderDiedIsFoundNotPostedAgain: every post of the
// outbox carries its delivery in the message's metadata. The approval
// card Slack took while its sender lost the answer (and then the process
// died) is found in the DM's history by the next process, recorded, not
// posted again, and updated by the decision like any other card.
func TestACardPostedAsTheSenderDiedIsFoundNotPostedAgain(t *testing.T) {
	lose := &answerLosingTransport{channel: bob.ID}
	h := newHarness(t, func(s *setup) {
		s.cfg = func(c *Config) { c.HTTPClient = &http.Client{Transport: lose} }
	})
	h.slash(alice, `request prod/Cluster0/sales/orders read 1h "INC-9"`)
	h.idle()
	r := h.only("alice@example.com")
	if got := bobsCards(h); len(got) != 1 || got[0].Metadata == nil || got[0].Metadata.EventType != deliveryEvent {
		t.Fatalf("bob has %d cards (the first with metadata %v), want the one Slack took, with its delivery in its metadata", len(got), len(got) > 0 && got[0].Metadata != nil)
	}
	h.restart()
	h.clock.Advance(time.Hour) // past the backoff
	h.idle()
	cards := bobsCards(h)
	if len(cards) != 1 {
		t.Fatalf("bob has %d cards, want the first one only", len(cards))
	}
	if n := h.slack.CountCalls("conversations.history"); n != 1 {
		t.Errorf("%d history reads, want 1", n)
	}
	h.click(bob, cards[0], "approve:"+string(r.ID))
	h.idle()
	if r := h.get(string(r.ID)); r.State != flows.StateActive {
		t.Fatalf("after approval: %s", r.State)
	}
	card, _ := h.message(cards[0].Channel, cards[0].TS)
	if n := len(card.Updates); n == 0 || len(buttonsOf(card.Updates[n-1].Blocks)) != 0 {
		t.Fatalf("the found card was not closed by the decision: %d updates", n)
	}
	h.noViolations()
}

// TestACardPostedToAChannelByNameIsFoundNotPostedAgain: an approvals
// channel named by #name is looked up among the bot's channels
// (users.conversations) to read its history by id; the card Slack took as
// its sender died is found there, once.
func TestACardPostedToAChannelByNameIsFoundNotPostedAgain(t *testing.T) {
	for _, name := range []string{"#db-access", "db-access"} {
		t.Run(name, func(t *testing.T) { cardPostedToAChannelByName(t, name) })
	}
}

func cardPostedToAChannelByName(t *testing.T, name string) {
	lose := &answerLosingTransport{channel: name}
	h := newHarness(t, withChannel(name), func(s *setup) {
		s.cfg = func(c *Config) { c.HTTPClient = &http.Client{Transport: lose} }
	})
	h.slack.AddChannel("CALERTS", "#alerts")
	h.slash(alice, `request prod/Cluster0/sales/orders read 1h "INC-9"`)
	h.idle()
	cards := func() []slacktest.Message {
		var out []slacktest.Message
		for _, m := range h.channelMessages("CAPPROVALS") {
			if isCard(m) {
				out = append(out, m)
			}
		}
		return out
	}
	if got := cards(); len(got) != 1 {
		t.Fatalf("the channel has %d cards, want the one Slack took", len(got))
	}
	h.restart()
	h.clock.Advance(time.Hour)
	h.idle()
	if got := cards(); len(got) != 1 {
		t.Fatalf("the channel has %d cards, want the first one only", len(got))
	}
	if n := h.slack.CountCalls("users.conversations"); n != 1 {
		t.Errorf("%d users.conversations calls, want 1", n)
	}
	for _, c := range h.slack.Calls() {
		if c.Method == "conversations.history" && c.Params.Get("channel") != "CAPPROVALS" {
			t.Errorf("history read of %q, want the channel's id", c.Params.Get("channel"))
		}
	}
	h.noViolations()
}

// Without the history scope the card goes again: twice rather than never.
func TestWithoutHistoryTheCardGoesAgain(t *testing.T) {
	lose := &answerLosingTransport{channel: bob.ID}
	h := newHarness(t, func(s *setup) {
		s.cfg = func(c *Config) { c.HTTPClient = &http.Client{Transport: lose} }
	})
	h.slack.Refuse("conversations.history", 1, "missing_scope")
	h.slash(alice, `request prod/Cluster0/sales/orders read 1h "INC-9"`)
	h.idle()
	h.clock.Advance(time.Hour)
	h.idle()
	if got := bobsCards(h); len(got) != 2 {
		t.Fatalf("bob has %d cards, want the card again", len(got))
	}
	if !strings.Contains(h.logs.String(), "could not look for a message that may have been sent") {
		t.Errorf("the failed look was not logged:\n%s", h.logs.String())
	}
}

// TestAFormAnswerPostedAsTheSenderDiedIsFoundNotPostedAgain: the answer
// to a submitted request form (no response_url: a message in the
// person's DM) carries its delivery too, and is found rather than posted
// twice; answers through a response_url are not marked at all.
func TestAFormAnswerPostedAsTheSenderDiedIsFoundNotPostedAgain(t *testing.T) {
	lose := &answerLosingTransport{channel: eve.ID}
	h := newHarness(t, func(s *setup) {
		s.cfg = func(c *Config) { c.HTTPClient = &http.Client{Transport: lose} }
	})
	h.slash(eve, "")
	h.idle()
	view := h.slack.Views()[len(h.slack.Views())-1]
	h.submitSalesRead(eve, view, "INC-3")
	h.idle()
	r := h.only("eve@example.com")
	answers := func() []slacktest.Message {
		var out []slacktest.Message
		for _, m := range h.slack.DMs(eve.ID) {
			if strings.Contains(m.AllText(), "Request "+string(r.ID)+" sent for approval") {
				out = append(out, m)
			}
		}
		return out
	}
	if got := answers(); len(got) != 1 || got[0].Metadata == nil {
		t.Fatalf("eve has %d answers (the first with metadata %v), want the one Slack took, with its delivery", len(got), len(got) > 0 && got[0].Metadata != nil)
	}
	h.restart()
	h.clock.Advance(time.Hour)
	h.idle()
	if got := answers(); len(got) != 1 {
		t.Fatalf("eve has %d answers, want the first one only", len(got))
	}
	if n := h.slack.CountCalls("conversations.history"); n != 1 {
		t.Errorf("%d history reads, want 1", n)
	}
}
