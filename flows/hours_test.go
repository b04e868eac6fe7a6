package flows_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func hoursFlow(t *testing.T, hs flows.HoursSpec) *flows.Flow {
	t.Helper()
	spec := testPolicy()
	spec.Flows[0].Hours = &hs
	f, _ := mustCompile(t, spec).Flow("prod-read")
	if f.Hours == nil {
		t.Fatal("no window compiled")
	}
	return f
}

// TestHoursOpen: the window by the zone's wall clock, across a change to
// daylight saving time and across midnight.
func TestHoursOpen(t *testing.T) {
	office := flows.HoursSpec{Zone: "Europe/Berlin", Days: "mon-fri", From: "08:00", To: "18:00", Outside: "refuse"}
	everyDay := office
	everyDay.Days = "mon-sun"
	night := flows.HoursSpec{Zone: "Europe/Berlin", Days: "mon-fri", From: "22:00", To: "06:00", Outside: "refuse"}
	ny := flows.HoursSpec{Zone: "America/New_York", Days: "sat-sun", From: "09:00", To: "24:00", Outside: "refuse"}
	utc := func(s string) time.Time {
		t.Helper()
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	tests := []struct {
		name  string
		hours flows.HoursSpec
		at    string // UTC
		open  bool
	}{
		{"a Tuesday morning in winter (CET, +1)", office, "2026-01-13T07:30:00Z", true},
		{"before 08:00 in winter", office, "2026-01-13T06:59:00Z", false},
		{"18:00 is closed", office, "2026-01-13T17:00:00Z", false},
		{"17:59 is open", office, "2026-01-13T16:59:00Z", true},
		{"a Saturday", office, "2026-01-17T10:00:00Z", false},
		// Berlin moves to CEST (+2) at 02:00 on Sunday 29 March 2026.
		{"the Friday before the change: 06:30Z is 07:30 CET", office, "2026-03-27T06:30:00Z", false},
		{"the Monday after: 06:30Z is 08:30 CEST", office, "2026-03-30T06:30:00Z", true},
		{"the change day, 01:30 CET", everyDay, "2026-03-29T00:30:00Z", false},
		{"the change day, 06:30Z is 08:30 CEST", everyDay, "2026-03-29T06:30:00Z", true},
		{"the change day, 05:59Z is 07:59 CEST", everyDay, "2026-03-29T05:59:00Z", false},
		{"the change day, 16:00Z is 18:00 CEST", everyDay, "2026-03-29T16:00:00Z", false},
		// Back to CET on Sunday 25 October 2026.
		{"the day back: 07:00Z is 08:00 CET", everyDay, "2026-10-25T07:00:00Z", true},
		{"the day back: 06:30Z is 07:30 CET", everyDay, "2026-10-25T06:30:00Z", false},
		// Across midnight: the night belongs to the day it starts on.
		{"Friday 23:00", night, "2026-01-16T22:00:00Z", true},
		{"Saturday 05:00, Friday's night", night, "2026-01-17T04:00:00Z", true},
		{"Saturday 06:00 ends it", night, "2026-01-17T05:00:00Z", false},
		{"Saturday 23:00", night, "2026-01-17T22:00:00Z", false},
		{"Monday 05:00, after Sunday", night, "2026-01-19T04:00:00Z", false},
		{"Monday 22:00", night, "2026-01-19T21:00:00Z", true},
		{"Tuesday 12:00", night, "2026-01-20T11:00:00Z", false},
		// To 24:00, in another zone (EST, -5).
		{"Saturday 23:59 in New York", ny, "2026-01-18T04:59:00Z", true},
		{"Sunday 00:00 in New York", ny, "2026-01-18T05:00:00Z", false},
		{"Sunday 08:59 in New York", ny, "2026-01-18T13:59:00Z", false},
		{"Sunday 09:00 in New York", ny, "2026-01-18T14:00:00Z", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := hoursFlow(t, tt.hours).Hours.Open(utc(tt.at)); got != tt.open {
				t.Fatalf("open at %s = %v, want %v", tt.at, got, tt.open)
			}
		})
	}
}

