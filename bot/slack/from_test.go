package slack

import (
	"strings"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

// TestCombinedGrantJourney: a request typed with from carries the address
// through approval to the credentials, and both the approver's card and the
// requester's direct message say it; a flow without network rules refuses
// the address in flows' words.
func TestCombinedGrantJourney(t *testing.T) {
	h := newHarness(t)
	_, ru := h.slash(alice, `request prod/Cluster0/sales/orders read 1h from 203.0.113.7 "INC-123"`)
	if out := h.outcome(ru); !strings.Contains(out.AllText(), "access flow prod-read binds no grant to an address: ask without from 203.0.113.7/32") {
		t.Fatalf("a flow without network rules:\n%s", out.AllText())
	}

	h = newHarness(t, func(s *setup) { s.spec.Flows[0].AllowedCIDRs = []string{"203.0.113.0/24"} })
	_, ru = h.slash(alice, `request prod/Cluster0/sales/orders read 1h from 203.0.113.7 "INC-123"`)
	r := h.only("alice@example.com")
	if r.State != flows.StatePending || r.Resource.Address != "203.0.113.7/32" || r.Reason != "INC-123" {
		t.Fatalf("request %+v", r)
	}
	if out := h.outcome(ru); !strings.Contains(out.AllText(), "from 203.0.113.7/32") {
		t.Errorf("the outcome does not say the address:\n%s", out.AllText())
	}
	card := h.lastDM(bob)
	if text := card.AllText(); !strings.Contains(text, "alice@example.com asks for read on prod/Cluster0/sales/orders, from 203.0.113.7/32 for 1h") {
		t.Fatalf("the approval card does not say the address:\n%s", text)
	}
	h.click(bob, card, "approve:"+string(r.ID))
	if r = h.get(string(r.ID)); r.State != flows.StateActive {
		t.Fatalf("after approval: %s", r.State)
	}
	creds := h.lastDM(alice)
	if text := creds.AllText(); !strings.Contains(text, "read on prod/Cluster0/sales/orders, from 203.0.113.7/32") || !strings.Contains(string(creds.BlocksJSON), "pw-"+r.Principal) {
		t.Fatalf("the credentials DM does not say the address:\n%s", text)
	}
	h.noViolations()
}
