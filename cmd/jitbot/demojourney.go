package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/bot/teams/teamstest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
)

// The journey the demo plays, told as the conversation it is: who says
// what to whom, where, and what each person then sees. Every step goes
// through jitbot's real signed HTTP handlers; every message shown is read
// back from the Slack and Teams fakes, as its recipient would see it.

const (
	// demoResource is what alice asks for; bobResource what bob asks for.
	demoResource = "prod/Cluster0/sales/orders"
	bobResource  = "prod/Cluster0/sales/customers"
	denyReason   = "use the reporting replica: it has yesterday's refunds"
)

// journey is what the steps learn and the later ones need.
type journey struct {
	aliceID, bobID flows.RequestID
	uiID           flows.RequestID // alice's Atlas UI access
	saID, oidcID   flows.RequestID // alice's service account and OIDC user
	reminder       slacktest.Message
	// bob is olivia's Slack card for bob's request.
	bob slacktest.Message
	// slackCards and teamsCards are the approval cards that must show the
	// outcome, without buttons, by the end.
	slackCards []slackCard
	teamsCards []teamsCard
}

// slackCard and teamsCard are approval cards and what they are about.
type slackCard struct {
	about string
	msg   slacktest.Message
}

type teamsCard struct {
	about string
	act   teamstest.Activity
}

func (d *demo) play(ctx context.Context) error {
	d.intro()
	var j journey
	for _, part := range []func(context.Context, *journey) error{
		d.aliceAsks, d.oliviaApproves, d.aliceExtends, d.bobAsks, d.oliviaDenies, d.aliceRevokes, d.aliceAsksForTheUI, d.aliceAsksForAServiceAccount, d.aliceAsksAsHerself,
		d.cardsShowOutcomes, d.atlasCalls, d.auditLog,
	} {
		if err := part(ctx, &j); err != nil {
			return err
		}
	}
	return nil
}

func (d *demo) intro() {
	fmt.Fprintf(d.out, "jitbot demo: a conversation with jitbot in a simulated Slack and Teams.\n"+
		"jitbot itself runs for real (its signed HTTP handlers, its store, its scheduler); Slack, Teams\n"+
		"and MongoDB Atlas are simulators in this process.\n")
	if d.unchecked == nil {
		fmt.Fprintf(d.out, "The Atlas simulator checks every call jitbot makes against the OpenAPI spec shipped in the Atlas SDK.\n")
	} else {
		fmt.Fprintf(d.out, "  NOTE: Atlas calls are NOT checked against the OpenAPI spec in this run: the Atlas SDK's spec is not on this machine (no Go module cache); set %s to check them.\n", atlastest.SpecEnv)
	}
	fmt.Fprintf(d.out, "\nWho is who:\n"+
		"  alice   asks for access in Slack                         (her Slack profile: Europe/Paris)\n"+
		"  bob     asks for access in Teams\n"+
		"  olivia  owns Cluster0 (its Atlas tag owner=%s); approves in Slack and in Teams\n"+
		"                                                           (her Slack profile: America/New_York)\n"+
		"  dana    is jitbot's admin\n"+
		"Time zones: Slack tells jitbot each person's time zone, so alice reads times in CET and olivia\n"+
		"in EST; Teams tells it none, so Teams cards, the #db-access channel and this transcript use UTC.\n"+
		"⏩ marks a jump in demo time instead of a wait.\n", rig.Olivia.Email)
}

