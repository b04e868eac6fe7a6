package app_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// The admins get last month's access review once, through the outbox.
func TestMonthlyAccessReview(t *testing.T) {
	clock := flowstest.NewClock(time.Date(2026, 11, 16, 10, 0, 0, 0, time.UTC))
	h := rigtest.New(t, clock)
	h.Start()
	addr := h.Addr()
	h.Slash(addr, rig.Alice, "request prod/Cluster0/sales/orders read 1h INC-9 month end")
	card := h.WaitDM(rig.Olivia, "INC-9")
	h.Click(addr, rig.Olivia, card, "approve:")
	h.WaitDM(rig.Alice, "Password")

	clock.Set(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC))
	if err := h.Main.MonthlyReview(h.Ctx); err != nil {
		t.Fatal(err)
	}
	dm := h.WaitDM(rig.Dana, "Access review for November 2026")
	text := dm.AllText()
	for _, want := range []string{"1 grant to 1 person", "0 approved with MFA, 1 approved without", "1 still held", rig.Alice.Email,
		"jitbot report -since 2026-11-01T00:00:00Z -until 2026-12-01T00:00:00Z"} {
		if !strings.Contains(text, want) {
			t.Errorf("review lacks %q:\n%s", want, text)
		}
	}
	// A second run in the same month (a restart, another replica) sends nothing.
	if err := h.Main.MonthlyReview(h.Ctx); err != nil {
		t.Fatal(err)
	}
	h.Sent()
	if n := h.CountDMs(rig.Dana, "Access review"); n != 1 {
		t.Fatalf("%d reviews sent", n)
	}
}
