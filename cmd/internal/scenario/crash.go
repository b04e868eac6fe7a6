package scenario

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
)

// The crash scenario runs `jitbot serve` as a real process (the jitbot
// binary, which jitbot-bench builds or is given) against the simulators,
// sends a random burst of journeys (submit, approve, deny, cancel, revoke,
// extend) through the signed Slack handlers, and kills it with SIGKILL at a random moment up
// to maxKillDelay later, run after run. Grants last one or two minutes, so
// those made early expire during later runs, some while jitbot is down.
// After every kill it checks, with jitbot down, that
//   - every Atlas user labelled managed-by=jitbot belongs to a request that
//     holds access under that username (no orphan),
//   - every active grant's user exists,
//   - the audit chain verifies, and
//   - every request agrees with its audit trail and its state (the last
//     event led to the state it is in; one submission; an active grant has
//     its user, its start and its deadline = start + duration + extensions;
//     an ended one its end).
// Every other run ends instead right after an ack (crash_ack.go), and after
// every kill no acknowledged action has been done twice.
// After the last run it starts jitbot once more, lets it settle (nothing
// under way, the inbox and the outbox empty), and checks the same again,
// plus that no grant kept its Atlas user past its deadline plus one sweep
// tick plus one round trip while jitbot was up, that every acknowledged
// action was done once and answered, and that every message was delivered,
// any repeat explained by a kill (chatlog.go). The workflows (reminders,
// escalation tiers, scheduled starts) are seeded and asked for too, and
// checked after every kill and at the end (crash_workflows.go).

// CrashResult is what the crash scenario found.
type CrashResult struct {
	Runs     int
	Actions  map[string]int
	Requests int
	ByState  map[flows.State]int
	// ByKind counts the requests of each kind, and those of each kind that
	// held access at some point (active, expired or revoked at the end).
	ByKind, GrantedByKind map[flows.Kind]int
	Checks                int      // invariant checks made (after each kill, and at the end)
	Orphans               int      // Atlas users without a request holding them, summed over the checks
	Missing               int      // active grants without their Atlas user, summed over the checks
	PastDeadline          int      // grants whose user outlived deadline + tick + round trip while jitbot ran
	Problems              []string // inconsistencies found (the first few)
	AuditRecords          uint64
	AuditOK               bool
	Unsettled             int // requests still approved, provisioning or revoking after the settle time
	Settle                time.Duration
	Violations            []string
	Wall                  time.Duration

	// AckKills counts the kills right after an ack, by what was acknowledged
	// (AckKinds); ClickFallbacks the runs that had nothing to click on (the
	// inbox behind) and acknowledged a slash command instead.
	AckKills       map[string]int
	ClickFallbacks int
	// Acked is the acknowledged submissions and Approve clicks followed to
	// their effect (AckedAfterKill of them right before a kill);
	// LostRequests those never done or never answered, DuplicateRequests
	// those done twice, Refused (RefusedAfterKill) those jitbot refused and
	// said why (a request under way on that resource already, a click on a
	// request that timed out meanwhile).
	Acked, AckedAfterKill, LostRequests, DuplicateRequests, Refused, RefusedAfterKill int
	// Messages is what jitbot posted into conversations (Slack, Teams);
	// LostMessages what the audit log asked for and nobody got.
	Messages, LostMessages int
	// Repeats are messages posted twice into one conversation; Explained
	// (RepeatsExplained of them) by a kill in their send-to-commit window,
	// Unexplained by nothing.
	Repeats, RepeatsExplained int
	Explained, Unexplained    []string
	// RepeatsOn counts the repeats by platform: Slack finds a message a
	// killed process posted (its metadata names the delivery) and records
	// it instead; Teams cannot look one up.
	RepeatsOn map[string]int
	// StaleCopies are approval cards that still offer Approve on a decided
	// request because they were posted as jitbot was killed and never
	// recorded (the first copy of an explained repeat, or the only one when
	// the request was decided before the card was due again): no refresh
	// can reach them.
	StaleCopies int

	// The workflows (crash_workflows.go): Nudges are the reminders and
	// escalation tiers checked against their due times, LostNudges those
	// due while jitbot ran and not done in time, ExtraNudges those done
	// when none was due; Starts the scheduled requests approved ahead,
	// LostStarts those not provisioned, active or ended in time.
	Nudges, LostNudges, ExtraNudges, Starts, LostStarts int
}

