package flows_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// guestFlow is a flow through which the dbas sponsor partner.com guests.
func guestFlow(s *flows.PolicySpec, _ *flows.Config) {
	s.Flows = append(s.Flows, flows.FlowSpec{Name: "guests", Integration: "prod", Requesters: []string{"group:dba"}, Resources: []string{"Cluster0/sales/*"},
		Roles: []string{"read"}, MaxDuration: "4h", Approvers: []string{"owners"}, RequireReason: true,
		ThirdParty: &flows.ThirdPartySpec{Sponsors: []string{"group:eng"}, EmailDomains: []string{"partner.com"}, AMR: []string{"mfa"}}})
}

func TestCompileThirdParty(t *testing.T) {
	ok := flows.ThirdPartySpec{Sponsors: []string{"group:eng"}, EmailDomains: []string{"partner.com"}, AMR: []string{"mfa"}}
	for _, tc := range []struct {
		name string
		edit func(*flows.FlowSpec, *flows.ThirdPartySpec)
		want string // "" for none
	}{
		{"valid", nil, ""},
		{"acr only", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.AMR, s.ACRValues = nil, []string{"phr"} }, ""},
		{"no sponsors", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.Sponsors = nil }, "flows[0].third_party.sponsors: required"},
		{"everyone sponsors", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.Sponsors = []string{"*"} }, "flows[0].third_party.sponsors[0]: a sponsor vouches for the guest"},
		{"unknown group", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.Sponsors = []string{"group:nobody"} }, "flows[0].third_party.sponsors[0]"},
		{"no domains", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.EmailDomains = nil }, "flows[0].third_party.email_domains: required"},
		{"address for a domain", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.EmailDomains = []string{"vendor@partner.com"} }, "email_domains[0]: \"vendor@partner.com\": give the domain alone"},
		{"wildcard", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.EmailDomains = []string{"*.partner.com"} }, "without @ or wildcards"},
		{"upper case", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.EmailDomains = []string{"Partner.com"} }, "lower case"},
		{"one label", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.EmailDomains = []string{"localhost"} }, "is not a domain name"},
		{"bad label", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.EmailDomains = []string{"-x.com"} }, "is not a domain name"},
		{"no mfa", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.AMR = nil }, "flows[0].third_party: name amr"},
		{"two words", func(_ *flows.FlowSpec, s *flows.ThirdPartySpec) { s.AMR = []string{"mfa otp"} }, "is not a single word"},
		{"auto approve", func(f *flows.FlowSpec, _ *flows.ThirdPartySpec) { f.AutoApprove = true }, "always approved by a person: remove auto_approve"},
		{"passwordless", func(f *flows.FlowSpec, _ *flows.ThirdPartySpec) {
			f.Auth = "aws_iam"
			f.AWSIAMARN = "arn:aws:iam::123456789012:user/{local_part}"
		}, "a guest gets a password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := testPolicy()
			s := ok
			s.Sponsors, s.EmailDomains, s.AMR = slices.Clone(ok.Sponsors), slices.Clone(ok.EmailDomains), slices.Clone(ok.AMR)
			spec.Flows[0].ThirdParty = &s
			if tc.edit != nil {
				tc.edit(&spec.Flows[0], &s)
			}
			p, err := flows.Compile(spec)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if f, _ := p.Flow("prod-read"); f.ThirdParty == nil || len(f.ThirdParty.Sponsors) != 1 || f.ThirdParty.EmailDomains[0] != "partner.com" {
					t.Fatalf("third_party not compiled: %+v", f.ThirdParty)
				}
				return
			}
			var v flows.ValidationError
			if !errors.As(err, &v) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
}

func (f *fixture) sponsor(sponsor, guest string) (*flows.Request, error) {
	f.t.Helper()
	res, err := flows.ParseResource("prod/Cluster0/sales/orders")
	if err != nil {
		f.t.Fatal(err)
	}
	return f.svc.Submit(f.ctx, flows.SubmitInput{Requester: sponsor, Resource: res, Roles: []string{"read"}, Duration: time.Hour,
		Reason: "INC-9 vendor debugging", Origin: "slack", Guest: guest})
}

