package slack

import (
	"slices"
	"strings"
	"testing"
)

func TestUserGroupMembers(t *testing.T) {
	h := newHarness(t)
	h.slack.AddUserGroup("S0ONCALL", "db-oncall", alice.ID, carol.ID)
	h.slack.AddUserGroup("S0EMPTY", "nobody")
	got, err := h.bot.UserGroupMembers(h.ctx, "db-oncall")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{alice.Email, carol.Email}) {
		t.Fatalf("members: %v", got)
	}
	if got, err := h.bot.UserGroupMembers(h.ctx, "nobody"); err != nil || len(got) != 0 {
		t.Fatalf("empty group: %v %v", got, err)
	}
	if _, err := h.bot.UserGroupMembers(h.ctx, "ghosts"); err == nil || !strings.Contains(err.Error(), "no user group @ghosts") {
		t.Fatalf("unknown group: %v", err)
	}
	if n := len(h.slack.CallsTo("usergroups.users.list")); n != 2 {
		t.Fatalf("usergroups.users.list calls: %d", n)
	}
}
