package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/infracloudio/msbotbuilder-go/schema"
	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/flows"
)

// slackPoster delivers signed requests to jitbot's Slack endpoints, as
// Slack does: each delivery, retries included, signed anew.
type slackPoster struct {
	base string // http://host:port
	http *http.Client
}

func newSlackPoster(addr string) *slackPoster {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}
	return &slackPoster{base: "http://" + addr, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

func (p *slackPoster) close() { p.http.CloseIdleConnections() }

// post sends body to path; retry > 0 marks it as Slack's retry number retry.
func (p *slackPoster) post(ctx context.Context, path, contentType string, body []byte, retry int) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if retry > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	slacktest.Sign(req, body, proveSecret, time.Now())
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

func (p *slackPoster) form(ctx context.Context, path string, form url.Values, retry int) (int, error) {
	status, _, err := p.post(ctx, path, "application/x-www-form-urlencoded", []byte(form.Encode()), retry)
	return status, err
}

// slashForm is a /access invocation as Slack posts it.
func (r *rig) slashForm(user slacktest.User, text, triggerID string) url.Values {
	return slacktest.SlashCommandForm(slackgo.SlashCommand{
		TeamID: "T0PROVE", ChannelID: "C0GENERAL", UserID: user.ID, UserName: user.Name, Command: "/access", Text: text,
		ResponseURL: r.slack.NewResponseURL(), TriggerID: triggerID,
	})
}

// clickForm is a press on the button with value in message m (a zero
// message for a button pressed where jitbot does not know the message).
func (r *rig) clickForm(user slacktest.User, value string, m slacktest.Message) (url.Values, error) {
	return slacktest.InteractionForm(slacktest.BlockActions(slacktest.Click{
		UserID: user.ID, UserName: user.Name, TeamID: "T0PROVE", ActionID: value, Value: value,
		ResponseURL: r.slack.NewMessageResponseURL(m.Channel, m.TS), TriggerID: r.slack.NewTriggerIDFor(user.ID),
		ChannelID: m.Channel, MessageTS: m.TS,
	}))
}

// waitSlack waits until cond holds for the Slack fake, at most timeout.
func (r *rig) waitSlack(ctx context.Context, what string, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := r.slack.Wait(ctx, cond); err != nil {
		return fmt.Errorf("%s did not happen within %s", what, timeout)
	}
	return nil
}

// quiet waits until jitbot has done nothing for settle, at most timeout:
// no change in the Slack fake (a Web API call, a response_url post), no
// Bot Framework call, no Atlas call and no audit record. Whatever jitbot's
// in-flight work does shows in one of them, and no step of it waits
// settle before the next (Atlas polls come every 50ms at first), so a
// duplicate still at work is seen before this returns.
func (r *rig) quiet(ctx context.Context, settle, timeout time.Duration) error {
	counters := []func() (int64, error){
		func() (int64, error) { return int64(len(r.atlas.Calls())), nil },
		func() (int64, error) {
			sum, err := r.main.Store().VerifyAudit(ctx)
			return int64(sum.Records), err
		},
	}
	if r.bf != nil {
		counters = append(counters, func() (int64, error) { return int64(len(r.bf.Calls())), nil })
	}
	return waitQuiet(ctx, settle, timeout, r.slack, counters...)
}

// waitQuiet waits until, for settle, the Slack fake (when not nil) has not
// changed and no counter has moved; at most timeout.
func waitQuiet(ctx context.Context, settle, timeout time.Duration, slack *slacktest.Server, counters ...func() (int64, error)) error {
	wctx, cancel := context.WithCancel(ctx)
	var slackChanges atomic.Int64
	var watching sync.WaitGroup
	if slack != nil {
		counters = append(counters, func() (int64, error) { return slackChanges.Load(), nil })
		watching.Go(func() {
			for wctx.Err() == nil {
				first := true // Wait tries cond at once, then after every change
				if slack.Wait(wctx, func() bool { was := first; first = false; return !was }) == nil {
					slackChanges.Add(1)
				}
			}
		})
	}
	defer watching.Wait()
	defer cancel()
	snapshot := func() ([]int64, error) {
		out := make([]int64, len(counters))
		for i, c := range counters {
			n, err := c()
			if err != nil {
				return nil, err
			}
			out[i] = n
		}
		return out, nil
	}
	last, err := snapshot()
	if err != nil {
		return err
	}
	deadline, since := time.Now().Add(timeout), time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(settle / 10):
		}
		now, err := snapshot()
		if err != nil {
			return err
		}
		switch {
		case !slices.Equal(now, last):
			last, since = now, time.Now()
		case time.Since(since) >= settle:
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("jitbot was still at work after %s", timeout)
		}
	}
}

