package app_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
)

// writeFlow is a flow approved by group:dba, whose members the reloads change.
const writeFlow = `  - name: sales-write
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales"]
    roles: [readWrite]
    max_duration: 2h
    approvers: [group:dba]
`

func scrape(t *testing.T, h *rigtest.Harness) string {
	t.Helper()
	resp, err := http.Get(h.URL("/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// TestPolicyReloadsWhenTheFileChanges: a new file's groups and flows are put
// in force while jitbot runs; an invalid one is refused, the running policy
// kept and the reason shown in the status, the log and /metrics; an
// approver the new policy drops can no longer decide a request made before.
func TestPolicyReloadsWhenTheFileChanges(t *testing.T) {
	h := rigtest.New(t, nil)
	h.EditConfig("  dba: [dana@example.com]\n", "  dba: [dana@example.com, dba2@example.com]\n")
	h.EditConfig("flows:\n", "flows:\n"+writeFlow)
	h.StartWith(app.Options{PolicyPoll: 10 * time.Millisecond})
	svc := h.Main.Service()
	first := svc.Policy().Hash()
	if s := h.Main.StatusNow(h.Ctx).Policy; s.Hash != first || s.Flows != 2 || s.ReloadError != "" {
		t.Fatalf("status at start: %+v", s)
	}
	if m := scrape(t, h); !strings.Contains(m, `jitbot_policy_info{hash="`+first+`"} 1`) || !strings.Contains(m, "jitbot_policy_reload_errors_total 0") {
		t.Fatalf("metrics at start:\n%s", m)
	}
	res, _ := flows.ParseResource("prod/Cluster0/sales")
	r, err := svc.Submit(h.Ctx, flows.SubmitInput{Requester: "alice@example.com", Resource: res, Roles: []string{"readWrite"}, Reason: "INC-1 fix the index"})
	if err != nil || r.PolicyHash != first || strings.Join(r.Approvers, ",") != "dana@example.com,dba2@example.com" {
		t.Fatalf("submit: %+v %v", r, err)
	}

	// A typo: refused, the running policy stays.
	h.EditConfig("    approvers: [group:dba]\n", "    aprovers: [group:dba]\n")
	h.Eventually("the reload to be refused", func() bool { return h.Main.StatusNow(h.Ctx).Policy.ReloadError != "" })
	s := h.Main.StatusNow(h.Ctx).Policy
	if s.Hash != first || svc.Policy().Hash() != first ||
		!strings.Contains(s.ReloadError, "flows[0].aprovers: unknown key: did you mean approvers?") || s.ReloadFailedAt.IsZero() {
		t.Fatalf("status after an invalid file: %+v", s)
	}
	if !strings.Contains(h.Logs(), `"msg":"policy reload refused: the running policy stays"`) {
		t.Fatalf("the refusal is not logged:\n%s", h.Logs())
	}
	if m := scrape(t, h); !strings.Contains(m, "jitbot_policy_reload_errors_total 1") {
		t.Fatalf("metrics after a refused reload:\n%s", m)
	}

	// Fixed, and dba2 leaves the group: in force at once.
	h.EditConfig("    aprovers: [group:dba]\n", "    approvers: [group:dba]\n")
	h.EditConfig("  dba: [dana@example.com, dba2@example.com]\n", "  dba: [dana@example.com]\n")
	h.Eventually("the new policy to be in force", func() bool { return svc.Policy().Hash() != first })
	second := svc.Policy().Hash()
	h.Eventually("the status to show it", func() bool {
		s := h.Main.StatusNow(h.Ctx).Policy
		return s.Hash == second && s.ReloadError == ""
	})
	if m := scrape(t, h); !strings.Contains(m, `jitbot_policy_info{hash="`+second+`"} 1`) || strings.Contains(m, first) {
		t.Fatalf("metrics after the reload:\n%s", m)
	}
	if _, err := svc.Decide(h.Ctx, flows.DecideInput{RequestID: r.ID, Actor: "dba2@example.com", Approve: true}); flows.ErrorCode(err) != flows.EFORBIDDEN ||
		!strings.Contains(err.Error(), "no longer an approver") {
		t.Fatalf("a click by the approver the reload removed: %v", err)
	}
	if got, err := svc.Decide(h.Ctx, flows.DecideInput{RequestID: r.ID, Actor: "dana@example.com", Approve: true}); err != nil || got.State != flows.StateActive {
		t.Fatalf("a click by an approver still in the group: %+v %v", got, err)
	}
	if stored, _ := h.Main.Store().Get(h.Ctx, r.ID); stored.PolicyHash != first {
		t.Fatalf("the store lost the request's policy hash: %q", stored.PolicyHash)
	}

	// Listeners and integrations change only on restart.
	h.EditConfig("reminder_before: 15m\n", "reminder_before: 20m\n")
	h.Eventually("the restart to be asked for", func() bool {
		return strings.Join(h.Main.StatusNow(h.Ctx).Policy.RestartNeeded, ",") == "reminder_before"
	})
	if svc.Policy().Hash() != second || !strings.Contains(h.Logs(), `"changed":["reminder_before"]`) {
		t.Fatalf("a change for the restart: hash %s; log:\n%s", svc.Policy().Hash(), h.Logs())
	}
	h.EditConfig("project_id: "+rig.Project, "project_id: 0123456789abcdef01234567")
	h.Eventually("a changed integration to be refused", func() bool {
		return strings.Contains(h.Main.StatusNow(h.Ctx).Policy.ReloadError, "the integrations (names or project ids) changed")
	})
	if svc.Policy().Hash() != second {
		t.Fatal("a reload that changes the integrations was applied")
	}
}

// TestPolicyReloadsOnRequest: serve's SIGHUP reloads at once, whatever the
// file polling does (here none).
func TestPolicyReloadsOnRequest(t *testing.T) {
	h := rigtest.New(t, nil)
	reload := make(chan struct{})
	h.StartWith(app.Options{Reload: reload, PolicyPoll: -1})
	svc := h.Main.Service()
	first := svc.Policy().Hash()
	h.EditConfig("admins: [dana@example.com]\n", "admins: [dana@example.com, olivia@example.com]\n")
	time.Sleep(50 * time.Millisecond)
	if svc.Policy().Hash() != first {
		t.Fatal("the file was reloaded without polling or a request")
	}
	reload <- struct{}{}
	h.Eventually("the new admins to be in force", func() bool { return svc.Policy().IsAdmin("olivia@example.com") })
	if err := h.Main.ReloadPolicy(h.Ctx, "test"); err != nil {
		t.Fatalf("reloading the same file: %v", err)
	}
}
