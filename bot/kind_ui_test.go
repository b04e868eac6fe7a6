package bot

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

func TestParseAtlasUIRequests(t *testing.T) {
	cmd, err := Parse("request acme/payments-prod GROUP_READ_ONLY,GROUP_CLUSTER_MANAGER 2h INC-1 console")
	want := Command{Verb: VerbRequest, Kind: flows.KindAtlasUI, Resource: flows.Resource{Integration: "acme", Project: "payments-prod"},
		Roles: []string{"GROUP_READ_ONLY", "GROUP_CLUSTER_MANAGER"}, Duration: 2 * time.Hour, Reason: "INC-1 console"}
	if err != nil || !slices.Equal(cmd.Roles, want.Roles) || cmd.Kind != want.Kind || cmd.Resource != want.Resource || cmd.Duration != want.Duration || cmd.Reason != want.Reason {
		t.Fatalf("Parse: %+v, %v", cmd, err)
	}
	if cmd, err = Parse("request acme ORG_READ_ONLY 1h"); err != nil || cmd.Kind != flows.KindAtlasUI || cmd.Resource != (flows.Resource{Integration: "acme"}) {
		t.Fatalf("an organization role: %+v, %v", cmd, err)
	}
	if cmd, err = Parse("request prod/Cluster0/sales read 1h"); err != nil || cmd.Kind != "" {
		t.Fatalf("a database user: %+v, %v", cmd, err)
	}
	for text, refusal := range map[string]string{
		"request acme/payments-prod GROUP_OWNER 1h":              "GROUP_OWNER is an owner role: jitbot never grants it",
		"request acme/payments-prod/Cluster0 GROUP_READ_ONLY 1h": "want integration/project",
		"request acme/payments-prod GROUP_READ_ONLY,read 1h":     `role "read": Atlas roles are written in capitals`,
	} {
		if _, err := Parse(text); flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(flows.ErrorMessage(err), refusal) {
			t.Errorf("Parse(%q): want %q, got %v", text, refusal, err)
		}
	}
	if !strings.Contains(Usage(), "request acme/payments-prod GROUP_READ_ONLY 2h INC-1") {
		t.Error("the usage does not show Atlas UI access")
	}
}

// uiFake gives Atlas UI access in memory, as atlas.UIAccess tells it.
type uiFake struct{ roles map[string][]string }

func (p *uiFake) Create(_ context.Context, g flows.Grant) (flows.Credentials, error) {
	p.roles[g.Principal] = g.Roles
	return flows.Credentials{Fields: []flows.CredentialField{
		{Key: "atlas_user", Label: "Atlas user", Value: g.Principal, Mono: true},
		{Key: "project", Label: "Project", Value: g.Resource.Project},
		{Key: "roles_added", Label: "Roles added", Value: flows.FormatRoles(g.Roles), Mono: true},
	}, Instructions: "Sign in to the Atlas UI as " + g.Principal + "."}, nil
}

func (p *uiFake) Delete(ctx context.Context, g flows.Grant) error {
	delete(p.roles, g.Principal)
	return g.Report(ctx, "jitbot kept nothing: a finding for the admins")
}