func TestSponsoringAGuest(t *testing.T) {
	for _, tc := range []struct {
		name, sponsor, guest string
		want                 string // the refusal; "" when admitted
	}{
		{"a sponsor for a partner", "alice@example.com", "Vendor@Partner.com", ""},
		{"not a sponsor", "carol@example.com", "vendor@partner.com", "you may not sponsor a guest's read"},
		{"another domain", "alice@example.com", "someone@elsewhere.com", "admits guests at partner.com, not at elsewhere.com"},
		{"a subdomain is another domain", "alice@example.com", "x@eu.partner.com", "not at eu.partner.com"},
		{"not an email", "alice@example.com", "vendor", "the guest must be named by an email address"},
		{"oneself", "alice@partner.com", "alice@partner.com", "you cannot sponsor yourself"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, guestFlow, func(s *flows.PolicySpec, _ *flows.Config) {
				s.Groups["eng"] = append(s.Groups["eng"], "alice@partner.com")
			})
			r, err := f.sponsor(tc.sponsor, tc.guest)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Flow != "guests" || r.Guest == nil || r.Guest.Email != "vendor@partner.com" || r.Requester != "alice@example.com" ||
				!slices.Equal(r.Guest.AMR, []string{"mfa"}) || r.State != flows.StatePending || !slices.Contains(r.Approvers, "owner@example.com") {
				t.Fatalf("request %+v guest %+v", r, r.Guest)
			}
		})
	}
}

func TestAGuestsRequestIsNotTheSponsorsOwn(t *testing.T) {
	f := newFixture(t, guestFlow)
	if _, err := f.sponsor("alice@example.com", "vendor@partner.com"); err != nil {
		t.Fatal(err)
	}
	// Another guest on the same target, and the sponsor's own access, are
	// other requests; the same guest again is a duplicate.
	if _, err := f.sponsor("alice@example.com", "other@partner.com"); err != nil {
		t.Fatalf("another guest: %v", err)
	}
	if _, err := f.submit("alice@example.com", "prod/Cluster0/sales/orders", "read", time.Hour, "INC-1 own"); err != nil {
		t.Fatalf("the sponsor's own: %v", err)
	}
	if _, err := f.sponsor("alice@example.com", "vendor@partner.com"); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("the same guest again: %v", err)
	}
}

// TestAGuestsGrantHandsNothingToChat: approved, the grant is made, but its
// password is never kept for a chat message, rotation refuses, and the
// password is set (a reissue) and returned only for the guest, once per
// call; every step is told to the sponsor and the approvers.
func TestAGuestsGrantHandsNothingToChat(t *testing.T) {
	f := newFixture(t, guestFlow)
	r, err := f.sponsor("alice@example.com", "vendor@partner.com")
	if err != nil {
		t.Fatal(err)
	}
	if r, err = f.decide(r.ID, "owner@example.com", true, ""); err != nil || r.State != flows.StateActive {
		t.Fatalf("approve: %v %v", r, err)
	}
	if k := f.secrets.Kept(r.ID); len(k) != 0 {
		t.Fatalf("a guest's password was kept for chat: %d", len(k))
	}
	if _, err := f.svc.Rotate(f.ctx, r.ID, "alice@example.com"); flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(err.Error(), "guest-link") {
		t.Fatalf("rotate: %v", err)
	}
	if err := f.svc.ReissueLost(f.ctx, r.ID, r.CredentialsIssuedAt); err != nil {
		t.Fatalf("reissue lost: %v", err)
	}
	if n, err := f.svc.RotateDue(f.ctx, t0.Add(100*time.Hour)); err != nil || n != 0 {
		t.Fatalf("rotate due: %d %v", n, err)
	}
	// Only the sponsor has links made.
	if _, err := f.svc.SponsoredRequest(f.ctx, r.ID, "owner@example.com"); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("an approver's link: %v", err)
	}
	if _, err := f.svc.SponsoredRequest(f.ctx, r.ID, "alice@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.NoteGuest(f.ctx, r.ID, flows.EventGuestLinkIssued, "alice@example.com", "valid 10 minutes"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.RevealGuest(f.ctx, r.ID, "other@partner.com"); flows.ErrorCode(err) != flows.EFORBIDDEN {
		t.Fatalf("reveal for another: %v", err)
	}
	before := len(f.prov.Calls())
	f.clock.Advance(time.Minute)
	creds, got, err := f.svc.RevealGuest(f.ctx, r.ID, "vendor@partner.com")
	if err != nil {
		t.Fatal(err)
	}
	if pw, ok := creds.Field(flows.FieldPassword); !ok || pw.Secret.IsZero() {
		t.Fatalf("no password: %+v", creds)
	}
	if calls := f.prov.Calls()[before:]; len(calls) != 1 || calls[0].Op != "rotate" {
		t.Fatalf("calls %+v", calls)
	}
	if !got.CredentialsIssuedAt.Equal(f.clock.Now()) || len(f.secrets.Kept(r.ID)) != 0 {
		t.Fatalf("issued at %v, kept %d", got.CredentialsIssuedAt, len(f.secrets.Kept(r.ID)))
	}
	for _, n := range f.notes.Notices() {
		if n.Event.Type == flows.EventGuestRevealed || n.Event.Type == flows.EventGuestLinkIssued {
			if !slices.Equal(n.To, []string{"alice@example.com", "dba1@example.com", "dba2@example.com", "owner@example.com"}) &&
				!slices.Equal(n.To, []string{"alice@example.com", "owner@example.com"}) {
				t.Fatalf("%s told %v", n.Event.Type, n.To)
			}
			if !slices.Contains(n.To, "alice@example.com") || !slices.Contains(n.To, "owner@example.com") {
				t.Fatalf("%s told %v", n.Event.Type, n.To)
			}
		}
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventApproved, flows.EventProvisioning, flows.EventActivated,
		flows.EventGuestLinkIssued, flows.EventGuestRevealed)
	// Once revoked, nothing more is revealed.
	if _, err := f.svc.Revoke(f.ctx, r.ID, "alice@example.com", "done"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.RevealGuest(f.ctx, r.ID, "vendor@partner.com"); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("reveal after revoke: %v", err)
	}
	if _, err := f.svc.NoteGuest(f.ctx, r.ID, flows.EventGuestSignedIn, "vendor@partner.com", ""); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("note after revoke: %v", err)
	}
	// Asked again, it is for the same guest, judged again.
	again, err := f.svc.SubmitAgain(f.ctx, r.ID, "alice@example.com", "slack", "again-1")
	if err != nil || again.Guest == nil || again.Guest.Email != "vendor@partner.com" || again.Flow != "guests" {
		t.Fatalf("again: %+v %v", again, err)
	}
}

