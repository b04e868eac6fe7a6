package flows_test

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

func withBreakGlass(s *flows.PolicySpec, _ *flows.Config) {
	s.Groups["security"] = []string{"sec1@example.com", "sec2@example.com"}
	s.Flows = append(s.Flows, flows.FlowSpec{
		Name: "prod-breakglass", Integration: "prod", Requesters: []string{"group:eng"}, Resources: []string{"Cluster0/sales/*"}, Roles: []string{"readWrite"},
		BreakGlass: &flows.BreakGlassSpec{Reviewers: []string{"group:security"}, Channel: "#security",
			Escalation: []flows.EscalationSpec{{After: "12h", Approvers: []string{"user:ciso@example.com"}}}},
	})
}

func (f *fixture) breakGlass(requester, resource, role string, d time.Duration, reason string) (*flows.Request, error) {
	f.t.Helper()
	res, err := flows.ParseResource(resource)
	if err != nil {
		f.t.Fatal(err)
	}
	return f.svc.Submit(f.ctx, flows.SubmitInput{Requester: requester, Resource: res, Roles: []string{role}, Duration: d, Reason: reason, Origin: "slack", BreakGlass: true})
}

func TestBreakGlassCompile(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*flows.FlowSpec)
		path   string
		want   string
	}{
		{"approvers", func(f *flows.FlowSpec) { f.Approvers, f.MaxDuration = []string{"owners"}, "2h" }, "flows[5].break_glass", "remove approvers, max_duration"},
		{"too long", func(f *flows.FlowSpec) { f.BreakGlass.MaxDuration = "5h" }, "flows[5].break_glass.max_duration", "5h: break-glass access lasts 1m to 4h"},
		{"back to back", func(f *flows.FlowSpec) { f.BreakGlass.MaxDuration, f.BreakGlass.OncePer = "4h", "2h" }, "flows[5].break_glass.once_per", "shorter than max_duration"},
		{"no reviewers", func(f *flows.FlowSpec) { f.BreakGlass.Reviewers = nil }, "flows[5].break_glass.reviewers", "required"},
		{"owners review", func(f *flows.FlowSpec) { f.BreakGlass.Reviewers = []string{"owners"} }, "flows[5].break_glass.reviewers[0]", "reviewers are named people"},
		{"an unknown group", func(f *flows.FlowSpec) { f.BreakGlass.Reviewers = []string{"group:sec"} }, "flows[5].break_glass.reviewers[0]", `unknown group "sec"`},
		{"a review due in a month", func(f *flows.FlowSpec) { f.BreakGlass.ReviewWithin = "30d" }, "flows[5].break_glass.review_within", "1m to a week"},
		{"tiers out of order", func(f *flows.FlowSpec) {
			f.BreakGlass.Escalation = append(f.BreakGlass.Escalation, flows.EscalationSpec{After: "1h", Approvers: []string{"group:dba"}})
		}, "flows[5].break_glass.escalation[1].after", "not after the tier before"},
		{"a default beyond the maximum", func(f *flows.FlowSpec) { f.DefaultDuration = "2h" }, "flows[5].default_duration", "longer than break_glass.max_duration 1h"},
		{"a channel with spaces", func(f *flows.FlowSpec) { f.BreakGlass.Channel = "#sec ops" }, "flows[5].break_glass.channel", "no spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testPolicy()
			withBreakGlass(&spec, nil)
			tt.mutate(&spec.Flows[5])
			_, err := flows.Compile(spec)
			if err == nil || !strings.Contains(err.Error(), tt.path+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %s: …%s…, got %v", tt.path, tt.want, err)
			}
		})
	}
	p := mustCompile(t, func() flows.PolicySpec { s := testPolicy(); withBreakGlass(&s, nil); return s }())
	f, _ := p.Flow("prod-breakglass")
	if bg := f.BreakGlass; bg == nil || bg.MaxDuration != time.Hour || bg.OncePer != 24*time.Hour || bg.ReviewWithin != 24*time.Hour ||
		bg.RemindAfter != 6*time.Hour || f.MaxDuration != time.Hour || f.DefaultDuration != time.Hour || !f.RequireReason {
		t.Fatalf("defaults: %+v %+v", f, f.BreakGlass)
	}
}

