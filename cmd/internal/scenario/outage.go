package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
)

// The chat outage (DESIGN §8: "every chat call 429 Retry-After 60 for 10 min
// while 100 grants expire: 0 s past deadline; every message delivered
// afterwards"), in simulated time: jitbot runs in this process on a clock
// the scenario moves, and so do the Atlas simulator, the Slack fake and the
// Bot Framework fake (whose outages end by it). The sweep is ticked every
// 5 s of simulated time, as the schedule would.
//
// n grants are made (three in four asked in Slack, one in four in Teams,
// each by a person of their own), their credentials and reminders
// delivered; then, for the outage's length, every Slack Web API call and
// response_url post and every Bot Framework connector call answers 429 with
// Retry-After, while the grants' deadlines fall one after the other inside
// it. Every Atlas user must be deleted by its deadline (chat is not waited
// on), no chat call may go through during the outage, and after it every
// requester must get the notice of their grant's expiry and have their
// credentials message rewritten without the password, with nothing left in
// the outbox, nothing dropped and nothing posted twice.

// OutageResult is what the outage scenario measured, in simulated time.
type OutageResult struct {
	Grants           int
	InSlack, InTeams int           // where the grants were asked for (and their requesters are told)
	Outage           time.Duration // how long every chat call answered 429
	RetryAfter       time.Duration
	// Expired counts the grants that ended expired; UsersLeft their Atlas
	// users still there at the end; MaxOverstay is the latest deletion
	// minus its deadline (<= 0: every user was gone by its deadline).
	Expired, UsersLeft int
	MaxOverstay        time.Duration
	// SlackRefused and TeamsRefused are chat calls answered 429 during the
	// outage; Through are those that went through anyway (must be 0).
	SlackRefused, TeamsRefused, Through int
	// Notices are the expiry notices delivered after the outage, Scrubbed
	// the credentials messages rewritten without their password, Lost what
	// was not delivered in the end (deliveries left in the outbox, notices
	// and rewrites missing), Undelivered deliveries dropped as such, and
	// Repeats messages posted twice into one conversation.
	Notices, Scrubbed, Lost, Undelivered, Repeats int
	// Caught up is how long after the outage's end the last of those
	// messages was delivered.
	CaughtUp   time.Duration
	Sweeps     int
	Problems   []string
	Violations []string
	Wall       time.Duration
}

// Failed says whether a budget or an invariant was broken.
func (o OutageResult) Failed() bool {
	return o.Expired != o.Grants || o.UsersLeft > 0 || o.MaxOverstay > 0 || o.Through > 0 || o.SlackRefused == 0 || o.TeamsRefused == 0 ||
		o.Notices != o.Grants || o.Scrubbed != o.Grants || o.Lost > 0 || o.Undelivered > 0 || o.Repeats > 0 || len(o.Problems) > 0 || len(o.Violations) > 0
}

// outageGrant is one grant of the scenario and where its requester hears.
type outageGrant struct {
	id   flows.RequestID
	conv string // "slack:D..." or "teams:..."
}