// Failed reports whether any invariant was broken.
func (c CrashResult) Failed() bool {
	return c.Orphans > 0 || c.Missing > 0 || c.PastDeadline > 0 || len(c.Problems) > 0 || !c.AuditOK || c.Unsettled > 0 || len(c.Violations) > 0 ||
		c.LostRequests > 0 || c.DuplicateRequests > 0 || c.LostMessages > 0 || c.Repeats != c.RepeatsExplained ||
		c.LostNudges > 0 || c.ExtraNudges > 0 || c.LostStarts > 0
}

// crashFlow: grants of one or two minutes, extendable to three, pending
// requests time out after two.
const crashFlow = `  - name: crash
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*", "Cluster0/sales"]
    roles: [read]
    default_duration: 1m
    max_duration: 3m
    approvers: [owners]
    require_reason: true
    pending_ttl: 2m
`

const (
	crashSeeded     = 10 // grants made before the first run, expiring during the runs
	crashSeedPrefix = "seed"
	crashUsers      = 40
	crashRoundTrip  = time.Second // allowance for one Atlas round trip in the deadline check
)

var crashResources = []string{"prod/Cluster0/sales/orders", "prod/Cluster0/sales/customers", "prod/Cluster0/sales"}

// crashRun is the scenario's state.
type crashRun struct {
	r       *rig.Rig
	exe     string
	addr    string
	rng     *rand.Rand
	res     *CrashResult
	poster  *rig.Poster
	admin   *app.AdminClient
	people  map[string]slacktest.User // by email
	journal []string                  // what the current run did, for reports
	logPath string

	teamsPeople map[string]teamstest.Member // the requesters in Teams, by email
	live        map[string]int              // requests under way by requester, as of the run's start
	busy        map[string]bool             // requester and resource of a request under way, as of the run's start
	asked       map[string]int              // requester and resource of acknowledged requests: the run that asked
	seq         int                         // makes reasons unique
	kindTurn    int                         // the other kind the next such request asks for
	acked       []acked                     // acknowledged actions, to be done exactly once
	reserved    map[string]bool             // requests an ack kill clicks on: the bursts leave them alone
	touched     map[string]bool             // requests a burst acted on
	twice       map[string]bool             // acked markers already counted as done twice
	formsUsed   map[string]bool             // request forms submitted
	kills       []time.Time                 // when each killed process was gone
	stops       []time.Time                 // when each last start that left messages to send stopped (Crash)
	ups         []time.Time                 // when each process answered, after its start
	starts      []time.Time                 // when each process was started
	schedAsked  map[string]bool             // requester and resource of scheduled requests asked for (crash_workflows.go)
	chat        chatLog                     // what jitbot wrote, read at the end
}

