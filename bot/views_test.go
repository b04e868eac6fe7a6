package bot

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests name zones that a minimal system may lack

	"github.com/jitbot/jitbot/flows"
)

var t0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

func pendingRequest() *flows.Request {
	return &flows.Request{
		ID: "abc23def45", Requester: "alice@example.com",
		Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"},
		Roles:    []string{"read"}, Duration: time.Hour, Reason: "INC-123", Origin: "slack", Flow: "prod-read",
		Approvers: []string{"bob@example.com", "carol@example.com"}, Quorum: 1, MaxDuration: 8 * time.Hour,
		DenyReasonRequired: true, State: flows.StatePending, CreatedAt: t0, UpdatedAt: t0, PendingUntil: t0.Add(time.Hour),
	}
}

func activeRequest() *flows.Request {
	r := pendingRequest()
	must(r.Approve("bob@example.com", t0.Add(5*time.Minute)))
	must(r.StartProvisioning(t0.Add(5*time.Minute), t0.Add(7*time.Minute), "jit-alice-abc23def45", t0.Add(3*time.Hour), time.Time{}))
	must(r.Activate(t0.Add(6*time.Minute), 15*time.Minute))
	return r
}

func must(ev flows.Event, err error) flows.Event {
	if err != nil {
		panic(err)
	}
	return ev
}

func labels(bs []Button) []string {
	var out []string
	for _, b := range bs {
		out = append(out, b.Label+"="+b.ActionID)
	}
	return out
}

// credentials returns c as a notice carries it.
func credentials(c flows.Credentials) *flows.Credentials { return &c }

func field(c Card, label string) string {
	for _, f := range c.Fields {
		if f.Label == label {
			return f.Value
		}
	}
	return ""
}

func TestApprovalCardButtonsOnlyWhileWaitingForTheViewer(t *testing.T) {
	r := pendingRequest()
	bob := Viewer{Email: "bob@example.com"}
	want := []string{"Approve=approve:abc23def45", "Deny=deny:abc23def45"}

	for _, v := range []Viewer{bob, {Email: "carol@example.com"}, {}} {
		c := ApprovalCard(r, v)
		if !slices.Equal(labels(c.Actions), want) {
			t.Errorf("pending card for %q: buttons %v, want %v", v.Email, labels(c.Actions), want)
		}
	}
	if c := ApprovalCard(r, Viewer{Email: "alice@example.com"}); len(c.Actions) != 0 {
		t.Errorf("the requester is offered %v", labels(c.Actions))
	}
	c := ApprovalCard(r, bob)
	if c.Subtitle != "alice@example.com asks for read on prod/Cluster0/sales/orders for 1h" ||
		field(c, "Approvals") != "0 of 1" || field(c, "Reason") != "INC-123" || field(c, "Flow") != "prod-read" {
		t.Errorf("pending card: %s", c)
	}
	if !strings.Contains(c.Status, "Waiting for 1 approval from bob@example.com and carol@example.com · decide by Mon 23 Nov 10:00 UTC") {
		t.Errorf("status %q", c.Status)
	}

	must(r.Approve("bob@example.com", t0.Add(5*time.Minute)))
	for _, v := range []Viewer{bob, {Email: "carol@example.com"}, {}} {
		c := ApprovalCard(r, v)
		if len(c.Actions) != 0 {
			t.Errorf("approved card for %q still has %v", v.Email, labels(c.Actions))
		}
		if !strings.Contains(c.Status, "Approved by bob@example.com at Mon 23 Nov 09:05 UTC") {
			t.Errorf("approved status %q", c.Status)
		}
	}
}

func TestApprovalCardQuorum(t *testing.T) {
	r := pendingRequest()
	r.Quorum = 2
	must(r.Approve("bob@example.com", t0.Add(time.Minute)))
	bobCard := ApprovalCard(r, Viewer{Email: "bob@example.com"})
	carolCard := ApprovalCard(r, Viewer{Email: "carol@example.com"})
	if field(bobCard, "Approvals") != "1 of 2" || len(bobCard.Actions) != 0 || !strings.HasPrefix(bobCard.Status, "You approved; waiting for 1 approval from carol@example.com") {
		t.Errorf("bob after approving: %s", bobCard)
	}
	if len(carolCard.Actions) != 2 || !strings.HasPrefix(carolCard.Status, "Approved by bob@example.com; waiting for 1 approval from carol@example.com") {
		t.Errorf("carol: %s", carolCard)
	}
	if c := ApprovalCard(r, Viewer{}); len(c.Actions) != 2 {
		t.Errorf("channel card lost its buttons before the quorum: %s", c)
	}
	must(r.Approve("carol@example.com", t0.Add(2*time.Minute)))
	c := ApprovalCard(r, Viewer{})
	if field(c, "Approvals") != "2 of 2" || len(c.Actions) != 0 || !strings.HasPrefix(c.Status, "Approved by bob@example.com and carol@example.com at Mon 23 Nov 09:02 UTC") {
		t.Errorf("after quorum: %s", c)
	}
}

