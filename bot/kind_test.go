package bot

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// TestATokenGrantInChat runs a grant of the test-only token kind through a
// real service and renders what each person is told with the views written
// for any kind: the approver's card, the token shown once to its requester
// (and to nobody else, in no other message, and never when printed), the
// reminder, a new token after a rotation, and the expiry.
func TestATokenGrantInChat(t *testing.T) {
	ctx := t.Context()
	clock := flowstest.NewClock(t0)
	tokens := flowstest.NewTokenProvisioner()
	notes := &flowstest.Notifier{}
	secrets := &flowstest.Secrets{}
	policy, err := flows.Compile(flows.PolicySpec{
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6",
			AccessDetails: `mongosh "$CONNECTION_STRING" --username $USERNAME`}},
		Flows: []flows.FlowSpec{{Name: "tokens", Kind: string(flowstest.KindToken), Integration: "prod", Requesters: []string{"*"},
			Resources: []string{"Cluster0"}, Roles: []string{"use"}, MaxDuration: "4h", Approvers: []string{"owners"}}},
	}, flowstest.TokenKind())
	if err != nil {
		t.Fatal(err)
	}
	svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: flowstest.NewStore(), Provisioners: flows.Provisioners{flowstest.KindToken: tokens},
		Catalog: flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {{Name: "Cluster0", Owners: []string{"bob@example.com"}}}}),
		Secrets: secrets, Notifier: notes, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	alice, bob := Viewer{Email: "alice@example.com"}, Viewer{Email: "bob@example.com"}

	// told renders the messages of the notices from the i-th on, for each
	// person told on Slack.
	told := func(from int) map[string][]Card {
		out := map[string][]Card{}
		for _, n := range notes.Notices()[from:] {
			if c, ok := secrets.Lookup(n.Event.RequestID, n.Event.At); ok && (n.Event.Type == flows.EventActivated || n.Event.Type == flows.EventCredentialsRotated) {
				n.Credentials = &c // as the dispatcher renders it
			}
			for _, email := range n.To {
				if !Tell(n, email, "slack") && n.Event.Type != flows.EventSubmitted {
					continue
				}
				if c, ok := NoticeCard(n, Viewer{Email: email}); ok {
					out[email] = append(out[email], c)
				}
			}
		}
		return out
	}
	shows := func(cards map[string][]Card, secret string) (n int) {
		for _, cs := range cards {
			for _, c := range cs {
				for _, f := range c.Fields {
					if strings.Contains(f.Value, secret) {
						n++
						if !f.Sensitive {
							t.Errorf("the token is in a field not marked sensitive: %+v", f)
						}
					}
				}
				if strings.Contains(c.Text+c.Subtitle+c.Status+c.String()+fmt.Sprintf("%v %+v %#v", c, c, c), secret) {
					t.Errorf("the token leaks outside its field: %s", c.Title)
				}
			}
		}
		return n
	}

	target, err := flowstest.TokenKind().ParseTarget("prod/Cluster0")
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.Submit(ctx, flows.SubmitInput{Requester: "alice@example.com", Kind: flowstest.KindToken, Resource: target,
		Roles: []string{"use"}, Duration: 2 * time.Hour, Reason: "INC-7", Origin: "slack"})
	if err != nil {
		t.Fatal(err)
	}
	approval := ApprovalCard(r, bob)
	if approval.Subtitle != "alice@example.com asks for use on prod/Cluster0 for 2h" || field(approval, "Resource") != "prod/Cluster0" ||
		field(approval, "Role") != "use" || len(approval.Actions) != 2 {
		t.Fatalf("approval card: %s", approval)
	}

	clock.Advance(time.Minute)
	if r, err = svc.Decide(ctx, flows.DecideInput{RequestID: r.ID, Actor: "bob@example.com", Approve: true}); err != nil || r.State != flows.StateActive {
		t.Fatalf("approve: %v %v", r, err)
	}
	issued := secrets.Kept(r.ID)[0].Credentials.Secrets()[0].Reveal()
	msgs := told(0)
	if n := shows(msgs, issued); n != 1 {
		t.Fatalf("the token is shown %d times, want once", n)
	}
	creds := msgs["alice@example.com"][0]
	wantFields := []string{"Token id", "Token", "Access", "Expires"}
	gotFields := make([]string, len(creds.Fields))
	for i, f := range creds.Fields {
		gotFields[i] = f.Label
	}
	if creds.Title != "Access granted: request "+string(r.ID) || !slices.Equal(gotFields, wantFields) || field(creds, "Token id") != "tok-"+string(r.ID) ||
		field(creds, "Token") != issued || field(creds, "Access") != "use on prod/Cluster0" || !creds.HasSecret() {
		t.Fatalf("credentials card: %s (fields %v)", creds.Redacted(), gotFields)
	}
	// The kind's own instructions, not the database user's access details.
	if creds.Text != "Send it in the Authorization header: Bearer <token>.\n\nThe token is shown only here: jitbot does not keep it. Lost it? Ask for a new one with rotate "+string(r.ID)+"." {
		t.Fatalf("credentials text: %q", creds.Text)
	}
	if !tokens.Works(r.Principal, issued) {
		t.Fatal("the token shown does not work")
	}

	before := len(notes.Notices())
	clock.Set(r.ExpiresAt.Add(-15 * time.Minute))
	if _, err := svc.Sweep(ctx, clock.Now()); err != nil {
		t.Fatal(err)
	}
	reminder := told(before)["alice@example.com"]
	if len(reminder) != 1 || reminder[0].Title != "Access ends soon: request "+string(r.ID) || !strings.HasPrefix(reminder[0].Subtitle, "use on prod/Cluster0 ends at") {
		t.Fatalf("reminder: %v", reminder)
	}

	before = len(notes.Notices())
	if _, err := svc.Rotate(ctx, r.ID, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	rotated := notes.Notices()[before:]
	reissued := secrets.Kept(r.ID)[1].Credentials.Secrets()[0].Reveal()
	msgs = told(before)
	if n := shows(msgs, reissued); n != 1 || shows(msgs, issued) != 0 || reissued == issued {
		t.Fatal("a rotation shows the new token once and never the old")
	}
	if c := msgs["alice@example.com"][0]; c.Title != "New credentials: request "+string(r.ID) || !strings.Contains(c.Text, "Your token was changed; the old one no longer works.") {
		t.Fatalf("new credentials: %s", c.Redacted())
	}
	gone, final, ok := Refresh(KindCredentials, rotated[0], alice)
	if !ok || !final || gone.HasSecret() || gone.Text != "This message held the secret of tok-"+string(r.ID)+"; it was removed because a new secret replaced it." {
		t.Fatalf("the first credentials message after the rotation: %s", gone)
	}

	before = len(notes.Notices())
	clock.Set(r.ExpiresAt)
	if _, err := svc.Sweep(ctx, clock.Now()); err != nil {
		t.Fatal(err)
	}
	var expired *Card
	for _, c := range told(before)["alice@example.com"] {
		if strings.HasPrefix(c.Title, "Access expired") {
			expired = &c
		}
	}
	if expired == nil || expired.Text != "The test token tok-"+string(r.ID)+" was deleted. Need more time? Ask again." {
		t.Fatalf("expiry message: %v", expired)
	}
	if _, ok := tokens.Token(r.Principal); ok || tokens.Works(r.Principal, reissued) {
		t.Fatal("the token outlived its grant")
	}
}
