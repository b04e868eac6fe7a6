package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
)

// Kills right after an ack (DESIGN §8: "kill -9 at random points, including
// right after an ack"). Every other run ends not at a random moment but the
// instant jitbot's 200 has been read for one of: a slash command asking
// for access, the request form submitted (view_submission), an Approve
// click, a Teams message asking for access; in turn. What jitbot
// acknowledged is in its inbox (DESIGN §4) and the next process does it.
//
// Every acknowledged submission (of the bursts too) carries a reason of its
// own, and every acknowledged Approve click of an ack kill is on a request
// nothing else touches, so that each is checked to have happened exactly
// once: after every kill no reason has two requests and no click two
// approvals; at the end every submission has its one request and every
// click its one approval, and each was answered where it was asked (the
// command's response_url, the submitter's direct messages, the Teams
// conversation, the click's response_url).

// The kinds of ack kill, in the order the runs take them.
const (
	ackSlash = "slash"
	ackModal = "modal"
	ackClick = "click"
	ackTeams = "teams"
)

// AckKinds are the actions an ack kill follows, in turn.
var AckKinds = []string{ackSlash, ackModal, ackClick, ackTeams}

// crashTeamsUsers are requesters who ask in Teams (their 1:1 chats with
// the bot); the Slack requesters are crashUsers.
const crashTeamsUsers = 20

// teamsRequester is the nth requester in Teams.
func teamsRequester(n int) teamstest.Member {
	name := fmt.Sprintf("tuser%02d", n)
	return teamstest.Member{ID: "29:" + name, Name: name, Email: name + "@example.com", AadObjectID: "aad-" + name}
}

// teamsConv is m's 1:1 chat with the bot.
func teamsConv(m teamstest.Member) string { return "a:" + m.Name + "-1on1" }

// acked is an action jitbot acknowledged, to be done exactly once.
type acked struct {
	kind   string // ackSlash, ackModal, ackTeams: a request submitted; ackClick: an approval
	marker string // the submitted request's reason, or the clicked request's id
	who    string // who acted (email)
	run    int
	killed bool // jitbot was killed right after this ack
	// Where the answer goes: a response_url (slash, click), the incoming
	// Teams activity the reply answers.
	answerURL, activityID string
	at                    time.Time // when jitbot acknowledged it
}

func (a acked) String() string {
	s := fmt.Sprintf("%s %s by %s in run %d at %s", a.kind, a.marker, a.who, a.run, a.at.Format("15:04:05.000000"))
	if a.killed {
		s += " (killed right after its ack)"
	}
	return s
}

// noteLive counts each requester's requests under way (they count against
// max_live_requests, 10) and notes which resources they have one on (a
// person may have one request under way per resource).
func (c *crashRun) noteLive(views []app.GrantView) {
	c.live, c.busy = map[string]int{}, map[string]bool{}
	for _, v := range views {
		if !flows.State(v.State).Terminal() {
			c.live[v.Requester]++
			c.busy[v.Requester+" "+v.Resource] = true
		}
	}
}

// crashMaxLive keeps the scenario's requesters well under the policy's
// max_live_requests (10).
const crashMaxLive = 6

// requester picks who asks (in Slack, or in Teams) for what: someone with
// room for another request and nothing under way on that resource (nor
// asked for in this run or the one before, which the list may not show
// yet), so that jitbot has no reason to refuse it; the fewer refusals, the
// more acknowledged requests are checked to be made exactly once. resource
// "" picks one.
func (c *crashRun) requester(teams bool, resource string) (string, string) {
	n := crashUsers
	email := func(i int) string { return rig.Requester(i).Email }
	if teams {
		n = crashTeamsUsers
		email = func(i int) string { return teamsRequester(i).Email }
	}
	free := func(e, res string) bool {
		run, asked := c.asked[e+" "+res]
		return c.live[e] < crashMaxLive && !c.busy[e+" "+res] && (!asked || c.res.Runs-run > 1)
	}
	who, what := email(c.rng.IntN(n)), resource
	for range 32 {
		e, res := email(c.rng.IntN(n)), resource
		if res == "" {
			res = crashResources[c.rng.IntN(len(crashResources))]
			if c.kindTurn++; c.kindTurn%2 == 0 {
				// Every other request is of another kind, each in turn.
				res = crashKindResources[(c.kindTurn/2)%len(crashKindResources)]
			}
		}
		who, what = e, res
		if free(e, res) {
			break
		}
	}
	if what == "" {
		what = crashResources[0]
	}
	c.live[who]++
	c.asked[who+" "+what] = c.res.Runs
	return who, what
}