// TestAnAtlasUIGrantInChat: what each person is told of Atlas UI access
// says which kind of access it is, and that ending it takes the roles away.
func TestAnAtlasUIGrantInChat(t *testing.T) {
	ctx := t.Context()
	clock := flowstest.NewClock(t0)
	notes := &flowstest.Notifier{}
	secrets := &flowstest.Secrets{}
	ui := &uiFake{roles: map[string][]string{}}
	policy, err := flows.Compile(flows.PolicySpec{
		Admins:       []string{"dave@example.com"},
		Integrations: []flows.IntegrationSpec{{Name: "acme", OrganizationID: "6b0000000000000000000001", Owners: []string{"bob@example.com"}}},
		Flows: []flows.FlowSpec{{Name: "ui", Kind: string(flows.KindAtlasUI), Integration: "acme", Requesters: []string{"*"},
			Resources: []string{"payments-prod"}, Roles: []string{"GROUP_READ_ONLY"}, MaxDuration: "4h", Approvers: []string{"integration-owners"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: flowstest.NewStore(), Provisioners: flows.Provisioners{flows.KindAtlasUI: ui},
		Catalog: flowstest.NewCatalog(map[string][]flows.Cluster{"acme": {{Name: "Cluster0", Project: "payments-prod", ProjectID: "6c0000000000000000000001"}}}),
		Secrets: secrets, Notifier: notes, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	alice, bob, dave := Viewer{Email: "alice@example.com"}, Viewer{Email: "bob@example.com"}, Viewer{Email: "dave@example.com"}
	cmd, err := Parse("request acme/payments-prod GROUP_READ_ONLY 1h INC-1")
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.Submit(ctx, flows.SubmitInput{Requester: alice.Email, Kind: cmd.Kind, Resource: cmd.Resource, Roles: cmd.Roles,
		Duration: cmd.Duration, Reason: cmd.Reason, Origin: "slack"})
	if err != nil {
		t.Fatal(err)
	}
	approval := ApprovalCard(r, bob)
	if approval.Subtitle != "alice@example.com asks for Atlas UI access: GROUP_READ_ONLY on acme/payments-prod for 1h" ||
		field(approval, "Access") != "Atlas UI access" || field(approval, "Resource") != "acme/payments-prod" {
		t.Fatalf("approval card: %s", approval)
	}
	if r, err = svc.Decide(ctx, flows.DecideInput{RequestID: r.ID, Actor: bob.Email, Approve: true}); err != nil || r.State != flows.StateActive {
		t.Fatalf("approve: %+v, %v", r, err)
	}
	creds, ok := secrets.Lookup(r.ID, r.CredentialsIssuedAt)
	if !ok {
		t.Fatal("no credentials")
	}
	card := CredentialsCard(r, creds, false, alice)
	if card.HasSecret() || field(card, "Roles added") != "GROUP_READ_ONLY" || field(card, "Access") != "Atlas UI access: GROUP_READ_ONLY on acme/payments-prod" ||
		card.Text != "Sign in to the Atlas UI as alice@example.com." || !strings.Contains(card.Subtitle, "Atlas UI access: GROUP_READ_ONLY on acme/payments-prod until") {
		t.Fatalf("credentials card: %s", card)
	}
	revoke := card.Actions[len(card.Actions)-1]
	if !strings.Contains(revoke.Confirm, "jitbot removes the roles it gave alice@example.com (GROUP_READ_ONLY)") {
		t.Fatalf("revoke confirmation: %q", revoke.Confirm)
	}
	if s := SummaryCard(r, alice); s.Title != string(r.ID)+" · Atlas UI access: GROUP_READ_ONLY on acme/payments-prod" {
		t.Fatalf("summary: %s", s.Title)
	}

	before := len(notes.Notices())
	clock.Set(r.ExpiresAt)
	if _, err := svc.Sweep(ctx, clock.Now()); err != nil {
		t.Fatal(err)
	}
	var expired, finding *Card
	for _, n := range notes.Notices()[before:] {
		for _, to := range n.To {
			c, ok := NoticeCard(n, Viewer{Email: to})
			switch {
			case ok && to == alice.Email && strings.HasPrefix(c.Title, "Access expired"):
				expired = &c
			case ok && to == dave.Email && n.Event.Type == flows.EventGrantFinding:
				finding = &c
			}
		}
		if n.Event.Type == flows.EventExpired {
			if gone, _, ok := Refresh(KindCredentials, n, alice); !ok || gone.Title != "Access of request "+string(r.ID)+" ended" {
				t.Fatalf("the credentials message at the end: %s", gone)
			}
		}
	}
	if expired == nil || expired.Text != "jitbot removed the roles it gave alice@example.com in acme/payments-prod; what they held before stays. Need more time? Ask again." {
		t.Fatalf("expiry message: %v", expired)
	}
	if finding == nil || finding.Title != "What jitbot found: request "+string(r.ID) || finding.Text != "jitbot kept nothing: a finding for the admins" {
		t.Fatalf("finding: %v", finding)
	}
	orphan, ok := NoticeCard(flows.Notice{Event: flows.Event{Type: flows.EventOrphanDeleted, Principal: "eve@example.com", Message: "removed GROUP_READ_ONLY", At: t0}}, dave)
	if !ok || orphan.Title != "Removed Atlas UI roles no grant explains" || field(orphan, "Atlas account") != "eve@example.com" {
		t.Fatalf("orphan: %s", orphan)
	}
}