// TestBreakGlassUse: granted at once without approval, alerting loudly,
// recorded as its own event, capped and never extended; once per person
// per window; never matched by an ordinary request.
func TestBreakGlassUse(t *testing.T) {
	f := newFixture(t, withBreakGlass)
	// An ordinary request goes through the ordinary flow.
	if r := f.mustSubmit("bob@example.com", "prod/Cluster0/sales/orders", "readWrite", time.Hour); r.Flow != "prod-write" || r.BreakGlass != nil || r.State != flows.StatePending {
		t.Fatalf("an ordinary request: %s %s", r.Flow, r.State)
	}
	refusals := []struct {
		name, requester, role string
		d                     time.Duration
		reason, want          string
	}{
		{"not a requester", "carol@example.com", "readWrite", time.Hour, "INC-1 down", "you are not among the requesters"},
		{"longer than allowed", "alice@example.com", "readWrite", 2 * time.Hour, "INC-1 down", "2h is longer than the 1h that access flow prod-breakglass allows"},
		{"no reason", "alice@example.com", "readWrite", time.Hour, "", "access flow prod-breakglass requires a reason"},
		{"a role it does not offer", "alice@example.com", "read", time.Hour, "INC-1", "role read is not offered"},
		{"no break-glass flow there", "alice@example.com", "read", time.Hour, "INC-1", "no break-glass flow covers prod/Staging/x"},
	}
	for _, tt := range refusals {
		target := "prod/Cluster0/sales/customers"
		if strings.HasPrefix(tt.name, "no break-glass") {
			target = "prod/Staging/x"
		}
		if _, err := f.breakGlass(tt.requester, target, tt.role, tt.d, tt.reason); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
	r, err := f.breakGlass("alice@example.com", "prod/Cluster0/sales/customers", "readWrite", 30*time.Minute, "INC-9 primary down, nobody answers")
	if err != nil {
		t.Fatal(err)
	}
	if r.State != flows.StateActive || r.Flow != "prod-breakglass" || r.BreakGlass == nil || len(r.Approvals) != 0 ||
		!slices.Equal(r.BreakGlass.Reviewers, []string{"sec1@example.com", "sec2@example.com"}) || r.MaxDuration != 30*time.Minute ||
		!slices.Equal(r.Approvers, []string{"dba1@example.com", "dba2@example.com", "sec1@example.com", "sec2@example.com"}) ||
		!r.BreakGlass.Due.Equal(r.CreatedAt.Add(24*time.Hour)) {
		t.Fatalf("the use: %+v %+v", r, r.BreakGlass)
	}
	f.wantEvents(r.ID, flows.EventSubmitted, flows.EventBrokeGlass, flows.EventProvisioning, flows.EventActivated)
	alert := f.notes.Of(flows.EventBrokeGlass)
	if len(alert) != 1 {
		t.Fatalf("alerts: %+v", alert)
	}
	want := []string{"admin@example.com", "alice@example.com", "dba1@example.com", "dba2@example.com", "sec1@example.com", "sec2@example.com"}
	if got := slices.Sorted(slices.Values(alert[0].To)); !slices.Equal(got, want) {
		t.Fatalf("alerted %v, want %v", got, want)
	}
	if _, err := f.svc.Extend(f.ctx, r.ID, "alice@example.com", 30*time.Minute); err == nil {
		t.Fatal("a break-glass grant was extended")
	}
	// Once per 24h, whatever the target.
	f.clock.Advance(23 * time.Hour)
	if _, err := f.breakGlass("alice@example.com", "prod/Cluster0/sales/orders", "readWrite", time.Hour, "INC-10 again"); flows.ErrorCode(err) != flows.EFORBIDDEN ||
		!strings.Contains(err.Error(), "allows it once per 1d") {
		t.Fatalf("a second use within the window: %v", err)
	}
	if _, err := f.breakGlass("bob@example.com", "prod/Cluster0/sales/customers", "readWrite", time.Hour, "INC-10"); err != nil {
		t.Fatalf("another person: %v", err)
	}
	f.clock.Advance(time.Hour)
	if _, err := f.breakGlass("alice@example.com", "prod/Cluster0/sales/orders", "readWrite", time.Hour, "INC-11 after a day"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
}

// TestBreakGlassReview: the reviewers are reminded, a tier is added, the
// admins are told once it is overdue, until one acknowledges it with a
// note; only reviewers may, others answered as for an unknown id.
func TestBreakGlassReview(t *testing.T) {
	f := newFixture(t, withBreakGlass)
	r, err := f.breakGlass("alice@example.com", "prod/Cluster0/sales/customers", "readWrite", time.Hour, "INC-9 primary down")
	if err != nil {
		t.Fatal(err)
	}
	at := r.CreatedAt
	// The grant ends; the review goes on.
	f.sweepAt(at.Add(time.Hour))
	if st := f.get(r.ID).State; st != flows.StateExpired {
		t.Fatalf("after an hour: %s", st)
	}
	steps := []struct {
		after time.Duration
		want  []flows.EventType
		to    []string
	}{
		{6 * time.Hour, []flows.EventType{flows.EventReviewReminded}, []string{"sec1@example.com", "sec2@example.com"}},
		{12 * time.Hour, []flows.EventType{flows.EventReviewEscalated}, []string{"ciso@example.com"}},
		{18 * time.Hour, []flows.EventType{flows.EventReviewReminded}, []string{"sec1@example.com", "sec2@example.com", "ciso@example.com"}},
		{24 * time.Hour, []flows.EventType{flows.EventReviewOverdue, flows.EventReviewReminded}, []string{"admin@example.com", "ciso@example.com", "sec1@example.com", "sec2@example.com"}},
	}
	for _, st := range steps {
		before := len(f.notes.Notices())
		rep := f.sweepAt(at.Add(st.after))
		got := f.notes.Notices()[before:]
		var types []flows.EventType
		for _, n := range got {
			types = append(types, n.Event.Type)
		}
		if !slices.Equal(types, st.want) || rep.Nudged != len(st.want) || !slices.Equal(got[0].To, st.to) {
			t.Fatalf("at +%s: %v to %v (report %+v)", st.after, types, got[0].To, rep)
		}
	}
	if v := f.get(r.ID).BreakGlass; v.ReviewState(f.clock.Now()) != "overdue" {
		t.Fatalf("review state %s", v.ReviewState(f.clock.Now()))
	}
	refusals := []struct {
		actor, note string
		code        flows.Code
		want        string
	}{
		{"mallory@example.com", "fine", flows.ENOTFOUND, "there is no request"},
		{"alice@example.com", "fine", flows.EFORBIDDEN, "nobody reviews their own"},
		{"dba1@example.com", "fine", flows.EFORBIDDEN, "you are not among the reviewers"}, // an owner: alerted, may revoke, does not review
		{"sec1@example.com", "  ", flows.EINVALID, "write a note"},
	}
	for _, tt := range refusals {
		if _, err := f.svc.Review(f.ctx, r.ID, tt.actor, tt.note); flows.ErrorCode(err) != tt.code || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v", tt.actor, err)
		}
	}
	done, err := f.svc.Review(f.ctx, r.ID, "ciso@example.com", "checked the session log: the failover it was for")
	if err != nil || done.BreakGlass.ReviewedBy != "ciso@example.com" || done.BreakGlass.ReviewState(f.clock.Now()) != "reviewed" {
		t.Fatalf("review: %+v %v", done, err)
	}
	if _, err := f.svc.Review(f.ctx, r.ID, "sec1@example.com", "me too"); flows.ErrorCode(err) != flows.ECONFLICT {
		t.Fatalf("a second review: %v", err)
	}
	if n := f.notes.Of(flows.EventReviewed); len(n) != 1 || n[0].Event.Message != "checked the session log: the failover it was for" {
		t.Fatalf("reviewed notices: %+v", n)
	}
	// Nothing is due any more.
	if due := f.get(r.ID).DueAt(); !due.IsZero() {
		t.Fatalf("still due at %v", due)
	}
	if rep := f.sweepAt(at.Add(48 * time.Hour)); rep.Nudged != 0 {
		t.Fatalf("a reviewed use nudged: %+v", rep)
	}
}

// TestBreakGlassReviewFollowsThePolicyInForce: a reviewer a reload removes
// can no longer review; one still named can.
func TestBreakGlassReviewFollowsThePolicyInForce(t *testing.T) {
	f := newFixture(t, withBreakGlass)
	r, err := f.breakGlass("alice@example.com", "prod/Cluster0/sales/customers", "readWrite", time.Hour, "INC-9 primary down")
	if err != nil {
		t.Fatal(err)
	}
	spec := testPolicy()
	withBreakGlass(&spec, nil)
	spec.Groups["security"] = []string{"sec1@example.com"} // sec2 leaves security
	if err := f.svc.SetPolicy(mustCompile(t, spec)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Review(f.ctx, r.ID, "sec2@example.com", "fine"); flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), "no longer a reviewer") {
		t.Fatalf("a removed reviewer: %v", err)
	}
	if _, err := f.svc.Review(f.ctx, r.ID, "sec1@example.com", "checked the session"); err != nil {
		t.Fatalf("a reviewer still named: %v", err)
	}
}