// ownResource is a collection nobody asked for before: an acknowledged
// action right before a kill asks for it, so that jitbot has no reason to
// refuse it (a person may have one request under way per resource) and it
// is checked to be made exactly once. The bursts ask for the shared
// crashResources, and are refused now and then.
func (c *crashRun) ownResource() string {
	c.seq++
	return fmt.Sprintf("prod/Cluster0/sales/k%d", c.seq)
}

// marker is a reason no other request has.
func (c *crashRun) marker(prefix string) string {
	c.seq++
	return fmt.Sprintf("%s-%d-%d", prefix, c.res.Runs, c.seq)
}

// submit asks for access to resource as the person behind email (in
// Slack or in Teams, wherever they are), with a reason of its own, and
// tracks it once acknowledged.
func (c *crashRun) submit(ctx context.Context, email, resource string, killed bool) (acked, error) {
	d := []string{"1m", "2m"}[c.rng.IntN(2)]
	a := acked{kind: ackSlash, marker: c.marker("CRASH"), who: email, run: c.res.Runs, killed: killed}
	text := requestText(resource, d, a.marker)
	var err error
	if m, ok := c.teamsPeople[email]; ok {
		a.kind = ackTeams
		a.activityID, err = c.teamsSay(ctx, m, text)
	} else {
		a.answerURL, err = c.slashAt(ctx, c.people[email], text)
	}
	if err == nil {
		a.at = time.Now()
		c.acked = append(c.acked, a)
	}
	return a, err
}

// say runs a command as the person behind email, where they are.
func (c *crashRun) say(ctx context.Context, email, text string) error {
	if m, ok := c.teamsPeople[email]; ok {
		_, err := c.teamsSay(ctx, m, text)
		return err
	}
	return c.slash(ctx, c.people[email], text)
}

// slashAt sends a slash command and answers its response_url.
func (c *crashRun) slashAt(ctx context.Context, u slacktest.User, text string) (string, error) {
	form := c.r.SlashForm(u, text, c.r.Slack.NewTriggerIDFor(u.ID))
	_, err := c.poster.Send(ctx, "/slack/commands", form)
	return form.Get("response_url"), err
}

// teamsSay delivers a message from m in their 1:1 chat, as Teams does, and
// answers the activity's id once jitbot has acknowledged it.
func (c *crashRun) teamsSay(ctx context.Context, m teamstest.Member, text string) (string, error) {
	act := c.r.BF.Message(teamsConv(m), m, "access "+text)
	resp, err := c.r.BF.Deliver(ctx, "http://"+c.addr+"/teams/messages", act)
	if err != nil {
		return "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("teams: jitbot answered %s", resp.Status)
	}
	return act.ID, nil
}

