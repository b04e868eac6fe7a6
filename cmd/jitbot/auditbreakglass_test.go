package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
)

// TestAuditExportBreakGlass: -break-glass keeps the events of break-glass
// uses in the review state asked for, each with it; other events are left
// out, and a state it does not know is a usage error.
func TestAuditExportBreakGlass(t *testing.T) {
	h := rigtest.New(t, nil)
	db, err := store.Open(h.StorePath(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	ev := func(typ flows.EventType, id string, min int) flows.Event {
		return flows.Event{Type: typ, RequestID: flows.RequestID(id), Actor: "alice@example.com", At: at.Add(time.Duration(min) * time.Minute)}
	}
	for _, e := range []flows.Event{
		ev(flows.EventSubmitted, "open000001", 0), ev(flows.EventBrokeGlass, "open000001", 0), ev(flows.EventActivated, "open000001", 1),
		ev(flows.EventBrokeGlass, "late000001", 2), ev(flows.EventReviewReminded, "late000001", 60), ev(flows.EventReviewOverdue, "late000001", 120),
		ev(flows.EventBrokeGlass, "done000001", 3), ev(flows.EventReviewOverdue, "done000001", 121), ev(flows.EventReviewed, "done000001", 130),
		ev(flows.EventAutoApproved, "auto000001", 4),
	} {
		if err := db.AppendEvents(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		state string
		want  []string // request id, type, state
	}{
		{"all", []string{"open000001 break_glass open", "late000001 break_glass overdue", "late000001 break_glass_review_reminded overdue",
			"late000001 break_glass_review_overdue overdue", "done000001 break_glass reviewed", "done000001 break_glass_review_overdue reviewed",
			"done000001 break_glass_reviewed reviewed"}},
		{"open", []string{"open000001 break_glass open"}},
		{"overdue", []string{"late000001 break_glass overdue", "late000001 break_glass_review_reminded overdue", "late000001 break_glass_review_overdue overdue"}},
		{"reviewed", []string{"done000001 break_glass reviewed", "done000001 break_glass_review_overdue reviewed", "done000001 break_glass_reviewed reviewed"}},
	}
	for _, tt := range tests {
		code, out := runCLI("audit", "export", "-config", h.ConfigPath, "-break-glass", tt.state)
		if code != 0 {
			t.Fatalf("%s: exit %d %s", tt.state, code, out)
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var l struct {
				Type, RequestID, ReviewState string
			}
			if err := jsonUnmarshal(line, &l); err != nil {
				t.Fatalf("%s: %v: %s", tt.state, err, line)
			}
			got = append(got, l.RequestID+" "+l.Type+" "+l.ReviewState)
		}
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s:\n got %q\nwant %q", tt.state, got, tt.want)
		}
	}
	if code, out := runCLI("audit", "export", "-config", h.ConfigPath, "-break-glass", "pending"); code != 2 || !strings.Contains(out, `-break-glass "pending": want one of all, open, overdue, reviewed`) {
		t.Fatalf("a bad state: exit %d %s", code, out)
	}
}

func jsonUnmarshal(line string, v *struct{ Type, RequestID, ReviewState string }) error {
	var raw struct {
		Type        string `json:"type"`
		RequestID   string `json:"request_id"`
		ReviewState string `json:"review_state"`
	}
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		return err
	}
	v.Type, v.RequestID, v.ReviewState = raw.Type, raw.RequestID, raw.ReviewState
	return nil
}
