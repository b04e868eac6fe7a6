package scenario

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// TestExpiryUnderARateLimit: 100 grants in one project (Atlas's cap) due in
// the same second, Atlas's token bucket at 10 and 5 a minute. Told the
// bucket, jitbot starts revoking early enough that every user is gone by its
// deadline; all in simulated time.
func TestExpiryUnderARateLimit(t *testing.T) {
	res, err := Expiry(context.Background(), 100, 10, 5, time.Minute, true, t)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Expired != res.Grants || res.UsersLeft != 0 {
		t.Fatalf("%d of %d grants expired, %d Atlas users left", res.Expired, res.Grants, res.UsersLeft)
	}
	if res.MaxOverstay > SweepTick {
		t.Errorf("a user outlived its deadline by %s (budget: one tick, %s, plus a round trip)", res.MaxOverstay, SweepTick)
	}
	// 99 deletes at 5 a minute after a burst of 10 take about 18 minutes.
	if res.EarliestStart < 15*time.Minute {
		t.Errorf("revocations started only %s early", res.EarliestStart)
	}
	if len(res.Violations) > 0 {
		t.Errorf("spec violations: %v", res.Violations)
	}
	// The control: not told the bucket, jitbot revokes at the deadlines and
	// the bucket makes most of them late. (Otherwise the scenario proves
	// nothing.)
	cmp, err := Expiry(context.Background(), 100, 10, 5, time.Minute, false, t)
	if err != nil {
		t.Fatal(err)
	}
	if cmp.MaxOverstay <= 5*time.Minute || cmp.RateLimited == 0 || cmp.UsersLeft != 0 {
		t.Errorf("without planning: %+v", cmp)
	}
}