// clickTarget picks, before the run's burst, the pending request an ack
// kill's Approve click will be on, and keeps the bursts away from it: one
// no earlier action was on (so that only this click can approve it, and
// its approval proves the click was done), not seeded, preferably made in the last 45 s (pending requests time out
// after two minutes, and the click may wait out a dead process's inbox
// lease of 35 s: a click that comes too late is refused, and answered so).
// "" when nothing is pending.
func (c *crashRun) clickTarget(views []app.GrantView) string {
	var fresh, old []string
	for _, v := range views {
		if flows.State(v.State) != flows.StatePending || strings.HasPrefix(v.ID, crashSeedPrefix) || c.reserved[v.ID] || c.touched[v.ID] {
			continue
		}
		if time.Since(v.CreatedAt) < 45*time.Second {
			fresh = append(fresh, v.ID)
		} else {
			old = append(old, v.ID)
		}
	}
	ids := fresh
	if len(ids) == 0 {
		ids = old
	}
	if len(ids) == 0 {
		return ""
	}
	id := ids[c.rng.IntN(len(ids))]
	c.reserved[id] = true
	return id
}

// pendingToClick asks for access and waits for the request to be pending,
// to click on it, and reserves it: up to three times, since jitbot may
// refuse it (a request under way on that resource that the scenario's list
// did not show yet).
func (c *crashRun) pendingToClick(ctx context.Context) (string, error) {
	var tried []string
	for range 3 {
		email, res := c.requester(false, c.ownResource())
		a, err := c.submit(ctx, email, res, false)
		if err != nil {
			return "", fmt.Errorf("a request to click on: %w", err)
		}
		tried = append(tried, a.String())
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			// The answer is sent after the request is committed: once it
			// is seen, the list shows the request if there is one.
			answered := len(c.r.Slack.ResponsePosts(a.answerURL)) > 0
			views, err := c.admin.Grants(ctx, "pending")
			if err != nil {
				return "", err
			}
			for _, v := range views {
				if v.Requester == a.who && !c.reserved[v.ID] && time.Since(v.CreatedAt) < 10*time.Second {
					c.reserved[v.ID] = true
					return v.ID, nil
				}
			}
			if answered {
				break // and no request: refused
			}
		}
	}
	st, err := c.admin.Status(ctx)
	return "", fmt.Errorf("no request to click on: %s (pipeline %+v %v)", strings.Join(tried, "; "), st.Pipeline, err)
}

// ackThenKill does one acknowledged action of kind and kills jitbot the
// instant its 200 has been read. target is the request an Approve click is
// on ("" to make one first).
func (c *crashRun) ackThenKill(ctx context.Context, p *rig.Proc, kind, target string) error {
	var a acked
	var err error
	switch kind {
	case ackSlash:
		email, res := c.requester(false, c.ownResource())
		a, err = c.submit(ctx, email, res, true)
	case ackTeams:
		email, res := c.requester(true, c.ownResource())
		a, err = c.submit(ctx, email, res, true)
	case ackModal:
		a, err = c.modal(ctx)
	case ackClick:
		if target == "" {
			// Nothing pending to click on: ask first, then click on that.
			var perr error
			if target, perr = c.pendingToClick(ctx); perr != nil {
				// The inbox is behind (the items the killed processes had
				// taken wait out their leases): an ack kill of a command
				// instead.
				c.note("no click: %v", perr)
				c.res.ClickFallbacks++
				return c.ackThenKill(ctx, p, ackSlash, "")
			}
		}
		a = acked{kind: ackClick, marker: target, who: rig.Olivia.Email, run: c.res.Runs, killed: true}
		a.answerURL, err = c.clickAt(ctx, rig.Olivia, "approve:"+target)
		if err == nil {
			a.at = time.Now()
			c.acked = append(c.acked, a)
		}
	default:
		err = fmt.Errorf("no ack kill of kind %q", kind)
	}
	p.Kill()
	if err != nil {
		return err
	}
	c.res.AckKills[kind]++
	c.note("kill -9 right after the ack of %s", a)
	return nil
}

