package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
)

// jitbot report: the access review, from the running server's admin API,
// and from the store when no server runs.
func TestReport(t *testing.T) {
	h := rigtest.New(t, nil)
	addr := rigtest.FreePort(t)
	h.UseAddr(addr)
	h.StartAt(addr)
	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-77 slow orders")
	card := h.WaitDM(rig.Olivia, "orders")
	h.Click(addr, rig.Olivia, card, "approve:")
	h.WaitDM(rig.Alice, "Password")

	report := func(args ...string) []app.ReportRow {
		t.Helper()
		code, out := runCLI(append([]string{"report", "-format", "json", "-config", h.ConfigPath}, args...)...)
		if code != 0 {
			t.Fatalf("report %v: exit %d\n%s", args, code, out)
		}
		var rows []app.ReportRow
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("report %v: %v\n%s", args, err, out)
		}
		return rows
	}
	rows := report("-since", "1h")
	if len(rows) != 1 {
		t.Fatalf("rows: %+v", rows)
	}
	r := rows[0]
	if r.Person != rig.Alice.Email || r.Resource != "prod/Cluster0/sales/orders" || r.Reason != "INC-77 slow orders" ||
		len(r.ApprovedBy) != 1 || r.ApprovedBy[0] != rig.Olivia.Email || r.MFA || r.BreakGlass || r.State != "active" || !r.Ended.IsZero() {
		t.Fatalf("row: %+v", r)
	}
	if rows := report("-person", "bob@example.com"); len(rows) != 0 {
		t.Fatalf("bob's rows: %+v", rows)
	}
	if rows := report("-resource", "prod/Cluster0/*", "-flow", r.Flow); len(rows) != 1 {
		t.Fatalf("by resource and flow: %+v", rows)
	}
	code, out := runCLI("report", "-config", h.ConfigPath)
	if code != 0 || !strings.HasPrefix(out, "request_id,person,kind,resource,roles,flow,reason,approved_by,auto_approved,mfa,break_glass,") ||
		!strings.Contains(out, r.RequestID+","+rig.Alice.Email) {
		t.Fatalf("csv: exit %d\n%s", code, out)
	}

	h.Stop()
	// No server: the CLI reads the store itself.
	if rows := report(); len(rows) != 1 || rows[0].RequestID != r.RequestID {
		t.Fatalf("offline: %+v", rows)
	}
	for _, bad := range [][]string{{"-format", "xml"}, {"-since", "yesterday"}, {"-until", "soon"}, {"-since", "1h", "-until", "2h"}} {
		if code, out := runCLI(append([]string{"report", "-config", h.ConfigPath}, bad...)...); code != 2 {
			t.Errorf("report %v: exit %d, want a usage error\n%s", bad, code, out)
		}
	}
}
