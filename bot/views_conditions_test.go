package bot

import "testing"

// TestApprovalCardSaysWhyOutsideHours: a request routed otherwise outside
// working hours says so on the approvers' cards.
func TestApprovalCardSaysWhyOutsideHours(t *testing.T) {
	r := pendingRequest()
	if got := field(ApprovalCard(r, Viewer{Email: "bob@example.com"}), "Why"); got != "" {
		t.Fatalf("a request routed as usual says why: %q", got)
	}
	r.RoutingNote, r.Quorum = "outside working hours: 2 approvals", 2
	if got := field(ApprovalCard(r, Viewer{Email: "bob@example.com"}), "Why"); got != "outside working hours: 2 approvals" {
		t.Fatalf("why: %q", got)
	}
}