func TestApprovalCardFinalStates(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	v := Viewer{Email: "bob@example.com", Location: paris}
	tests := []struct {
		name   string
		mutate func(r *flows.Request)
		status string
		tone   Tone
	}{
		{"denied", func(r *flows.Request) { must(r.Deny("bob@example.com", "use the replica", t0.Add(time.Minute))) },
			"Denied by bob@example.com at Mon 23 Nov 10:01 CET: use the replica", ToneAlert},
		{"cancelled", func(r *flows.Request) { must(r.Cancel("alice@example.com", false, t0.Add(time.Minute))) },
			"Cancelled by alice@example.com at Mon 23 Nov 10:01 CET", ToneMuted},
		{"timed out", func(r *flows.Request) { must(r.TimeOut(t0.Add(time.Hour))) },
			"Timed out at Mon 23 Nov 11:00 CET: nobody decided in time", ToneMuted},
		{"active", func(r *flows.Request) { *r = *activeRequest() },
			"Approved by bob@example.com at Mon 23 Nov 10:05 CET · access active until Mon 23 Nov 11:06 CET", ToneGood},
		{"expired", func(r *flows.Request) {
			*r = *activeRequest()
			must(r.StartRevoking(t0.Add(66*time.Minute), flows.SystemActor, flows.StateExpired, "expired"))
			must(r.FinishRevocation(t0.Add(67 * time.Minute)))
		}, "Approved by bob@example.com at Mon 23 Nov 10:05 CET · access expired at Mon 23 Nov 11:07 CET", ToneMuted},
		{"revoked", func(r *flows.Request) {
			*r = *activeRequest()
			must(r.StartRevoking(t0.Add(10*time.Minute), "carol@example.com", flows.StateRevoked, "revoked by carol@example.com"))
			must(r.FinishRevocation(t0.Add(11 * time.Minute)))
		}, "Revoked by carol@example.com at Mon 23 Nov 10:11 CET", ToneMuted},
		{"revoke failed", func(r *flows.Request) {
			*r = *activeRequest()
			must(r.StartRevoking(t0.Add(10*time.Minute), "carol@example.com", flows.StateRevoked, "leaked"))
			r.Attempts = 6
			must(r.RetryRevocation(t0.Add(11*time.Minute), t0.Add(12*time.Minute), "Atlas is down", 6))
		}, "Revoked by carol@example.com; access is being removed · Atlas has not confirmed the removal yet; admins are alerted and jitbot keeps trying", ToneAlert},
		{"failed", func(r *flows.Request) {
			must(r.Approve("bob@example.com", t0.Add(time.Minute)))
			must(r.FailProvisioning(t0.Add(2*time.Minute), "Atlas refused the user"))
		}, "Approved by bob@example.com at Mon 23 Nov 10:01 CET · access could not be set up: Atlas refused the user", ToneAlert},
	}
	for _, tt := range tests {
		r := pendingRequest()
		tt.mutate(r)
		c := ApprovalCard(r, v)
		if c.Status != tt.status || c.Tone != tt.tone || len(c.Actions) != 0 {
			t.Errorf("%s:\n got %q (%s, %d buttons)\nwant %q (%s)", tt.name, c.Status, c.Tone, len(c.Actions), tt.status, tt.tone)
		}
	}
}

