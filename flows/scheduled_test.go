package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func (f *fixture) submitAt(requester string, start time.Time, d time.Duration) (*flows.Request, error) {
	res, err := flows.ParseResource("prod/Cluster0/sales/customers")
	if err != nil {
		f.t.Fatal(err)
	}
	return f.svc.Submit(f.ctx, flows.SubmitInput{Requester: requester, Resource: res, Roles: []string{"read"}, Duration: d, Reason: "maintenance", Origin: "slack", StartAt: start})
}

func TestScheduledStartLimits(t *testing.T) {
	tests := []struct {
		name  string
		start time.Time
		want  string
	}{
		{"in the past", t0.Add(-time.Minute), "is in the past"},
		{"now exactly", t0, "is in the past"},
		{"more than a week ahead", t0.Add(7*24*time.Hour + time.Minute), "more than 7d ahead"},
		{"a week ahead", t0.Add(7 * 24 * time.Hour), ""},
		{"in an hour", t0.Add(time.Hour), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			r, err := f.submitAt("alice@example.com", tt.start, time.Hour)
			if tt.want == "" {
				if err != nil || !r.StartsAt.Equal(tt.start) {
					t.Fatalf("%v %+v", err, r)
				}
				// Pending at most until the start.
				if r.PendingUntil.After(tt.start) {
					t.Fatalf("pending until %v, after the start %v", r.PendingUntil, tt.start)
				}
				return
			}
			if flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want …%s…, got %v", tt.want, err)
			}
		})
	}
}

