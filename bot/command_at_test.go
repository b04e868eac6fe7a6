package bot

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

func TestParseScheduledRequest(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no time zone database:", err)
	}
	tests := []struct {
		text   string
		start  time.Time
		reason string
		err    string
	}{
		{`request prod/Cluster0/sales read 2h at 2026-12-24T02:00 Europe/Berlin "maintenance"`, time.Date(2026, 12, 24, 2, 0, 0, 0, berlin), "maintenance", ""},
		{`request prod/Cluster0/sales read 2h at 2026-12-24T02:00 UTC maintenance`, time.Date(2026, 12, 24, 2, 0, 0, 0, time.UTC), "maintenance", ""},
		{`request prod/Cluster0/sales read 2h at 2026-12-24T02:00`, time.Date(2026, 12, 24, 2, 0, 0, 0, time.UTC), "", ""},
		{`request prod/Cluster0/sales read 2h at the office`, time.Time{}, "at the office", ""},
		{`request prod/Cluster0/sales read 2h at 24.12.2026 "x"`, time.Time{}, "", "is not a start time"},
		{`request prod/Cluster0/sales read 2h at 2026-12-24T02:00 Mars/Olympus "x"`, time.Time{}, "", `"Mars/Olympus" is not a time zone`},
		// A combined grant, later: from comes before at.
		{`request prod/Cluster0/sales read 2h from 198.51.100.7 at 2026-12-24T02:00 Europe/Berlin "maintenance"`, time.Date(2026, 12, 24, 2, 0, 0, 0, berlin), "maintenance", ""},
	}
	for _, tt := range tests {
		cmd, err := Parse(tt.text)
		if tt.err != "" {
			if flows.ErrorCode(err) != flows.EINVALID || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: want …%s…, got %v", tt.text, tt.err, err)
			}
			continue
		}
		if strings.Contains(tt.text, " from ") && cmd.Resource.Address != "198.51.100.7/32" {
			t.Errorf("%s: address %q", tt.text, cmd.Resource.Address)
		}
		if err != nil || !cmd.StartAt.Equal(tt.start) || cmd.Reason != tt.reason || cmd.Duration != 2*time.Hour {
			t.Errorf("%s: %v %v %q", tt.text, err, cmd.StartAt, cmd.Reason)
		}
	}
}