func (d *demo) aliceAsks(ctx context.Context, j *journey) error {
	d.step("alice asks for access, in Slack")
	// Teams lets a bot write only to people who have written to it once.
	if err := d.rig.TeamsSend(ctx, d.rig.BF.Message(rig.OliviaConv, rig.OliviaInTeams, "access help")); err != nil {
		return err
	}
	d.say("(olivia said \"access help\" to jitbot in Teams once: Teams lets a bot write only to people who wrote to it)")
	text := "request " + demoResource + " read 1h INC-123 checkout errors"
	form := d.rig.SlashForm(rig.Alice, text, d.rig.Slack.NewTriggerIDFor(rig.Alice.ID))
	d.said("alice", "Slack, #general", "/access "+text)
	ack, err := d.poster.Send(ctx, "/slack/commands", form)
	if err != nil {
		return err
	}
	d.shown("alice, only she sees it", ackLines(ack))
	if err := d.rig.WaitSlack(ctx, "the answer to alice's command", d.wait(0), func() bool {
		return len(accepted(d.rig.Slack.ResponsePosts(form.Get("response_url")))) > 0
	}); err != nil {
		return err
	}
	posts := accepted(d.rig.Slack.ResponsePosts(form.Get("response_url")))
	last := posts[len(posts)-1]
	d.shown("alice, in place of \"Working on it…\"", slackLines(last.Text, last.Blocks))

	card, err := d.rig.WaitDM(ctx, rig.Olivia, "Approve", d.wait(0))
	if err != nil {
		return err
	}
	approve, ok := rig.Button(card, "approve:")
	if !ok {
		return errors.New("the approval card has no Approve button")
	}
	j.aliceID = flows.RequestID(strings.TrimPrefix(approve.Value, "approve:"))
	d.shown("olivia, in Slack", slackLines(card.Text, card.Blocks))
	teams, err := d.waitTeams(ctx, "olivia's Teams card", func(a teamstest.Activity) bool {
		return a.ConversationID == rig.OliviaConv && a.Op == teamstest.OpSend && hasAction(a, "approve:"+string(j.aliceID))
	})
	if err != nil {
		return err
	}
	channel, err := d.waitChannel(ctx, string(j.aliceID))
	if err != nil {
		return err
	}
	j.slackCards = append(j.slackCards, slackCard{"alice's request", card}, slackCard{"alice's request", channel})
	j.teamsCards = append(j.teamsCards, teamsCard{"alice's request", teams})
	d.say("The same card reaches olivia in Teams, and a copy goes to #db-access: whichever button is")
	d.say("clicked first decides, and every copy then shows the outcome.")
	return nil
}

func (d *demo) oliviaApproves(ctx context.Context, j *journey) error {
	d.step("olivia approves in Slack; alice gets her credentials")
	card := j.slackCards[0].msg
	approve, _ := rig.Button(card, "approve:")
	d.clicked("olivia", "Slack", "Approve")
	form, err := d.rig.ClickForm(rig.Olivia, approve.ActionID, approve.Value, card)
	if err != nil {
		return err
	}
	if _, err := d.poster.Send(ctx, "/slack/interactions", form); err != nil {
		return err
	}
	creds, err := d.rig.WaitDM(ctx, rig.Alice, "jit-alice-", d.wait(0))
	if err != nil {
		return err
	}
	users := d.rig.Atlas.Users(rig.Project)
	if len(users) != 1 {
		return fmt.Errorf("want one Atlas user, found %d", len(users))
	}
	u := users[0]
	roles := make([]string, len(u.Roles))
	for i, r := range u.Roles {
		roles[i] = fmt.Sprintf("%s on %s.%s", r.RoleName, r.DatabaseName, r.CollectionName)
	}
	scopes := make([]string, len(u.Scopes))
	for i, s := range u.Scopes {
		scopes[i] = s.Name
	}
	d.say("jitbot checks again that olivia may approve, then creates the Atlas database user")
	d.say("%s (%s, on %s only) and waits until Atlas reports it APPLIED.", u.Username, strings.Join(roles, ", "), strings.Join(scopes, ", "))
	d.say("Should jitbot ever fail to delete it, Atlas deletes it by itself at %s UTC.", u.DeleteAfterDate.UTC().Format("Mon 2 Jan 15:04"))

	lines := slackLines(creds.Text, creds.Blocks)
	password := ""
	for i, line := range lines {
		if label, value, ok := strings.Cut(line, ": "); ok && label == "Password" {
			password = value
			lines[i] = "Password: " + strings.Repeat("•", 12) + " (hidden in this transcript)"
		}
	}
	d.shown("alice, in Slack (privately, once)", lines)
	if password == "" || !d.rig.Atlas.CheckPassword(rig.Project, u.Username, password) {
		return errors.New("the password in the DM does not log in to the Atlas user")
	}
	d.say("✓ checked: that password logs in as the Atlas user.")
	return nil
}

