package scenario

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
)

// TestCrashChecksOtherKinds: the crash scenario's checks of UI roles and
// access-list entries find a leftover, a grant cut short and a grant kept
// past its deadline, and accept what live grants explain.
func TestCrashChecksOtherKinds(t *testing.T) {
	r, err := rig.New(rig.Options{Slack: true, Flows: crashFlow + crashKindFlows, AtlasRoles: crashAtlasRoles, OrgOwner: true})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	alice, bob := rig.Requester(0).Email, rig.Requester(1).Email
	if err := joinTheOrganization(r, []string{alice, bob}); err != nil {
		t.Fatal(err)
	}
	c := &crashRun{r: r, res: &CrashResult{}, people: map[string]slacktest.User{alice: rig.Requester(0), bob: rig.Requester(1)}}
	now := time.Now()
	ui := func(who string, state flows.State, expires time.Time) *flows.Request {
		return &flows.Request{ID: flows.RequestID("ui-" + who), Kind: flows.KindAtlasUI, Requester: who, State: state, ExpiresAt: expires}
	}
	network := func(id, addr string, state flows.State, expires time.Time) *flows.Request {
		return &flows.Request{ID: flows.RequestID(id), Kind: flows.KindAccessListEntry, Requester: bob, State: state, ExpiresAt: expires, Principal: addr,
			Resource: flows.Resource{Integration: "prod", Address: addr}}
	}

	// Alice holds the role with no live grant (expired), bob's live grant
	// has none; an entry jitbot made is held by no live grant, one made by
	// hand is not jitbot's business, one held by an active grant is fine.
	if err := r.Atlas.AsUser(atlastest.DefaultClientID, rig.Project, alice, []string{crashUIRole}, nil); err != nil {
		t.Fatal(err)
	}
	for _, e := range []atlastest.AccessListEntry{
		{CIDR: "198.51.100.7/32", Comment: "jitbot n1 for " + bob},
		{CIDR: "198.51.100.9/32", Comment: "office"},
		{CIDR: "198.51.100.8/32", Comment: "jitbot n2 for " + bob},
	} {
		if err := r.Atlas.AddAccessListEntry(rig.Project, e); err != nil {
			t.Fatal(err)
		}
	}
	rs := []*flows.Request{
		ui(alice, flows.StateExpired, now.Add(-time.Minute)),
		ui(bob, flows.StateActive, now.Add(time.Minute)),
		network("n1", "198.51.100.7", flows.StateRevoked, now.Add(-time.Minute)),
		network("n2", "198.51.100.8", flows.StateActive, now.Add(time.Minute)),
		network("n3", "198.51.100.10", flows.StateActive, now.Add(time.Minute)),
	}
	// A service account jitbot made for a request that ended, still
	// working; one made by hand; one held by an active grant; an active
	// grant whose account is gone.
	for _, a := range []atlastest.ServiceAccount{
		{Name: "jit-bob-s1", Description: "jitbot request s1 for " + bob, OrgID: atlastest.DefaultOrgID, Projects: map[string][]string{rig.Project: {crashUIRole}}},
		{Name: "ci-deploy", Description: "the deploy pipeline", OrgID: atlastest.DefaultOrgID},
		{Name: "jit-bob-s2", Description: "jitbot request s2 for " + bob, OrgID: atlastest.DefaultOrgID, Projects: map[string][]string{rig.Project: {crashUIRole}}},
	} {
		r.Atlas.AddServiceAccount(a, 8)
	}
	sa := func(id string, state flows.State, expires time.Time) *flows.Request {
		return &flows.Request{ID: flows.RequestID(id), Kind: flows.KindServiceAccount, Requester: bob, State: state, ExpiresAt: expires, Principal: "jit-bob-" + id}
	}
	rs = append(rs, sa("s1", flows.StateExpired, now.Add(-time.Minute)), sa("s2", flows.StateActive, now.Add(time.Minute)), sa("s3", flows.StateActive, now.Add(time.Minute)))
	// API keys the same way: one left by an ended grant, one held, one made
	// by hand, and an active grant without its key.
	for _, desc := range []string{"jit-bob-k1 jitbot request k1 in prod", "jit-bob-k2 jitbot request k2 in prod", "terraform"} {
		r.Atlas.AddAPIKey(atlastest.DefaultOrgID, desc, map[string][]string{rig.Project: {crashUIRole}})
	}
	key := func(id string, state flows.State) *flows.Request {
		return &flows.Request{ID: flows.RequestID(id), Kind: flows.KindAPIKey, Requester: bob, State: state, ExpiresAt: now.Add(time.Minute), Principal: "jit-bob-" + id}
	}
	rs = append(rs, key("k1", flows.StateRevoked), key("k2", flows.StateActive), key("k3", flows.StateActive))
	c.checkOtherKinds(rs, now)
	if c.res.Orphans != 4 || c.res.Missing != 4 {
		t.Fatalf("orphans %d, missing %d, want 4 and 4: %q", c.res.Orphans, c.res.Missing, c.res.Problems)
	}
	for _, want := range []string{"holds [GROUP_READ_ONLY]", "ui-" + bob, "198.51.100.7/32", "n3", "jit-bob-s1", "grant s3", "jit-bob-k1", "grant k3"} {
		if !strings.Contains(strings.Join(c.res.Problems, "\n"), want) {
			t.Errorf("no problem names %q: %q", want, c.res.Problems)
		}
	}

	// While jitbot runs: alice's role and entry n2 are held by grants whose
	// end passed more than a tick and a round trip ago.
	c.res = &CrashResult{}
	late := now.Add(-SweepTick - crashRoundTrip - time.Second)
	views := []app.GrantView{
		app.ViewOf(ui(alice, flows.StateActive, late)),
		app.ViewOf(network("n2", "198.51.100.8", flows.StateRevoking, late)),
		app.ViewOf(network("n1", "198.51.100.7", flows.StateActive, now.Add(time.Minute))),
		app.ViewOf(sa("s2", flows.StateActive, late)),
		app.ViewOf(&flows.Request{ID: "k2", Kind: flows.KindAPIKey, State: flows.StateRevoking, ExpiresAt: late, Principal: "jit-bob-k2"}),
	}
	c.otherKindsPastDeadline(views, now.Add(-time.Hour))
	if c.res.PastDeadline != 4 {
		t.Fatalf("past deadline %d, want 4: %q", c.res.PastDeadline, c.res.Problems)
	}
	// Come up after the deadline: counted from the start, not yet late.
	c.res = &CrashResult{}
	c.otherKindsPastDeadline(views, now)
	if c.res.PastDeadline != 0 {
		t.Fatalf("past deadline %d right after the start: %q", c.res.PastDeadline, c.res.Problems)
	}
}