func TestExtensionCard(t *testing.T) {
	r := activeRequest()
	r.ExtendNeedsApproval = true
	ev := must(r.Extend("alice@example.com", time.Hour, t0.Add(30*time.Minute), 15*time.Minute))
	bob := Viewer{Email: "bob@example.com"}
	c := ExtensionCard(r, 1, ev, bob)
	if !slices.Equal(labels(c.Actions), []string{"Approve=approve-ext:abc23def45:1", "Deny=deny-ext:abc23def45:1"}) {
		t.Errorf("open extension: %v", labels(c.Actions))
	}
	if field(c, "Extension") != "+1h" || field(c, "Would end") != "Mon 23 Nov 11:06 UTC" || !strings.HasPrefix(c.Status, "Waiting for 1 approval") {
		t.Errorf("open extension: %s", c)
	}
	if c := ExtensionCard(r, 1, ev, Viewer{Email: "alice@example.com"}); len(c.Actions) != 0 {
		t.Errorf("requester offered %v", labels(c.Actions))
	}

	done := must(r.DecideExtension(1, "carol@example.com", true, "", t0.Add(31*time.Minute), 15*time.Minute))
	c = ExtensionCard(r, 1, done, bob)
	if len(c.Actions) != 0 || c.Status != "Approved by carol@example.com at Mon 23 Nov 09:31 UTC · access now ends at Mon 23 Nov 11:06 UTC" {
		t.Errorf("approved extension: %s", c)
	}
	if !ExtensionDecided(done, 1) || ExtensionDecided(done, 2) || !ExtensionCardChanges(done, 1) {
		t.Error("ExtensionDecided / ExtensionCardChanges")
	}

	ev2 := must(r.Extend("alice@example.com", 30*time.Minute, t0.Add(40*time.Minute), 15*time.Minute))
	denied := must(r.DecideExtension(2, "bob@example.com", false, "enough", t0.Add(41*time.Minute), 15*time.Minute))
	c = ExtensionCard(r, 2, denied, bob)
	if c.Status != "Denied by bob@example.com at Mon 23 Nov 09:41 UTC: enough" || c.Tone != ToneAlert {
		t.Errorf("denied extension: %s", c)
	}
	_ = ev2
	must(r.Extend("alice@example.com", 30*time.Minute, t0.Add(42*time.Minute), 15*time.Minute))
	rev := must(r.StartRevoking(t0.Add(43*time.Minute), "alice@example.com", flows.StateRevoked, ""))
	c = ExtensionCard(r, 3, rev, Viewer{})
	if len(c.Actions) != 0 || c.Status != "No longer waiting for a decision: the request is revoking" {
		t.Errorf("extension of an ending grant: %s", c)
	}
}

func TestExtendOptions(t *testing.T) {
	tests := []struct {
		max, used time.Duration
		want      string
	}{
		{8 * time.Hour, time.Hour, "[30m0s 1h0m0s 2h0m0s 4h0m0s]"},
		{3 * time.Hour, time.Hour, "[30m0s 1h0m0s 2h0m0s]"},
		{time.Hour + 20*time.Minute, time.Hour, "[20m0s]"},
		{time.Hour, time.Hour, "[]"},
	}
	for _, tt := range tests {
		r := activeRequest()
		r.MaxDuration = tt.max
		r.ExpiresAt = r.ActivatedAt.Add(tt.used)
		if got := fmt.Sprint(ExtendOptions(r)); got != tt.want {
			t.Errorf("max %s used %s: %s, want %s", tt.max, tt.used, got, tt.want)
		}
	}
	r := activeRequest()
	r.State = flows.StateExpired
	if len(ExtendOptions(r)) != 0 {
		t.Error("an expired grant offered extensions")
	}
}