func (d *demo) aliceExtends(ctx context.Context, j *journey) error {
	d.step("⏩ 45 minutes later: alice is reminded, asks for more time, olivia agrees in Teams")
	d.fastForward(ctx, 45*time.Minute)
	reminder, err := d.rig.WaitDM(ctx, rig.Alice, "Access ends soon", d.wait(45*time.Minute))
	if err != nil {
		return err
	}
	j.reminder = reminder
	d.shown("alice, in Slack", slackLines(reminder.Text, reminder.Blocks))
	extend, ok := rig.Button(reminder, "extend:"+string(j.aliceID)+":1h")
	if !ok {
		return errors.New("the reminder has no Extend 1h button")
	}
	d.clicked("alice", "Slack", extend.Text.Text)
	form, err := d.rig.ClickForm(rig.Alice, extend.ActionID, extend.Value, reminder)
	if err != nil {
		return err
	}
	if _, err := d.poster.Send(ctx, "/slack/interactions", form); err != nil {
		return err
	}
	card, err := d.waitTeams(ctx, "the extension card in Teams", func(a teamstest.Activity) bool {
		return a.ConversationID == rig.OliviaConv && a.Op == teamstest.OpSend && hasAction(a, "approve-ext:"+string(j.aliceID)+":")
	})
	if err != nil {
		return err
	}
	d.say("Extensions of this flow need the owner's approval (extend_requires_approval), so:")
	d.shown("olivia, in Teams (and in Slack)", activityLines(card))
	dm, err := d.waitCard(ctx, "approve-ext:"+string(j.aliceID)+":")
	if err != nil {
		return err
	}
	j.slackCards = append(j.slackCards, slackCard{"alice's extension", dm})
	j.teamsCards = append(j.teamsCards, teamsCard{"alice's extension", card})
	approve, ok := findAction(card, "approve-ext:")
	if !ok {
		return errors.New("the extension card has no Approve button")
	}
	d.clicked("olivia", "Teams", approve.Title)
	if err := d.rig.TeamsSend(ctx, d.rig.BF.Submit(rig.OliviaConv, rig.OliviaInTeams, card.ActivityID, approve.Data)); err != nil {
		return err
	}
	extended, err := d.rig.WaitDM(ctx, rig.Alice, "Access extended", d.wait(0))
	if err != nil {
		return err
	}
	d.shown("alice, in Slack", slackLines(extended.Text, extended.Blocks))
	return nil
}

func (d *demo) bobAsks(ctx context.Context, j *journey) error {
	d.step("bob asks for access, in Teams")
	text := "access request " + bobResource + " read 2h INC-124 refund report"
	d.said("bob", "Teams, his chat with jitbot", text)
	before := map[string]bool{}
	for _, a := range d.rig.BF.ActivitiesIn(rig.BobConv) {
		before[a.ActivityID] = true
	}
	if err := d.rig.TeamsSend(ctx, d.rig.BF.Message(rig.BobConv, rig.BobInTeams, text)); err != nil {
		return err
	}
	answer, err := d.waitTeams(ctx, "jitbot's answer to bob", func(a teamstest.Activity) bool {
		return a.ConversationID == rig.BobConv && !before[a.ActivityID]
	})
	if err != nil {
		return err
	}
	d.shown("bob, in Teams", activityLines(answer))
	card, err := d.rig.WaitDM(ctx, rig.Olivia, "bob@example.com asks", d.wait(0))
	if err != nil {
		return err
	}
	deny, ok := rig.Button(card, "deny:")
	if !ok {
		return errors.New("bob's approval card has no Deny button")
	}
	j.bobID = flows.RequestID(strings.TrimPrefix(deny.Value, "deny:"))
	channel, err := d.waitChannel(ctx, string(j.bobID))
	if err != nil {
		return err
	}
	lines := slackLines(card.Text, card.Blocks)
	d.shown("olivia, in Slack (and in Teams, and #db-access)", append(lines[:2:2], "…", lines[len(lines)-1]))
	j.bob = card
	j.slackCards = append(j.slackCards, slackCard{"bob's request", card}, slackCard{"bob's request", channel})
	teams, err := d.waitTeams(ctx, "bob's card in Teams", func(a teamstest.Activity) bool {
		return a.ConversationID == rig.OliviaConv && a.Op == teamstest.OpSend && hasAction(a, "approve:"+string(j.bobID))
	})
	if err != nil {
		return err
	}
	j.teamsCards = append(j.teamsCards, teamsCard{"bob's request", teams})
	return nil
}