// Outage runs the chat outage: n grants expiring during an outage of the
// given length, every chat call answering 429 with Retry-After retryAfter
// meanwhile.
func Outage(ctx context.Context, n int, outage, retryAfter time.Duration, reporter atlastest.Reporter) (OutageResult, error) {
	res := OutageResult{Grants: n, Outage: outage, RetryAfter: retryAfter}
	began := time.Now()
	// Simulated time starts now: jitbot checks the tokens of Teams
	// messages (the requesters' hellos) against real time.
	t0 := time.Now().UTC().Truncate(time.Second)
	clock := newSimClock(t0)
	var slackUsers []slacktest.User
	var teamsUsers []teamstest.Member
	for i := range n {
		if i%4 == 3 {
			teamsUsers = append(teamsUsers, teamsRequester(i))
		} else {
			slackUsers = append(slackUsers, rig.Requester(i))
		}
	}
	r, err := rig.New(rig.Options{Clock: clock, SlackClock: true, TeamsClock: true, Slack: true, Teams: true, SlackUsers: slackUsers,
		Flows: autoApproveFlow, Reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.Close()
	for _, m := range teamsUsers {
		r.BF.AddMember(teamsConv(m), m)
	}
	if err := r.Start(ctx, app.Options{NoScheduler: true, AtlasSleep: clock.sleep}); err != nil {
		return res, err
	}
	db := r.Main.Store()
	problem := func(format string, args ...any) {
		if len(res.Problems) < 20 {
			res.Problems = append(res.Problems, fmt.Sprintf(format, args...))
		}
	}

	// Teams lets a bot write only to people who wrote to it: the Teams
	// requesters say hello first.
	for _, m := range teamsUsers {
		resp, err := r.BF.Deliver(ctx, "http://"+r.Addr()+"/teams/messages", r.BF.Message(teamsConv(m), m, "access help"))
		if err != nil {
			return res, err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return res, fmt.Errorf("teams: %s said hello: %s\n%s", m.Email, resp.Status, r.LogTail(2000))
		}
	}
	if err := waitReal(ctx, 20*time.Second, func() (bool, error) {
		for _, m := range teamsUsers {
			if len(r.BF.ActivitiesIn(teamsConv(m))) == 0 {
				return false, nil
			}
		}
		return true, nil
	}); err != nil {
		return res, fmt.Errorf("the Teams requesters were not answered: %w", err)
	}

	// The grants: one every spacing, so that their deadlines fall inside
	// the outage, 30 s after its start to 30 s before its end.
	const margin = 30 * time.Second
	duration := 40 * time.Minute
	spacing := (outage - 2*margin) / time.Duration(n)
	grants := make([]outageGrant, 0, n)
	deadlines := map[string]time.Time{} // by Atlas username
	for i := range n {
		clock.advanceTo(t0.Add(time.Duration(i) * spacing))
		origin, conv := "slack", "slack:"+slacktest.DMChannel(rig.Requester(i).ID)
		email := rig.Requester(i).Email
		if i%4 == 3 {
			m := teamsRequester(i)
			origin, conv, email = "teams", "teams:"+teamsConv(m), m.Email
		}
		req, err := r.Main.Service().Submit(ctx, flows.SubmitInput{
			Requester: email, Resource: flows.Resource{Integration: "prod", Cluster: rig.ClusterName, Database: "sales", Collection: "orders"},
			Roles: []string{"read"}, Duration: duration, Reason: fmt.Sprintf("outage %d", i), Origin: origin,
		})
		if err != nil {
			return res, fmt.Errorf("grant %d: %w", i, err)
		}
		if req.State != flows.StateActive {
			return res, fmt.Errorf("grant %d is %s, not active: %s", i, req.State, req.LastError)
		}
		grants = append(grants, outageGrant{id: req.ID, conv: conv})
		deadlines[req.Principal] = req.ExpiresAt
		if origin == "slack" {
			res.InSlack++
		} else {
			res.InTeams++
		}
	}
	start := t0.Add(duration - margin)
	end := start.Add(outage)

	// Up to the outage: the sweep sends the reminders; what was said before
	// it is delivered before it.
	tick := func(t time.Time, wait time.Duration) error {
		clock.advanceTo(t)
		r.Main.Sweep(ctx)
		res.Sweeps++
		return waitDispatched(ctx, db, clock, wait)
	}
	t := clock.Now()
	for ; t.Before(start); t = t.Add(SweepTick) {
		if err := tick(t, 50*time.Millisecond); err != nil {
			return res, err
		}
	}
	if err := waitReal(ctx, 30*time.Second, func() (bool, error) { return drained(ctx, db) }); err != nil {
		return res, fmt.Errorf("what was said before the outage was not delivered before it: %w", err)
	}

	// The outage: every chat call answers 429 while the grants expire.
	clock.advanceTo(start)
	r.Slack.Outage(end, retryAfter)
	r.BF.Outage(end, retryAfter)
	for t = start; t.Before(end); t = t.Add(SweepTick) {
		if err := tick(t, 100*time.Millisecond); err != nil {
			return res, err
		}
	}

	// After it: everything must be delivered; at most 15 minutes of
	// simulated time (the dispatcher's longest backoff is 5 minutes).
	for t = end; !t.After(end.Add(15 * time.Minute)); t = t.Add(SweepTick) {
		if err := tick(t, 2*time.Second); err != nil {
			return res, err
		}
		done, err := drained(ctx, db)
		if err != nil {
			return res, err
		}
		if done {
			break
		}
	}

	// What the outage did to Atlas: nothing.
	calls := r.Atlas.Calls()
	res.MaxOverstay = -24 * time.Hour
	for name, at := range deleteTimes(calls) {
		if deadline, ok := deadlines[name]; ok {
			res.MaxOverstay = max(res.MaxOverstay, at.Sub(deadline))
		}
	}
	res.UsersLeft = len(r.ManagedUsers())
	res.Violations = r.Atlas.SpecViolations()

	// What it did to chat: every call refused while it lasted.
	for _, c := range r.Slack.Calls() {
		if !c.Time.Before(start) && c.Time.Before(end) {
			if c.Status == http.StatusTooManyRequests {
				res.SlackRefused++
			} else {
				res.Through++
			}
		}
	}
	for _, p := range r.Slack.ResponsePosts("") {
		if !p.At.Before(start) && p.At.Before(end) && p.Status != http.StatusTooManyRequests {
			res.Through++
		}
	}
	for _, c := range r.BF.Calls() {
		if !c.At.Before(start) && c.At.Before(end) && strings.HasPrefix(c.Path, "/v3/") {
			if c.Status == http.StatusTooManyRequests {
				res.TeamsRefused++
			} else {
				res.Through++
			}
		}
	}

	// And what was said afterwards: every expiry, to every requester,
	// once; every password gone from chat.
	chat := readChat(r.Slack, r.BF)
	for _, ps := range chat.posts {
		for _, p := range ps {
			if !p.At.Before(start) && p.At.Before(end) {
				problem("a message was posted during the outage: %s %s %q", p.Platform, p.Conv, p.Text)
			}
		}
	}
	for _, g := range grants {
		cur, err := db.Get(ctx, g.id)
		if err != nil {
			return res, err
		}
		if cur.State == flows.StateExpired {
			res.Expired++
		}
		notice, ok := chat.find(g.conv, "Access expired: request "+string(g.id))
		switch {
		case !ok:
			res.Lost++
			problem("%s was never told that %s expired", cur.Requester, g.id)
		case notice.At.Before(end):
			problem("the expiry notice of %s went out during the outage, at %s", g.id, notice.At)
		default:
			res.Notices++
			res.CaughtUp = max(res.CaughtUp, notice.At.Sub(end))
		}
		creds, ok := chat.find(g.conv, "Access granted: request "+string(g.id))
		switch {
		case !ok:
			res.Lost++
			problem("%s never got the credentials of %s", cur.Requester, g.id)
		case !strings.Contains(creds.Now, "Credentials of request "+string(g.id)+" removed"):
			res.Lost++
			problem("the credentials message of %s still shows its password: %q", g.id, creds.Now)
		default:
			res.Scrubbed++
		}
	}
	depth, _, err := db.OutboxDepth(ctx)
	if err != nil {
		return res, err
	}
	if depth > 0 {
		res.Lost += depth
		problem("%d deliveries still in the outbox %s after the outage", depth, clock.Now().Sub(end))
	}
	err = db.Audit(ctx, time.Time{}, func(rec flows.AuditRecord) error {
		if rec.Event.Type == flows.EventMessageUndelivered || rec.Event.Type == flows.EventCredentialsUndelivered {
			res.Undelivered++
			problem("%s: %s", rec.Event.Type, rec.Event.Message)
		}
		return nil
	})
	if err != nil {
		return res, err
	}
	for _, rp := range chat.repeats(nil, nil) {
		res.Repeats++
		problem("repeat: %s", rp)
	}
	res.Wall = time.Since(began)
	return res, r.Stop()
}

// drained says whether the outbox has expanded every audit record and sent
// (or dropped) every delivery.
func drained(ctx context.Context, db app.Backend) (bool, error) {
	depth, _, err := db.OutboxDepth(ctx)
	if err != nil || depth > 0 {
		return false, err
	}
	cursor, err := db.Cursor(ctx)
	if err != nil {
		return false, err
	}
	recs, err := db.AuditAfter(ctx, cursor, 1)
	return len(recs) == 0, err
}

// waitDispatched waits, at most wait of real time, until no delivery in the
// outbox is due on the simulated clock: each has been sent, or tried and
// put off to a later simulated time (Retry-After, backoff). Ticking on
// sooner would let simulated time run ahead of the dispatcher.
func waitDispatched(ctx context.Context, db app.Backend, clock *simClock, wait time.Duration) error {
	err := waitReal(ctx, wait, func() (bool, error) {
		ds, err := db.Pending(ctx, 0)
		if err != nil {
			return false, err
		}
		// A conversation sends its deliveries in order: it is due when
		// the first is.
		now, seen := clock.Now(), map[string]bool{}
		for _, d := range ds {
			if seen[d.Conversation] {
				continue
			}
			seen[d.Conversation] = true
			if !d.NotBefore.After(now) {
				return false, nil
			}
		}
		return true, nil
	})
	if errors.Is(err, errWaited) {
		return nil // the next tick goes on; the end checks what matters
	}
	return err
}

var errWaited = errors.New("not within the wait")

// waitReal polls cond every few milliseconds of real time, at most wait.
func waitReal(ctx context.Context, wait time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(wait)
	for {
		ok, err := cond()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w (%s)", errWaited, wait)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}