func TestNoticeCards(t *testing.T) {
	ny, _ := time.LoadLocation("America/New_York")
	alice := Viewer{Email: "alice@example.com", Location: ny}
	r := activeRequest()
	creds := credentials(flows.DatabaseUserCredentials("jit-alice-abc23def45", flows.NewSecret("s3cr3t`*pw"), "mongodb+srv://cluster0.example.mongodb.net"))
	creds.Instructions = "mongosh ... --username jit-alice-abc23def45"

	c, ok := NoticeCard(flows.Notice{Event: flows.Event{Type: flows.EventActivated, At: r.ActivatedAt}, Request: r, Credentials: creds}, alice)
	if !ok || field(c, "Password") != "s3cr3t`*pw" || field(c, "Username") != "jit-alice-abc23def45" ||
		field(c, "Expires") != "Mon 23 Nov 05:06 EST" || field(c, "Access") != "Database user: read on prod/Cluster0/sales/orders" ||
		!strings.HasPrefix(c.Text, creds.Instructions) {
		t.Errorf("credentials: %s", c.Redacted())
	}
	if !slices.Equal(labels(c.Actions), []string{"Extend 30m=extend:abc23def45:30m", "Extend 1h=extend:abc23def45:1h", "Extend 2h=extend:abc23def45:2h",
		"Extend 4h=extend:abc23def45:4h", "I'm done: revoke=revoke:abc23def45"}) {
		t.Errorf("credentials buttons %v", labels(c.Actions))
	}
	// The password must not leak through printing or logging.
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("card", "card", c)
	for _, s := range []string{c.String(), fmt.Sprintf("%v %+v %#v", c, c, c), logs.String(), c.Summary()} {
		if strings.Contains(s, "s3cr3t") {
			t.Errorf("password leaked: %s", s)
		}
	}

	// Every other view is free of the password.
	for _, typ := range []flows.EventType{flows.EventSubmitted, flows.EventApproved, flows.EventReminder, flows.EventExpired, flows.EventRevoked} {
		c, _ := NoticeCard(flows.Notice{Event: flows.Event{Type: typ, At: t0}, Request: r, Credentials: creds}, alice)
		if c.HasSecret() || strings.Contains(c.String(), "s3cr3t") {
			t.Errorf("%s view carries the password", typ)
		}
	}

	reminder, ok := NoticeCard(flows.Notice{Event: flows.Event{Type: flows.EventReminder, At: r.ExpiresAt.Add(-15 * time.Minute)}, Request: r}, alice)
	if !ok || reminder.Subtitle != "read on prod/Cluster0/sales/orders ends at Mon 23 Nov 05:06 EST (in 15m)" || len(ExtendButtons(r)) != 4 || len(reminder.Actions) != 5 {
		t.Errorf("reminder: %s", reminder)
	}

	// Two extensions, their notices sent after both: each says the end it
	// set, not the last one (which two identical notices would).
	ext := activeRequest()
	first := must(ext.Extend("alice@example.com", time.Hour, t0, 0))
	second := must(ext.Extend("alice@example.com", time.Hour, t0.Add(time.Minute), 0))
	c1, ok1 := NoticeCard(flows.Notice{Event: first, Request: ext}, alice)
	c2, ok2 := NoticeCard(flows.Notice{Event: second, Request: ext}, alice)
	if !ok1 || !ok2 || c1.Subtitle != "read on prod/Cluster0/sales/orders now ends at Mon 23 Nov 06:06 EST" ||
		c2.Subtitle != "read on prod/Cluster0/sales/orders now ends at Mon 23 Nov 07:06 EST" {
		t.Errorf("two extensions: %q and %q", c1.Subtitle, c2.Subtitle)
	}
	// An event recorded before events carried their end says the request's.
	if old, _ := NoticeCard(flows.Notice{Event: flows.Event{Type: flows.EventExtended, At: t0, Duration: time.Hour}, Request: ext}, alice); old.Subtitle != c2.Subtitle {
		t.Errorf("an extension without its end: %q", old.Subtitle)
	}

	denied := pendingRequest()
	dev := must(denied.Deny("bob@example.com", "use the replica", t0.Add(time.Minute)))
	c, ok = NoticeCard(flows.Notice{Event: dev, Request: denied}, alice)
	if !ok || field(c, "Reason") != "use the replica" || field(c, "Denied by") != "bob@example.com" {
		t.Errorf("denied: %s", c)
	}

	// An approval is told by the credentials that follow (flows does not
	// address it to anybody), so it has no message of its own.
	silent := []flows.EventType{flows.EventApproved, flows.EventAutoApproved, flows.EventProvisioning, flows.EventProvisionRetry, flows.EventRevokeRetry, flows.EventRevoking, flows.EventBackstopMoved, flows.EventApprovalRecorded}
	for _, typ := range silent {
		if _, ok := NoticeCard(flows.Notice{Event: flows.Event{Type: typ}, Request: r}, alice); ok {
			t.Errorf("%s produced a message", typ)
		}
	}
	told := []flows.EventType{flows.EventSubmitted, flows.EventDenied, flows.EventCancelled,
		flows.EventTimedOut, flows.EventActivated, flows.EventApplyDelayed, flows.EventReminder, flows.EventExtended, flows.EventExtensionDenied,
		flows.EventExpired, flows.EventRevoked, flows.EventRevokeFailed, flows.EventProvisionFailed, flows.EventCredentialsRotated,
		flows.EventCredentialsUndelivered, flows.EventOrphanDeleted, flows.EventGrantMissing, flows.EventExtensionRequested}
	for _, typ := range told {
		c, ok := NoticeCard(flows.Notice{Event: flows.Event{Type: typ, At: t0, Message: "why", Principal: "jit-x"}, Request: r}, alice)
		if !ok || c.Title == "" {
			t.Errorf("%s: no message", typ)
		}
	}
	orphan, ok := NoticeCard(flows.Notice{Event: flows.Event{Type: flows.EventOrphanDeleted, Principal: "jit-bob-zzz", RequestID: "zzz", Message: "no request holds this user", At: t0}}, Viewer{})
	if !ok || field(orphan, "Atlas user") != "jit-bob-zzz" || orphan.Text != "no request holds this user" {
		t.Errorf("orphan: %s", orphan)
	}
}