func (d *demo) oliviaDenies(ctx context.Context, j *journey) error {
	d.step("olivia denies bob's request, in Slack, saying why")
	card := j.bob
	deny, _ := rig.Button(card, "deny:")
	d.clicked("olivia", "Slack", "Deny")
	views := len(d.rig.Slack.Views())
	form, err := d.rig.ClickForm(rig.Olivia, deny.ActionID, deny.Value, card)
	if err != nil {
		return err
	}
	if _, err := d.poster.Send(ctx, "/slack/interactions", form); err != nil {
		return err
	}
	// Deny opens its form before the click is acknowledged.
	all := d.rig.Slack.Views()
	if len(all) == views || all[len(all)-1].Type != "modal" {
		return errors.New("deny opened no form")
	}
	modal := all[len(all)-1]
	d.shown("olivia, a Slack form", append(append([]string{modal.Title}, slackLines("", modal.Blocks)...), "[Cancel] [Deny]"))
	d.said("olivia", "the form", denyReason+"   ▸ [Deny]")
	submit, err := d.rig.SubmitForm(rig.Olivia, modal, map[string]map[string]slackgo.BlockAction{"reason": {"reason": slacktest.TextValue(denyReason)}})
	if err != nil {
		return err
	}
	if _, err := d.poster.Send(ctx, "/slack/interactions", submit); err != nil {
		return err
	}
	denied, err := d.waitTeams(ctx, "bob's denial in Teams", func(a teamstest.Activity) bool {
		return a.ConversationID == rig.BobConv && strings.Contains(strings.Join(activityLines(a), "\n"), "denied")
	})
	if err != nil {
		return err
	}
	d.shown("bob, in Teams", activityLines(denied))
	return nil
}

func (d *demo) aliceRevokes(ctx context.Context, j *journey) error {
	d.step("alice is done early and gives the access back")
	done, ok := rig.Button(j.reminder, "revoke:")
	if !ok {
		return errors.New("the reminder has no revoke button")
	}
	d.clicked("alice", "Slack", done.Text.Text)
	form, err := d.rig.ClickForm(rig.Alice, done.ActionID, done.Value, j.reminder)
	if err != nil {
		return err
	}
	if _, err := d.poster.Send(ctx, "/slack/interactions", form); err != nil {
		return err
	}
	if err := d.rig.WaitSlack(ctx, "the revocation", d.wait(0), func() bool {
		_, ok := rig.LastWith(d.rig.Slack.DMs(rig.Alice.ID), "Access revoked")
		return ok && len(d.rig.Atlas.Users(rig.Project)) == 0
	}); err != nil {
		return err
	}
	revoked, _ := rig.LastWith(d.rig.Slack.DMs(rig.Alice.ID), "Access revoked")
	d.say("jitbot deletes the Atlas user at once; the project has %d database users now.", len(d.rig.Atlas.Users(rig.Project)))
	d.shown("alice, in Slack", slackLines(revoked.Text, revoked.Blocks))
	return nil
}