// heldFind holds the first break-glass check's read of the requester's
// requests (Find with Limit 200) until release closes, and tells who else
// reads them meanwhile.
type heldFind struct {
	*flowstest.Store
	held    atomic.Bool
	waiting chan struct{} // closed when the first check is held
	release chan struct{}
	others  chan struct{} // a second check read meanwhile
}

func (h *heldFind) Find(ctx context.Context, q flows.Query) ([]*flows.Request, error) {
	if q.Requester != "" && q.Limit == 200 {
		if h.held.CompareAndSwap(false, true) {
			close(h.waiting)
			<-h.release
		} else {
			select {
			case h.others <- struct{}{}:
			default:
			}
		}
	}
	return h.Store.Find(ctx, q)
}

// TestBreakGlassTwiceAtOnce: two break-glass submissions of one person at
// the same moment (two inbox workers) give one use; the other is refused
// as the once-per-window rule says.
func TestBreakGlassTwiceAtOnce(t *testing.T) {
	spec := testPolicy()
	cfg := flows.Config{}
	withBreakGlass(&spec, &cfg)
	cfg.Policy = mustCompile(t, spec)
	store := &heldFind{Store: flowstest.NewStore(), waiting: make(chan struct{}), release: make(chan struct{}), others: make(chan struct{}, 1)}
	svc, err := flows.NewService(cfg, flows.Deps{
		Store: store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: flowstest.NewProvisioner()}, Catalog: testCatalog(),
		Secrets: &flowstest.Secrets{}, Notifier: &flowstest.Notifier{}, Clock: flowstest.NewClock(t0),
	})
	if err != nil {
		t.Fatal(err)
	}
	res, err := flows.ParseResource("prod/Cluster0/sales/customers")
	if err != nil {
		t.Fatal(err)
	}
	use := func() error {
		_, err := svc.Submit(context.Background(), flows.SubmitInput{Requester: "alice@example.com", Resource: res, Roles: []string{"readWrite"},
			Duration: 30 * time.Minute, Reason: "INC-9 primary down", Origin: "slack", BreakGlass: true})
		return err
	}
	errs := make(chan error, 2)
	go func() { errs <- use() }()
	<-store.waiting
	go func() { errs <- use() }()
	// The second submission must not get to its check while the first is
	// held: give it a moment to show that it does not (without the lock it
	// reads at once).
	select {
	case <-store.others:
		t.Error("a second break-glass check ran while the first was between its check and its commit")
	case <-time.After(100 * time.Millisecond):
	}
	close(store.release)
	var ok, refused int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			ok++
		case strings.Contains(err.Error(), "allows it once per"):
			refused++
		default:
			t.Errorf("unexpected answer: %v", err)
		}
	}
	if ok != 1 || refused != 1 {
		t.Fatalf("%d uses granted, %d refused: want exactly one of each", ok, refused)
	}
}
