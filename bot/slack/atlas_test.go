package slack

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas"
	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

const atlasProject = "5cf5a45a9ccf6400e60981b6"

// TestJourneyWithAtlas is the journey with the real Atlas adapter behind
// flows, against the Atlas simulator: the password in the DM is the one
// Atlas holds, credentials come only once Atlas says APPLIED, and expiry
// deletes the database user.
func TestJourneyWithAtlas(t *testing.T) {
	var sim *atlastest.Server
	h := newHarness(t, func(s *setup) {
		s.ports = func(t testing.TB, clock *flowstest.Clock) (flows.Provisioner, flows.Catalog) {
			var err error
			sim, err = atlastest.New(atlastest.Options{T: t, Clock: clock, ApplyAfterPolls: 2})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(sim.Close)
			sim.AddProject(atlasProject, "prod")
			sim.AddCluster(atlasProject, atlastest.Cluster{Name: "Cluster0", Tags: []atlastest.Tag{{Key: "owner", Value: "bob@example.com"}}})
			p, err := atlas.New(context.Background(), atlas.Config{
				Integrations: []atlas.Integration{{
					Name: "prod", ProjectID: atlasProject,
					API:       atlas.API{BaseURL: sim.URL(), ClientID: atlastest.DefaultClientID, ClientSecret: atlastest.DefaultClientSecret},
					Databases: map[string]map[string][]string{"Cluster0": {"sales": {"orders", "customers"}}},
				}},
				Clock: clock,
				// Status polls and retries cost no real time.
				Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() },
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			return p, p.Catalog()
		}
	})

	h.slash(alice, `request prod/Cluster0/sales/orders read 1h "INC-123"`)
	r := h.only("alice@example.com")
	if len(r.Approvers) != 1 || r.Approvers[0] != "bob@example.com" {
		t.Fatalf("approvers from the cluster's owner tag: %v", r.Approvers)
	}
	card := h.lastDM(bob)
	h.click(bob, card, "approve:"+string(r.ID))
	r = h.get(string(r.ID))
	if r.State != flows.StateActive {
		t.Fatalf("after approval: %s (%s)", r.State, r.LastError)
	}
	// The credentials DM carries the password Atlas accepts.
	creds := h.lastDM(alice)
	m := regexp.MustCompile("\\*Password\\*\\\\n`([A-Za-z0-9]+)`").FindStringSubmatch(string(creds.BlocksJSON))
	if m == nil {
		t.Fatalf("no password in the DM:\n%s", creds.BlocksJSON)
	}
	if !sim.CheckPassword(atlasProject, r.Principal, m[1]) {
		t.Fatal("the password in the DM is not the Atlas user's")
	}
	if !strings.Contains(creds.AllText(), "mongodb+srv://") {
		t.Errorf("no connection string:\n%s", creds.AllText())
	}
	if _, ok := sim.User(atlasProject, r.Principal); !ok {
		t.Fatal("no Atlas user")
	}
	if n := sim.CountCalls("getClusterStatus"); n < 2 {
		t.Errorf("credentials sent after %d status polls; Atlas applies after 2", n)
	}

	h.sweepAt(r.ExpiresAt.Add(-15 * time.Minute))
	if !strings.Contains(h.lastDM(alice).AllText(), "Access ends soon") {
		t.Error("no reminder")
	}
	h.sweepAt(r.ExpiresAt)
	if s := h.get(string(r.ID)).State; s != flows.StateExpired {
		t.Fatalf("after expiry: %s", s)
	}
	if _, ok := sim.User(atlasProject, r.Principal); ok {
		t.Error("the Atlas user outlived the grant")
	}
	card, _ = h.slack.Message(card.Channel, card.TS)
	if len(card.Buttons()) != 0 || !strings.Contains(card.AllText(), "access expired at") {
		t.Errorf("card:\n%s", card.AllText())
	}
	if v := sim.SpecViolations(); len(v) != 0 {
		t.Errorf("Atlas spec violations: %v", v)
	}
	h.noViolations()
}