// modal opens the request form as a requester (the one Slack call jitbot
// makes before an ack) and submits it.
func (c *crashRun) modal(ctx context.Context) (acked, error) {
	res := c.ownResource()
	email, _ := c.requester(false, res)
	u := c.people[email]
	if err := c.slash(ctx, u, ""); err != nil {
		return acked{}, fmt.Errorf("open the request form: %w", err)
	}
	views := c.r.Slack.Views()
	i := slices.IndexFunc(views, func(v slacktest.View) bool {
		return v.CallbackID == "jit_request" && v.UserID == u.ID && !c.formsUsed[v.ID]
	})
	if i < 0 {
		return acked{}, errors.New("no request form was opened")
	}
	view := views[i]
	c.formsUsed[view.ID] = true
	// The form opens loading; jitbot fills it in (views.update).
	if err := c.r.WaitSlack(ctx, "the request form filled in", 20*time.Second, func() bool {
		vs := c.r.Slack.Views()
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].ID == view.ID {
				if _, ok := formBlock(vs[i], "resource"); ok {
					view = vs[i]
					return true
				}
			}
		}
		return false
	}); err != nil {
		return acked{}, err
	}
	// As a person does: choose the database, which lays the form out
	// again (views.update) with its roles and durations, then submit.
	view, err := c.chooseInForm(ctx, u, view, "resource", "database_user:prod/Cluster0/sales")
	if err != nil {
		return acked{}, err
	}
	ids := map[string]string{}
	for _, field := range []string{"resource", "collection", "role", "duration", "reason"} {
		id, ok := formBlock(view, field)
		if !ok {
			return acked{}, fmt.Errorf("the request form has no %s field after the choice", field)
		}
		ids[field] = id
	}
	a := acked{kind: ackModal, marker: c.marker("FORM"), who: email, run: c.res.Runs, killed: true}
	form, err := slacktest.InteractionForm(slacktest.ViewSubmission(slacktest.Submission{
		UserID: u.ID, TeamID: c.r.Slack.TeamID(), ViewID: view.ID, CallbackID: view.CallbackID, PrivateMetadata: view.PrivateMetadata, Hash: view.Hash,
		Values: map[string]map[string]slackgo.BlockAction{
			ids["resource"]:   {ids["resource"]: slacktest.OptionValue("database_user:prod/Cluster0/sales")},
			ids["collection"]: {ids["collection"]: slacktest.TextValue(path.Base(res))},
			ids["role"]:       {ids["role"]: slacktest.OptionValue("read")},
			ids["duration"]:   {ids["duration"]: slacktest.OptionValue("1m")},
			ids["reason"]:     {ids["reason"]: slacktest.TextValue(a.marker)},
		},
	}))
	if err != nil {
		return acked{}, err
	}
	body, err := c.poster.Send(ctx, "/slack/interactions", form)
	if err != nil {
		return acked{}, err
	}
	if body != "" {
		return acked{}, fmt.Errorf("the request form was refused: %s", body)
	}
	a.at = time.Now()
	c.acked = append(c.acked, a)
	return a, nil
}

// formBlock returns the id of the form's input block for field (the
// block ids of a laid-out form carry a suffix: "role:31c4c5f4").
func formBlock(v slacktest.View, field string) (string, bool) {
	for _, b := range v.Blocks.BlockSet {
		if in, ok := b.(*slackgo.InputBlock); ok && (in.BlockID == field || strings.HasPrefix(in.BlockID, field+":")) {
			return in.BlockID, true
		}
	}
	return "", false
}

