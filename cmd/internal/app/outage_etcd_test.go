package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// etcd out for 60 s (on jitbot's clock: two of its three members stopped,
// no quorum): intake refuses clearly on Slack and Teams and writes
// nothing; the grant that falls due meanwhile is deleted from Atlas all
// the same, from the due list read before, and the admins are told
// straight away (the outbox is in the store); once etcd is back everything
// resumes by itself: the deletion is recorded (revoking, expired, the
// requester told), the outage is recorded and the admins hear it is over,
// the audit chain is whole, and a new request goes through.
func TestEtcdOutage(t *testing.T) {
	c := etcdtest.Start(t, 3)
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := rigtest.New(t, clock)
	eps := `"` + strings.Join(c.Endpoints(), `", "`) + `"`
	h.EditConfig("store: {path: "+h.StorePath()+"}",
		fmt.Sprintf("store: {etcd: {endpoints: [%s], prefix: /outage/, request_timeout: 1s, dial_timeout: 2s}}", eps))
	h.StartWith(app.Options{NoScheduler: true})
	addr := h.Addr()

	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-9 checkout errors")
	h.Click(addr, rig.Olivia, h.WaitDM(rig.Olivia, "Approve"), "approve:")
	h.WaitDM(rig.Alice, "Password")
	r := onlyRequest(h)
	if n := len(h.Atlas.Users(rig.Project)); n != 1 || r.State != flows.StateActive {
		t.Fatalf("%d Atlas users, request %s", n, r.State)
	}
	// Dana, an admin, uses Teams too: her 1:1 chat with the bot is kept in
	// the store. A new process has read nothing of it; as its leader's
	// round finds the store up it looks the admins up, and so reaches her
	// in Teams while the store is out.
	danaInTeams := teamstest.Member{ID: "29:dana", Name: "Dana", Email: rig.Dana.Email, AadObjectID: "aad-dana"}
	const danaConv = "a:dana-1on1"
	h.BF.AddMember(teamstest.AllConversations, danaInTeams)
	h.TeamsSay(addr, danaInTeams, danaConv, "access help")
	teamsAlarms := func(needle string) int {
		n := 0
		for _, a := range h.BF.ActivitiesIn(danaConv) {
			if raw, _ := json.Marshal(a.Activity); a.Op == teamstest.OpSend && strings.Contains(string(raw), needle) {
				n++
			}
		}
		return n
	}
	h.WaitTeams(func(a teamstest.Activity) bool { return a.ConversationID == danaConv })
	h.Stop()
	h.StartWith(app.Options{NoScheduler: true})
	addr = h.Addr()
	h.Eventually("the new process to lead", func() bool {
		_, metrics := get(t, "http://"+h.Main.AdminAddr()+"/metrics", "")
		return strings.Contains(metrics, "jitbot_leader 1\n")
	})

	// A minute before expiry every replica has read its due list.
	clock.Set(r.ExpiresAt.Add(-time.Minute))
	if rep := h.Main.RevokeOffline(h.Ctx); rep.StoreDown || rep.Listed != 1 {
		t.Fatalf("the due list before the outage: %+v", rep)
	}
	h.Sent()

	c.Stop(1)
	c.Stop(2)
	outage := clock.Now()

	// Intake: refused, clearly, within the ack; nothing written.
	if ack := h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/customers read 1h INC-10 more errors"); !strings.Contains(ack, "cannot take requests right now") {
		t.Fatalf("a slash command while etcd is out was answered %q", ack)
	}
	h.TeamsSay(addr, rig.BobInTeams, rig.BobConv, "access request prod/Cluster0/sales/orders read 1h INC-11")
	h.WaitTeams(func(a teamstest.Activity) bool {
		raw, _ := json.Marshal(a.Activity)
		return a.ConversationID == rig.BobConv && strings.Contains(string(raw), "cannot take requests right now")
	})
	if code, _ := get(t, h.URL("/readyz"), ""); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with etcd out: %d", code)
	}

	// 60 s on jitbot's clock, a round every 10 s: the grant expires
	// halfway, and is deleted then.
	deletedAt := time.Time{}
	for clock.Now().Sub(outage) < 60*time.Second {
		clock.Advance(10 * time.Second)
		rep := h.Main.RevokeOffline(h.Ctx)
		if !rep.StoreDown {
			t.Fatalf("etcd out, the store reachable: %+v", rep)
		}
		h.Main.Sweep(h.Ctx) // the leader's sweep can do nothing: no harm either
		if n := len(h.Atlas.Users(rig.Project)); n == 0 && deletedAt.IsZero() {
			deletedAt = clock.Now()
		}
	}
	if deletedAt.IsZero() || deletedAt.After(r.ExpiresAt.Add(app.SweepInterval+10*time.Second)) {
		t.Fatalf("the due grant deleted at %v, its expiry %v", deletedAt, r.ExpiresAt)
	}
	// The admins heard of it once, straight from the replica that led (the
	// outbox is in the store), 30 s in, before the grant fell due; nobody
	// else.
	if n := countDMs(h, rig.Dana, "cannot reach its store"); n != 1 {
		t.Fatalf("%d notices of the outage to an admin, want 1:\n%s", n, rigtest.Dump(h.Slack.DMs(rig.Dana.ID)))
	}
	if dm := h.WaitDM(rig.Dana, "cannot reach its store"); !strings.Contains(dm.AllText(), "(0 so far)") {
		t.Fatalf("the outage notice:\n%s", dm.AllText())
	}
	if n := countDMs(h, rig.Alice, "cannot reach its store"); n != 0 {
		t.Fatalf("a requester was told of the outage")
	}
	if n := teamsAlarms("cannot reach its store"); n != 1 {
		t.Fatalf("%d notices of the outage to the admin in Teams, want 1\n%s", n, h.LogTail(3000))
	}

	c.Restart(1)
	c.Restart(2)
	h.Eventually("etcd back", func() bool { code, _ := get(t, h.URL("/readyz"), ""); return code == http.StatusOK })
	// The round of the schedule, or the new leader's term beginning,
	// whichever comes first, records the deletion.
	if rep := h.Main.RevokeOffline(h.Ctx); rep.StoreDown {
		t.Fatalf("etcd back: %+v", rep)
	}
	h.Eventually("the deletion recorded", func() bool {
		_, metrics := get(t, "http://"+h.Main.AdminAddr()+"/metrics", "")
		return strings.Contains(metrics, "jitbot_offline_revocations_recorded_total 1\n") &&
			strings.Contains(metrics, "jitbot_offline_revocations_total 1\n")
	})
	h.WaitDM(rig.Alice, "Access expired")
	// The outage is in the audit log, from when to when, and the admins
	// hear of it through the outbox.
	if dm := h.WaitDM(rig.Dana, "could not reach its store (etcd) from"); !strings.Contains(dm.AllText(), "the 1 grant(s) this replica deleted meanwhile are recorded") {
		t.Fatalf("the notice of the store's return:\n%s", dm.AllText())
	}
	if got := storeAlarms(t, h); len(got) != 1 || !strings.Contains(got[0].Message, "could not reach its store") {
		t.Fatalf("the outage's record: %+v", got)
	}
	got, err := h.Main.Store().Get(h.Ctx, r.ID)
	if err != nil || got.State != flows.StateExpired {
		t.Fatalf("the request once etcd is back: %v %v", got, err)
	}
	recs, err := h.Main.Store().AuditAfter(h.Ctx, 0, 1000)
	var last flows.Event
	for _, rec := range recs {
		if rec.Event.RequestID == r.ID {
			last = rec.Event
		}
	}
	if err != nil || last.Type != flows.EventExpired || !strings.Contains(last.Message, "while jitbot's store could not be reached") {
		t.Fatalf("the expiry's record: %+v %v", last, err)
	}
	if sum, err := h.Main.Store().VerifyAudit(h.Ctx); err != nil || sum.Records == 0 {
		t.Fatalf("the audit chain: %+v %v", sum, err)
	}
	// Nothing half-written by the refusals; one Atlas delete for the one
	// grant (the sweeps after the outage have nothing to do).
	h.Main.Sweep(h.Ctx)
	if rs, err := h.Main.Service().Requests(h.Ctx, flows.Query{}); err != nil || len(rs) != 1 {
		t.Fatalf("requests after the outage: %d %v", len(rs), err)
	}
	if n := h.Atlas.CountCalls("deleteDatabaseUser"); n != 1 {
		t.Errorf("%d Atlas deletes, want 1", n)
	}

	// Intake is back: a request goes through.
	if ack := h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/customers read 1h INC-10 more errors"); strings.Contains(ack, "cannot take") {
		t.Fatalf("a slash command once etcd is back: %q", ack)
	}
	h.WaitDM(rig.Olivia, "customers")
}
