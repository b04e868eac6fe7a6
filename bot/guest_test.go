package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestParseRequestForAGuest(t *testing.T) {
	for _, tc := range []struct {
		text          string
		guest, reason string
		address       string
		start         bool
		want          string // the error; "" for none
	}{
		{text: `request acme/Cluster0/sales read 2h for vendor@partner.com "reason"`, guest: "vendor@partner.com", reason: "reason"},
		{text: `request acme/Cluster0/sales read 2h for Vendor@Partner.COM INC-1 vendor debugging`, guest: "vendor@partner.com", reason: "INC-1 vendor debugging"},
		{text: `request acme/Cluster0/sales read 2h from 203.0.113.7 for vendor@partner.com "x"`, guest: "vendor@partner.com", address: "203.0.113.7/32", reason: "x"},
		{text: `request acme/Cluster0/sales read 2h for vendor@partner.com at 2026-12-24T02:00 Europe/Berlin "x"`, guest: "vendor@partner.com", start: true, reason: "x"},
		{text: `request acme/Cluster0/sales read 2h "for the report"`, reason: "for the report"},
		{text: `request acme/Cluster0/sales read 2h for`, want: "for needs the email of the person outside the company"},
		{text: `request acme/Cluster0/sales read 2h for vendor "x"`, want: "after for comes the email of the guest"},
		{text: `request acme/Cluster0/sales read 2h for <vendor@partner.com> "x"`, want: "is not an email address"},
		{text: `request acme/Cluster0/sales read 2h for ` + strings.Repeat("v", 300) + `@p.com`, want: "guest email"},
	} {
		t.Run(tc.text, func(t *testing.T) {
			cmd, err := Parse(tc.text)
			if tc.want != "" {
				if err == nil || flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("%v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cmd.Verb != VerbRequest || cmd.Guest != tc.guest || cmd.Reason != tc.reason || cmd.Resource.Address != tc.address ||
				cmd.StartAt.IsZero() == tc.start || cmd.Duration != 2*time.Hour {
				t.Fatalf("%+v", cmd)
			}
		})
	}
}

func TestParseGuestLink(t *testing.T) {
	cmd, err := Parse("guest-link abc123")
	if err != nil || cmd.Verb != VerbGuestLink || cmd.RequestID != "abc123" {
		t.Fatalf("%+v %v", cmd, err)
	}
	for text, want := range map[string]string{
		"guest-link":            "guest-link needs a request id",
		"guest-link abc123 now": "takes only a request id",
	} {
		if _, err := Parse(text); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%q: %v, want %q", text, err, want)
		}
	}
	if a, err := ParseAction("guestlink:abc123"); err != nil || a.Kind != ActionGuestLink || a.ID() != "guestlink:abc123" {
		t.Fatalf("%+v %v", a, err)
	}
}

// TestCardsNameTheGuestAndTheSponsor: approvers see whom they let in and
// who vouches; the sponsor's activation message offers the link and no
// credentials; the guest's steps are told.
func TestCardsNameTheGuestAndTheSponsor(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	r := &flows.Request{ID: "g000000001", Requester: "alice@example.com", Kind: flows.KindDatabaseUser, Roles: []string{"read"},
		Resource: flows.Resource{Integration: "acme", Cluster: "Cluster0", Database: "sales"}, Duration: time.Hour, Reason: "INC-9",
		Approvers: []string{"owner@example.com"}, Quorum: 1, State: flows.StatePending, CreatedAt: t0,
		Guest: &flows.Guest{Email: "vendor@partner.com", AMR: []string{"mfa"}}}
	approver := Viewer{Email: "owner@example.com"}
	c := ApprovalCard(r, approver)
	if !strings.Contains(c.Subtitle, "for vendor@partner.com, sponsored by alice@example.com") {
		t.Fatalf("subtitle %q", c.Subtitle)
	}
	var guest, sponsor bool
	for _, f := range c.Fields {
		guest = guest || f.Label == "Guest" && strings.HasPrefix(f.Value, "vendor@partner.com")
		sponsor = sponsor || f.Label == "Sponsor" && f.Value == "alice@example.com"
	}
	if !guest || !sponsor {
		t.Fatalf("fields %+v", c.Fields)
	}
	r.State, r.ExpiresAt = flows.StateActive, t0.Add(time.Hour)
	act, ok := NoticeCard(flows.Notice{Event: flows.Event{Type: flows.EventActivated, RequestID: r.ID, At: t0}, Request: r}, Viewer{Email: "alice@example.com"})
	if !ok || !strings.Contains(act.Title, "Access for vendor@partner.com is ready") || len(act.Actions) != 2 || act.Actions[0].ActionID != "guestlink:g000000001" {
		t.Fatalf("activation %+v", act)
	}
	for _, f := range act.Fields {
		if strings.Contains(strings.ToLower(f.Label), "password") {
			t.Fatalf("a password field on the sponsor's card: %+v", act.Fields)
		}
	}
	for typ, want := range map[flows.EventType]string{
		flows.EventGuestLinkIssued:  "Guest link made for vendor@partner.com",
		flows.EventGuestSignedIn:    "vendor@partner.com signed in",
		flows.EventGuestRefused:     "was refused",
		flows.EventGuestRevealed:    "vendor@partner.com has their password",
		flows.EventGuestLinkExpired: "expired unused",
	} {
		c, ok := NoticeCard(flows.Notice{Event: flows.Event{Type: typ, RequestID: r.ID, At: t0}, Request: r}, approver)
		if !ok || !strings.Contains(c.Title, want) || c.Status != "Sponsored by alice@example.com" || len(c.Actions) != 0 {
			t.Fatalf("%s: %+v", typ, c)
		}
	}
}