// chooseInForm picks value in the form's dispatching select field, as
// Slack sends it (block_actions), and waits for jitbot's views.update.
func (c *crashRun) chooseInForm(ctx context.Context, u slacktest.User, view slacktest.View, field, value string) (slacktest.View, error) {
	id, ok := formBlock(view, field)
	if !ok {
		return view, fmt.Errorf("the request form has no %s field", field)
	}
	c.seq++
	ts := fmt.Sprintf("%d.%06d", time.Now().Unix(), c.seq)
	cb := slacktest.BlockActions(slacktest.Click{UserID: u.ID, TeamID: c.r.Slack.TeamID(), ActionID: id, BlockID: id, ViewID: view.ID, ActionTS: ts})
	cb.View = slackgo.View{ID: view.ID, Hash: view.Hash, Type: slackgo.VTModal, CallbackID: view.CallbackID, PrivateMetadata: view.PrivateMetadata}
	cb.ActionCallback.BlockActions[0].Type = "static_select"
	cb.ActionCallback.BlockActions[0].SelectedOption = slackgo.OptionBlockObject{Value: value}
	form, err := slacktest.InteractionForm(cb)
	if err != nil {
		return view, err
	}
	if _, err := c.poster.Send(ctx, "/slack/interactions", form); err != nil {
		return view, fmt.Errorf("choose %s in the request form: %w", value, err)
	}
	var updated slacktest.View
	err = c.r.WaitSlack(ctx, "the request form laid out for "+value, 20*time.Second, func() bool {
		vs := c.r.Slack.Views()
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].ID == view.ID && vs[i].Method == "views.update" && vs[i].At.After(view.At) {
				updated = vs[i]
				return true
			}
		}
		return false
	})
	return updated, err
}

// clickAt presses a button and answers the click's response_url.
func (c *crashRun) clickAt(ctx context.Context, u slacktest.User, value string) (string, error) {
	form, err := c.r.ClickForm(u, value, value, slacktest.Message{})
	if err != nil {
		return "", err
	}
	_, err = c.poster.Send(ctx, "/slack/interactions", form)
	return form.Get("payload"), err
}

// checkOnce counts, with jitbot down, the acknowledged actions done twice
// (after every kill) and, at the end, those not done or not answered.
func (c *crashRun) checkOnce(rs []*flows.Request, events map[string][]flows.Event, final bool) {
	byReason := map[string][]*flows.Request{}
	for _, r := range rs {
		byReason[r.Reason] = append(byReason[r.Reason], r)
	}
	c.res.AckedAfterKill = 0
	for _, a := range c.acked {
		if a.killed {
			c.res.AckedAfterKill++
		}
		done := 0
		switch a.kind {
		case ackClick:
			for _, ev := range events[a.marker] {
				if ev.Type == flows.EventApproved && ev.Actor == a.who {
					done++
				}
			}
		default:
			done = len(byReason[a.marker])
			for _, r := range byReason[a.marker] {
				if r.Requester != a.who {
					c.problem("%s made request %s for %s", a, r.ID, r.Requester)
				}
			}
		}
		switch {
		case done > 1 && !c.twice[a.marker]:
			c.twice[a.marker] = true
			c.res.DuplicateRequests++
			c.problem("%s was done %d times", a, done)
		case final && done == 0 && c.answered(a, nil, false):
			// Done, and refused: jitbot answered why (a request under way on
			// that resource the scenario's list did not show yet, a request
			// that timed out before the click).
			c.res.Refused++
			if a.killed {
				c.res.RefusedAfterKill++
			}
		case final && done == 0:
			c.res.LostRequests++
			c.problem("%s was acknowledged and never done (answered: %s)", a, c.answers(a))
		case final && !c.answered(a, byReason[a.marker], true):
			c.res.LostRequests++
			var trail []string
			if a.kind == ackClick {
				for _, ev := range events[a.marker] {
					trail = append(trail, fmt.Sprintf("%s by %s at %s", ev.Type, ev.Actor, ev.At.Format("15:04:05.000000")))
				}
			}
			c.problem("%s was done but never answered (answered: %s; %s)", a, c.answers(a), strings.Join(trail, ", "))
		}
	}
}

