package scenario

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
)

// DuplicateResult is what the duplicate-delivery scenario counted.
type DuplicateResult struct {
	Requests         int            // requests in the store (2 were asked for)
	Deliveries       int            // HTTP deliveries made, Slack and Teams
	Non200           int            // deliveries not answered 200
	Creates          int            // createDatabaseUser calls (2 grants)
	AtlasUsers       int            // jitbot users in Atlas
	CredentialDMs    int            // credentials messages to the requester
	Transitions      map[string]int // audit records by type over both requests
	MaxPerTransition int            // most audit records of one type for one request
	HomePublishes    int            // views.publish after app_home_opened delivered 4 times
	Violations       []string
}

// Duplicates delivers every Slack slash command, click and event four
// times (the retries with X-Slack-Retry-Num) and every Teams activity four
// times, and sends ten concurrent Approve clicks from the approver: each
// request must be made once, its user created once, and each transition
// recorded once.
func Duplicates(ctx context.Context, reporter atlastest.Reporter) (DuplicateResult, error) {
	res := DuplicateResult{Transitions: map[string]int{}}
	r, err := rig.New(rig.Options{Slack: true, Teams: true, ApplyPolls: 1, Reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.Close()
	if err := r.Start(ctx, app.Options{}); err != nil {
		return res, err
	}
	p := rig.NewPoster(r.Main.Addr())
	defer p.Close()
	var mu sync.Mutex
	deliver := func(status int, err error) error {
		mu.Lock()
		defer mu.Unlock()
		res.Deliveries++
		if err != nil {
			return err
		}
		if status != http.StatusOK {
			res.Non200++
		}
		return nil
	}
	// all runs fns concurrently and returns the first error.
	all := func(fns ...func() error) error {
		errs := make(chan error, len(fns))
		for _, fn := range fns {
			go func() { errs <- fn() }()
		}
		var first error
		for range fns {
			if err := <-errs; err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	// slash4 delivers one slash command four times: the original and a
	// retry racing each other, then two later retries.
	slash4 := func(text string) error {
		form := r.SlashForm(rig.Alice, text, r.Slack.NewTriggerIDFor(rig.Alice.ID))
		send := func(retry int) func() error {
			return func() error { return deliver(p.Form(ctx, "/slack/commands", form, retry)) }
		}
		if err := all(send(0), send(1)); err != nil {
			return err
		}
		if err := send(2)(); err != nil {
			return err
		}
		return send(3)()
	}

	// olivia has talked to the bot in Teams, so it may write to her there.
	teamsURL := "http://" + r.Main.Addr() + "/teams/messages"
	teamsDeliver := func(a activity) func() error {
		return func() error {
			resp, err := a.deliver()
			if resp != nil {
				resp.Body.Close()
				return deliver(resp.StatusCode, err)
			}
			return deliver(0, err)
		}
	}
	hello := r.BF.Message(rig.OliviaConv, rig.OliviaInTeams, "access help")
	if err := teamsDeliver(activity{r, teamsURL, hello})(); err != nil {
		return res, err
	}

	// Request A: asked for in Slack, approved in Slack.
	if err := slash4("request prod/Cluster0/sales/orders read 1h INC-DUP-A"); err != nil {
		return res, err
	}
	var cardA slacktest.Message
	var idA string
	if err := r.WaitSlack(ctx, "the approval card of request A", 20*time.Second, func() bool {
		var ok bool
		cardA, idA, ok = r.ApprovalCard("INC-DUP-A")
		return ok
	}); err != nil {
		return res, err
	}
	click, err := r.ClickForm(rig.Olivia, "approve:"+idA, "approve:"+idA, cardA)
	if err != nil {
		return res, err
	}
	var clicks []func() error
	for retry := range 4 {
		clicks = append(clicks, func() error { return deliver(p.Form(ctx, "/slack/interactions", click, retry)) })
	}
	for range 10 {
		other, err := r.ClickForm(rig.Olivia, "approve:"+idA, "approve:"+idA, cardA)
		if err != nil {
			return res, err
		}
		clicks = append(clicks, func() error { return deliver(p.Form(ctx, "/slack/interactions", other, 0)) })
	}
	if err := all(clicks...); err != nil {
		return res, err
	}
	if err := r.WaitSlack(ctx, "the credentials of request A", 20*time.Second, func() bool { return r.CountDMs(rig.Alice, "Password") >= 1 }); err != nil {
		return res, err
	}

	// Request B: asked for in Slack, approved in Teams (one activity
	// delivered four times, five more clicks) and in Slack (five clicks), all
	// at once.
	if err := slash4("request prod/Cluster0/sales/customers read 1h INC-DUP-B"); err != nil {
		return res, err
	}
	var cardB slacktest.Message
	var idB string
	if err := r.WaitSlack(ctx, "the approval card of request B", 20*time.Second, func() bool {
		var ok bool
		cardB, idB, ok = r.ApprovalCard("INC-DUP-B")
		return ok
	}); err != nil {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	teamsCard, err := r.BF.Wait(wctx, func(a teamstest.Activity) bool {
		for _, c := range a.Cards() {
			if _, ok := teamstest.FindAction(c, "Approve"); ok && strings.Contains(teamstest.CardText(c), idB) {
				return true
			}
		}
		return false
	})
	cancel()
	if err != nil {
		return res, fmt.Errorf("the Teams approval card of request B: %w", err)
	}
	approve, _ := teamstest.FindAction(teamsCard.Cards()[0], "Approve")
	same := r.BF.Submit(rig.OliviaConv, rig.OliviaInTeams, teamsCard.ActivityID, approve.Data)
	clicks = nil
	for range 4 {
		clicks = append(clicks, teamsDeliver(activity{r, teamsURL, same}))
	}
	for range 5 {
		clicks = append(clicks, teamsDeliver(activity{r, teamsURL, r.BF.Submit(rig.OliviaConv, rig.OliviaInTeams, teamsCard.ActivityID, approve.Data)}))
		other, err := r.ClickForm(rig.Olivia, "approve:"+idB, "approve:"+idB, cardB)
		if err != nil {
			return res, err
		}
		clicks = append(clicks, func() error { return deliver(p.Form(ctx, "/slack/interactions", other, 0)) })
	}
	if err := all(clicks...); err != nil {
		return res, err
	}
	if err := r.WaitSlack(ctx, "the credentials of request B", 20*time.Second, func() bool { return r.CountDMs(rig.Alice, "Password") >= 2 }); err != nil {
		return res, err
	}

	// An Events API event, delivered four times.
	event, _ := json.Marshal(map[string]any{
		"token": "x", "team_id": r.Slack.TeamID(), "api_app_id": "A0PROVE", "type": "event_callback", "event_id": "Ev0PROVE1", "event_time": time.Now().Unix(),
		"event": map[string]any{"type": "app_home_opened", "user": rig.Olivia.ID, "channel": "D0OLIVIA", "tab": "home", "event_ts": "1.000001"},
	})
	var events []func() error
	for retry := range 4 {
		events = append(events, func() error {
			status, _, err := p.Post(ctx, "/slack/events", "application/json", event, retry)
			return deliver(status, err)
		})
	}
	if err := all(events...); err != nil {
		return res, err
	}
	if err := r.WaitSlack(ctx, "the Home tab", 20*time.Second, func() bool { return len(r.Slack.ViewsPublished(rig.Olivia.ID)) >= 1 }); err != nil {
		return res, err
	}

	// Let whatever a duplicate delivery started finish, then run the sweep
	// the scheduler would run next (the only work jitbot starts by itself)
	// and let that finish too: a duplicate can no longer be on its way.
	if err := r.Quiet(ctx, time.Second, 60*time.Second); err != nil {
		return res, err
	}
	r.Main.Sweep(ctx)
	if err := r.Quiet(ctx, time.Second, 60*time.Second); err != nil {
		return res, err
	}
	return res, countDuplicates(ctx, r, &res, func() error { return r.Stop() })
}

// activity is a Teams activity on its way to jitbot.
type activity struct {
	r   *rig.Rig
	url string
	act schema.Activity
}

// deliver signs the activity as the Bot Framework does and posts it.
func (a activity) deliver() (*http.Response, error) {
	return a.r.BF.Deliver(context.Background(), a.url, a.act)
}

func countDuplicates(ctx context.Context, r *rig.Rig, res *DuplicateResult, stop func() error) error {
	rs, err := r.Main.Store().Find(ctx, flows.Query{})
	if err != nil {
		return err
	}
	res.Requests = len(rs)
	res.Creates = r.Atlas.CountCalls("createDatabaseUser")
	res.AtlasUsers = len(r.ManagedUsers())
	res.CredentialDMs = r.CountDMs(rig.Alice, "Password")
	res.HomePublishes = len(r.Slack.ViewsPublished(rig.Olivia.ID))
	res.Violations = r.Atlas.SpecViolations()
	perRequest := map[string]map[string]int{}
	err = r.Main.Store().Audit(ctx, time.Time{}, func(rec flows.AuditRecord) error {
		if rec.Event.RequestID == "" {
			return nil
		}
		t := string(rec.Event.Type)
		res.Transitions[t]++
		if perRequest[string(rec.Event.RequestID)] == nil {
			perRequest[string(rec.Event.RequestID)] = map[string]int{}
		}
		perRequest[string(rec.Event.RequestID)][t]++
		res.MaxPerTransition = max(res.MaxPerTransition, perRequest[string(rec.Event.RequestID)][t])
		return nil
	})
	if err != nil {
		return err
	}
	return stop()
}

// ClickResult is what the approval-to-credentials scenario measured.
type ClickResult struct {
	Grants     int
	Latency    time.Duration   // injected into every Atlas call
	ApplyDelay time.Duration   // how long Atlas keeps a change PENDING
	Samples    []time.Duration // Approve click sent to credentials DM received
	P50, Max   time.Duration
	// Atlas calls per grant lifetime, approval to revocation.
	Creates, Deletes, Polls, Lists, OtherAtlas float64
	// SlackCalls is the median number of Slack Web API calls to the
	// requester's conversation from the click to the credentials DM, both
	// included; SlackCallsMax the most any grant
	// took, and SlackCallsByGrant each grant's.
	SlackCalls, SlackCallsMax int
	SlackCallsByGrant         []int
	// SlackMethods are the Slack calls of the grant that took the most, and
	// when they were made after the click.
	SlackMethods []string
	Violations   []string
}

// Budget is DESIGN §8's bound on the click to the credentials. Applied at
// once: three Atlas round trips (create, one status poll, the connection
// string). Otherwise the credentials must come within 300 ms of Atlas
// applying the change, which happens ApplyDelay after the create is
// received: two round trips (the click's create and the poll that reads
// APPLIED), the delay and 300 ms.
func (c ClickResult) Budget() time.Duration {
	if c.ApplyDelay == 0 {
		return 3 * c.Latency
	}
	return 2*c.Latency + c.ApplyDelay + AppliedNoticeBudget
}

// AppliedNoticeBudget is how soon after Atlas applies a change the
// credentials must reach the requester (DESIGN §8).
const AppliedNoticeBudget = 300 * time.Millisecond

// MaxStatusPolls is DESIGN §8's bound on change-status calls per grant at a
// 3 s apply.
const MaxStatusPolls = 12

// ClickToCredentials approves n requests one after another, with
// every Atlas call taking latency and changes applying after applyDelay,
// and times each Approve click to the credentials DM; then it revokes them
// and counts the Atlas calls of each grant's life.
func ClickToCredentials(ctx context.Context, n int, latency, applyDelay time.Duration, reporter atlastest.Reporter) (ClickResult, error) {
	res := ClickResult{Grants: n, Latency: latency, ApplyDelay: applyDelay}
	var users []slacktest.User
	for i := range n {
		users = append(users, rig.Requester(i))
	}
	r, err := rig.New(rig.Options{Slack: true, SlackUsers: users, ApplyDelay: applyDelay, Reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.Close()
	if err := r.Start(ctx, app.Options{NoScheduler: true}); err != nil {
		return res, err
	}
	p := rig.NewPoster(r.Main.Addr())
	defer p.Close()
	r.Atlas.Inject(atlastest.Fault{Kind: atlastest.FaultLatency, Latency: latency})

	ids := make([]string, n)
	var slackCalls []int
	for i, u := range users {
		reason := fmt.Sprintf("INC-CLICK-%d", i)
		status, err := p.Form(ctx, "/slack/commands", r.SlashForm(u, "request prod/Cluster0/sales/orders read 1h "+reason, r.Slack.NewTriggerIDFor(u.ID)), 0)
		if err != nil || status != http.StatusOK {
			return res, fmt.Errorf("request %d: %d %v", i, status, err)
		}
		var card slacktest.Message
		if err := r.WaitSlack(ctx, "approval card "+reason, 20*time.Second, func() bool {
			var ok bool
			card, ids[i], ok = r.ApprovalCard(reason)
			return ok
		}); err != nil {
			return res, err
		}
		if i == 0 {
			r.Atlas.ResetCalls() // count from the first approval on
		}
		click, err := r.ClickForm(rig.Olivia, "approve:"+ids[i], "approve:"+ids[i], card)
		if err != nil {
			return res, err
		}
		before := len(r.Slack.Calls())
		sent := time.Now()
		if status, err := p.Form(ctx, "/slack/interactions", click, 0); err != nil || status != http.StatusOK {
			return res, fmt.Errorf("approve %d: %d %v", i, status, err)
		}
		if err := r.WaitSlack(ctx, "credentials "+reason, 30*time.Second, func() bool { return r.CountDMs(u, "Password") > 0 }); err != nil {
			return res, err
		}
		res.Samples = append(res.Samples, time.Since(sent))
		// The calls from the click up to the credentials DM: what the bot
		// does after it (the cards catching up) is not on the path.
		// Only the requester's conversation counts: the outbox sends one
		// message at a time per conversation, and those to others (the
		// approvers' cards catching up) go out beside it, not before it.
		var path []slacktest.Call
		for _, c := range r.Slack.Calls()[before:] {
			if ch := c.Params.Get("channel"); ch != u.ID && ch != "D"+u.ID {
				continue
			}
			path = append(path, c)
			if c.Method == "chat.postMessage" && strings.Contains(string(c.Body), "Password") {
				break
			}
		}
		slackCalls = append(slackCalls, len(path))
		if i == 0 || len(path) > res.SlackCallsMax {
			res.SlackCallsMax, res.SlackMethods = len(path), nil
			for _, c := range path {
				res.SlackMethods = append(res.SlackMethods, fmt.Sprintf("%s %s", c.Method, c.Time.Sub(sent).Round(time.Millisecond)))
			}
		}
	}
	for i, u := range users {
		status, err := p.Form(ctx, "/slack/commands", r.SlashForm(u, "revoke "+ids[i]+" done", r.Slack.NewTriggerIDFor(u.ID)), 0)
		if err != nil || status != http.StatusOK {
			return res, fmt.Errorf("revoke %d: %d %v", i, status, err)
		}
	}
	if err := r.WaitSlack(ctx, "the revocations", 60*time.Second, func() bool { return len(r.ManagedUsers()) == 0 }); err != nil {
		return res, err
	}
	res.P50, res.Max = percentile(res.Samples, 50), percentile(res.Samples, 100)
	durations := make([]time.Duration, len(slackCalls))
	for i, c := range slackCalls {
		durations[i] = time.Duration(c)
	}
	res.SlackCalls = int(percentile(durations, 50))
	res.SlackCallsByGrant = slackCalls
	per := func(op string) float64 { return float64(r.Atlas.CountCalls(op)) / float64(n) }
	res.Creates, res.Deletes, res.Polls, res.Lists = per("createDatabaseUser"), per("deleteDatabaseUser"), per("getClusterStatus"), per("listDatabaseUsers")
	total := 0
	for _, c := range r.Atlas.Calls() {
		if c.Principal != "" && !c.Challenge {
			total++
		}
	}
	res.OtherAtlas = float64(total)/float64(n) - res.Creates - res.Deletes - res.Polls - res.Lists
	res.Violations = r.Atlas.SpecViolations()
	return res, r.Stop()
}
