package pagerduty_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/pagerduty"
	"github.com/jitbot/jitbot/cmd/internal/pagerduty/pagerdutytest"
	"github.com/jitbot/jitbot/flows"
)

func TestOnCallReadsEveryPage(t *testing.T) {
	s := pagerdutytest.New("k1")
	defer s.Close()
	var entries []pagerdutytest.OnCall
	var want []string
	for i := range 230 {
		e := fmt.Sprintf("p%03d@example.com", i)
		entries = append(entries, pagerdutytest.Person(i, strings.ToUpper(e[:1])+e[1:], "S1"))
		want = append(want, e)
	}
	entries = append(entries, pagerdutytest.OnCall{UserID: "PX", Email: "lead@example.com", Policy: "PPOL", Level: 2},
		pagerdutytest.OnCall{UserID: "PY", Email: "l1@example.com", Policy: "PPOL", Level: 1})
	s.Set(entries...)
	c, err := pagerduty.New(pagerduty.Config{APIKey: "k1", BaseURL: s.URL})
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.OnCall(context.Background(), flows.OnCallQuery{Schedules: []string{"S1"}})
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("%v: got %d emails", err, len(got))
	}
	if s.Requests() != 3 {
		t.Fatalf("%d requests, want 3 pages of 100", s.Requests())
	}
	got, err = c.OnCall(context.Background(), flows.OnCallQuery{EscalationPolicies: []string{"PPOL"}, Levels: []int{2}})
	if err != nil || !slices.Equal(got, []string{"lead@example.com"}) {
		t.Fatalf("level 2: %v %v", got, err)
	}
}

func TestOnCallErrors(t *testing.T) {
	s := pagerdutytest.New("k1")
	defer s.Close()
	wrong, _ := pagerduty.New(pagerduty.Config{APIKey: "nope", BaseURL: s.URL})
	if _, err := wrong.OnCall(context.Background(), flows.OnCallQuery{Schedules: []string{"S1"}}); flows.ErrorCode(err) != flows.EUNAVAILABLE || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong key: %v", err)
	}
	c, _ := pagerduty.New(pagerduty.Config{APIKey: "k1", BaseURL: s.URL})
	s.Throttle(1)
	if _, err := c.OnCall(context.Background(), flows.OnCallQuery{Schedules: []string{"S1"}}); flows.ErrorCode(err) != flows.EUNAVAILABLE || !strings.Contains(err.Error(), "retry after 2s") {
		t.Fatalf("throttled: %v", err)
	}
	s.Close()
	if _, err := c.OnCall(context.Background(), flows.OnCallQuery{Schedules: []string{"S1"}}); flows.ErrorCode(err) != flows.EUNAVAILABLE {
		t.Fatalf("down: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if p := (pagerduty.Config{}).Validate(); len(p) != 1 || p[0].Path != "api_key" {
		t.Fatalf("%v", p)
	}
	if p := (pagerduty.Config{APIKeyFile: "/run/secrets/pd"}).Validate(); len(p) != 0 {
		t.Fatalf("%v", p)
	}
	if _, err := pagerduty.New(pagerduty.Config{}); err == nil {
		t.Fatal("New without a key")
	}
}