// approvalCard finds the card in olivia's Slack DMs for the request whose
// text contains needle, and the id of that request.
func (r *rig) approvalCard(needle string) (slacktest.Message, string, bool) {
	msgs := r.slack.DMs(proveOlivia.ID)
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if !strings.Contains(m.AllText(), needle) {
			continue
		}
		for _, b := range m.Buttons() {
			if id, ok := strings.CutPrefix(b.Value, "approve:"); ok {
				return m, id, true
			}
		}
	}
	return slacktest.Message{}, "", false
}

// countDMs counts the DMs to user containing needle.
func (r *rig) countDMs(user slacktest.User, needle string) int {
	n := 0
	for _, m := range r.slack.DMs(user.ID) {
		if strings.Contains(m.AllText(), needle) {
			n++
		}
	}
	return n
}

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

var proveAlice = slacktest.User{ID: "U0ALICE", Name: "alice", Email: "alice@example.com", TZ: "UTC"}

// proveDuplicates delivers every Slack slash command, click and event four
// times (the retries with X-Slack-Retry-Num) and every Teams activity four
// times, and sends ten concurrent Approve clicks from the approver: each
// request must be made once, its user created once, and each transition
// recorded once.
func proveDuplicates(ctx context.Context, reporter atlastest.Reporter) (DuplicateResult, error) {
	res := DuplicateResult{Transitions: map[string]int{}}
	r, err := newRig(rigOptions{slack: true, teams: true, slackUsers: []slacktest.User{proveAlice}, applyPolls: 1, flows: proveReadFlow, reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.close()
	if err := r.start(ctx, app.Options{}); err != nil {
		return res, err
	}
	p := newSlackPoster(r.main.Addr())
	defer p.close()
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
		form := r.slashForm(proveAlice, text, r.slack.NewTriggerIDFor(proveAlice.ID))
		send := func(retry int) func() error {
			return func() error { return deliver(p.form(ctx, "/slack/commands", form, retry)) }
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
	teamsURL := "http://" + r.main.Addr() + "/teams/messages"
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
	hello := r.bf.Message(proveOliviaConv, oliviaInTeams, "access help")
	if err := teamsDeliver(activity{r, teamsURL, hello})(); err != nil {
		return res, err
	}

	// Request A: asked for in Slack, approved in Slack.
	if err := slash4("request prod/Cluster0/sales/orders read 1h INC-DUP-A"); err != nil {
		return res, err
	}
	var cardA slacktest.Message
	var idA string
	if err := r.waitSlack(ctx, "the approval card of request A", 20*time.Second, func() bool {
		var ok bool
		cardA, idA, ok = r.approvalCard("INC-DUP-A")
		return ok
	}); err != nil {
		return res, err
	}
	click, err := r.clickForm(proveOlivia, "approve:"+idA, cardA)
	if err != nil {
		return res, err
	}
	var clicks []func() error
	for retry := range 4 {
		clicks = append(clicks, func() error { return deliver(p.form(ctx, "/slack/interactions", click, retry)) })
	}
	for range 10 {
		other, err := r.clickForm(proveOlivia, "approve:"+idA, cardA)
		if err != nil {
			return res, err
		}
		clicks = append(clicks, func() error { return deliver(p.form(ctx, "/slack/interactions", other, 0)) })
	}
	if err := all(clicks...); err != nil {
		return res, err
	}
	if err := r.waitSlack(ctx, "the credentials of request A", 20*time.Second, func() bool { return r.countDMs(proveAlice, "Password") >= 1 }); err != nil {
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
	if err := r.waitSlack(ctx, "the approval card of request B", 20*time.Second, func() bool {
		var ok bool
		cardB, idB, ok = r.approvalCard("INC-DUP-B")
		return ok
	}); err != nil {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	teamsCard, err := r.bf.Wait(wctx, func(a teamstest.Activity) bool {
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
	same := r.bf.Submit(proveOliviaConv, oliviaInTeams, teamsCard.ActivityID, approve.Data)
	clicks = nil
	for range 4 {
		clicks = append(clicks, teamsDeliver(activity{r, teamsURL, same}))
	}
	for range 5 {
		clicks = append(clicks, teamsDeliver(activity{r, teamsURL, r.bf.Submit(proveOliviaConv, oliviaInTeams, teamsCard.ActivityID, approve.Data)}))
		other, err := r.clickForm(proveOlivia, "approve:"+idB, cardB)
		if err != nil {
			return res, err
		}
		clicks = append(clicks, func() error { return deliver(p.form(ctx, "/slack/interactions", other, 0)) })
	}
	if err := all(clicks...); err != nil {
		return res, err
	}
	if err := r.waitSlack(ctx, "the credentials of request B", 20*time.Second, func() bool { return r.countDMs(proveAlice, "Password") >= 2 }); err != nil {
		return res, err
	}

	// An Events API event, delivered four times.
	event, _ := json.Marshal(map[string]any{
		"token": "x", "team_id": "T0PROVE", "api_app_id": "A0PROVE", "type": "event_callback", "event_id": "Ev0PROVE1", "event_time": time.Now().Unix(),
		"event": map[string]any{"type": "app_home_opened", "user": proveOlivia.ID, "channel": "D0OLIVIA", "tab": "home", "event_ts": "1.000001"},
	})
	var events []func() error
	for retry := range 4 {
		events = append(events, func() error {
			status, _, err := p.post(ctx, "/slack/events", "application/json", event, retry)
			return deliver(status, err)
		})
	}
	if err := all(events...); err != nil {
		return res, err
	}
	if err := r.waitSlack(ctx, "the Home tab", 20*time.Second, func() bool { return len(r.slack.ViewsPublished(proveOlivia.ID)) >= 1 }); err != nil {
		return res, err
	}

	// Let whatever a duplicate delivery started finish, then run the sweep
	// the scheduler would run next (the only work jitbot starts by itself)
	// and let that finish too: a duplicate can no longer be on its way.
	if err := r.quiet(ctx, time.Second, 60*time.Second); err != nil {
		return res, err
	}
	r.sweepOnce(ctx)
	if err := r.quiet(ctx, time.Second, 60*time.Second); err != nil {
		return res, err
	}
	return res, r.countDuplicates(ctx, &res, func() error { return r.stop() })
}

// activity is a Teams activity on its way to jitbot.
type activity struct {
	r   *rig
	url string
	act schema.Activity
}

// deliver signs the activity as the Bot Framework does and posts it.
func (a activity) deliver() (*http.Response, error) {
	return a.r.bf.Deliver(context.Background(), a.url, a.act)
}

func (r *rig) countDuplicates(ctx context.Context, res *DuplicateResult, stop func() error) error {
	rs, err := r.main.Store().Find(ctx, flows.Query{})
	if err != nil {
		return err
	}
	res.Requests = len(rs)
	res.Creates = r.atlas.CountCalls("createDatabaseUser")
	res.AtlasUsers = len(r.managedUsers())
	res.CredentialDMs = r.countDMs(proveAlice, "Password")
	res.HomePublishes = len(r.slack.ViewsPublished(proveOlivia.ID))
	res.Violations = r.atlas.SpecViolations()
	perRequest := map[string]map[string]int{}
	err = r.main.Store().Audit(ctx, time.Time{}, func(rec flows.AuditRecord) error {
		if rec.Event.RequestID == "" {
			return nil
		}
		t := string(rec.Event.Type)
		res.Transitions[t]++
		if perRequest[rec.Event.RequestID] == nil {
			perRequest[rec.Event.RequestID] = map[string]int{}
		}
		perRequest[rec.Event.RequestID][t]++
		res.MaxPerTransition = max(res.MaxPerTransition, perRequest[rec.Event.RequestID][t])
		return nil
	})
	if err != nil {
		return err
	}
	return stop()
}

// proveReadFlow is the approval flow of the chat scenarios: anyone may ask
// for read access to Cluster0's sales database; its owner approves.
const proveReadFlow = `  - name: prod-read
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/sales/*", "Cluster0/sales"]
    roles: [read]
    max_duration: 8h
    approvers: [owners]
    require_reason: true
`

// ClickResult is what the approval-to-credentials scenario measured.
type ClickResult struct {
	Grants     int
	Latency    time.Duration   // injected into every Atlas call
	ApplyDelay time.Duration   // how long Atlas keeps a change PENDING
	Samples    []time.Duration // Approve click sent to credentials DM received
	P50, Max   time.Duration
	// Atlas calls per grant lifetime, approval to revocation.
	Creates, Deletes, Polls, Lists, OtherAtlas float64
	// SlackCalls is the median number of Slack Web API calls from the click
	// to the credentials DM, both included; SlackCallsMax the most any grant
	// took, and SlackCallsByGrant each grant's.
	SlackCalls, SlackCallsMax int
	SlackCallsByGrant         []int
	// SlackMethods are the Slack calls of the grant that took the most, and
	// when they were made after the click.
	SlackMethods []string
	Violations   []string
}

// Budget is DESIGN §8's p50: three Atlas round trips plus the apply delay.
func (c ClickResult) Budget() time.Duration { return 3*c.Latency + c.ApplyDelay }

// proveClickToCredentials approves n requests one after another, with
// every Atlas call taking latency and changes applying after applyDelay,
// and times each Approve click to the credentials DM; then it revokes them
// and counts the Atlas calls of each grant's life.
func proveClickToCredentials(ctx context.Context, n int, latency, applyDelay time.Duration, reporter atlastest.Reporter) (ClickResult, error) {
	res := ClickResult{Grants: n, Latency: latency, ApplyDelay: applyDelay}
	var users []slacktest.User
	for i := range n {
		users = append(users, requester(i))
	}
	r, err := newRig(rigOptions{slack: true, slackUsers: users, applyDelay: applyDelay, flows: proveReadFlow, reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.close()
	if err := r.start(ctx, app.Options{NoScheduler: true}); err != nil {
		return res, err
	}
	p := newSlackPoster(r.main.Addr())
	defer p.close()
	r.atlas.Inject(atlastest.Fault{Kind: atlastest.FaultLatency, Latency: latency})

	ids := make([]string, n)
	var slackCalls []int
	for i, u := range users {
		reason := fmt.Sprintf("INC-CLICK-%d", i)
		status, err := p.form(ctx, "/slack/commands", r.slashForm(u, "request prod/Cluster0/sales/orders read 1h "+reason, r.slack.NewTriggerIDFor(u.ID)), 0)
		if err != nil || status != http.StatusOK {
			return res, fmt.Errorf("request %d: %d %v", i, status, err)
		}
		var card slacktest.Message
		if err := r.waitSlack(ctx, "approval card "+reason, 20*time.Second, func() bool {
			var ok bool
			card, ids[i], ok = r.approvalCard(reason)
			return ok
		}); err != nil {
			return res, err
		}
		if i == 0 {
			r.atlas.ResetCalls() // count from the first approval on
		}
		click, err := r.clickForm(proveOlivia, "approve:"+ids[i], card)
		if err != nil {
			return res, err
		}
		before := len(r.slack.Calls())
		sent := time.Now()
		if status, err := p.form(ctx, "/slack/interactions", click, 0); err != nil || status != http.StatusOK {
			return res, fmt.Errorf("approve %d: %d %v", i, status, err)
		}
		if err := r.waitSlack(ctx, "credentials "+reason, 30*time.Second, func() bool { return r.countDMs(u, "Password") > 0 }); err != nil {
			return res, err
		}
		res.Samples = append(res.Samples, time.Since(sent))
		// The calls from the click up to the credentials DM: what the bot
		// does after it (the cards catching up) is not on the path.
		path := r.slack.Calls()[before:]
		for j, c := range path {
			if c.Method == "chat.postMessage" && strings.Contains(string(c.Body), "Password") {
				path = path[:j+1]
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
		status, err := p.form(ctx, "/slack/commands", r.slashForm(u, "revoke "+ids[i]+" done", r.slack.NewTriggerIDFor(u.ID)), 0)
		if err != nil || status != http.StatusOK {
			return res, fmt.Errorf("revoke %d: %d %v", i, status, err)
		}
	}
	if err := r.waitSlack(ctx, "the revocations", 60*time.Second, func() bool { return len(r.managedUsers()) == 0 }); err != nil {
		return res, err
	}
	res.P50, res.Max = percentile(res.Samples, 50), percentile(res.Samples, 100)
	durations := make([]time.Duration, len(slackCalls))
	for i, c := range slackCalls {
		durations[i] = time.Duration(c)
	}
	res.SlackCalls = int(percentile(durations, 50))
	res.SlackCallsByGrant = slackCalls
	per := func(op string) float64 { return float64(r.atlas.CountCalls(op)) / float64(n) }
	res.Creates, res.Deletes, res.Polls, res.Lists = per("createDatabaseUser"), per("deleteDatabaseUser"), per("getClusterStatus"), per("listDatabaseUsers")
	total := 0
	for _, c := range r.atlas.Calls() {
		if c.Principal != "" && !c.Challenge {
			total++
		}
	}
	res.OtherAtlas = float64(total)/float64(n) - res.Creates - res.Deletes - res.Polls - res.Lists
	res.Violations = r.atlas.SpecViolations()
	return res, r.stop()
}
