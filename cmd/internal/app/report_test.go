package app_test

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/flows"
)

func TestReportRows(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	res := func(s string) flows.Resource {
		r, err := flows.ParseResource(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	req := func(id, who, resource, flow string, state flows.State, granted, ended time.Time, approvals ...flows.Decision) *flows.Request {
		return &flows.Request{ID: flows.RequestID(id), Requester: who, Resource: res(resource), Roles: []string{"read"}, Flow: flow, Reason: "INC-" + id,
			State: state, ActivatedAt: granted, EndedAt: ended, Approvals: approvals, Kind: flows.KindDatabaseUser}
	}
	mfa := flows.Decision{By: "olivia@example.com", At: t0, Approve: true, MFA: true}
	plain := flows.Decision{By: "dana@example.com", At: t0, Approve: true}
	rs := []*flows.Request{
		req("expired", "alice@example.com", "prod/Cluster0/sales/orders", "prod-read", flows.StateExpired, t0, t0.Add(time.Hour), mfa),
		req("active", "bob@example.com", "prod/Cluster0/sales", "prod-read", flows.StateActive, t0.Add(48*time.Hour), time.Time{}, mfa, plain),
		req("auto", "alice@example.com", "staging/Cluster1/app", "staging", flows.StateRevoked, t0.Add(24*time.Hour), t0.Add(26*time.Hour)),
		req("denied", "alice@example.com", "prod/Cluster0/sales/orders", "prod-read", flows.StateDenied, time.Time{}, time.Time{}),
	}
	// Two break-glass uses: one reviewed, one whose review is past due.
	glass := req("glass", "carol@example.com", "prod/Cluster0/sales", "prod-glass", flows.StateExpired, t0.Add(3*time.Hour), t0.Add(4*time.Hour))
	glass.BreakGlass = &flows.Review{Reviewers: []string{"sec@example.com"}, Due: t0.Add(27 * time.Hour), ReviewedBy: "sec@example.com", ReviewedAt: t0.Add(5 * time.Hour), Note: "INC-7, fine"}
	late := req("late", "carol@example.com", "prod/Cluster0/sales", "prod-glass", flows.StateExpired, t0.Add(5*time.Hour), t0.Add(6*time.Hour))
	late.BreakGlass = &flows.Review{Reviewers: []string{"sec@example.com"}, Due: t0.Add(29 * time.Hour), MFA: true}
	for _, row := range app.Report([]*flows.Request{glass, late}, app.ReportFilter{}, t0.Add(50*time.Hour)) {
		want := map[string]string{"glass": "reviewed", "late": "overdue"}[row.RequestID]
		mfa := row.RequestID == "late" // taken with step-up
		if !row.BreakGlass || row.Auto || row.MFA != mfa || row.Review != want {
			t.Errorf("break-glass row %s: break_glass=%v auto=%v mfa=%v review %q, want a break-glass use, not auto-approved, mfa=%v, review %q", row.RequestID, row.BreakGlass, row.Auto, row.MFA, row.Review, mfa, want)
		}
		if row.RequestID == "glass" && row.ReviewedBy != "sec@example.com" {
			t.Errorf("reviewed by %q", row.ReviewedBy)
		}
	}
	now := t0.Add(50 * time.Hour)
	ids := func(rows []app.ReportRow) string {
		var s []string
		for _, r := range rows {
			s = append(s, r.RequestID)
		}
		return strings.Join(s, ",")
	}

	all := app.Report(rs, app.ReportFilter{}, now)
	if got := ids(all); got != "expired,auto,active" {
		t.Fatalf("rows %s: want the granted ones, oldest first", got)
	}
	e, a, au := all[0], all[2], all[1]
	if !e.MFA || e.HeldSeconds != 3600 || e.Ended != t0.Add(time.Hour) || e.ApprovedBy[0] != "olivia@example.com" || e.Reason != "INC-expired" || e.BreakGlass {
		t.Fatalf("expired row: %+v", e)
	}
	if a.MFA || a.HeldSeconds != 2*3600 || !a.Ended.IsZero() || len(a.ApprovedBy) != 2 {
		t.Fatalf("active row (one approval without MFA; held so far): %+v", a)
	}
	if !au.Auto || au.MFA || len(au.ApprovedBy) != 0 {
		t.Fatalf("auto-approved row: %+v", au)
	}

	for _, tc := range []struct {
		f    app.ReportFilter
		want string
	}{
		{app.ReportFilter{Person: "ALICE@example.com"}, "expired,auto"},
		{app.ReportFilter{Flow: "staging"}, "auto"},
		{app.ReportFilter{Resource: "prod/Cluster0/*"}, "expired,active"},
		{app.ReportFilter{Resource: "prod/*/sales/orders"}, "expired"},
		{app.ReportFilter{Resource: "prod/Cluster0/sales/orders/x"}, ""},
		{app.ReportFilter{Resource: "prod/Cluster0/sales"}, "expired,active"},
		{app.ReportFilter{Since: t0.Add(time.Hour)}, "auto,active"}, // ended exactly then: not held since
		{app.ReportFilter{Since: t0.Add(25 * time.Hour), Until: t0.Add(47 * time.Hour)}, "auto"},
		{app.ReportFilter{Until: t0.Add(time.Hour)}, "expired"},
	} {
		if got := ids(app.Report(rs, tc.f, now)); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.f, got, tc.want)
		}
	}
	if err := (app.ReportFilter{Since: t0, Until: t0}).Check(); err == nil {
		t.Error("an empty period passed the check")
	}
	if err := (app.ReportFilter{Resource: "prod/["}).Check(); err == nil {
		t.Error("a bad glob passed the check")
	}

	// CSV: a header, one line per grant, and nothing a spreadsheet runs.
	rs[0].Reason = "=HYPERLINK(\"http://evil\")"
	var buf bytes.Buffer
	if err := app.WriteReportCSV(&buf, app.Report(rs, app.ReportFilter{}, now)); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 4 {
		t.Fatalf("csv: %v, %d records", err, len(recs))
	}
	if strings.Join(recs[0][:3], ",") != "request_id,person,kind" || recs[0][10] != "break_glass" || recs[0][9] != "mfa" {
		t.Fatalf("header %q", recs[0])
	}
	if recs[0][11] != "break_glass_review" || recs[0][12] != "reviewed_by" {
		t.Fatalf("header %q: want the review's state and reviewer after break_glass", recs[0])
	}
	if recs[1][6] != "'=HYPERLINK(\"http://evil\")" || recs[1][9] != "true" || recs[1][10] != "false" || recs[3][7] != "olivia@example.com;dana@example.com" {
		t.Fatalf("rows %q", recs[1:])
	}
}