func TestAGuestsSignIn(t *testing.T) {
	click := t0.Add(30 * time.Second).Add(400 * time.Millisecond)
	g := &flows.Guest{Email: "vendor@partner.com", AMR: []string{"mfa", "hwk"}}
	acr := &flows.Guest{Email: "vendor@partner.com", ACRValues: []string{"phr"}}
	fresh := flows.MFAProof{ClickAt: click, AuthTime: click.Add(time.Minute).Truncate(time.Second), AMR: []string{"pwd", "mfa"}}
	for _, tc := range []struct {
		name     string
		g        *flows.Guest
		email    string
		verified bool
		p        flows.MFAProof
		want     string
	}{
		{"fresh with mfa", g, "vendor@partner.com", true, fresh, ""},
		{"same second as the click", g, "vendor@partner.com", true, flows.MFAProof{ClickAt: click, AuthTime: click.Truncate(time.Second), AMR: []string{"hwk"}}, ""},
		{"another email", g, "other@partner.com", true, fresh, "you signed in as other@partner.com, but this access is for vendor@partner.com"},
		{"email not verified", g, "vendor@partner.com", false, fresh, "did not vouch for your email"},
		{"an earlier sign-in", g, "vendor@partner.com", true, flows.MFAProof{ClickAt: click, AuthTime: click.Add(-time.Hour), AMR: []string{"mfa"}}, "reused an earlier sign-in"},
		{"too late", g, "vendor@partner.com", true, flows.MFAProof{ClickAt: click, AuthTime: click.Add(6 * time.Minute), AMR: []string{"mfa"}}, "more than 5m"},
		{"no auth_time", g, "vendor@partner.com", true, flows.MFAProof{ClickAt: click, AMR: []string{"mfa"}}, "auth_time"},
		{"password only", g, "vendor@partner.com", true, flows.MFAProof{ClickAt: click, AuthTime: fresh.AuthTime, AMR: []string{"pwd"}}, "your sign-in used pwd; this access needs one of mfa, hwk"},
		{"acr", acr, "vendor@partner.com", true, flows.MFAProof{ClickAt: click, AuthTime: fresh.AuthTime, ACR: "phr"}, ""},
		{"wrong acr", acr, "vendor@partner.com", true, flows.MFAProof{ClickAt: click, AuthTime: fresh.AuthTime, ACR: "pwd"}, "assurance was pwd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.g.CheckSignIn(tc.email, tc.verified, tc.p)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
}