// answered says whether the person who acted was answered where they
// asked: the command's or the click's response_url, their direct messages
// (the request form: the request made, else a refusal), the reply to their
// Teams message. made is the request a submission made (nil: none); done
// says the action took effect. An Approve click that took effect has no
// answer of its own: the approver's cards are brought up to date through
// the outbox (checkMessages checks that no card still offers Approve on a
// decided request).
func (c *crashRun) answered(a acked, made []*flows.Request, done bool) bool {
	if a.kind == ackClick && done {
		return true
	}
	switch a.kind {
	case ackSlash, ackClick:
		if a.kind == ackClick {
			a.answerURL = responseURLOf(a.answerURL)
		}
		for _, p := range c.r.Slack.ResponsePosts(a.answerURL) {
			if p.Status == http.StatusOK {
				return true
			}
		}
	case ackModal:
		// The answer shows the request as it is when the answer is sent:
		// after a kill, the next process may answer once it was decided.
		// A refusal names no request of its own: it must come after the
		// submission.
		wants := [][]string{{"That did not work"}}
		if len(made) > 0 {
			id := string(made[0].ID)
			wants = [][]string{{"Request " + id + " sent for approval"}, {"Request " + id + " approved"}, {"Request " + id + " is "}}
		}
		for _, p := range c.chat.in("slack:" + slacktest.DMChannel(c.people[a.who].ID)) {
			for _, want := range wants {
				if containsAll(p.Text, want) && !p.At.Before(a.at.Add(-time.Second)) {
					return true
				}
			}
		}
		return false
	case ackTeams:
		for _, p := range c.chat.in("teams:" + teamsConv(c.teamsPeople[a.who])) {
			if p.ReplyTo == a.activityID && (len(made) == 0 || strings.Contains(p.Text, string(made[0].ID))) {
				return true
			}
		}
	}
	return false
}

// answers is what the person who acted was answered, for reports.
func (c *crashRun) answers(a acked) string {
	var out []string
	switch a.kind {
	case ackSlash, ackClick:
		url := a.answerURL
		if a.kind == ackClick {
			url = responseURLOf(url)
		}
		for _, p := range c.r.Slack.ResponsePosts(url) {
			out = append(out, fmt.Sprintf("%d %q", p.Status, p.AllText()))
		}
	case ackModal:
		for _, p := range c.chat.in("slack:" + slacktest.DMChannel(c.people[a.who].ID)) {
			out = append(out, fmt.Sprintf("%q", p.Text))
		}
	case ackTeams:
		for _, p := range c.chat.in("teams:" + teamsConv(c.teamsPeople[a.who])) {
			if p.ReplyTo == a.activityID {
				out = append(out, fmt.Sprintf("%q", p.Text))
			}
		}
	}
	if len(out) == 0 {
		return "nothing"
	}
	return strings.Join(out, "; ")
}

// responseURLOf reads the response_url out of a block_actions payload.
func responseURLOf(payload string) string {
	var p struct {
		ResponseURL string `json:"response_url"`
	}
	_ = json.Unmarshal([]byte(payload), &p)
	return p.ResponseURL
}