// TestScheduledLifecycle: approved ahead, provisioned 10 minutes before
// the start (not earlier, whatever the sweeps), ended the duration after
// the start.
func TestScheduledLifecycle(t *testing.T) {
	f := newFixture(t, func(s *flows.PolicySpec, _ *flows.Config) { s.Flows[0].PendingTTL = "48h" })
	start := t0.Add(26 * time.Hour)
	r, err := f.submitAt("alice@example.com", start, 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if r, err = f.decide(r.ID, "owner@example.com", true, ""); err != nil || r.State != flows.StateApproved {
		t.Fatalf("approve: %v %s", err, r.State)
	}
	if !r.DueAt().Equal(start.Add(-10 * time.Minute)) {
		t.Fatalf("due %v, want 10 minutes before the start", r.DueAt())
	}
	if f.prov.Count("create") != 0 {
		t.Fatal("created at approval")
	}
	f.sweepAt(start.Add(-11 * time.Minute))
	if f.prov.Count("create") != 0 || f.get(r.ID).State != flows.StateApproved {
		t.Fatal("provisioned more than 10 minutes ahead")
	}
	f.sweepAt(start.Add(-10 * time.Minute))
	got := f.get(r.ID)
	if got.State != flows.StateActive || f.prov.Count("wait") != 1 || !got.ExpiresAt.Equal(start.Add(2*time.Hour)) {
		t.Fatalf("at the lead: %s, waits %d, expires %v", got.State, f.prov.Count("wait"), got.ExpiresAt)
	}
	if w := got.Window(time.UTC); !strings.Contains(w, start.Format("2006-01-02 15:04")) {
		t.Fatalf("window %q", w)
	}
	f.sweepAt(start.Add(2 * time.Hour))
	if got := f.get(r.ID); got.State != flows.StateExpired {
		t.Fatalf("after the window: %s", got.State)
	}
}

// TestScheduledWindowMissed: a scheduled request whose whole window passed
// before jitbot could start it (down meanwhile) fails without anything
// made in Atlas; one whose window is still open starts for what is left.
func TestScheduledWindowMissed(t *testing.T) {
	f := newFixture(t)
	start := t0.Add(30 * time.Minute)
	missed, err := f.submitAt("alice@example.com", start, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	late, err := f.submitAt("bob@example.com", start.Add(time.Minute), 2*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*flows.Request{missed, late} {
		if _, err := f.decide(r.ID, "owner@example.com", true, ""); err != nil {
			t.Fatal(err)
		}
	}
	// jitbot comes back an hour and a half after the start.
	f.sweepAt(start.Add(90 * time.Minute))
	got := f.get(missed.ID)
	if got.State != flows.StateFailed || !strings.Contains(got.LastError, "window ended at") {
		t.Fatalf("the missed window: %s %q", got.State, got.LastError)
	}
	if got := f.get(late.ID); got.State != flows.StateActive || !got.ExpiresAt.Equal(start.Add(time.Minute+2*time.Hour)) {
		t.Fatalf("the window still open: %s, expires %v", got.State, got.ExpiresAt)
	}
	if n := f.prov.Count("create"); n != 1 {
		t.Fatalf("%d creates, want 1: the open window's only", n)
	}
}

// TestScheduledRecheckedAtStart: a requester or approver the policy no
// longer names stops a grant approved ahead, at its start.
func TestScheduledRecheckedAtStart(t *testing.T) {
	tests := []struct {
		name   string
		change func(*flows.PolicySpec)
		ok     bool
		want   string
	}{
		{"policy unchanged", func(*flows.PolicySpec) {}, true, ""},
		{"requester left", func(s *flows.PolicySpec) {
			s.Flows[0].Requesters = []string{"group:eng"}
			s.Groups["eng"] = []string{"bob@example.com", "owner@example.com"}
		}, false, "no longer among the requesters"},
		{"approver left", func(s *flows.PolicySpec) { s.Flows[0].Approvers = []string{"group:dba"} }, false, "still names as approvers"},
		{"flow gone", func(s *flows.PolicySpec) { s.Flows[0].Name = "renamed" }, false, "no longer in the access policy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			start := t0.Add(30 * time.Minute)
			r, err := f.submitAt("alice@example.com", start, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.decide(r.ID, "owner@example.com", true, ""); err != nil {
				t.Fatal(err)
			}
			spec := testPolicy()
			tt.change(&spec)
			if err := f.svc.SetPolicy(mustCompile(t, spec)); err != nil {
				t.Fatal(err)
			}
			f.sweepAt(start.Add(-10 * time.Minute))
			got := f.get(r.ID)
			if tt.ok {
				if got.State != flows.StateActive {
					t.Fatalf("state %s (%s)", got.State, got.LastError)
				}
				return
			}
			if got.State != flows.StateFailed || !strings.Contains(got.LastError, tt.want) || f.prov.Count("create") != 0 {
				t.Fatalf("state %s %q, creates %d", got.State, got.LastError, f.prov.Count("create"))
			}
		})
	}
}

// TestScheduledCancel: cancelled before the start, nothing is in Atlas,
// whether or not it was provisioned ahead.
func TestScheduledCancel(t *testing.T) {
	for _, provisioned := range []bool{false, true} {
		f := newFixture(t)
		start := t0.Add(3 * time.Hour)
		r, err := f.submitAt("alice@example.com", start, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.decide(r.ID, "owner@example.com", true, ""); err != nil {
			t.Fatal(err)
		}
		if provisioned {
			f.sweepAt(start.Add(-5 * time.Minute))
			if f.get(r.ID).State != flows.StateActive {
				t.Fatal("not provisioned ahead")
			}
		}
		if _, err := f.svc.Cancel(f.ctx, r.ID, "bob@example.com"); flows.ErrorCode(err) != flows.ENOTFOUND {
			t.Fatalf("a stranger cancels: %v", err)
		}
		got, err := f.svc.Cancel(f.ctx, r.ID, "alice@example.com")
		if err != nil {
			t.Fatal(err)
		}
		want := flows.StateCancelled
		if provisioned {
			want = flows.StateRevoked
		}
		if got.State != want || len(f.prov.Users()) != 0 || !got.DueAt().IsZero() {
			t.Fatalf("provisioned %v: %s, users %v, due %v", provisioned, got.State, f.prov.Users(), got.DueAt())
		}
		f.sweepAt(start)
		if f.prov.Count("create") != map[bool]int{false: 0, true: 1}[provisioned] {
			t.Fatalf("creates %d after cancel", f.prov.Count("create"))
		}
	}
}
