package flowstest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/jitbot/jitbot/flows"
)

// OpenStore opens an empty store for one test and returns a function that
// reads back every event the store has recorded, in order.
type OpenStore func(t *testing.T) (flows.Store, func() []flows.Event)

// T0 is the time tests start at.
var T0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// NewRequest returns a pending request for tests.
func NewRequest(id flows.RequestID, requester string, created time.Time) *flows.Request {
	return &flows.Request{
		ID: id, Requester: requester,
		Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"},
		Kind:     flows.KindDatabaseUser, Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-1", Origin: "slack", Flow: "prod-read",
		Approvers: []string{"owner@example.com", "dba@example.com"}, Quorum: 1, MaxDuration: 8 * time.Hour,
		State: flows.StatePending, CreatedAt: created, UpdatedAt: created, PendingUntil: created.Add(time.Hour),
	}
}

func submitted(r *flows.Request) flows.Event {
	return flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: r.CreatedAt, To: flows.StatePending}
}

func ids(rs []*flows.Request) []flows.RequestID {
	out := make([]flows.RequestID, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

// StoreSuite checks that a flows.Store behaves as the service relies on.
func StoreSuite(t *testing.T, open OpenStore) {
	ctx := context.Background()
	mustCreate := func(t *testing.T, s flows.Store, r *flows.Request) {
		t.Helper()
		if _, created, err := s.Create(ctx, r, submitted(r), ""); err != nil || !created {
			t.Fatalf("create %s: created=%v err=%v", r.ID, created, err)
		}
	}

	t.Run("create and get round-trip every field", func(t *testing.T) {
		s, events := open(t)
		r := NewRequest("aaaa", "alice@example.com", T0)
		r.Approvals = []flows.Decision{{By: "owner@example.com", At: T0.Add(time.Minute), Approve: true, MFA: true}}
		r.Denial = &flows.Decision{By: "dba@example.com", At: T0, Reason: "no"}
		r.Extension = &flows.Extension{Number: 2, By: "alice@example.com", Duration: time.Hour, RequestedAt: T0,
			Approvals: []flows.Decision{{By: "dba@example.com", At: T0, Approve: true}}}
		r.Principal, r.ExpiresAt, r.BackstopAt, r.ActivatedAt = "jit-alice-aaaa", T0.Add(2*time.Hour), T0.Add(3*time.Hour), T0
		r.RemindAt, r.BackstopRefreshAt, r.CredentialsIssuedAt, r.NextAttemptAt = T0.Add(time.Hour), T0.Add(5*time.Hour), T0, T0
		r.Extensions, r.Attempts, r.LastError, r.EndState, r.EndedBy, r.EndReason = 2, 3, "boom", flows.StateRevoked, "x@example.com", "why"
		r.DenyReasonRequired, r.ExtendNeedsApproval, r.ApprovalsChannel, r.PolicyHash = true, true, "#db", "0123456789abcdef"
		r.RemindApproversEvery, r.RemindApproversAt, r.Tier = 10*time.Minute, T0.Add(10*time.Minute), 1
		r.Requirements = []flows.Requirement{{Group: "dba", Count: 1, Members: []string{"dba@example.com"}}, {Group: "security", Count: 2, Members: []string{"sec@example.com", "dba@example.com"}}}
		r.Escalation = []flows.EscalationStep{
			{At: T0.Add(20 * time.Minute), Approvers: []string{"dba@example.com", "sec@example.com"}, Channel: "#dba-oncall", Added: []string{"sec@example.com"}},
			{At: T0.Add(40 * time.Minute), Approvers: []string{"admin@example.com"}},
		}
		mustCreate(t, s, r)
		got, err := s.Get(ctx, "aaaa")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(r, got); d != "" {
			t.Fatalf("round trip changed the request (-want +got):\n%s", d)
		}
		if _, err := s.Get(ctx, "nope"); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("get missing: want not_found, got %v", err)
		}
		if n := len(events()); n != 1 {
			t.Fatalf("want 1 event after create, got %d", n)
		}
	})

	t.Run("idempotency key returns the first request", func(t *testing.T) {
		s, events := open(t)
		r1 := NewRequest("id01", "alice@example.com", T0)
		if _, created, err := s.Create(ctx, r1, submitted(r1), "trigger-1"); err != nil || !created {
			t.Fatalf("first create: %v %v", created, err)
		}
		r2 := NewRequest("id02", "alice@example.com", T0)
		got, created, err := s.Create(ctx, r2, submitted(r2), "trigger-1")
		if err != nil || created || got.ID != "id01" {
			t.Fatalf("replay: want id01 not created, got %v created=%v err=%v", got, created, err)
		}
		if _, err := s.Get(ctx, "id02"); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("the replay must write nothing, got %v", err)
		}
		found, err := s.Find(ctx, flows.Query{IdempotencyKey: "trigger-1"})
		if err != nil || len(found) != 1 || found[0].ID != "id01" {
			t.Fatalf("find by key: %v %v", ids(found), err)
		}
		if found, _ := s.Find(ctx, flows.Query{IdempotencyKey: "other"}); len(found) != 0 {
			t.Fatalf("unknown key found %v", ids(found))
		}
		if n := len(events()); n != 1 {
			t.Fatalf("want 1 event, got %d", n)
		}
		if _, _, err := s.Create(ctx, NewRequest("id01", "bob@example.com", T0), submitted(r1), ""); flows.ErrorCode(err) != flows.ECONFLICT {
			t.Fatalf("duplicate id: want conflict, got %v", err)
		}
	})

	t.Run("a checked create sees the requester's live requests and writes nothing when refused", func(t *testing.T) {
		s, events := open(t)
		live := NewRequest("live1", "alice@example.com", T0)
		over := NewRequest("over1", "alice@example.com", T0.Add(time.Minute))
		other := NewRequest("bob01", "bob@example.com", T0)
		newer := NewRequest("live2", "alice@example.com", T0.Add(2*time.Minute))
		newer.State = flows.StateActive
		for _, r := range []*flows.Request{live, over, other, newer} {
			mustCreate(t, s, r)
		}
		if _, err := s.Update(ctx, over.ID, func(r *flows.Request) ([]flows.Event, error) {
			r.State = flows.StateDenied
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		var seen [][]flows.RequestID
		refuse := func(mine []*flows.Request) error {
			seen = append(seen, ids(mine))
			return flows.Errorf(flows.EFORBIDDEN, "you have %d requests under way", len(mine))
		}
		r := NewRequest("new01", "alice@example.com", T0.Add(time.Hour))
		before := len(events())
		if _, created, err := s.CreateChecked(ctx, r, submitted(r), "trigger-9", refuse); flows.ErrorCode(err) != flows.EFORBIDDEN || created {
			t.Fatalf("a refused check: want EFORBIDDEN and nothing created, got created=%v %v", created, err)
		}
		if len(seen) == 0 {
			t.Fatal("the check never ran")
		}
		if diff := cmp.Diff([]flows.RequestID{"live2", "live1"}, seen[len(seen)-1]); diff != "" {
			t.Fatalf("the check saw (-want +got):\n%s", diff)
		}
		if _, err := s.Get(ctx, r.ID); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("a refused create must write nothing, got %v", err)
		}
		if found, _ := s.Find(ctx, flows.Query{IdempotencyKey: "trigger-9"}); len(found) != 0 {
			t.Fatalf("a refused create kept its idempotency key: %v", ids(found))
		}
		if n := len(events()); n != before {
			t.Fatalf("a refused create recorded %d events", n-before)
		}
		accept := func(mine []*flows.Request) error {
			if len(mine) != 2 {
				return fmt.Errorf("want alice's 2 live requests, got %v", ids(mine))
			}
			return nil
		}
		if _, created, err := s.CreateChecked(ctx, r, submitted(r), "trigger-9", accept); err != nil || !created {
			t.Fatalf("an accepted check: created=%v %v", created, err)
		}
		// The key is used: its request is the answer, and the check is not
		// asked (it would refuse: alice has 3 live requests now).
		seen = nil
		again := NewRequest("new02", "alice@example.com", T0.Add(time.Hour))
		if got, created, err := s.CreateChecked(ctx, again, submitted(again), "trigger-9", refuse); err != nil || created || got.ID != r.ID || len(seen) != 0 {
			t.Fatalf("a replayed key: want %s without a check, got %v created=%v %v (checked %d times)", r.ID, got, created, err, len(seen))
		}
	})

	t.Run("update is all or nothing", func(t *testing.T) {
		s, events := open(t)
		r := NewRequest("upd1", "alice@example.com", T0)
		mustCreate(t, s, r)
		_, err := s.Update(ctx, "upd1", func(r *flows.Request) ([]flows.Event, error) {
			r.State = flows.StateDenied
			return nil, flows.Errorf(flows.ECONFLICT, "refused")
		})
		if flows.ErrorCode(err) != flows.ECONFLICT {
			t.Fatalf("fn error must come back with its code, got %v", err)
		}
		if got, _ := s.Get(ctx, "upd1"); got.State != flows.StatePending {
			t.Fatalf("a failed update wrote state %s", got.State)
		}
		got, err := s.Update(ctx, "upd1", func(r *flows.Request) ([]flows.Event, error) {
			return []flows.Event{mustEvent(r.Approve("owner@example.com", T0.Add(time.Minute)))}, nil
		})
		if err != nil || got.State != flows.StateApproved {
			t.Fatalf("approve: %v %v", got, err)
		}
		evs := events()
		if len(evs) != 2 || evs[1].Type != flows.EventApproved || evs[1].Actor != "owner@example.com" {
			t.Fatalf("events: %+v", evs)
		}
		if _, err := s.Update(ctx, "missing", func(*flows.Request) ([]flows.Event, error) { return nil, nil }); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("update missing: %v", err)
		}
	})

	t.Run("update many: each request stands alone, in order, indexes kept", func(t *testing.T) {
		s, events := open(t)
		for _, id := range []flows.RequestID{"many1", "many2", "many3"} {
			mustCreate(t, s, NewRequest(id, "alice@example.com", T0))
		}
		ids := []flows.RequestID{"many1", "many2", "missing", "many3"}
		got, errs, err := s.UpdateMany(ctx, ids, func(r *flows.Request) ([]flows.Event, error) {
			if r.ID == "many2" {
				r.State = flows.StateDenied // refused below: must not be written
				return nil, flows.Errorf(flows.ECONFLICT, "refused")
			}
			return []flows.Event{mustEvent(r.TimeOut(T0.Add(time.Hour)))}, nil
		})
		if err != nil || len(got) != len(ids) || len(errs) != len(ids) {
			t.Fatalf("update many: %d requests, %d errors, %v", len(got), len(errs), err)
		}
		if errs[0] != nil || got[0] == nil || got[0].State != flows.StateTimedOut || errs[3] != nil || got[3] == nil || got[3].State != flows.StateTimedOut {
			t.Fatalf("the accepted ones: %v %v / %v %v", got[0], errs[0], got[3], errs[3])
		}
		if flows.ErrorCode(errs[1]) != flows.ECONFLICT || got[1] != nil {
			t.Fatalf("the refused one: %v %v", got[1], errs[1])
		}
		if flows.ErrorCode(errs[2]) != flows.ENOTFOUND || got[2] != nil {
			t.Fatalf("the missing one: %v %v", got[2], errs[2])
		}
		if r, _ := s.Get(ctx, "many2"); r.State != flows.StatePending {
			t.Fatalf("a refused request was written: %s", r.State)
		}
		if r, _ := s.Get(ctx, "many3"); r.State != flows.StateTimedOut {
			t.Fatalf("many3 is %s after the update", r.State)
		}
		evs := events()
		if len(evs) != 5 || evs[3].RequestID != "many1" || evs[4].RequestID != "many3" || evs[4].Type != flows.EventTimedOut {
			t.Fatalf("events: %+v", evs)
		}
		// The due index followed: only the refused one is still due.
		if due, _ := s.Due(ctx, T0.Add(time.Hour), 0); !cmp.Equal(due, []flows.RequestID{"many2"}) {
			t.Fatalf("due after update many: %v", due)
		}
		if got, errs, err := s.UpdateMany(ctx, nil, func(*flows.Request) ([]flows.Event, error) { return nil, nil }); err != nil || len(got) != 0 || len(errs) != 0 {
			t.Fatalf("update many of none: %v %v %v", got, errs, err)
		}
	})

	t.Run("find by requester, approver and state, newest first", func(t *testing.T) {
		s, _ := open(t)
		for i, who := range []string{"alice@example.com", "bob@example.com", "alice@example.com"} {
			mustCreate(t, s, NewRequest(flows.RequestID(fmt.Sprintf("f%03d", i)), who, T0.Add(time.Duration(i)*time.Minute)))
		}
		got, err := s.Find(ctx, flows.Query{Requester: "alice@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]flows.RequestID{"f002", "f000"}, ids(got)); d != "" {
			t.Fatalf("by requester (-want +got): %s", d)
		}
		if got, _ := s.Find(ctx, flows.Query{Requester: "alice@example.com", Limit: 1}); len(got) != 1 || got[0].ID != "f002" {
			t.Fatalf("limit: %v", ids(got))
		}
		if got, _ := s.Find(ctx, flows.Query{Approver: "owner@example.com"}); len(got) != 3 {
			t.Fatalf("by approver: %v", ids(got))
		}
		if _, err := s.Update(ctx, "f001", func(r *flows.Request) ([]flows.Event, error) {
			return []flows.Event{mustEvent(r.Deny("owner@example.com", "no", T0.Add(time.Hour)))}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Find(ctx, flows.Query{Approver: "dba@example.com"}); !cmp.Equal(ids(got), []flows.RequestID{"f002", "f000"}) {
			t.Fatalf("a decided request must leave the approver index: %v", ids(got))
		}
		if got, _ := s.Find(ctx, flows.Query{States: []flows.State{flows.StateDenied}}); !cmp.Equal(ids(got), []flows.RequestID{"f001"}) {
			t.Fatalf("by state: %v", ids(got))
		}
		if got, _ := s.Find(ctx, flows.Query{Requester: "bob@example.com", States: []flows.State{flows.StatePending}}); len(got) != 0 {
			t.Fatalf("requester and state: %v", ids(got))
		}
		if got, _ := s.Find(ctx, flows.Query{}); len(got) != 3 {
			t.Fatalf("all: %v", ids(got))
		}
	})

	t.Run("due index follows the request", func(t *testing.T) {
		s, _ := open(t)
		a := NewRequest("due1", "alice@example.com", T0) // due at T0+1h (pending TTL)
		b := NewRequest("due2", "bob@example.com", T0)
		b.PendingUntil = T0.Add(30 * time.Minute)
		c := NewRequest("due3", "carol@example.com", T0)
		c.PendingUntil = T0.Add(30 * time.Minute)
		for _, r := range []*flows.Request{a, b, c} {
			mustCreate(t, s, r)
		}
		got, err := s.Due(ctx, T0.Add(time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]flows.RequestID{"due2", "due3", "due1"}, got); d != "" {
			t.Fatalf("due order (-want +got): %s", d)
		}
		if got, _ := s.Due(ctx, T0.Add(30*time.Minute), 0); !cmp.Equal(got, []flows.RequestID{"due2", "due3"}) {
			t.Fatalf("due is inclusive: %v", got)
		}
		if got, _ := s.Due(ctx, T0.Add(time.Hour), 1); !cmp.Equal(got, []flows.RequestID{"due2"}) {
			t.Fatalf("limit: %v", got)
		}
		// Activating moves the entry to the expiry; ending removes it.
		if _, err := s.Update(ctx, "due2", func(r *flows.Request) ([]flows.Event, error) {
			r.State, r.ActivatedAt, r.ExpiresAt = flows.StateActive, T0, T0.Add(4*time.Hour)
			return nil, nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Update(ctx, "due3", func(r *flows.Request) ([]flows.Event, error) {
			return []flows.Event{mustEvent(r.Cancel("carol@example.com", false, T0))}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Due(ctx, T0.Add(3*time.Hour), 0); !cmp.Equal(got, []flows.RequestID{"due1"}) {
			t.Fatalf("after moves: %v", got)
		}
		if got, _ := s.Due(ctx, T0.Add(4*time.Hour), 0); !cmp.Equal(got, []flows.RequestID{"due1", "due2"}) {
			t.Fatalf("after moves, later: %v", got)
		}
		if got, _ := s.Due(ctx, T0.Add(-time.Hour), 0); len(got) != 0 {
			t.Fatalf("nothing is due before the first deadline: %v", got)
		}
		// A reminder of the approvers, then an escalation, come before the
		// pending TTL: the index follows each (a kill -9 loses none).
		e := NewRequest("due4", "erin@example.com", T0)
		e.RemindApproversEvery, e.RemindApproversAt = 10*time.Minute, T0.Add(10*time.Minute)
		e.Escalation = []flows.EscalationStep{{At: T0.Add(15 * time.Minute), Approvers: []string{"dba@example.com"}}}
		mustCreate(t, s, e)
		if got, _ := s.Due(ctx, T0.Add(10*time.Minute), 0); !cmp.Equal(got, []flows.RequestID{"due4"}) {
			t.Fatalf("a reminder due: %v", got)
		}
		if _, err := s.Update(ctx, "due4", func(r *flows.Request) ([]flows.Event, error) {
			return r.Nudge(T0.Add(10 * time.Minute))
		}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Due(ctx, T0.Add(14*time.Minute), 0); len(got) != 0 {
			t.Fatalf("nothing due between the reminder and the escalation: %v", got)
		}
		if got, _ := s.Due(ctx, T0.Add(15*time.Minute), 0); !cmp.Equal(got, []flows.RequestID{"due4"}) {
			t.Fatalf("the escalation due: %v", got)
		}
	})

	t.Run("expiring lists active grants by expiry", func(t *testing.T) {
		s, _ := open(t)
		for i, exp := range []time.Duration{3 * time.Hour, time.Hour, 2 * time.Hour} {
			r := NewRequest(flows.RequestID(fmt.Sprintf("exp%d", i)), "alice@example.com", T0)
			r.State, r.ActivatedAt, r.ExpiresAt = flows.StateActive, T0, T0.Add(exp)
			mustCreate(t, s, r)
		}
		mustCreate(t, s, NewRequest("pend", "bob@example.com", T0))
		got, err := s.Expiring(ctx, T0.Add(2*time.Hour), 0)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff([]flows.RequestID{"exp1", "exp2"}, ids(got)); d != "" {
			t.Fatalf("expiring (-want +got): %s", d)
		}
		if _, err := s.Update(ctx, "exp1", func(r *flows.Request) ([]flows.Event, error) {
			return []flows.Event{mustEvent(r.StartRevoking(T0, flows.SystemActor, flows.StateExpired, "expired"))}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Expiring(ctx, T0.Add(5*time.Hour), 0); !cmp.Equal(ids(got), []flows.RequestID{"exp2", "exp0"}) {
			t.Fatalf("a revoking grant is no longer expiring: %v", ids(got))
		}
	})

	t.Run("concurrent updates are serialized", func(t *testing.T) {
		s, _ := open(t)
		mustCreate(t, s, NewRequest("conc", "alice@example.com", T0))
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if _, err := s.Update(ctx, "conc", func(r *flows.Request) ([]flows.Event, error) {
					r.Attempts++
					return nil, nil
				}); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got, _ := s.Get(ctx, "conc"); got.Attempts != 10 {
			t.Fatalf("lost updates: attempts=%d, want 10", got.Attempts)
		}
	})

	t.Run("appended events are kept in order", func(t *testing.T) {
		s, events := open(t)
		for i := range 3 {
			if err := s.AppendEvents(ctx, flows.Event{Type: flows.EventOrphanDeleted, RequestID: flows.RequestID(fmt.Sprint(i)), Actor: flows.SystemActor, At: T0}); err != nil {
				t.Fatal(err)
			}
		}
		evs := events()
		if len(evs) != 3 || evs[0].RequestID != "0" || evs[2].RequestID != "2" {
			t.Fatalf("events: %+v", evs)
		}
	})
}

func mustEvent(ev flows.Event, err error) flows.Event {
	if err != nil {
		panic(err)
	}
	return ev
}
