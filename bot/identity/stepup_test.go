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

// stepUpRig is the identity rig with a real domain service whose flow
// needs approvals made with a fresh MFA sign-in; bob approves.
type stepUpRig struct {
	*rig
	svc *flows.Service
}

func newStepUpRig(t *testing.T, stepUp flows.StepUpSpec) *stepUpRig {
	t.Helper()
	r := newRig(t)
	policy, err := flows.Compile(flows.PolicySpec{
		Admins:       []string{admin},
		Integrations: []flows.IntegrationSpec{{Name: "prod", ProjectID: "5cf5a45a9ccf6400e60981b6"}},
		Flows: []flows.FlowSpec{{
			Name: "prod-read", Integration: "prod", Requesters: []string{"*"}, Resources: []string{"Cluster0/sales"},
			Roles: []string{"read"}, DefaultDuration: "1h", MaxDuration: "8h", Approvers: []string{"user:" + bob},
			Approvals: 1, PendingTTL: "1h", StepUp: &stepUp,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := flows.NewService(flows.Config{Policy: policy}, flows.Deps{
		Store: r.db, Provisioners: flows.Provisioners{flows.KindDatabaseUser: flowstest.NewProvisioner()}, Clock: r.clock,
		Secrets: bot.NewSecrets(r.clock, 0, 0), Catalog: flowstest.NewCatalog(map[string][]flows.Cluster{"prod": {
			{Name: "Cluster0", Databases: map[string][]string{"sales": {"orders"}}},
		}}),
	})
	if err != nil {
		t.Fatal(err)
	}
	r.x.deps.Decider = svc
	r.bind("UBOB", bob, "sub-bob")
	r.bind("UALICE", alice, "sub-alice")
	return &stepUpRig{rig: r, svc: svc}
}

// click is bob clicking Approve: the domain refuses a plain click, and
// bob is sent a sign-in link. It returns the request and the link.
func (s *stepUpRig) click(t *testing.T) (*flows.Request, string) {
	t.Helper()
	ctx := context.Background()
	res, _ := flows.ParseResource("prod/Cluster0/sales/orders")
	req, err := s.svc.Submit(ctx, flows.SubmitInput{Requester: alice, Resource: res, Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-7", Origin: "slack"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.svc.Decide(ctx, flows.DecideInput{RequestID: req.ID, Actor: bob, Approve: true})
	var need *flows.StepUpNeeded
	if !errors.As(err, &need) || need.RequestID != req.ID {
		t.Fatalf("a plain click on a step-up flow: %v", err)
	}
	if err := s.x.StepUp(ctx, bot.Actor{Platform: "slack", UserID: "UBOB", Email: bob}, need); err != nil {
		t.Fatal(err)
	}
	link := s.lastLink()
	if link == "" {
		t.Fatal("no step-up link")
	}
	return req, link
}

// approve signs in again as login on link and confirms; it returns the
// final page.
func (s *stepUpRig) approve(t *testing.T, link string, login idptest.Login) (int, string) {
	t.Helper()
	b := s.browser()
	status, body := s.signIn(b, link, login)
	if status != http.StatusOK || !strings.Contains(body, "Approve request") {
		t.Fatalf("step-up confirmation page: %d\n%s", status, body)
	}
	return b.submit(s.srv.URL, body)
}

func (s *stepUpRig) state(t *testing.T, id flows.RequestID) *flows.Request {
	t.Helper()
	r, err := s.db.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var mfaFlow = flows.StepUpSpec{Approve: true, ACRValues: []string{"urn:okta:loa:2fa:any"}, AMR: []string{"mfa", "otp", "hwk"}}

func TestStepUpRequiredAndSatisfied(t *testing.T) {
	s := newStepUpRig(t, mfaFlow)
	req, link := s.click(t)
	clickAt := s.clock.Now()
	s.clock.Advance(90 * time.Second)
	status, body := s.approve(t, link, idptest.Login{Subject: "sub-bob", AMR: []string{"pwd", "mfa"}, ACR: "urn:okta:loa:2fa:any", At: clickAt.Add(time.Minute)})
	if status != http.StatusOK || !strings.Contains(body, "Approved with MFA") {
		t.Fatalf("approve: %d\n%s", status, body)
	}
	r := s.state(t, req.ID)
	if r.State == flows.StatePending || len(r.Approvals) != 1 || !r.Approvals[0].MFA || r.Approvals[0].By != bob {
		t.Fatalf("request after a step-up approval: %s %+v", r.State, r.Approvals)
	}
	if c := bot.ApprovalCard(r, bot.Viewer{}); !strings.Contains(c.Status, "Approved with MFA by "+bob) {
		t.Fatalf("card status %q", c.Status)
	}
	// The provider was asked for a fresh authentication at the flow's assurance.
	az := s.idp.Authorizations()
	last := az[len(az)-1]
	if !strings.Contains(strings.Join(last.Prompt, " "), "login") || last.MaxAge == nil || *last.MaxAge != 0 || strings.Join(last.ACRValues, " ") != "urn:okta:loa:2fa:any" {
		t.Fatalf("step-up authorization request: prompt %v max_age %v acr %v", last.Prompt, last.MaxAge, last.ACRValues)
	}
}

func TestStepUpRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flow  flows.StepUpSpec
		login func(click time.Time) idptest.Login
		want  string
	}{
		{"too old", mfaFlow, func(c time.Time) idptest.Login {
			return idptest.Login{Subject: "sub-bob", AMR: []string{"mfa"}, ACR: "urn:okta:loa:2fa:any", At: c.Add(6 * time.Minute)}
		}, "more than 5m after you clicked"},
		{"before the click", mfaFlow, func(c time.Time) idptest.Login {
			return idptest.Login{Subject: "sub-bob", AMR: []string{"mfa"}, ACR: "urn:okta:loa:2fa:any", At: c.Add(-time.Minute)}
		}, "before you clicked Approve"},
		{"wrong amr", mfaFlow, func(c time.Time) idptest.Login {
			return idptest.Login{Subject: "sub-bob", AMR: []string{"pwd"}, ACR: "urn:okta:loa:2fa:any", At: c.Add(time.Minute)}
		}, "your sign-in used pwd; approving request"},
		{"no amr", flows.StepUpSpec{Approve: true, AMR: []string{"mfa"}}, func(c time.Time) idptest.Login {
			return idptest.Login{Subject: "sub-bob", At: c.Add(time.Minute)}
		}, "no amr"},
		{"wrong acr", mfaFlow, func(c time.Time) idptest.Login {
			return idptest.Login{Subject: "sub-bob", AMR: []string{"mfa"}, ACR: "urn:okta:loa:1fa:any", At: c.Add(time.Minute)}
		}, "assurance was urn:okta:loa:1fa:any"},
		{"another identity", mfaFlow, func(c time.Time) idptest.Login {
			return idptest.Login{Subject: "sub-alice", AMR: []string{"mfa"}, ACR: "urn:okta:loa:2fa:any", At: c.Add(time.Minute)}
		}, "is not the identity linked to bob@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStepUpRig(t, tc.flow)
			req, link := s.click(t)
			status, body := s.approve(t, link, tc.login(s.clock.Now()))
			if status != http.StatusForbidden || !strings.Contains(body, tc.want) {
				t.Fatalf("%d\n%s\nwant %q", status, body, tc.want)
			}
			if r := s.state(t, req.ID); r.State != flows.StatePending || len(r.Approvals) != 0 {
				t.Fatalf("the approval counted: %s %+v", r.State, r.Approvals)
			}
		})
	}
}

func TestStepUpAuthTimeAtTheClickSecondCounts(t *testing.T) {
	// auth_time has whole seconds: a sign-in in the click's second is not
	// "before" it.
	s := newStepUpRig(t, flows.StepUpSpec{Approve: true, AMR: []string{"mfa"}})
	s.clock.Advance(700 * time.Millisecond)
	req, link := s.click(t)
	at := s.clock.Now().Truncate(time.Second)
	if status, body := s.approve(t, link, idptest.Login{Subject: "sub-bob", AMR: []string{"mfa"}, At: at}); status != http.StatusOK {
		t.Fatalf("%d\n%s", status, body)
	}
	if r := s.state(t, req.ID); !r.Approvals[0].MFA {
		t.Fatalf("approvals %+v", r.Approvals)
	}
}