// Crash runs the crash scenario: runs kills, then a settle of at most
// settle. exe is the jitbot binary.
func Crash(ctx context.Context, exe string, runs int, maxKillDelay, settle time.Duration, seed uint64, reporter atlastest.Reporter) (CrashResult, error) {
	res := CrashResult{Actions: map[string]int{}, ByState: map[flows.State]int{}, AckKills: map[string]int{},
		ByKind: map[flows.Kind]int{}, GrantedByKind: map[flows.Kind]int{}}
	if exe == "" {
		return res, errors.New("crash: no jitbot binary to run")
	}
	began := time.Now()
	addr, err := rig.FreeAddr()
	if err != nil {
		return res, err
	}
	var users []slacktest.User
	people := map[string]slacktest.User{rig.Olivia.Email: rig.Olivia, rig.Dana.Email: rig.Dana}
	for i := range crashUsers {
		u := rig.Requester(i)
		users = append(users, u)
		people[u.Email] = u
	}
	r, err := rig.New(rig.Options{Slack: true, Teams: true, SlackUsers: users, Listen: addr, ApplyPolls: 1, Flows: crashFlow + crashKindFlows + crashWorkflowFlows,
		AtlasRoles: crashAtlasRoles, OrgOwner: true, Reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.Close()
	cfg, err := r.Config()
	if err != nil {
		return res, err
	}
	c := &crashRun{r: r, exe: exe, addr: addr, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), res: &res,
		poster: rig.NewPoster(addr), admin: app.NewAdminClient(cfg), people: people, logPath: filepath.Join(r.Dir, "serve.log"),
		teamsPeople: map[string]teamstest.Member{}, reserved: map[string]bool{}, touched: map[string]bool{}, asked: map[string]int{}, twice: map[string]bool{}, formsUsed: map[string]bool{},
		schedAsked: map[string]bool{}}
	defer c.poster.Close()
	if path := os.Getenv("CRASH_DEBUG"); path != "" {
		// jitbot's log, kept whatever the outcome.
		defer func() {
			raw, _ := os.ReadFile(c.logPath)
			_ = os.WriteFile(path, raw, 0o600)
		}()
	}
	for i := range crashTeamsUsers {
		m := teamsRequester(i)
		r.BF.AddMember(teamsConv(m), m)
		c.teamsPeople[m.Email] = m
	}
	var everyone []string
	for e := range people {
		everyone = append(everyone, e)
	}
	for e := range c.teamsPeople {
		everyone = append(everyone, e)
	}
	if err := joinTheOrganization(r, everyone); err != nil {
		return res, err
	}

	if err := c.seedExpiring(ctx, crashSeeded); err != nil {
		return res, err
	}
	if err := c.seedWorkflows(ctx); err != nil {
		return res, err
	}
	for run := range runs {
		c.journal = c.journal[:0]
		c.starts = append(c.starts, time.Now())
		p, err := serve(ctx, c.r, c.exe, c.addr, c.logPath)
		if err != nil {
			return res, fmt.Errorf("run %d: %w", run, err)
		}
		c.ups = append(c.ups, time.Now())
		views := c.grants(ctx)
		ack, target := "", ""
		if run%2 == 1 {
			ack = AckKinds[(run/2)%len(AckKinds)]
			if ack == ackClick {
				target = c.clickTarget(views)
			}
		}
		c.burst(ctx, views)
		if ack != "" {
			if err := c.ackThenKill(ctx, p, ack, target); err != nil {
				c.kills = append(c.kills, time.Now())
				return res, fmt.Errorf("run %d: %s: %w (%s)", run, ack, err, strings.Join(c.journal, "; "))
			}
		} else {
			delay := time.Duration(c.rng.Int64N(int64(maxKillDelay) + 1))
			c.note("kill -9 after %s", delay)
			time.Sleep(delay)
			p.Kill()
		}
		c.kills = append(c.kills, time.Now())
		res.Runs++
		if err := c.check(ctx, false, time.Time{}); err != nil {
			return res, fmt.Errorf("after run %d (%s): %w", run, strings.Join(c.journal, "; "), err)
		}
	}

	// The last start: jitbot catches up, finishes what the kills left, and
	// runs long enough (two sweep ticks at least) for the deadline check.
	// A stop as a sweep ends a grant (or times a request out) leaves its
	// notice in the outbox, committed and unsent: jitbot then starts again
	// to send it (at most twice), and the check finds it sent.
	var stopped time.Time
	for start := 0; ; start++ {
		var left int
		var err error
		if stopped, err = c.lastStart(ctx, settle, &res); err != nil {
			return res, err
		}
		if left, err = c.outboxLeft(ctx); err != nil {
			return res, err
		}
		if left == 0 || start == 2 {
			break
		}
		c.stops = append(c.stops, stopped)
	}
	if err := c.check(ctx, true, stopped); err != nil {
		return res, fmt.Errorf("at the end: %w", err)
	}
	res.Violations = r.Atlas.SpecViolations()
	res.Wall = time.Since(began)
	return res, nil
}

// lastStart starts jitbot once more, without new requests, lets it settle
// (nothing under way, nothing to send, two sweep ticks at least, at most
// settle) while checking the deadlines, and stops it; it returns when.
func (c *crashRun) lastStart(ctx context.Context, settle time.Duration, res *CrashResult) (time.Time, error) {
	c.journal = c.journal[:0]
	c.starts = append(c.starts, time.Now())
	p, err := serve(ctx, c.r, c.exe, c.addr, c.logPath)
	if err != nil {
		return time.Time{}, fmt.Errorf("final start: %w", err)
	}
	up := time.Now()
	c.ups = append(c.ups, up)
	settleBy := up.Add(settle)
	for {
		views, err := c.admin.Grants(ctx, "all")
		if err != nil {
			p.Kill()
			return time.Time{}, err
		}
		st, err := c.admin.Status(ctx)
		if err != nil {
			p.Kill()
			return time.Time{}, err
		}
		c.pastDeadline(views, up)
		c.otherKindsPastDeadline(views, up)
		busy := 0
		for _, v := range views {
			switch flows.State(v.State) {
			case flows.StateApproved, flows.StateProvisioning, flows.StateRevoking, flows.StateRevokeFailed:
				busy++
			}
		}
		// Nothing under way, nothing waiting to be done or said.
		idle := busy == 0 && st.Pipeline.Inbox == 0 && st.Pipeline.Outbox == 0 && st.Pipeline.Error == ""
		if (idle && time.Since(up) > 2*SweepTick) || time.Now().After(settleBy) {
			res.Unsettled = busy + st.Pipeline.Inbox
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	res.Settle += time.Since(up)
	stopped := time.Now()
	if err := p.Stop(); err != nil {
		return stopped, fmt.Errorf("final stop: %w", err)
	}
	return stopped, nil
}

// outboxLeft is how many messages jitbot, stopped, left in its outbox.
func (c *crashRun) outboxLeft(ctx context.Context) (int, error) {
	db, err := store.Open(c.r.StorePath(), store.Options{ReadOnly: true, LockTimeout: 10 * time.Second})
	if err != nil {
		return 0, err
	}
	defer db.Close()
	n, _, err := db.OutboxDepth(ctx)
	return n, err
}

func (c *crashRun) note(format string, args ...any) {
	c.journal = append(c.journal, fmt.Sprintf(format, args...))
}

// serve starts `jitbot serve` on the rig's configuration, its output
// appended to logPath, and waits until it answers.
func serve(ctx context.Context, r *rig.Rig, exe, addr, logPath string) (*rig.Proc, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	p, err := rig.Serve(ctx, exe, r.ConfigPath, addr, logf)
	if err != nil {
		return nil, fmt.Errorf("%w:\n%s", err, rig.TailFile(logPath, 3000))
	}
	return p, nil
}

// seedExpiring records n grants made a minute ago through the full
// sequence of transitions, their Atlas users included, due one after
// another from a few seconds into the runs: grants of at least a minute
// (the policy's least) made during the runs would mostly outlast them.
// jitbot is not running; the store is written as it would have.
func (c *crashRun) seedExpiring(ctx context.Context, n int) error {
	db, err := store.Open(c.r.StorePath(), store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	now := time.Now()
	for i := range n {
		u := rig.Requester(i)
		activated := now.Add(-time.Minute + 5*time.Second + time.Duration(i)*4*time.Second)
		created := activated.Add(-time.Second)
		r := &flows.Request{
			ID: flows.RequestID(fmt.Sprintf("%s%06d", crashSeedPrefix, i)), Requester: u.Email, Resource: flows.Resource{Integration: "prod", Cluster: rig.ClusterName, Database: "sales", Collection: "orders"},
			Kind: flows.KindDatabaseUser, Roles: []string{"read"}, Duration: time.Minute, Reason: "seeded", Origin: "slack", Flow: "crash", Approvers: []string{rig.Olivia.Email},
			Quorum: 1, MaxDuration: 3 * time.Minute, DenyReasonRequired: true, State: flows.StatePending,
			CreatedAt: created, UpdatedAt: created, PendingUntil: created.Add(2 * time.Minute),
		}
		ev := flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: created, To: flows.StatePending, Message: r.Reason, Duration: r.Duration}
		if _, _, err := db.Create(ctx, r, ev, ""); err != nil {
			return err
		}
		username := flows.DatabaseUser().Principal(r.Requester, r.ID)
		backstop := activated.Add(time.Minute + time.Hour).Truncate(time.Second)
		steps := []func(r *flows.Request) (flows.Event, error){
			func(r *flows.Request) (flows.Event, error) { return r.Approve(rig.Olivia.Email, created) },
			func(r *flows.Request) (flows.Event, error) {
				return r.StartProvisioning(created, created.Add(2*time.Minute), username, backstop, time.Time{})
			},
			func(r *flows.Request) (flows.Event, error) { return r.Activate(activated, 15*time.Minute) },
		}
		for _, step := range steps {
			if _, err := db.Update(ctx, r.ID, func(r *flows.Request) ([]flows.Event, error) {
				ev, err := step(r)
				return []flows.Event{ev}, err
			}); err != nil {
				return err
			}
		}
		if err := c.r.Atlas.AddUser(rig.Project, atlastest.User{
			Username: username, Roles: []atlastest.Role{{RoleName: "read", DatabaseName: "sales", CollectionName: "orders"}},
			Scopes: []atlastest.Scope{{Name: rig.ClusterName, Type: "CLUSTER"}}, DeleteAfterDate: backstop,
			Labels: []atlastest.Label{{Key: "managed-by", Value: "jitbot"}, {Key: "jitbot-request", Value: string(r.ID)}},
		}, "seeded-password"); err != nil {
			return err
		}
	}
	return nil
}

// grants lists the requests (nil when jitbot does not answer) and counts
// the requests under way per requester.
func (c *crashRun) grants(ctx context.Context) []app.GrantView {
	views, err := c.admin.Grants(ctx, "all")
	if err != nil {
		c.note("no list: %v", err)
		views = nil
	}
	c.noteLive(views)
	return views
}

// burst sends one to four random actions, each acknowledged before the
// next, on the requests as views lists them.
func (c *crashRun) burst(ctx context.Context, views []app.GrantView) {
	// The seeded grants are left alone, to expire, and so are the requests
	// an ack kill clicks on.
	in := func(states ...flows.State) []app.GrantView {
		var out []app.GrantView
		for _, v := range views {
			if slices.Contains(states, flows.State(v.State)) && !strings.HasPrefix(v.ID, crashSeedPrefix) && !c.reserved[v.ID] {
				out = append(out, v)
			}
		}
		return out
	}
	pick := func(vs []app.GrantView) app.GrantView { return vs[c.rng.IntN(len(vs))] }
	for range 1 + c.rng.IntN(4) {
		pending, active := in(flows.StatePending), in(flows.StateActive)
		live := in(flows.StateApproved, flows.StateProvisioning, flows.StateActive)
		actions := []string{"submit", "submit", "submit", "teams", "scheduled", "approve", "approve", "approve", "deny", "cancel", "revoke", "extend"}
		action := actions[c.rng.IntN(len(actions))]
		switch {
		case (action == "approve" || action == "deny" || action == "cancel") && len(pending) == 0,
			action == "revoke" && len(live) == 0, action == "extend" && len(active) == 0:
			action = "submit"
		}
		var err error
		switch action {
		case "submit", "teams":
			var a acked
			email, res := c.requester(action == "teams", "")
			a, err = c.submit(ctx, email, res, false)
			c.note("%s", a)
		case "scheduled":
			var a acked
			a, err = c.submitScheduled(ctx)
			c.note("scheduled %s", a)
		case "approve":
			// The other kinds first: fewer of them are asked for.
			v := pick(pending)
			if others := slices.DeleteFunc(slices.Clone(pending), func(v app.GrantView) bool { return flows.Kind(v.Kind) == flows.KindDatabaseUser }); len(others) > 0 && c.rng.IntN(2) == 0 {
				v = pick(others)
			} else if later := c.scheduledPending(pending); len(later) > 0 && c.rng.IntN(2) == 0 {
				v = pick(later) // and scheduled ones, approved ahead of their start
			}
			c.touched[v.ID] = true
			err = c.click(ctx, rig.Olivia, "approve:"+v.ID)
			c.note("approve %s", v.ID)
		case "deny":
			v := pick(pending)
			c.touched[v.ID] = true
			err = c.deny(ctx, v.ID)
			c.note("deny %s", v.ID)
		case "cancel":
			v := pick(pending)
			c.touched[v.ID] = true
			err = c.say(ctx, v.Requester, "cancel "+v.ID)
			c.note("cancel %s", v.ID)
		case "revoke":
			v := pick(live)
			who := v.Requester
			if c.rng.IntN(3) == 0 {
				who = rig.Dana.Email // an admin
			}
			err = c.say(ctx, who, "revoke "+v.ID+" done")
			c.note("revoke %s (%s, %s)", v.ID, v.State, who)
		case "extend":
			v := pick(active)
			err = c.say(ctx, v.Requester, "extend "+v.ID+" 1m")
			c.note("extend %s", v.ID)
		}
		c.res.Actions[action]++
		if err != nil {
			c.note("  failed: %v", err)
		}
	}
}

func (c *crashRun) slash(ctx context.Context, u slacktest.User, text string) error {
	_, err := c.poster.Send(ctx, "/slack/commands", c.r.SlashForm(u, text, c.r.Slack.NewTriggerIDFor(u.ID)))
	return err
}

func (c *crashRun) click(ctx context.Context, u slacktest.User, value string) error {
	form, err := c.r.ClickForm(u, value, value, slacktest.Message{})
	if err != nil {
		return err
	}
	_, err = c.poster.Send(ctx, "/slack/interactions", form)
	return err
}

// deny clicks Deny, which opens the reason form before the click is
// acknowledged, and submits the form.
func (c *crashRun) deny(ctx context.Context, id string) error {
	if err := c.click(ctx, rig.Olivia, "deny:"+id); err != nil {
		return err
	}
	views := c.r.Slack.Views()
	for i := len(views) - 1; i >= 0; i-- {
		v := views[i]
		if v.CallbackID != "jit_deny" || !strings.Contains(v.PrivateMetadata, id) {
			continue
		}
		form, err := slacktest.InteractionForm(slacktest.ViewSubmission(slacktest.Submission{
			UserID: rig.Olivia.ID, TeamID: c.r.Slack.TeamID(), ViewID: v.ID, CallbackID: v.CallbackID, PrivateMetadata: v.PrivateMetadata,
			Values: map[string]map[string]slackgo.BlockAction{"reason": {"reason": slacktest.TextValue("not now")}},
		}))
		if err != nil {
			return err
		}
		_, err = c.poster.Send(ctx, "/slack/interactions", form)
		return err
	}
	return errors.New("no deny form was opened")
}

// pastDeadline counts grants whose Atlas user is still there more than a
// tick and a round trip after its deadline (or after jitbot came up, when
// the deadline passed while it was down).
func (c *crashRun) pastDeadline(views []app.GrantView, up time.Time) {
	byUser := map[string]app.GrantView{}
	for _, v := range views {
		if v.Username != "" {
			byUser[v.Username] = v
		}
	}
	now := time.Now()
	for _, u := range c.r.ManagedUsers() {
		v, ok := byUser[u.Username]
		if !ok || v.ExpiresAt.IsZero() {
			continue
		}
		due := v.ExpiresAt
		if due.Before(up) {
			due = up
		}
		if now.Sub(due) > SweepTick+crashRoundTrip {
			c.res.PastDeadline++
			c.problem("user %s of request %s (%s) is still in Atlas %s after its deadline %s", u.Username, v.ID, v.State, now.Sub(v.ExpiresAt).Round(time.Millisecond), v.ExpiresAt.Format(time.RFC3339Nano))
		}
	}
}

func (c *crashRun) problem(format string, args ...any) {
	if len(c.res.Problems) < 20 {
		c.res.Problems = append(c.res.Problems, fmt.Sprintf(format, args...))
	}
}

// check verifies the invariants with jitbot down, reading its store.
func (c *crashRun) check(ctx context.Context, final bool, stopped time.Time) error {
	c.res.Checks++
	db, err := store.Open(c.r.StorePath(), store.Options{ReadOnly: true, LockTimeout: 10 * time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	sum, err := db.VerifyAudit(ctx)
	c.res.AuditOK = err == nil
	c.res.AuditRecords = sum.Records
	if err != nil {
		return fmt.Errorf("the audit chain: %w", err)
	}
	rs, err := db.Find(ctx, flows.Query{})
	if err != nil {
		return err
	}
	events := map[string][]flows.Event{}
	if err := db.Audit(ctx, time.Time{}, func(rec flows.AuditRecord) error {
		events[string(rec.Event.RequestID)] = append(events[string(rec.Event.RequestID)], rec.Event)
		return nil
	}); err != nil {
		return err
	}
	byID := map[string]*flows.Request{}
	before := len(c.res.Problems)
	for _, r := range rs {
		byID[string(r.ID)] = r
		for _, p := range consistency(r, events[string(r.ID)]) {
			c.problem("request %s (%s): %s", r.ID, r.State, p)
		}
	}
	users := map[string]bool{}
	for _, u := range c.r.ManagedUsers() {
		users[u.Username] = true
		id, _ := u.Label("jitbot-request")
		if r := byID[id]; r == nil || !r.State.HoldsAccess() || r.Principal != u.Username {
			c.res.Orphans++
			state := "no request"
			if r != nil {
				state = string(r.State)
			}
			c.problem("orphan: Atlas user %s of request %s (%s)", u.Username, id, state)
		}
	}
	c.checkOtherKinds(rs, time.Now())
	for _, r := range rs {
		if r.State == flows.StateActive && r.Kind == flows.KindDatabaseUser && !users[r.Principal] {
			c.res.Missing++
			c.problem("active grant %s has no Atlas user %s", r.ID, r.Principal)
		}
	}
	if final {
		c.res.Requests = len(rs)
		for _, r := range rs {
			c.res.ByState[r.State]++
			c.res.ByKind[r.Kind]++
			if !r.ActivatedAt.IsZero() {
				c.res.GrantedByKind[r.Kind]++
			}
		}
		c.chat = readChat(c.r.Slack, c.r.BF)
	}
	c.checkWorkflows(rs, events, final, stopped)
	c.res.Acked = len(c.acked)
	c.checkOnce(rs, events, final)
	if final {
		if err := c.checkMessages(ctx, db, rs, events, sum.Records); err != nil {
			return err
		}
	}
	if len(c.res.Problems) > before {
		return fmt.Errorf("%d problem(s): %s", len(c.res.Problems)-before, strings.Join(c.res.Problems[before:], "; "))
	}
	return nil
}

// consistency lists how a request disagrees with its audit trail or with
// what its state implies.
func consistency(r *flows.Request, evs []flows.Event) []string {
	var out []string
	bad := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if len(evs) == 0 {
		return []string{"no audit record"}
	}
	submitted := 0
	var extended time.Duration
	for _, ev := range evs {
		switch ev.Type {
		case flows.EventSubmitted:
			submitted++
		case flows.EventExtended:
			extended += ev.Duration
		}
	}
	if submitted != 1 || evs[0].Type != flows.EventSubmitted {
		bad("%d submissions, first record %s", submitted, evs[0].Type)
	}
	if last := evs[len(evs)-1]; last.To != r.State {
		bad("the last audit record (%s) left it %s", last.Type, last.To)
	}
	switch {
	case r.State == flows.StateActive:
		if r.Principal == "" || r.ActivatedAt.IsZero() {
			bad("active without a user or a start")
		}
		start := r.ActivatedAt
		if r.Scheduled() {
			start = r.StartsAt // its window, whenever it was provisioned (crash_workflows.go)
		}
		if want := start.Add(r.Duration + extended); !r.ExpiresAt.Equal(want) {
			bad("expires at %s, not start + duration + extensions = %s", r.ExpiresAt, want)
		}
	case r.State == flows.StateProvisioning || r.State == flows.StateRevokeFailed:
		if r.Principal == "" {
			bad("%s without a username", r.State)
		}
	case r.State.Terminal():
		if r.EndedAt.IsZero() {
			bad("ended without an end time")
		}
		if (r.State == flows.StateExpired || r.State == flows.StateRevoked) && r.EndState != r.State {
			bad("ended %s but was revoking towards %s", r.State, r.EndState)
		}
	}
	return out
}

// deaths are the kills, each with the start of the process after it: one
// process runs at a time, so whatever the fakes stamp in between was
// written by the killed one.
func (c *crashRun) deaths() []death {
	out := deaths(c.kills)
	for i := range out {
		if i+1 < len(c.starts) {
			out[i].Next = c.starts[i+1]
		}
	}
	return out
}