// checkMessages checks, with jitbot down after the last settle, that every
// message the audit log asked for was delivered: the outbox is empty and
// has expanded every event, no delivery was dropped as undeliverable, and
// each request's people have what its final state tells them (the
// requester: the credentials of an active grant, the notice of its end;
// the approver: the card of a request still pending). It also counts the
// messages posted, and the repeats, each explained or not.
func (c *crashRun) checkMessages(ctx context.Context, db *store.DB, rs []*flows.Request, events map[string][]flows.Event, lastSeq uint64) error {
	depth, _, err := db.OutboxDepth(ctx)
	if err != nil {
		return err
	}
	cursor, err := db.Cursor(ctx)
	if err != nil {
		return err
	}
	lost := func(format string, args ...any) {
		c.res.LostMessages++
		c.problem("lost message: "+format, args...)
	}
	if depth > 0 {
		c.res.LostMessages += depth - 1
		lost("%d deliveries still in the outbox", depth)
	}
	if cursor < lastSeq {
		lost("the outbox expanded the audit log up to %d of %d", cursor, lastSeq)
	}
	var ids []flows.RequestID
	for _, r := range rs {
		ids = append(ids, r.ID)
		for _, ev := range events[string(r.ID)] {
			if ev.Type == flows.EventMessageUndelivered || ev.Type == flows.EventCredentialsUndelivered {
				lost("%s: %s", ev.Type, ev.Message)
			}
		}
		conv := c.convOf(r)
		id := string(r.ID)
		var want []string
		switch r.State {
		case flows.StateActive:
			if _, ok := c.chat.find(conv, "Access granted: request "+id); ok {
				continue
			}
			want = []string{"New credentials: request " + id}
		case flows.StateExpired:
			want = []string{"Access expired: request " + id}
		case flows.StateRevoked:
			want = []string{"Access revoked: request " + id}
		case flows.StateDenied:
			want = []string{"Request " + id + " denied"}
		case flows.StateTimedOut:
			want = []string{"Request " + id + " timed out"}
		case flows.StateFailed:
			want = []string{"Could not set up access: request " + id}
		case flows.StatePending:
			if !c.cardFor(id) && !c.cardForApprover(r) {
				lost("olivia has no card to approve pending request %s", id)
			}
			continue
		default:
			continue // cancelled by its requester: nobody is told
		}
		if _, ok := c.chat.find(conv, want...); !ok {
			lost("%s (%s, asked in %s) was never told %q", r.Requester, id, r.Origin, strings.Join(want, " "))
		}
	}
	refs, err := storedRefs(ctx, db, ids)
	if err != nil {
		return err
	}
	c.res.Messages = c.chat.count()
	orphans := map[string]bool{} // first copies of explained repeats
	for _, rp := range c.chat.repeats(c.deaths(), refs) {
		c.res.Repeats++
		if c.res.RepeatsOn == nil {
			c.res.RepeatsOn = map[string]int{}
		}
		c.res.RepeatsOn[rp.Again.Platform]++
		if rp.Explained {
			c.res.RepeatsExplained++
			c.res.Explained = append(c.res.Explained, rp.String())
			orphans[rp.First.key()] = true
			continue
		}
		c.res.Unexplained = append(c.res.Unexplained, rp.String())
		c.problem("unexplained repeat: %s", rp)
	}
	// A decided request's cards no longer offer a decision: the refreshes
	// that say so were delivered too. Only the first copy of a repeated
	// card may: its reference died with the process that sent it, so
	// nothing can update it (clicking it is refused: the request is
	// decided).
	for _, r := range rs {
		if r.State == flows.StatePending {
			continue
		}
		for _, m := range c.cards(string(r.ID)) {
			key, conv := refID("slack", m.Channel, m.TS), "slack:"+m.Channel
			if orphans[key] {
				c.res.StaleCopies++
				continue
			}
			// The only copy, posted as jitbot was killed and never
			// recorded: the request was decided before the next process
			// would have sent it again.
			if p, ok := c.chat.post(conv, key); ok {
				if died, _ := c.chat.diedUnrecorded(conv, p, time.Time{}, c.deaths(), refs); died {
					c.res.StaleCopies++
					continue
				}
			}
			lost("olivia's card %s still offers to approve request %s, which is %s", m.TS, r.ID, r.State)
		}
	}
	return nil
}

// convOf is where r's requester hears of it.
func (c *crashRun) convOf(r *flows.Request) string {
	if m, ok := c.teamsPeople[r.Requester]; ok && r.Origin == "teams" {
		return "teams:" + teamsConv(m)
	}
	return "slack:" + slacktest.DMChannel(c.people[r.Requester].ID)
}

// cardFor says whether olivia's direct messages hold a card on which she
// can approve request id.
func (c *crashRun) cardFor(id string) bool { return len(c.cards(id)) > 0 }

// cards are the messages in olivia's direct messages on which she can
// approve request id.
func (c *crashRun) cards(id string) []slacktest.Message {
	var out []slacktest.Message
	for _, m := range c.r.Slack.DMs(rig.Olivia.ID) {
		if _, ok := rig.Button(m, "approve:"+id); ok {
			out = append(out, m)
		}
	}
	return out
}
