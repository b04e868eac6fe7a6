package jira_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jitbot/jitbot/cmd/internal/jira"
	"github.com/jitbot/jitbot/cmd/internal/jira/jiratest"
	"github.com/jitbot/jitbot/flows"
)

func TestTicket(t *testing.T) {
	s := jiratest.New("bot@example.com", "tok")
	defer s.Close()
	s.Put(jiratest.Issue{Key: "OPS-1"})
	s.Put(jiratest.Issue{Key: "OPS-2", Status: "Done", Category: "done"})
	s.Put(jiratest.Issue{Key: "INC-3", Status: "Won't do", Category: "indeterminate", Resolved: true})
	c, err := jira.New(jira.Config{BaseURL: s.URL, Email: "bot@example.com", APIToken: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		want flows.Ticket
	}{
		{"OPS-1", flows.Ticket{Key: "OPS-1", Exists: true, Project: "OPS"}},
		{"OPS-2", flows.Ticket{Key: "OPS-2", Exists: true, Project: "OPS", Resolved: true}},
		{"INC-3", flows.Ticket{Key: "INC-3", Exists: true, Project: "INC", Resolved: true}},
		{"OPS-404", flows.Ticket{Key: "OPS-404"}},
	}
	for _, tt := range tests {
		got, err := c.Ticket(context.Background(), tt.key)
		if err != nil || got != tt.want {
			t.Errorf("%s: %+v %v, want %+v", tt.key, got, err, tt.want)
		}
	}
	if _, err := c.Ticket(context.Background(), "../admin"); flows.ErrorCode(err) != flows.EINVALID {
		t.Errorf("a path for a key: %v", err)
	}
	s.Throttle(1)
	if _, err := c.Ticket(context.Background(), "OPS-1"); flows.ErrorCode(err) != flows.EUNAVAILABLE || !strings.Contains(err.Error(), "429") {
		t.Errorf("throttled: %v", err)
	}
	bad, _ := jira.New(jira.Config{BaseURL: s.URL, Email: "bot@example.com", APIToken: "nope"})
	if _, err := bad.Ticket(context.Background(), "OPS-1"); flows.ErrorCode(err) != flows.EUNAVAILABLE || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
	bearer, _ := jira.New(jira.Config{BaseURL: s.URL, APIToken: "tok"})
	if got, err := bearer.Ticket(context.Background(), "OPS-1"); err != nil || !got.Exists {
		t.Errorf("bearer: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	p := jira.Config{Email: "not an email"}.Validate()
	paths := map[string]bool{}
	for _, fe := range p {
		paths[fe.Path] = true
	}
	if !paths["base_url"] || !paths["api_token"] || !paths["email"] {
		t.Fatalf("%v", p)
	}
}
