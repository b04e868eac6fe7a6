package bot

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// passwordLike is what a password jitbot makes looks like (32 letters and
// digits), or anything close: a long run of them in a message is a secret
// that should not be there.
var passwordLike = regexp.MustCompile(`[A-Za-z0-9]{24,}`)

// TestGrantsWithoutASecretInChat runs a network access grant and the
// grants of passwordless database users (OIDC, AWS IAM) through a real
// service and renders every message with the views: the approver's card
// says what is asked (the kind's words), the requester's DM carries the
// exact instructions and no secret at all, and nothing in any message
// looks like a password.
func TestGrantsWithoutASecretInChat(t *testing.T) {
	ctx := t.Context()
	clock := flowstest.NewClock(t0)
	prov := flowstest.NewProvisioner()
	notes := &flowstest.Notifier{}
	secrets := &flowstest.Secrets{}
	policy, err := flows.Compile(flows.PolicySpec{
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6", Owners: []string{"bob@example.com"},
			OIDCIdentityProviderID: "0oa1b2c3d4", AccessDetails: `mongosh "$CONNECTION_STRING" --username $USERNAME`}},
		Flows: []flows.FlowSpec{
			{Name: "office-network", Kind: string(flows.KindAccessListEntry), Integration: "prod", Requesters: []string{"*"},
				AllowedCIDRs: []string{"198.51.100.0/24"}, AllowPublic: true, Approvers: []string{"integration-owners"}},
			{Name: "sales-oidc", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales"}, Roles: []string{"read"},
				Approvers: []string{"owners"}, Auth: "oidc"},
			{Name: "hr-iam", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/hr"}, Roles: []string{"read"},
				Approvers: []string{"owners"}, Auth: "aws_iam", AWSIAMARN: "arn:aws:iam::123456789012:role/dba-{local_part}"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: flowstest.NewStore(), Provisioners: flows.Provisioners{flows.KindDatabaseUser: prov, flows.KindAccessListEntry: prov},
		Catalog: flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {{Name: "Cluster0", Owners: []string{"bob@example.com"}}}}),
		Secrets: secrets, Notifier: notes, Clock: clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	bob := Viewer{Email: "bob@example.com"}

	cases := []struct {
		name     string
		cmd      string
		subtitle string
		fields   map[string]string
		text     []string
	}{
		{"network access", `network prod 198.51.100.7 2h "INC-7 VPN down"`,
			"alice@example.com asks for network access from 198.51.100.7/32 to prod for 2h",
			map[string]string{"Address": "198.51.100.7/32", "Access": "network access from 198.51.100.7/32 to prod"},
			[]string{"Atlas now accepts connections from 198.51.100.7/32 to the clusters of prod"}},
		{"an OIDC user", `request prod/Cluster0/sales read 2h INC-7`,
			"alice@example.com asks for read on prod/Cluster0/sales, signing in with OIDC for 2h",
			map[string]string{"Username": "0oa1b2c3d4/alice@example.com", "Sign in with": "MONGODB-OIDC",
				"Connect": `mongosh "mongodb+srv://cluster0.example.mongodb.net" --authenticationMechanism MONGODB-OIDC`},
			[]string{"There is no password: you sign in as yourself (alice@example.com)", "mongosh opens your browser"}},
		{"an AWS IAM role", `request prod/Cluster0/hr read 2h INC-7`,
			"alice@example.com asks for read on prod/Cluster0/hr, signing in with AWS IAM for 2h",
			map[string]string{"Username": "arn:aws:iam::123456789012:role/dba-alice", "Sign in with": "MONGODB-AWS",
				"Connect": `mongosh "mongodb+srv://cluster0.example.mongodb.net" --authenticationMechanism MONGODB-AWS --authenticationDatabase '$external'`},
			[]string{"aws sts assume-role --role-arn arn:aws:iam::123456789012:role/dba-alice", "AWS_SESSION_TOKEN"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd, err := Parse(c.cmd)
			if err != nil {
				t.Fatal(err)
			}
			before := len(notes.Notices())
			r, err := svc.Submit(ctx, flows.SubmitInput{Requester: "alice@example.com", Kind: cmd.Kind, Resource: cmd.Resource, Roles: cmd.Roles,
				Duration: cmd.Duration, Reason: cmd.Reason, Origin: "slack"})
			if err != nil {
				t.Fatal(err)
			}
			if approval := ApprovalCard(r, bob); approval.Subtitle != c.subtitle {
				t.Fatalf("approval card: %q", approval.Subtitle)
			}
			clock.Advance(time.Minute)
			if r, err = svc.Decide(ctx, flows.DecideInput{RequestID: r.ID, Actor: "bob@example.com", Approve: true}); err != nil || r.State != flows.StateActive {
				t.Fatalf("approve: %v %v", r, err)
			}
			clock.Set(r.ExpiresAt)
			if _, err := svc.Sweep(ctx, clock.Now()); err != nil {
				t.Fatal(err)
			}

			var creds *Card
			for _, n := range notes.Notices()[before:] {
				if cr, ok := secrets.Lookup(n.Event.RequestID, n.Event.At); ok && n.Event.Type == flows.EventActivated {
					n.Credentials = &cr
				}
				for _, email := range append(n.To, "bob@example.com") {
					card, ok := NoticeCard(n, Viewer{Email: email})
					if !ok {
						continue
					}
					if card.HasSecret() {
						t.Errorf("%s: a card with a secret: %s", n.Event.Type, card.Title)
					}
					all := card.String() + fmt.Sprintf("%+v", card)
					for _, f := range card.Fields {
						if f.Sensitive {
							t.Errorf("%s: a sensitive field %q", n.Event.Type, f.Label)
						}
						all += " " + f.Value
					}
					if m := passwordLike.FindString(all); m != "" {
						t.Errorf("%s: something like a password in the message: %q", n.Event.Type, m)
					}
					if strings.Contains(strings.ToLower(card.Text), "password is shown") || strings.Contains(card.Text, "rotate") {
						t.Errorf("%s: the card speaks of a secret: %q", n.Event.Type, card.Text)
					}
					if n.Event.Type == flows.EventActivated && email == "alice@example.com" {
						creds = &card
					}
				}
				if r, _, ok := Refresh(KindCredentials, n, Viewer{Email: "alice@example.com"}); ok && strings.Contains(r.Text, "held the") {
					t.Errorf("%s: the credentials message is said to have held a secret: %q", n.Event.Type, r.Text)
				}
			}
			if creds == nil {
				t.Fatal("no credentials message")
			}
			for label, want := range c.fields {
				if got := field(*creds, label); got != want {
					t.Errorf("field %s: %q, want %q", label, got, want)
				}
			}
			for _, want := range c.text {
				if !strings.Contains(creds.Text, want) {
					t.Errorf("the instructions lack %q:\n%s", want, creds.Text)
				}
			}
			if strings.Contains(creds.Text, "--username") {
				t.Errorf("a passwordless message carries the password users' access details:\n%s", creds.Text)
			}
		})
	}
}