func (d *demo) cardsShowOutcomes(ctx context.Context, j *journey) error {
	d.step("every approval card now shows its outcome, with no buttons left")
	for _, c := range j.slackCards {
		var m slacktest.Message
		if err := d.until(ctx, "the Slack card of "+c.about+" to show its outcome", func() bool {
			m, _ = d.rig.Slack.Message(c.msg.Channel, c.msg.TS)
			return len(m.Updates) > 0 && len(m.Buttons()) == 0
		}); err != nil {
			return err
		}
		where := "Slack, olivia's DM"
		if m.Channel == rig.ApprovalsChannel {
			where = "Slack, #db-access"
		}
		lines := slackLines(m.Text, m.Blocks)
		d.say("%-18s %-18s %s", c.about+",", where+":", lines[len(lines)-1])
	}
	for _, c := range j.teamsCards {
		var lines []string
		if err := d.until(ctx, "the Teams card of "+c.about+" to show its outcome", func() bool {
			cur, ok := d.rig.BF.Current(c.act.ConversationID, c.act.ActivityID)
			cards := teamstest.AdaptiveCards(cur)
			if !ok || len(cards) == 0 || len(topActions(cards[0])) > 0 {
				return false
			}
			lines = teamsLines(cards[0])
			return true
		}); err != nil {
			return err
		}
		d.say("%-18s %-18s %s", c.about+",", "Teams, olivia:", lines[len(lines)-1])
	}
	return nil
}

func (d *demo) atlasCalls(ctx context.Context, j *journey) error {
	if d.unchecked == nil {
		d.step("the Atlas calls jitbot made (each checked against the Atlas OpenAPI spec)")
	} else {
		d.step("the Atlas calls jitbot made (NOT checked against the Atlas OpenAPI spec: see the note above)")
	}
	counts := map[string]int{}
	var order []string
	for _, c := range d.rig.Atlas.Calls() {
		if c.Challenge {
			continue
		}
		key := fmt.Sprintf("%-6s %-28s %d", c.Method, c.OperationID, c.Status)
		if counts[key] == 0 {
			order = append(order, key)
		}
		counts[key]++
	}
	for _, k := range order {
		d.say("%s  ×%d", k, counts[k])
	}
	if v := d.rig.Atlas.SpecViolations(); len(v) > 0 {
		return fmt.Errorf("requests broke the Atlas spec: %v", v)
	}
	// alice's password user and her OIDC user.
	if n := d.rig.Atlas.CountCalls("createDatabaseUser"); n != 2 {
		return fmt.Errorf("want exactly two createDatabaseUser, saw %d", n)
	}
	if n := d.rig.Atlas.CountCalls("deleteDatabaseUser"); n != 2 {
		return fmt.Errorf("want exactly two deleteDatabaseUser, saw %d", n)
	}
	if c, r := d.rig.Atlas.CountCalls("createGroupServiceAccount"), d.rig.Atlas.CountCalls("deleteGroupServiceAccount"); c != 1 || r != 1 {
		return fmt.Errorf("want one createGroupServiceAccount and one deleteGroupServiceAccount for alice's service account, saw %d and %d", c, r)
	}
	if a, r := d.rig.Atlas.CountCalls("addGroupUsers"), d.rig.Atlas.CountCalls("removeGroupUser"); a != 1 || r != 1 {
		return fmt.Errorf("want one addGroupUsers and one removeGroupUser for alice's Atlas UI access, saw %d and %d", a, r)
	}
	return nil
}

func (d *demo) auditLog(ctx context.Context, j *journey) error {
	d.step("the audit log: every transition, hash-chained")
	byRequest := map[flows.RequestID][]string{}
	if err := d.rig.Main.Store().Audit(ctx, time.Time{}, func(r flows.AuditRecord) error {
		byRequest[r.Event.RequestID] = append(byRequest[r.Event.RequestID], string(r.Event.Type))
		return nil
	}); err != nil {
		return err
	}
	sum, err := d.rig.Main.Store().VerifyAudit(ctx)
	if err != nil {
		return err
	}
	d.say("alice's %s: %s", j.aliceID, strings.Join(byRequest[j.aliceID], " → "))
	d.say("bob's   %s: %s", j.bobID, strings.Join(byRequest[j.bobID], " → "))
	d.say("alice's %s (Atlas UI): %s", j.uiID, strings.Join(byRequest[j.uiID], " → "))
	d.say("alice's %s (service account): %s", j.saID, strings.Join(byRequest[j.saID], " → "))
	d.say("alice's %s (OIDC user): %s", j.oidcID, strings.Join(byRequest[j.oidcID], " → "))
	d.say("%d records; chain verified; head %s…", sum.Records, sum.Head[:16])
	if !slices.Contains(byRequest[j.aliceID], "revoked") || !slices.Contains(byRequest[j.bobID], "denied") || !slices.Contains(byRequest[j.uiID], "revoked") ||
		!slices.Contains(byRequest[j.saID], "revoked") || !slices.Contains(byRequest[j.oidcID], "revoked") {
		return errors.New("the audit log lacks alice's revocations or bob's denial")
	}
	return nil
}

