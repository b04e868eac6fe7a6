package playground_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/playground"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

// The page acts as anyone in the world: it listens on loopback only.
func TestListenRefusesOtherInterfaces(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:0", "example.com:0"} {
		if ln, err := playground.Listen(addr); err == nil {
			ln.Close()
			t.Errorf("Listen(%q) listened", addr)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		ln, err := playground.Listen(addr)
		if err != nil {
			t.Fatalf("Listen(%q): %v", addr, err)
		}
		ln.Close()
	}
}

// state is the part of GET /api/state the tests read.
type state struct {
	Panes []struct {
		ID    string `json:"id"`
		Items []struct {
			From   string          `json:"from"`
			Only   bool            `json:"only"`
			Text   string          `json:"text"`
			Blocks json.RawMessage `json:"blocks"`
		} `json:"items"`
		Home *struct {
			ID string `json:"id"`
		} `json:"home"`
		Form *struct {
			ID     string            `json:"id"`
			Errors map[string]string `json:"errors"`
		} `json:"form"`
	} `json:"panes"`
	Atlas  []struct{ Username string }  `json:"atlas"`
	Grants []struct{ ID, State string } `json:"grants"`
}

type page struct {
	t   *testing.T
	srv *httptest.Server
}

func (p page) state() state {
	p.t.Helper()
	resp, err := p.srv.Client().Get(p.srv.URL + "/api/state")
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st state
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		p.t.Fatal(err)
	}
	return st
}

func (p page) post(path string, body any) (int, string) {
	p.t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := p.srv.Client().Post(p.srv.URL+"/api/"+path, "application/json", strings.NewReader(string(raw)))
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	var answer map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&answer)
	msg, _ := answer["error"].(string)
	return resp.StatusCode, msg
}

func (p page) must(path string, body any) {
	p.t.Helper()
	if status, msg := p.post(path, body); status != http.StatusOK {
		p.t.Fatalf("%s: %d %s", path, status, msg)
	}
}

// eventually polls the state until cond holds.
func (p page) eventually(what string, cond func(state) bool) state {
	p.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st := p.state()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("waited for %s; last state: %+v", what, st)
		}
	}
}

func pane(st state, id string) (out struct {
	texts string
	home  string
	form  string
	errs  map[string]string
}) {
	for _, p := range st.Panes {
		if p.ID != id {
			continue
		}
		for _, it := range p.Items {
			out.texts += it.From + ": " + it.Text + "\n" + string(it.Blocks) + "\n"
		}
		if p.Home != nil {
			out.home = p.Home.ID
		}
		if p.Form != nil {
			out.form, out.errs = p.Form.ID, p.Form.Errors
		}
	}
	return out
}

func newPage(t *testing.T) (page, *rigtest.Harness) {
	h := rigtest.New(t, nil)
	h.Start()
	pg, err := playground.New(playground.Options{Rig: h.Rig})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	srv := httptest.NewServer(pg.Handler())
	t.Cleanup(srv.Close)
	return page{t: t, srv: srv}, h
}

// The page's actions reach jitbot's real handlers and what it shows comes
// back from the fakes: a command and its private answer, the form of
// /access alone (kept open with jitbot's errors, closed once taken), the
// App Home, the grant and the Atlas user.
func TestActionsGoThroughJitbot(t *testing.T) {
	p, h := newPage(t)

	p.must("slack/command", map[string]any{"pane": "slack-alice", "text": "/access request prod/Cluster0/sales/orders read 1h INC-1 checkout"})
	// The card and alice's answer go to two people through the outbox's
	// senders, in either order.
	st := p.eventually("the approval card in olivia's pane and alice's answer", func(st state) bool {
		return strings.Contains(pane(st, "slack-olivia").texts, "approve:") && strings.Contains(pane(st, "slack-alice").texts, "sent for approval")
	})
	if alice := pane(st, "slack-alice").texts; !strings.Contains(alice, "you: /access request prod/Cluster0/sales/orders") {
		t.Fatalf("alice's pane:\n%s", alice)
	}
	card, id, ok := h.ApprovalCard("alice@example.com")
	if !ok {
		t.Fatal("no card in the Slack fake")
	}
	b, _ := rig.Button(card, "approve:")
	p.must("slack/click", map[string]any{"pane": "slack-olivia", "channel": card.Channel, "ts": card.TS, "action_id": b.ActionID, "value": b.Value})
	st = p.eventually("alice's credentials and her Atlas user", func(st state) bool {
		return strings.Contains(pane(st, "slack-alice").texts, "Password") && len(st.Atlas) == 1
	})
	if st.Grants[0].ID != id || st.Grants[0].State != "active" {
		t.Fatalf("grants: %+v", st.Grants)
	}

	// /access alone opens the request form; submitted empty, jitbot keeps
	// it open and says what is missing.
	p.must("slack/command", map[string]any{"pane": "slack-dana", "text": "/access"})
	st = p.eventually("dana's request form", func(st state) bool { return pane(st, "slack-dana").form != "" })
	form := pane(st, "slack-dana").form
	p.must("slack/submit", map[string]any{"pane": "slack-dana", "view_id": form})
	if errs := pane(p.state(), "slack-dana").errs; len(errs) == 0 {
		t.Fatal("an empty request form was taken")
	}
	p.must("slack/dismiss", map[string]any{"pane": "slack-dana", "view_id": form})
	if f := pane(p.state(), "slack-dana").form; f != "" {
		t.Fatalf("the dismissed form %s is still shown", f)
	}

	p.must("slack/home", map[string]any{"pane": "slack-alice"})
	p.eventually("alice's App Home", func(st state) bool { return pane(st, "slack-alice").home != "" })

	p.must("teams/say", map[string]any{"pane": "teams-bob", "text": "access help"})
	p.eventually("jitbot's answer in bob's Teams chat", func(st state) bool {
		return strings.Count(pane(st, "teams-bob").texts, "jitbot: ") > 0
	})
}

// Anything the page cannot do says why, and nothing reaches jitbot.
func TestActionsRefuse(t *testing.T) {
	p, _ := newPage(t)
	for _, c := range []struct {
		path string
		body map[string]any
		want string
	}{
		{"slack/command", map[string]any{"pane": "slack-alice", "text": "/deploy prod"}, "only /access"},
		{"slack/command", map[string]any{"pane": "teams-bob", "text": "/access help"}, "no slack pane"},
		{"teams/say", map[string]any{"pane": "teams-bob", "text": " "}, "say something"},
		{"advance", map[string]any{"minutes": 15}, "real time"},
	} {
		if status, msg := p.post(c.path, c.body); status == http.StatusOK || !strings.Contains(msg, c.want) {
			t.Errorf("%s %v: %d %q, want an error saying %q", c.path, c.body, status, msg, c.want)
		}
	}

	// Another site's page cannot act through the browser of whoever has
	// the playground open, nor reach it under another name.
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, p.srv.URL+"/api/slack/command", strings.NewReader(`{"pane":"slack-alice","text":"/access help"}`))
	req.Header.Set("Content-Type", "text/plain")
	if resp, err := p.srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("a form post: %v %v", resp, err)
	}
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodPost, p.srv.URL+"/api/slack/command", strings.NewReader(`{}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example.com")
	if resp, err := p.srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-origin post: %v %v", resp, err)
	}
	req, _ = http.NewRequestWithContext(context.Background(), http.MethodGet, p.srv.URL+"/api/state", nil)
	req.Host = "rebound.example.com"
	if resp, err := p.srv.Client().Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("another host name: %v %v", resp, err)
	}
}