func TestHoursCompileErrors(t *testing.T) {
	ok := flows.HoursSpec{Zone: "Europe/Berlin", Days: "mon-fri", From: "08:00", To: "18:00", Outside: "refuse"}
	tests := []struct {
		name   string
		mutate func(*flows.HoursSpec, *flows.PolicySpec)
		path   string
		want   string
	}{
		{"unknown zone", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.Zone = "Europe/Berlinn" }, "flows[0].hours.zone", `unknown time zone "Europe/Berlinn"`},
		{"no zone", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.Zone = "" }, "flows[0].hours.zone", "required"},
		{"the host's zone", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.Zone = "Local" }, "flows[0].hours.zone", "unknown time zone"},
		{"bad days", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.Days = "monday-friday" }, "flows[0].hours.days", `"monday-friday": write days as mon`},
		{"no days", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.Days = "" }, "flows[0].hours.days", "required"},
		{"a bad time", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.From = "8am" }, "flows[0].hours.from", `"8am" is not a time of day`},
		{"a time out of range", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.To = "18:60" }, "flows[0].hours.to", `"18:60" is not a time of day`},
		{"24:00 starts nothing", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.From = "24:00" }, "flows[0].hours.from", "00:00 to 23:59"},
		{"an empty window", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.To = "08:00" }, "flows[0].hours.to", "it would be empty"},
		{"nothing outside", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.Outside = "" }, "flows[0].hours", "say what happens outside the window"},
		{"two things outside", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.Approvals = 2 }, "flows[0].hours", "not several"},
		{"outside: allow", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.Outside = "allow" }, "flows[0].hours.outside", "the only value is refuse"},
		{"an unknown flow", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.Outside, h.Flow = "", "night" }, "flows[0].hours.flow", `unknown access flow "night"`},
		{"itself", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.Outside, h.Flow = "", "prod-read" }, "flows[0].hours.flow", "itself"},
		{"a flow of another integration", func(h *flows.HoursSpec, s *flows.PolicySpec) {
			h.Outside, h.Flow = "", "dev-read"
			s.Integrations = append(s.Integrations, flows.IntegrationSpec{Name: "dev", ProjectID: "5cf5a45a9ccf6400e60981b7", Owners: []string{"group:dba"}})
			s.Flows = append(s.Flows, flows.FlowSpec{Name: "dev-read", Integration: "dev", Requesters: []string{"*"}, Resources: []string{"*"}, Roles: []string{"read"}, Approvers: []string{"owners"}})
		}, "flows[0].hours.flow", "access flow dev-read grants database_user on dev"},
		{"a chain", func(h *flows.HoursSpec, s *flows.PolicySpec) {
			h.Outside, h.Flow = "", "orders-read"
			s.Flows[2].Hours = &flows.HoursSpec{Zone: "UTC", Days: "mon", From: "00:00", To: "01:00", Flow: "prod-write"}
		}, "flows[0].hours.flow", "sends requests outside its own hours on to prod-write"},
		{"zero approvals", func(h *flows.HoursSpec, _ *flows.PolicySpec) { h.Outside, h.Approvals = "", -1 }, "flows[0].hours.approvals", "at least 1"},
		{"approvals of an auto-approved flow", func(h *flows.HoursSpec, s *flows.PolicySpec) {
			h.Outside, h.Approvals = "", 1
			s.Flows[0].AutoApprove, s.Flows[0].Approvers = true, nil
		}, "flows[0].hours.approvals", "no approvers to ask"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := testPolicy()
			h := ok
			tt.mutate(&h, &spec)
			spec.Flows[0].Hours = &h
			_, err := flows.Compile(spec)
			if err == nil || !strings.Contains(err.Error(), tt.path+": ") || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("want %s: …%s…, got %v", tt.path, tt.want, err)
			}
		})
	}
}

// TestHoursAtSubmit: outside the window, as the flow says: refused, more
// approvals, or another flow; the cards' note says why. Inside, as usual.
func TestHoursAtSubmit(t *testing.T) {
	// t0 is the fixture's clock; the window is the hour of t0 in UTC on its weekday.
	inside := t0
	outside := t0.Add(2 * time.Hour)
	day := strings.ToLower(t0.Weekday().String()[:3])
	window := func(h flows.HoursSpec) func(*flows.PolicySpec, *flows.Config) {
		return func(s *flows.PolicySpec, _ *flows.Config) {
			h.Zone, h.Days = "UTC", day
			h.From, h.To = t0.Format("15")+":00", t0.Add(time.Hour).Format("15")+":00"
			s.Flows[0].Hours = &h
			s.Flows[0].Approvers = []string{"owners", "group:dba"}
		}
	}
	tests := []struct {
		name      string
		hours     flows.HoursSpec
		at        time.Time
		refused   string
		flow      string
		approvals int
		note      string
	}{
		{"inside: as usual", flows.HoursSpec{Outside: "refuse"}, inside, "", "prod-read", 1, ""},
		{"outside: refused", flows.HoursSpec{Outside: "refuse"}, outside, "access flow prod-read takes requests " + day + " ", "", 0, ""},
		{"outside: more approvals", flows.HoursSpec{Approvals: 2}, outside, "", "prod-read", 2, "outside working hours: 2 approvals"},
		{"outside: another flow", flows.HoursSpec{Flow: "orders-read"}, outside, "", "orders-read", 1, "outside working hours: through access flow orders-read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, window(tt.hours))
			f.clock.Set(tt.at)
			r, err := f.submit("carol@example.com", "prod/Cluster0/sales/customers", "read", time.Hour, "INC-1 a slow query")
			if tt.refused != "" {
				if flows.ErrorCode(err) != flows.EFORBIDDEN || !strings.Contains(err.Error(), tt.refused) || !strings.Contains(err.Error(), "it is ") {
					t.Fatalf("want a refusal …%s…, got %v", tt.refused, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Flow != tt.flow || r.Quorum != tt.approvals || r.RoutingNote != tt.note {
				t.Fatalf("flow %s quorum %d note %q; want %s %d %q", r.Flow, r.Quorum, r.RoutingNote, tt.flow, tt.approvals, tt.note)
			}
			if got := f.get(r.ID).RoutingNote; got != tt.note {
				t.Fatalf("the store kept note %q", got)
			}
		})
	}
}
