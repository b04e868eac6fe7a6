package bot

import (
	"slices"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

func TestTell(t *testing.T) {
	r := activeRequest() // asked by alice from Slack
	creds := credentials(flows.DatabaseUserCredentials("jit-alice-abc23def45", flows.NewSecret("pw"), ""))
	ev := func(typ flows.EventType) flows.Event { return flows.Event{Type: typ, At: t0} }
	for _, tt := range []struct {
		name     string
		n        flows.Notice
		email    string
		platform string
		want     bool
	}{
		{"requester, where asked", flows.Notice{Event: ev(flows.EventExpired), Request: r}, "alice@example.com", "slack", true},
		{"requester, elsewhere", flows.Notice{Event: ev(flows.EventExpired), Request: r}, "alice@example.com", "teams", false},
		{"approver, anywhere", flows.Notice{Event: ev(flows.EventExpired), Request: r}, "bob@example.com", "teams", true},
		{"credentials to their owner", flows.Notice{Event: ev(flows.EventActivated), Request: r, Credentials: creds}, "alice@example.com", "slack", true},
		{"credentials to anyone else", flows.Notice{Event: ev(flows.EventActivated), Request: r, Credentials: creds}, "bob@example.com", "slack", false},
		{"a new request is a card", flows.Notice{Event: ev(flows.EventSubmitted), Request: r}, "bob@example.com", "slack", false},
		{"a new extension is a card", flows.Notice{Event: ev(flows.EventExtensionRequested), Request: r}, "bob@example.com", "slack", false},
		{"no request", flows.Notice{Event: ev(flows.EventOrphanDeleted)}, "admin@example.com", "teams", true},
	} {
		if got := Tell(tt.n, tt.email, tt.platform); got != tt.want {
			t.Errorf("%s: %v", tt.name, got)
		}
	}
}

func TestRefresh(t *testing.T) {
	v := Viewer{Email: "bob@example.com"}
	r := activeRequest()
	expired := must(r.StartRevoking(r.ExpiresAt, flows.SystemActor, flows.StateExpired, "expired"))
	n := flows.Notice{Event: expired, Request: r}
	for _, tt := range []struct {
		kind      string
		ok, final bool
		title     string
	}{
		{KindApproval, true, false, "Access request abc23def45"},
		{ExtensionKind(1), true, true, "Extension 1 of request abc23def45"},
		{KindCredentials, true, true, "Credentials of request abc23def45 removed"},
		{KindReminder, true, false, "Reminder about request abc23def45"},
		{KindClosed, false, false, ""},
		{"something else", false, false, ""},
	} {
		c, final, ok := Refresh(tt.kind, n, v)
		if ok != tt.ok || final != tt.final || c.Title != tt.title {
			t.Errorf("%s: ok %v, final %v, %q", tt.kind, ok, final, c.Title)
		}
	}
	if !CardsMayChange(expired) || CardsMayChange(flows.Event{Type: flows.EventProvisionRetry}) {
		t.Error("CardsMayChange")
	}
	if c := ApproverCard(ExtensionKind(2), n, v); c.Title != "Extension 2 of request abc23def45" {
		t.Errorf("extension card %q", c.Title)
	}
}

func TestOpen(t *testing.T) {
	refs := []flows.MessageRef{
		{Platform: "slack", Conversation: "D1", ID: "1", Kind: KindApproval},
		{Platform: "slack", Conversation: "D1", ID: "2", Kind: KindCredentials},
		{Platform: "teams", Conversation: "D1", ID: "1", Kind: KindApproval},
		{Platform: "slack", Conversation: "D1", ID: "1", Kind: KindClosed},
		{Platform: "teams", Conversation: "D1", ID: "2", Kind: KindClosed},
	}
	if got := Open(refs, "slack"); !slices.Equal(got, refs[1:2]) {
		t.Errorf("slack: %v", got)
	}
	if got := Open(refs, "teams"); !slices.Equal(got, refs[2:3]) {
		t.Errorf("teams: %v", got)
	}
}