func TestSummaryCardButtonsByViewer(t *testing.T) {
	pending := pendingRequest()
	if got := labels(SummaryCard(pending, Viewer{Email: "alice@example.com"}).Actions); !slices.Equal(got, []string{"Cancel request=cancel:abc23def45"}) {
		t.Errorf("requester, pending: %v", got)
	}
	if got := labels(SummaryCard(pending, Viewer{Email: "bob@example.com"}).Actions); len(got) != 2 || got[0] != "Approve=approve:abc23def45" {
		t.Errorf("approver, pending: %v", got)
	}
	if got := SummaryCard(pending, Viewer{Email: "eve@example.com"}).Actions; len(got) != 0 {
		t.Errorf("stranger: %v", labels(got))
	}
	active := activeRequest()
	got := labels(SummaryCard(active, Viewer{Email: "alice@example.com"}).Actions)
	if len(got) != 5 || got[4] != "Revoke=revoke:abc23def45" {
		t.Errorf("requester, active: %v", got)
	}
	active.ExtendNeedsApproval = true
	must(active.Extend("alice@example.com", time.Hour, t0.Add(20*time.Minute), 15*time.Minute))
	if got := labels(SummaryCard(active, Viewer{Email: "bob@example.com"}).Actions); !slices.Equal(got, []string{"Approve=approve-ext:abc23def45:1", "Deny=deny-ext:abc23def45:1"}) {
		t.Errorf("approver, extension: %v", got)
	}
}

func TestSubmittedCard(t *testing.T) {
	c := SubmittedCard(pendingRequest(), Viewer{Email: "alice@example.com"})
	if c.Title != "Request abc23def45 sent for approval" || field(c, "Approvers") != "bob@example.com and carol@example.com" ||
		!slices.Equal(labels(c.Actions), []string{"Cancel request=cancel:abc23def45"}) {
		t.Errorf("submitted: %s", c)
	}
	c = SubmittedCard(activeRequest(), Viewer{Email: "alice@example.com"})
	if c.Title != "Request abc23def45 approved" || len(c.Actions) != 0 || c.Status != "Active until Mon 23 Nov 10:06 UTC" {
		t.Errorf("auto-approved: %s", c)
	}
}

func TestApprovalCardChanges(t *testing.T) {
	if ApprovalCardChanges(flows.Event{Type: flows.EventReminder}) || ApprovalCardChanges(flows.Event{Type: flows.EventApprovalRecorded, Extension: 1}) {
		t.Error("reminders and extension approvals do not change the approval card")
	}
	if !ApprovalCardChanges(flows.Event{Type: flows.EventApprovalRecorded}) || !ApprovalCardChanges(flows.Event{Type: flows.EventExpired}) {
		t.Error("approvals and expiry change the approval card")
	}
}

func TestOutcomes(t *testing.T) {
	v := Viewer{Email: "alice@example.com"}
	r := activeRequest() // asked from Slack
	for _, tt := range []struct {
		name string
		card Card
		want string
	}{
		{"rotate where asked", RotateOutcome(r, v, "slack", "in your direct messages"), "New credentials were sent in your direct messages;"},
		{"rotate elsewhere", RotateOutcome(r, v, "teams", "here"), "New credentials were sent where you asked for access (slack);"},
		{"extend", ExtendOutcome(r, v, time.Hour), "Extended: access now ends at"},
		{"revoke", RevokeOutcome(r, v), "Revoked."},
		{"cancel", Outcome(pendingRequest(), v, "Cancelled."), "Cancelled."},
	} {
		if !strings.HasPrefix(tt.card.Text, tt.want) || tt.card.Title != SummaryCard(r, v).Title {
			t.Errorf("%s: %q, titled %q", tt.name, tt.card.Text, tt.card.Title)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{
		{"short", 5, "short"},
		{"longer", 5, "long…"},
		{"ééééé é", 3, "éé…"},
	} {
		if got := Truncate(tt.s, tt.n); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}