// TestChatOutage: every Slack and Teams call answers 429 Retry-After: 60
// for 10 minutes (simulated) while 100 grants (75 asked in Slack, 25 in
// Teams) expire one after the other: every Atlas user is deleted by its
// deadline, no chat call goes through during the outage, and afterwards
// every requester is told of the expiry and has the password removed from
// their credentials message, with nothing left in the outbox, nothing
// dropped and nothing posted twice.
func TestChatOutage(t *testing.T) {
	if testing.Short() {
		// About 10 s once Slack's Send answers a 429 with bot.RateLimited
		// at once; a minute while it sleeps out the Retry-Afters itself.
		t.Skip("a minute of real time")
	}
	began := time.Now()
	res, err := Outage(context.Background(), 100, 10*time.Minute, time.Minute, t)
	t.Logf("%+v (in %s)", res, time.Since(began).Round(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() {
		t.Fatalf("problems: %v", res.Problems)
	}
	if res.InSlack != 75 || res.InTeams != 25 {
		t.Fatalf("%d grants asked in Slack, %d in Teams", res.InSlack, res.InTeams)
	}
}

// TestDowntime: jitbot is down while 50 grants expire; the sweep it runs at
// start-up deletes every user.
func TestDowntime(t *testing.T) {
	res, err := Downtime(context.Background(), 50, t)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Sweeps != 1 || res.UsersLeft != 0 || res.Expired != res.Grants || res.Deletes != res.Grants {
		t.Fatalf("after the restart: %+v", res)
	}
}

// TestDuplicateDelivery: every Slack slash command, click and event
// delivered four times (retries marked with X-Slack-Retry-Num), every Teams
// activity four times, and ten concurrent Approve clicks per request, across
// both platforms: one request each, one Atlas create each, one audit record
// per transition.
func TestDuplicateDelivery(t *testing.T) {
	res, err := Duplicates(context.Background(), t)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Non200 != 0 || res.Requests != 2 || res.Creates != 2 || res.AtlasUsers != 2 || res.CredentialDMs != 2 || res.HomePublishes != 1 {
		t.Fatalf("duplicates got through: %+v", res)
	}
	if res.MaxPerTransition != 1 {
		t.Fatalf("a transition was recorded %d times: %v", res.MaxPerTransition, res.Transitions)
	}
	for _, typ := range []string{"submitted", "approved", "provisioning", "activated"} {
		if res.Transitions[typ] != 2 {
			t.Errorf("%d %s records for 2 requests: %v", res.Transitions[typ], typ, res.Transitions)
		}
	}
}

// TestClickToCredentials: with latency on every Atlas call and a delay
// before Atlas applies changes, each grant's life takes one create, one
// delete, status polls and no list. (Its timing is a figure of
// jitbot-bench, not a test.)
func TestClickToCredentials(t *testing.T) {
	res, err := ClickToCredentials(context.Background(), 3, 20*time.Millisecond, 300*time.Millisecond, t)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if len(res.Samples) != 3 || res.Creates != 1 || res.Deletes != 1 || res.Lists != 0 || res.Polls < 1 {
		t.Fatalf("Atlas calls per grant: %+v", res)
	}
	// The credentials DM, nothing else, for every grant: the outbox sends
	// them before the cards catch up with the approval.
	for i, n := range res.SlackCallsByGrant {
		if n != 1 {
			t.Errorf("grant %d: %d Slack calls from the click to the credentials", i, n)
		}
	}
	if len(res.SlackCallsByGrant) != 3 || res.SlackCallsMax != 1 {
		t.Fatalf("Slack calls from the click to the credentials: %v, max %d (%v)", res.SlackCallsByGrant, res.SlackCallsMax, res.SlackMethods)
	}
}

// TestLoad: slash commands and clicks at 200 a second, some replayed: no
// answer is a 5xx or missing, and no delivery makes a second request or a
// second Atlas user. (The latencies are figures of jitbot-bench.)
func TestLoad(t *testing.T) {
	res, err := Load(context.Background(), 200, 2*time.Second, t)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Errors != 0 || res.Server5xx() != 0 || res.Status[200] != res.Sent {
		t.Fatalf("answers: %+v", res.Status)
	}
	if res.Duplicates != 0 || res.Requests > res.ByKind["request"] || res.Requests == 0 || res.Creates != res.Approved {
		t.Fatalf("duplicates: %+v", res)
	}
	if res.ByKind["request replay"] == 0 || res.ByKind["click cancel"] == 0 || res.ByKind["click approve"] == 0 {
		t.Fatalf("the load lacks a kind of request: %v", res.ByKind)
	}
}

// TestScale: jitbot starts on a store with a history, resumes nothing, and
// its sweeps find nothing due. (Start-up time, heap and sweep time at 100k
// requests and 1M audit records are figures of jitbot-bench.)
func TestScale(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jitbot as a subprocess")
	}
	res, err := Scale(context.Background(), jitbotExe, t.TempDir(), 1000, 10_000, 20, t)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", res)
	if res.Sweeps != 20 || res.Due != 0 || res.StartToReady <= 0 || res.ServeToReady <= 0 || res.ServeHeap == 0 {
		t.Fatalf("%+v", res)
	}
}

// TestCrash runs `jitbot serve` as a process (the jitbot binary TestMain
// built) and kills it with SIGKILL 10 times (JITBOT_CRASH_RUNS: more;
// jitbot-bench runs 200): at random points of random journeys in Slack and
// Teams, and every other time the instant jitbot has acknowledged a slash
// command, a submitted request form, an Approve click or a Teams message
// (each at least once). It checks after every kill and at the end: no
// orphaned Atlas user, no active grant without its user, the audit chain
// intact and in agreement with every request, nothing left half-done, no
// user kept past its deadline plus a tick and a round trip; every
// acknowledged request made and every acknowledged click recorded exactly
// once, and answered; every message the audit log asked for delivered (the
// outbox empty, each request's people told of its end, of their
// credentials, of what waits for them); and every message posted twice
// into a conversation explained by a kill between its arrival and the
// commit that records it.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("runs jitbot as a subprocess")
	}
	// A fixed seed picks the same journeys each time (the kills still land
	// wherever real time puts them); JITBOT_CRASH_SEED tries others.
	seed, runs := uint64(1), 10
	if v := os.Getenv("JITBOT_CRASH_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("JITBOT_CRASH_SEED: %v", err)
		}
		seed = n
	}
	if v := os.Getenv("JITBOT_CRASH_RUNS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 8 {
			t.Fatalf("JITBOT_CRASH_RUNS: %q: want a number, at least 8 (every kind of ack kill)", v)
		}
		runs = n
	}
	t.Logf("seed %d, %d kills", seed, runs)
	res, err := Crash(context.Background(), jitbotExe, runs, 400*time.Millisecond, 3*time.Minute, seed, t)
	t.Logf("%d runs in %s: %d checks, actions %v, ack kills %v, %d requests %v, audit %d records, settled in %s",
		res.Runs, res.Wall.Round(time.Second), res.Checks, res.Actions, res.AckKills, res.Requests, res.ByState, res.AuditRecords, res.Settle.Round(time.Millisecond))
	t.Logf("%d acknowledged actions followed (%d right before a kill): %d lost, %d done twice, %d (%d) refused and answered; %d messages: %d lost, %d repeats (%d explained, leaving %d stale copies of cards)",
		res.Acked, res.AckedAfterKill, res.LostRequests, res.DuplicateRequests, res.Refused, res.RefusedAfterKill, res.Messages, res.LostMessages, res.Repeats, res.RepeatsExplained, res.StaleCopies)
	for _, r := range res.Explained {
		t.Logf("repeat: %s", r)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Failed() || res.Runs != runs {
		t.Fatalf("%+v", res)
	}
	// Slack finds what a killed process posted (the delivery is in the
	// message's metadata) instead of posting it again; Teams cannot.
	if n := res.RepeatsOn["slack"]; n != 0 {
		t.Errorf("%d messages repeated on Slack, want none", n)
	}
	t.Logf("requests by kind %v, granted %v", res.ByKind, res.GrantedByKind)
	// Every kind is asked for; which are approved before they time out is
	// the dice's (the bench's 200 kills grant every kind many times).
	others := 0
	for _, k := range []flows.Kind{flows.KindDatabaseUser, flows.KindAtlasUI, flows.KindAccessListEntry, flows.KindServiceAccount, flows.KindAPIKey} {
		if res.ByKind[k] == 0 {
			t.Errorf("no %s request across the kills: %v", k, res.ByKind)
		}
		if k != flows.KindDatabaseUser {
			others += res.GrantedByKind[k]
		}
	}
	if res.GrantedByKind[flows.KindDatabaseUser] == 0 || others == 0 {
		t.Errorf("too few grants to check: %v", res.GrantedByKind)
	}
	// The workflows (crash_workflows.go): seeded, some are due whatever the dice.
	t.Logf("workflows: %d reminders and tiers checked (%d lost, %d unplanned), %d scheduled starts (%d lost)", res.Nudges, res.LostNudges, res.ExtraNudges, res.Starts, res.LostStarts)
	if res.Nudges == 0 || res.Starts == 0 {
		t.Errorf("no reminder or no scheduled start to check: %d, %d", res.Nudges, res.Starts)
	}
	for _, kind := range AckKinds {
		if res.AckKills[kind] == 0 {
			t.Errorf("no kill right after the ack of a %s: %v", kind, res.AckKills)
		}
	}
	// What is acknowledged right before a kill asks for what nobody else
	// has: it is made, not refused, and so checked to be made once.
	if res.AckedAfterKill < runs/2 || res.RefusedAfterKill*2 > res.AckedAfterKill || res.Messages == 0 {
		t.Errorf("too little to check: %d actions acknowledged right before a kill, %d of them refused; %d messages", res.AckedAfterKill, res.RefusedAfterKill, res.Messages)
	}
}
