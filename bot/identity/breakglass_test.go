package identity

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/identity/idptest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// breakGlassRig is the identity rig with a real domain service whose
// break-glass flow needs a fresh MFA sign-in; alice breaks glass.
type breakGlassRig struct {
	*rig
	svc  *flows.Service
	prov *flowstest.Provisioner
}

func newBreakGlassRig(t *testing.T) *breakGlassRig {
	t.Helper()
	r := newRig(t)
	policy, err := flows.Compile(flows.PolicySpec{
		Admins:       []string{admin},
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6"}},
		Flows: []flows.FlowSpec{{
			Name: "prod-breakglass", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales"}, Roles: []string{"readWrite"},
			BreakGlass: &flows.BreakGlassSpec{Reviewers: []string{"user:" + bob}},
			StepUp:     &flows.StepUpSpec{Request: true, ACRValues: []string{"urn:okta:loa:2fa:any"}, AMR: []string{"mfa", "otp", "hwk"}},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	prov := flowstest.NewProvisioner()
	svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: r.db, Provisioners: flows.Provisioners{flows.KindDatabaseUser: prov}, Clock: r.clock,
		Secrets: bot.NewSecrets(r.clock, 0, 0), Catalog: flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {
			{Name: "Cluster0", Databases: map[string][]string{"sales": {"orders"}}},
		}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.x.deps.Submitter = svc
	r.bind("UBOB", bob, "sub-bob")
	r.bind("UALICE", alice, "sub-alice")
	return &breakGlassRig{rig: r, svc: svc, prov: prov}
}

// ask is alice's breakglass command: refused for a fresh sign-in, and a
// link sent to her. Nothing exists yet.
func (s *breakGlassRig) ask(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	res, _ := flows.ParseResource("prod/Cluster0/sales/orders")
	_, err := s.svc.Submit(ctx, flows.SubmitInput{Requester: alice, Resource: res, Roles: []string{"readWrite"}, Duration: 30 * time.Minute,
		Reason: "INC-7 primary down", Origin: "slack", BreakGlass: true, IdempotencyKey: "cmd-1"})
	var need *flows.StepUpNeeded
	if !errors.As(err, &need) || need.BreakGlass == nil {
		t.Fatalf("a break-glass use on a step-up flow: %v", err)
	}
	if err := s.x.StepUp(ctx, bot.Actor{Platform: "slack", UserID: "UALICE", Email: alice}, need); err != nil {
		t.Fatal(err)
	}
	link := s.lastLink()
	if link == "" {
		t.Fatal("no step-up link")
	}
	s.nothing(t, "asked")
	return link
}

// nothing checks that no request was made and nothing provisioned.
func (s *breakGlassRig) nothing(t *testing.T, when string) {
	t.Helper()
	if rs, err := s.svc.Mine(context.Background(), alice); err != nil || len(rs) != 0 {
		t.Fatalf("%s: requests %v %v", when, rs, err)
	}
	if calls := s.prov.Calls(); len(calls) != 0 {
		t.Fatalf("%s: provisioned %+v", when, calls)
	}
}

func (s *breakGlassRig) confirm(t *testing.T, link string, login idptest.Login) (int, string) {
	t.Helper()
	b := s.browser()
	status, body := s.signIn(b, link, login)
	if status != http.StatusOK || !strings.Contains(body, "Break glass on prod/Cluster0/sales") {
		t.Fatalf("break-glass confirmation page: %d\n%s", status, body)
	}
	s.nothing(t, "signed in, not confirmed")
	return b.submit(s.srv.URL, body)
}

func TestBreakGlassStepUpRequiredAndSatisfied(t *testing.T) {
	s := newBreakGlassRig(t)
	link := s.ask(t)
	askAt := s.clock.Now()
	s.clock.Advance(90 * time.Second)
	status, body := s.confirm(t, link, idptest.Login{Subject: "sub-alice", AMR: []string{"pwd", "mfa"}, ACR: "urn:okta:loa:2fa:any", At: askAt.Add(time.Minute)})
	if status != http.StatusOK || !strings.Contains(body, "access taken with MFA") {
		t.Fatalf("confirm: %d\n%s", status, body)
	}
	rs, err := s.svc.Mine(context.Background(), alice)
	if err != nil || len(rs) != 1 {
		t.Fatalf("requests %v %v", rs, err)
	}
	r := rs[0]
	if r.State != flows.StateActive || r.BreakGlass == nil || !r.BreakGlass.MFA || r.Duration != 30*time.Minute || s.prov.Count("create") != 1 {
		t.Fatalf("the use: %s %+v creates %d", r.State, r.BreakGlass, s.prov.Count("create"))
	}
	if f, _ := bot.ApprovalCard(r, bot.Viewer{}), 0; !strings.Contains(cardText(f), "with a fresh MFA sign-in") {
		t.Fatalf("the card does not say MFA: %+v", f)
	}
	az := s.idp.Authorizations()
	last := az[len(az)-1]
	if !strings.Contains(strings.Join(last.Prompt, " "), "login") || last.MaxAge == nil || *last.MaxAge != 0 || strings.Join(last.ACRValues, " ") != "urn:okta:loa:2fa:any" {
		t.Fatalf("step-up authorization request: prompt %v max_age %v acr %v", last.Prompt, last.MaxAge, last.ACRValues)
	}
}

func cardText(c bot.Card) string {
	var b strings.Builder
	b.WriteString(c.Title + "\n" + c.Text + "\n")
	for _, f := range c.Fields {
		b.WriteString(f.Label + ": " + f.Value + "\n")
	}
	return b.String()
}

func TestBreakGlassStepUpRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		login func(ask time.Time) idptest.Login
		want  string
	}{
		{"too old", func(c time.Time) idptest.Login {
			return idptest.Login{Subject: "sub-alice", AMR: []string{"mfa"}, ACR: "urn:okta:loa:2fa:any", At: c.Add(6 * time.Minute)}
		}, "more than 5m after you broke glass"},
		{"before the command", func(c time.Time) idptest.Login {
			return idptest.Login{Subject: "sub-alice", AMR: []string{"mfa"}, ACR: "urn:okta:loa:2fa:any", At: c.Add(-time.Minute)}
		}, "before you broke glass"},
		{"wrong amr", func(c time.Time) idptest.Login {
			return idptest.Login{Subject: "sub-alice", AMR: []string{"pwd"}, ACR: "urn:okta:loa:2fa:any", At: c.Add(time.Minute)}
		}, "your sign-in used pwd; breaking glass through access flow prod-breakglass"},
		{"wrong acr", func(c time.Time) idptest.Login {
			return idptest.Login{Subject: "sub-alice", AMR: []string{"mfa"}, ACR: "urn:okta:loa:1fa:any", At: c.Add(time.Minute)}
		}, "assurance was urn:okta:loa:1fa:any"},
		{"another identity", func(c time.Time) idptest.Login {
			return idptest.Login{Subject: "sub-bob", AMR: []string{"mfa"}, ACR: "urn:okta:loa:2fa:any", At: c.Add(time.Minute)}
		}, "is not the identity linked to alice@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newBreakGlassRig(t)
			link := s.ask(t)
			status, body := s.confirm(t, link, tc.login(s.clock.Now()))
			if status != http.StatusForbidden || !strings.Contains(htmlUnescape(body), tc.want) {
				t.Fatalf("%d\n%s\nwant %q", status, body, tc.want)
			}
			s.nothing(t, "refused")
		})
	}
}