// until waits for cond, polling, at most as long as a step may take.
func (d *demo) until(ctx context.Context, what string, cond func() bool) error {
	deadline := time.Now().Add(d.wait(0))
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("waited %s for %s", d.wait(0), what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// waitTeams waits for an activity the Bot Framework fake recorded. match
// runs under the fake's lock: it must not call the fake.
func (d *demo) waitTeams(ctx context.Context, what string, match func(teamstest.Activity) bool) (teamstest.Activity, error) {
	wctx, cancel := context.WithTimeout(ctx, d.wait(0))
	defer cancel()
	a, err := d.rig.BF.Wait(wctx, match)
	if err != nil {
		return a, fmt.Errorf("%s did not come within %s", what, d.wait(0))
	}
	return a, nil
}

// waitCard waits for a card in olivia's Slack DMs with a button whose
// action id is id.
func (d *demo) waitCard(ctx context.Context, id string) (slacktest.Message, error) {
	var card slacktest.Message
	err := d.rig.WaitSlack(ctx, "olivia's card for "+id, d.wait(0), func() bool {
		for _, m := range d.rig.Slack.DMs(rig.Olivia.ID) {
			if _, ok := rig.Button(m, id); ok {
				card = m
				return true
			}
		}
		return false
	})
	return card, err
}

// waitChannel waits for the copy of request id's card in #db-access.
func (d *demo) waitChannel(ctx context.Context, id string) (slacktest.Message, error) {
	var card slacktest.Message
	err := d.rig.WaitSlack(ctx, "the card of "+id+" in #db-access", d.wait(0), func() bool {
		var ok bool
		card, ok = rig.LastWith(d.rig.Slack.ChannelMessages(rig.ApprovalsChannel), "Access request "+id)
		return ok
	})
	return card, err
}

// accepted are the posts to a response_url Slack took.
func accepted(posts []slacktest.ResponsePost) []slacktest.ResponsePost {
	var out []slacktest.ResponsePost
	for _, p := range posts {
		if p.Error == "" {
			out = append(out, p)
		}
	}
	return out
}

// ackLines is what a slash command's acknowledgement shows its sender.
func ackLines(body string) []string {
	var msg struct {
		Text   string         `json:"text"`
		Blocks slackgo.Blocks `json:"blocks"`
	}
	if err := json.Unmarshal([]byte(body), &msg); err != nil {
		return splitLines(body)
	}
	return slackLines(msg.Text, msg.Blocks)
}

// hasAction says whether a Teams activity carries a button whose action id
// is id, or starts with it when id ends in a colon.
func hasAction(a teamstest.Activity, id string) bool {
	for _, c := range a.Cards() {
		for _, act := range teamstest.CardActions(c) {
			got, _ := act.Data["jitbot"].(string)
			if got == id || strings.HasSuffix(id, ":") && strings.HasPrefix(got, id) {
				return true
			}
		}
	}
	return false
}

// findAction is the button of a Teams card whose action id starts with
// prefix.
func findAction(a teamstest.Activity, prefix string) (teamstest.CardAction, bool) {
	for _, c := range a.Cards() {
		for _, act := range teamstest.CardActions(c) {
			if id, _ := act.Data["jitbot"].(string); strings.HasPrefix(id, prefix) {
				return act, true
			}
		}
	}
	return teamstest.CardAction{}, false
}
