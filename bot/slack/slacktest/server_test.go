package slacktest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/jitbot/jitbot/flows/flowstest"
)

// newFakeClock is a clock that moves only when a test says so.
func newFakeClock() *flowstest.Clock {
	return flowstest.NewClock(time.Date(2025, 3, 12, 9, 0, 0, 0, time.UTC))
}

var (
	alice = User{ID: "U0ALICE", Name: "alice", RealName: "Alice Liddell", Email: "alice@example.com",
		TZ: "Europe/Paris", TZLabel: "Central European Time", TZOffset: 3600}
	bob  = User{ID: "U0BOB", Name: "bob", RealName: "Bob Builder", Email: "bob@example.com", TZ: "America/New_York", TZOffset: -18000}
	gone = User{ID: "U0GONE", Name: "gone", Email: "gone@example.com", Deleted: true}
	bot  = User{ID: "U0OTHERBOT", Name: "otherbot", IsBot: true}
)

func newServer(t *testing.T, opts ...Option) (*Server, *slack.Client) {
	t.Helper()
	srv := New(opts...)
	t.Cleanup(srv.Close)
	for _, u := range []User{alice, bob, gone, bot} {
		srv.AddUser(u)
	}
	return srv, slack.New(srv.BotToken(), slack.OptionAPIURL(srv.APIURL()))
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantSlackError(t *testing.T, err error, code string) {
	t.Helper()
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) || se.Err != code {
		t.Fatalf("error = %v, want Slack error %q", err, code)
	}
}

func approvalBlocks(id string) []slack.Block {
	return []slack.Block{
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "*alice* wants `read` on Cluster0/sales", false, false), nil, nil),
		slack.NewActionBlock("decide",
			slack.NewButtonBlockElement("approve", "approve:"+id, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)),
			slack.NewButtonBlockElement("deny", "deny:"+id, slack.NewTextBlockObject(slack.PlainTextType, "Deny", false, false)),
		),
	}
}

func TestAuth(t *testing.T) {
	srv, api := newServer(t)
	res, err := api.AuthTest()
	if err != nil {
		t.Fatal(err)
	}
	if res.UserID != srv.BotUserID() || res.TeamID != srv.TeamID() || res.BotID == "" {
		t.Errorf("auth.test = %+v", res)
	}

	for _, tc := range []struct{ token, code string }{
		{"xoxb-wrong", "invalid_auth"},
		{"", "not_authed"},
		{srv.AppToken(), "not_allowed_token_type"},
	} {
		bad := slack.New(tc.token, slack.OptionAPIURL(srv.APIURL()))
		_, _, err := bad.PostMessage("C1", slack.MsgOptionText("hi", false))
		wantSlackError(t, err, tc.code)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages recorded from unauthorised posts", n)
	}
	calls := srv.CallsTo("chat.postMessage")
	if len(calls) != 3 || calls[0].Token != "xoxb-wrong" || calls[0].Error != "invalid_auth" {
		t.Errorf("unauthorised calls recorded as %+v", calls)
	}

	// JSON-bodied methods carry the token in the Authorization header.
	bad := slack.New("xoxb-wrong", slack.OptionAPIURL(srv.APIURL()))
	_, err = bad.PublishView(alice.ID, slack.HomeTabViewRequest{Type: slack.VTHomeTab}, "")
	wantSlackError(t, err, "invalid_auth")
}

func TestPostMessageRecorded(t *testing.T) {
	srv, api := newServer(t)
	ch, ts1, err := api.PostMessage("C0APPROVALS", slack.MsgOptionText("fallback", false), slack.MsgOptionBlocks(approvalBlocks("r1")...))
	if err != nil {
		t.Fatal(err)
	}
	_, ts2, err := api.PostMessage("C0APPROVALS", slack.MsgOptionText("in thread", false), slack.MsgOptionTS(ts1))
	if err != nil {
		t.Fatal(err)
	}
	if ch != "C0APPROVALS" || ts1 == "" || ts2 <= ts1 {
		t.Fatalf("channel %q, ts %q then %q: want the channel and increasing ts", ch, ts1, ts2)
	}

	msgs := srv.Messages()
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	m := msgs[0]
	if m.Channel != "C0APPROVALS" || m.TS != ts1 || m.Text != "fallback" || m.Ephemeral {
		t.Errorf("message = %+v", m)
	}
	btns := m.Buttons()
	if len(btns) != 2 || btns[0].ActionID != "approve" || btns[0].Value != "approve:r1" || btns[1].Value != "deny:r1" {
		t.Errorf("buttons = %+v", btns)
	}
	if !strings.Contains(m.AllText(), "*alice* wants `read`") || !strings.Contains(string(m.BlocksJSON), `"action_id":"approve"`) {
		t.Errorf("text %q / blocks %s", m.AllText(), m.BlocksJSON)
	}
	if msgs[1].ThreadTS != ts1 || msgs[1].BlocksJSON != nil {
		t.Errorf("reply = %+v, want thread_ts %s and no blocks", msgs[1], ts1)
	}

	calls := srv.CallsTo("chat.postMessage")
	if len(calls) != 2 || calls[0].Params.Get("channel") != "C0APPROVALS" || calls[0].Token != srv.BotToken() || calls[0].Status != http.StatusOK {
		t.Errorf("calls = %+v", calls)
	}
	if got, ok := srv.Message("C0APPROVALS", ts1); !ok || got.Text != "fallback" {
		t.Errorf("Message(ts1) = %+v, %v", got, ok)
	}

	// Returned copies are independent of the server.
	msgs[0].Blocks.BlockSet = nil
	if len(srv.Messages()[0].Blocks.BlockSet) != 2 {
		t.Error("mutating a returned message changed the record")
	}
}

func TestPostMessageValidation(t *testing.T) {
	srv, api := newServer(t)
	srv.AddChannel("C0DBACCESS", "#db-access")

	ch, _, err := api.PostMessage("#db-access", slack.MsgOptionText("by name", false))
	if err != nil || ch != "C0DBACCESS" {
		t.Fatalf("post by name: %q, %v", ch, err)
	}
	_, _, err = api.PostMessage("#nowhere", slack.MsgOptionText("x", false))
	wantSlackError(t, err, "channel_not_found")
	_, _, err = api.PostMessage("C1")
	wantSlackError(t, err, "no_text")
	_, _, err = api.PostMessage("C1", slack.MsgOptionText(strings.Repeat("x", 40001), false))
	wantSlackError(t, err, "msg_too_long")
	many := make([]slack.Block, 51)
	for i := range many {
		many[i] = slack.NewDividerBlock()
	}
	_, _, err = api.PostMessage("C1", slack.MsgOptionBlocks(many...))
	wantSlackError(t, err, "invalid_blocks")
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages recorded, want only the valid one", n)
	}
}

func TestChatUpdateHistory(t *testing.T) {
	clock := newFakeClock()
	srv, api := newServer(t, WithClock(clock))

	_, ts, err := api.PostMessage("C1", slack.MsgOptionText("pending", false), slack.MsgOptionBlocks(approvalBlocks("r1")...))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	approved := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, "Approved by bob", false, false), nil, nil)
	if _, _, _, err := api.UpdateMessage("C1", ts, slack.MsgOptionText("approved", false), slack.MsgOptionBlocks(approved)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute)
	// Text only: blocks are kept, as chat.update documents.
	_, _, text, err := api.UpdateMessage("C1", ts, slack.MsgOptionText("expired", false))
	if err != nil || text != "expired" {
		t.Fatalf("second update: %q, %v", text, err)
	}

	m, ok := srv.Message("C1", ts)
	if !ok {
		t.Fatal("message gone")
	}
	if m.Text != "expired" || len(m.Buttons()) != 0 || !strings.Contains(m.AllText(), "Approved by bob") {
		t.Errorf("current state = %q / %q", m.Text, m.AllText())
	}
	if len(m.Updates) != 2 {
		t.Fatalf("%d updates, want 2", len(m.Updates))
	}
	u0, u1 := m.Updates[0], m.Updates[1]
	if u0.Text != "approved" || u0.Via != "chat.update" || !u0.At.Equal(m.PostedAt.Add(time.Minute)) || len(u0.Blocks.BlockSet) != 1 {
		t.Errorf("first update = %+v", u0)
	}
	if u1.Text != "expired" || string(u1.BlocksJSON) != string(u0.BlocksJSON) {
		t.Errorf("second update = %+v", u1)
	}
	if o := m.Original; o.Text != "pending" || o.Via != "chat.postMessage" || len(o.Buttons()) == 0 || !o.At.Equal(m.PostedAt) {
		t.Errorf("the message as posted = %+v", o)
	}

	_, _, _, err = api.UpdateMessage("C1", "123.456", slack.MsgOptionText("x", false))
	wantSlackError(t, err, "message_not_found")
	ets, err := api.PostEphemeral("C1", alice.ID, slack.MsgOptionText("only you", false))
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = api.UpdateMessage("C1", ets, slack.MsgOptionText("x", false))
	wantSlackError(t, err, "cant_update_message")

	if _, _, err := api.DeleteMessage("C1", ts); err != nil {
		t.Fatal(err)
	}
	if m, _ := srv.Message("C1", ts); !m.Deleted {
		t.Error("chat.delete did not mark the message deleted")
	}
}

func TestEphemeral(t *testing.T) {
	srv, api := newServer(t)
	ts, err := api.PostEphemeral("C1", alice.ID, slack.MsgOptionText("usage: /access request ...", false))
	if err != nil || ts == "" {
		t.Fatalf("ephemeral: %q, %v", ts, err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 || !msgs[0].Ephemeral || msgs[0].User != alice.ID || msgs[0].TS != ts || msgs[0].Channel != "C1" {
		t.Errorf("messages = %+v", msgs)
	}
	_, err = api.PostEphemeral("C1", "U0NOBODY", slack.MsgOptionText("x", false))
	wantSlackError(t, err, "user_not_found")
}

func TestDMs(t *testing.T) {
	srv, api := newServer(t)
	ch1, _, already, err := api.OpenConversation(&slack.OpenConversationParameters{Users: []string{alice.ID}})
	if err != nil {
		t.Fatal(err)
	}
	ch2, _, already2, err := api.OpenConversation(&slack.OpenConversationParameters{Users: []string{alice.ID}})
	if err != nil {
		t.Fatal(err)
	}
	if ch1.ID != DMChannel(alice.ID) || ch2.ID != ch1.ID || already || !already2 || !ch1.IsIM {
		t.Errorf("opens: %q (already %v), %q (already %v)", ch1.ID, already, ch2.ID, already2)
	}
	bobDM, _, _, err := api.OpenConversation(&slack.OpenConversationParameters{Users: []string{bob.ID}})
	if err != nil || bobDM.ID == ch1.ID {
		t.Fatalf("bob's DM %q, %v: want distinct from alice's", bobDM.ID, err)
	}

	if _, _, err := api.PostMessage(ch1.ID, slack.MsgOptionText("your credentials", false)); err != nil {
		t.Fatal(err)
	}
	// Posting to a user id lands in the bot's DM with them, as in Slack.
	ch, _, err := api.PostMessage(alice.ID, slack.MsgOptionText("expires soon", false))
	if err != nil || ch != ch1.ID {
		t.Fatalf("post to user id answered channel %q, %v", ch, err)
	}
	if _, _, err := api.PostMessage(bobDM.ID, slack.MsgOptionText("for bob", false)); err != nil {
		t.Fatal(err)
	}
	dms := srv.DMs(alice.ID)
	if len(dms) != 2 || dms[0].Text != "your credentials" || dms[1].Text != "expires soon" {
		t.Errorf("alice's DMs = %+v", dms)
	}
	if got := srv.DMs(bob.ID); len(got) != 1 || got[0].Text != "for bob" {
		t.Errorf("bob's DMs = %+v", got)
	}

	_, _, _, err = api.OpenConversation(&slack.OpenConversationParameters{Users: []string{"U0NOBODY"}})
	wantSlackError(t, err, "user_not_found")
	_, _, _, err = api.OpenConversation(&slack.OpenConversationParameters{Users: []string{gone.ID}})
	wantSlackError(t, err, "user_disabled")
}

func TestUsers(t *testing.T) {
	srv, api := newServer(t)
	u, err := api.GetUserInfo(alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID != alice.ID || u.Name != "alice" || u.RealName != alice.RealName || u.Profile.Email != alice.Email ||
		u.TZ != "Europe/Paris" || u.TZOffset != 3600 || u.TZLabel != alice.TZLabel || u.TeamID != srv.TeamID() || u.IsBot || u.Deleted {
		t.Errorf("users.info = %+v", u)
	}
	if u, err := api.GetUserInfo(gone.ID); err != nil || !u.Deleted {
		t.Errorf("deleted user: %+v, %v", u, err)
	}
	if u, err := api.GetUserInfo(bot.ID); err != nil || !u.IsBot {
		t.Errorf("bot user: %+v, %v", u, err)
	}
	_, err = api.GetUserInfo("U0NOBODY")
	wantSlackError(t, err, "user_not_found")

	// Guests and people from other organisations carry Slack's marks.
	guest := srv.AddUser(User{Name: "mcg", Email: "mcg@example.com", IsRestricted: true})
	single := srv.AddUser(User{Name: "scg", Email: "scg@example.com", IsUltraRestricted: true})
	external := srv.AddUser(User{Name: "ext", TeamID: "T0OTHER", Email: "ext@other.example"})
	stranger := srv.AddUser(User{Name: "str", TeamID: "T0OTHER", IsStranger: true})
	if u, err := api.GetUserInfo(guest.ID); err != nil || !u.IsRestricted || u.IsUltraRestricted {
		t.Errorf("multi-channel guest: %+v, %v", u, err)
	}
	if u, err := api.GetUserInfo(single.ID); err != nil || !u.IsRestricted || !u.IsUltraRestricted {
		t.Errorf("single-channel guest: %+v, %v", u, err)
	}
	if u, err := api.GetUserByEmail(external.Email); err != nil || u.TeamID != "T0OTHER" || u.IsStranger || u.IsRestricted {
		t.Errorf("external user: %+v, %v", u, err)
	}
	if u, err := api.GetUserInfo(stranger.ID); err != nil || !u.IsStranger || u.TeamID != "T0OTHER" {
		t.Errorf("stranger: %+v, %v", u, err)
	}

	byMail, err := api.GetUserByEmail("BOB@example.com")
	if err != nil || byMail.ID != bob.ID || byMail.TZOffset != -18000 {
		t.Errorf("lookupByEmail = %+v, %v", byMail, err)
	}
	_, err = api.GetUserByEmail("nobody@example.com")
	wantSlackError(t, err, "users_not_found")

	users, err := api.GetUsersInfo(alice.ID, bob.ID)
	if err != nil || len(*users) != 2 || (*users)[1].ID != bob.ID {
		t.Errorf("users.info (many) = %+v, %v", users, err)
	}

	// AddUser fills in what it can.
	added := srv.AddUser(User{Name: "carol"})
	if !strings.HasPrefix(added.ID, "U") || added.TeamID != srv.TeamID() {
		t.Errorf("AddUser = %+v", added)
	}
}

func TestUserGroups(t *testing.T) {
	srv, api := newServer(t)
	srv.AddUserGroup("S0DBA", "dba", alice.ID, bob.ID)
	srv.AddUserGroup("S0EMPTY", "nobody")

	members, err := api.GetUserGroupMembers("S0DBA")
	if err != nil || strings.Join(members, ",") != alice.ID+","+bob.ID {
		t.Errorf("members = %v, %v", members, err)
	}
	if members, err := api.GetUserGroupMembers("S0EMPTY"); err != nil || len(members) != 0 {
		t.Errorf("empty group = %v, %v", members, err)
	}
	_, err = api.GetUserGroupMembers("S0NONE")
	wantSlackError(t, err, "no_such_subteam")

	groups, err := api.GetUserGroups(slack.GetUserGroupsOptionIncludeUsers(true))
	if err != nil || len(groups) != 2 || groups[0].Handle != "dba" || len(groups[0].Users) != 2 || groups[0].UserCount != 2 {
		t.Errorf("usergroups.list = %+v, %v", groups, err)
	}
}

func modal(title string) slack.ModalViewRequest {
	return slack.ModalViewRequest{
		Type:            slack.VTModal,
		Title:           slack.NewTextBlockObject(slack.PlainTextType, title, false, false),
		Submit:          slack.NewTextBlockObject(slack.PlainTextType, "Request", false, false),
		CallbackID:      "access_request",
		PrivateMetadata: `{"channel":"C1"}`,
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewInputBlock("reason", slack.NewTextBlockObject(slack.PlainTextType, "Reason", false, false), nil,
				slack.NewPlainTextInputBlockElement(nil, "reason_input")),
		}},
	}
}

func TestViewsOpenTriggers(t *testing.T) {
	clock := newFakeClock()
	srv, api := newServer(t, WithClock(clock), WithTriggerTTL(3*time.Second))

	fresh := srv.NewTriggerIDFor(alice.ID)
	res, err := api.OpenView(fresh, modal("Request access"))
	if err != nil {
		t.Fatal(err)
	}
	if res.ID == "" || res.Hash == "" || res.CallbackID != "access_request" || res.PrivateMetadata != `{"channel":"C1"}` ||
		res.State == nil || len(res.Blocks.BlockSet) != 1 {
		t.Errorf("views.open answered %+v", res.View)
	}
	views := srv.Views()
	if len(views) != 1 {
		t.Fatalf("%d views, want 1", len(views))
	}
	v := views[0]
	if v.ID != res.ID || v.Method != "views.open" || v.UserID != alice.ID || v.TriggerID != fresh || v.Title != "Request access" ||
		v.Type != "modal" || len(v.Blocks.BlockSet) != 1 || !strings.Contains(v.AllText(), "Reason") {
		t.Errorf("recorded view = %+v", v)
	}
	if len(srv.Violations()) != 0 {
		t.Errorf("violations after a clean open: %+v", srv.Violations())
	}

	_, err = api.OpenView(fresh, modal("Request access"))
	wantSlackError(t, err, "exchanged_trigger_id")
	_, err = api.OpenView("123.456.nope", modal("Request access"))
	wantSlackError(t, err, "invalid_trigger_id")

	late := srv.NewTriggerID()
	clock.Advance(3*time.Second + time.Millisecond)
	_, err = api.OpenView(late, modal("Request access"))
	wantSlackError(t, err, "expired_trigger_id")

	// An invalid view does not consume the trigger.
	again := srv.NewTriggerID()
	_, err = api.OpenView(again, modal("A title well over twenty-four characters"))
	wantSlackError(t, err, "invalid_arguments")
	if _, err := api.OpenView(again, modal("Retry")); err != nil {
		t.Errorf("trigger consumed by a rejected view: %v", err)
	}

	viol := srv.Violations()
	if len(viol) != 3 || viol[0].Rule != RuleTriggerID || !strings.HasPrefix(viol[0].Detail, "exchanged_trigger_id") ||
		!strings.HasPrefix(viol[2].Detail, "expired_trigger_id") {
		t.Errorf("violations = %+v", viol)
	}

	// views.update and views.push.
	upd, err := api.UpdateView(modal("Submitted"), "", res.Hash, res.ID)
	if err != nil || upd.ID != res.ID || upd.Hash == res.Hash {
		t.Fatalf("views.update = %+v, %v", upd, err)
	}
	_, err = api.UpdateView(modal("Stale"), "", res.Hash, res.ID)
	wantSlackError(t, err, "hash_conflict")
	_, err = api.UpdateView(modal("Nope"), "", "", "V404")
	wantSlackError(t, err, "not_found")
	if _, err := api.PushView(srv.NewTriggerID(), modal("Pushed")); err != nil {
		t.Errorf("views.push: %v", err)
	}
	var methods []string
	for _, v := range srv.Views() {
		methods = append(methods, v.Method)
	}
	if got := strings.Join(methods, ","); got != "views.open,views.open,views.update,views.push" {
		t.Errorf("view methods = %s", got)
	}
}

func TestViewsPublish(t *testing.T) {
	srv, api := newServer(t)
	home := func(text string) slack.HomeTabViewRequest {
		return slack.HomeTabViewRequest{Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, text, false, false), nil, nil),
		}}}
	}
	first, err := api.PublishView(alice.ID, home("No grants"), "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := api.PublishView(alice.ID, home("1 active grant"), first.Hash)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || second.Hash == first.Hash || second.Type != slack.VTHomeTab {
		t.Errorf("publishes: %+v then %+v", first.View, second.View)
	}
	_, err = api.PublishView(alice.ID, home("stale"), first.Hash)
	wantSlackError(t, err, "hash_conflict")
	_, err = api.PublishView("U0NOBODY", home("x"), "")
	wantSlackError(t, err, "user_not_found")
	_, err = api.PublishView(alice.ID, slack.HomeTabViewRequest{Type: slack.VTModal}, "")
	wantSlackError(t, err, "invalid_arguments")

	if _, err := api.PublishView(bob.ID, home("bob's"), ""); err != nil {
		t.Fatal(err)
	}
	pub := srv.ViewsPublished(alice.ID)
	if len(pub) != 2 || pub[1].AllText() != "1 active grant" || pub[1].UserID != alice.ID || pub[1].Type != "home" {
		t.Errorf("alice's home tabs = %+v", pub)
	}
}

func TestResponseURLLimits(t *testing.T) {
	clock := newFakeClock()
	srv, api := newServer(t, WithClock(clock))
	ctx := ctxT(t)

	url := srv.NewResponseURL()
	for i := range ResponseURLMaxUses {
		var err error
		if i%2 == 0 {
			err = slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{ResponseType: "ephemeral", Text: fmt.Sprint("update ", i)})
		} else {
			_, _, err = api.PostMessageContext(ctx, "", slack.MsgOptionResponseURL(url, slack.ResponseTypeEphemeral),
				slack.MsgOptionText(fmt.Sprint("update ", i), false), slack.MsgOptionBlocks(approvalBlocks("r1")...))
		}
		if err != nil {
			t.Fatalf("use %d: %v", i+1, err)
		}
	}
	err := slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{Text: "sixth"})
	var sce slack.StatusCodeError
	if !errors.As(err, &sce) || sce.Code != http.StatusNotFound {
		t.Fatalf("sixth use: %v, want a 404", err)
	}

	posts := srv.ResponsePosts(url)
	if len(posts) != 6 {
		t.Fatalf("%d posts recorded, want 6", len(posts))
	}
	if posts[0].Text != "update 0" || posts[0].ResponseType != "ephemeral" || posts[0].Use != 1 {
		t.Errorf("first post = %+v", posts[0])
	}
	if posts[1].Text != "update 1" || len(posts[1].Buttons()) != 2 || posts[1].Use != 2 {
		t.Errorf("second post (via MsgOptionResponseURL) = %+v", posts[1])
	}
	if posts[5].Error != "used_url" || posts[5].Use != 0 || posts[5].Status != http.StatusNotFound {
		t.Errorf("sixth post = %+v", posts[5])
	}

	old := srv.NewResponseURL()
	clock.Advance(ResponseURLLifetime + time.Second)
	if err := slack.PostWebhookContext(ctx, old, &slack.WebhookMessage{Text: "late"}); err == nil {
		t.Error("post to an expired response_url succeeded")
	}
	if p := srv.ResponsePosts(old); len(p) != 1 || p[0].Error != "expired_url" {
		t.Errorf("expired post = %+v", p)
	}
	if err := slack.PostWebhookContext(ctx, srv.URL()+"/actions/T/1/forged", &slack.WebhookMessage{Text: "?"}); err == nil {
		t.Error("post to a forged response_url succeeded")
	}
	viol := srv.Violations()
	if len(viol) != 3 || viol[0].Rule != RuleResponseURL || !strings.HasPrefix(viol[1].Detail, "expired_url") {
		t.Errorf("violations = %+v", viol)
	}
	if n := len(srv.ResponsePosts("")); n != 8 {
		t.Errorf("all posts = %d, want 8", n)
	}
}

func TestResponseURLReplacesMessage(t *testing.T) {
	srv, api := newServer(t)
	ctx := ctxT(t)
	_, ts, err := api.PostMessage("C1", slack.MsgOptionText("pending", false), slack.MsgOptionBlocks(approvalBlocks("r1")...))
	if err != nil {
		t.Fatal(err)
	}
	url := srv.NewMessageResponseURL("C1", ts)
	if err := slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{ReplaceOriginal: true, Text: "approved"}); err != nil {
		t.Fatal(err)
	}
	m, _ := srv.Message("C1", ts)
	if m.Text != "approved" || m.BlocksJSON != nil || len(m.Updates) != 1 || m.Updates[0].Via != "response_url" {
		t.Errorf("after replace_original: %+v", m)
	}
	if err := slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{DeleteOriginal: true}); err != nil {
		t.Fatal(err)
	}
	if m, _ := srv.Message("C1", ts); !m.Deleted {
		t.Error("delete_original did not delete")
	}
}

func TestRateLimit(t *testing.T) {
	srv, api := newServer(t)
	srv.RateLimit("chat.postMessage", 2, 1500*time.Millisecond)
	for i := range 2 {
		_, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false))
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != 2*time.Second {
			t.Fatalf("call %d: %v, want RateLimitedError with RetryAfter 2s (1.5s rounded up)", i+1, err)
		}
	}
	if _, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false)); err != nil {
		t.Fatalf("third call: %v", err)
	}
	// Other methods are unaffected.
	srv.RateLimit("users.info", 1, 30*time.Second)
	if _, _, err := api.PostMessage("C1", slack.MsgOptionText("y", false)); err != nil {
		t.Fatal(err)
	}
	_, err := api.GetUserInfo(alice.ID)
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 30*time.Second {
		t.Fatalf("users.info: %v", err)
	}
	calls := srv.CallsTo("chat.postMessage")
	if len(calls) != 4 || calls[0].Status != http.StatusTooManyRequests || calls[0].Error != "ratelimited" || calls[2].Status != http.StatusOK {
		t.Errorf("calls = %+v", calls)
	}
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("%d messages, want 2 (rate-limited posts are not messages)", n)
	}
}

// TestOutage: until the outage's end on the fake's clock, every Web API
// call and every response_url post answers 429 with the Retry-After, and
// nothing is done; from its end on, everything works again.
func TestOutage(t *testing.T) {
	clock := newFakeClock()
	srv, api := newServer(t, WithClock(clock))
	ctx := ctxT(t)
	url := srv.NewResponseURL()
	srv.Outage(clock.Now().Add(10*time.Minute), time.Minute)
	refused := func(what string, err error) {
		t.Helper()
		var rl *slack.RateLimitedError
		if !errors.As(err, &rl) || rl.RetryAfter != time.Minute {
			t.Fatalf("%s during the outage: %v, want RateLimitedError with RetryAfter 1m", what, err)
		}
	}
	_, _, err := api.PostMessageContext(ctx, alice.ID, slack.MsgOptionText("x", false))
	refused("chat.postMessage", err)
	_, err = api.GetUserByEmailContext(ctx, alice.Email)
	refused("users.lookupByEmail", err)
	if err := slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{Text: "answer"}); err == nil {
		t.Fatal("a response_url post went through during the outage")
	}
	clock.Advance(10*time.Minute - time.Second)
	_, _, err = api.PostMessageContext(ctx, alice.ID, slack.MsgOptionText("x", false))
	refused("chat.postMessage a second before the end", err)
	if n := len(srv.Messages()); n != 0 {
		t.Fatalf("%d messages recorded during the outage", n)
	}
	if posts := srv.ResponsePosts(url); len(posts) != 1 || posts[0].Status != http.StatusTooManyRequests || posts[0].Error != "ratelimited" || posts[0].Use != 0 {
		t.Fatalf("response_url posts during the outage: %+v", posts)
	}

	clock.Advance(time.Second)
	if _, _, err := api.PostMessageContext(ctx, alice.ID, slack.MsgOptionText("after", false)); err != nil {
		t.Fatalf("after the outage: %v", err)
	}
	if err := slack.PostWebhookContext(ctx, url, &slack.WebhookMessage{Text: "answer"}); err != nil {
		t.Fatalf("response_url after the outage: %v", err)
	}
	calls := srv.CallsTo("chat.postMessage")
	if len(calls) != 3 || calls[0].Status != http.StatusTooManyRequests || calls[0].Error != "ratelimited" || calls[2].Status != http.StatusOK {
		t.Errorf("calls = %+v", calls)
	}
	if msgs := srv.DMs(alice.ID); len(msgs) != 1 || msgs[0].Original.Text != "after" || msgs[0].Original.Via != "chat.postMessage" {
		t.Errorf("messages = %+v", msgs)
	}
}

func TestPacing(t *testing.T) {
	clock := newFakeClock()
	srv, api := newServer(t, WithClock(clock), WithPacing(time.Second))
	post := func(ch string) {
		t.Helper()
		if _, _, err := api.PostMessage(ch, slack.MsgOptionText("x", false)); err != nil {
			t.Fatal(err)
		}
	}
	post("C1")
	post("C2") // another channel: fine
	clock.Advance(time.Second)
	post("C1") // exactly one second later: fine
	clock.Advance(999 * time.Millisecond)
	post("C1") // too soon
	viol := srv.Violations()
	if len(viol) != 1 || viol[0].Rule != RulePacing || viol[0].Channel != "C1" || !viol[0].At.Equal(clock.Now()) {
		t.Fatalf("violations = %+v", viol)
	}
	// Ties on a stopped clock still get unique, increasing ts.
	msgs := srv.Messages()
	for i := 1; i < len(msgs); i++ {
		if msgs[i].TS <= msgs[i-1].TS {
			t.Errorf("ts %s after %s", msgs[i].TS, msgs[i-1].TS)
		}
	}
}

// TestPacingLimit: enforced, a post too soon after the previous one to the
// same channel is refused with 429 Retry-After 1 (the rest of the gap,
// rounded up), counted as a violation, and is no message; the gap runs from
// the last accepted post.
func TestPacingLimit(t *testing.T) {
	clock := newFakeClock()
	srv, api := newServer(t, WithClock(clock), WithPacingLimit(time.Second))
	post := func(ch string) error {
		_, _, err := api.PostMessage(ch, slack.MsgOptionText("x", false))
		return err
	}
	if err := post("C1"); err != nil {
		t.Fatal(err)
	}
	if err := post("C2"); err != nil { // another channel: fine
		t.Fatal(err)
	}
	clock.Advance(300 * time.Millisecond)
	var rl *slack.RateLimitedError
	if err := post("C1"); !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Fatalf("a post 300ms after the last: %v, want RateLimitedError with RetryAfter 1s", err)
	}
	clock.Advance(700 * time.Millisecond) // one second after the accepted post
	if err := post("C1"); err != nil {
		t.Fatal(err)
	}
	viol := srv.Violations()
	if len(viol) != 1 || viol[0].Rule != RulePacing || viol[0].Channel != "C1" {
		t.Fatalf("violations = %+v", viol)
	}
	if n := len(srv.Messages()); n != 3 {
		t.Errorf("%d messages, want 3 (the refused post is none)", n)
	}
	if n := srv.CountCalls("chat.postMessage"); n != 4 {
		t.Errorf("CountCalls = %d, want 4", n)
	}
}

func TestUnknownMethod(t *testing.T) {
	srv, api := newServer(t)
	_, err := api.GetConversationInfo(&slack.GetConversationInfoInput{ChannelID: "C1"})
	wantSlackError(t, err, "unknown_method")
	calls := srv.CallsTo("conversations.info")
	if len(calls) != 1 || calls[0].Error != "unknown_method" || calls[0].Params.Get("channel") != "C1" {
		t.Errorf("calls = %+v", calls)
	}
}

func TestReset(t *testing.T) {
	srv, api := newServer(t)
	if _, _, err := api.PostMessage(alice.ID, slack.MsgOptionText("x", false)); err != nil {
		t.Fatal(err)
	}
	srv.Reset()
	if len(srv.Calls()) != 0 || len(srv.Messages()) != 0 {
		t.Error("Reset kept recordings")
	}
	if _, err := api.GetUserInfo(alice.ID); err != nil {
		t.Errorf("Reset dropped the directory: %v", err)
	}
}

func TestConcurrentPosts(t *testing.T) {
	srv, api := newServer(t)
	ctx := ctxT(t)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			_, _, err := api.PostMessageContext(ctx, fmt.Sprintf("C%d", i%4), slack.MsgOptionText(fmt.Sprint(i), false))
			errs <- err
		})
	}
	// Wait sees the posts arrive while they are still in flight.
	if _, err := srv.WaitForCalls(ctx, "chat.postMessage", n); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for _, m := range srv.Messages() {
		if seen[m.TS] {
			t.Fatalf("duplicate ts %s", m.TS)
		}
		seen[m.TS] = true
	}
	if len(seen) != n {
		t.Errorf("%d messages, want %d", len(seen), n)
	}
}

func TestWaitTimesOut(t *testing.T) {
	srv, _ := newServer(t)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := srv.WaitForCalls(ctx, "chat.postMessage", 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want deadline exceeded", err)
	}
}

// TestEveryMethodRecorded drives each implemented method once through
// slack-go and checks each left exactly one successful record.
func TestEveryMethodRecorded(t *testing.T) {
	srv, api := newServer(t)
	srv.AddUserGroup("S0DBA", "dba", alice.ID)
	ctx := ctxT(t)
	blocks := slack.MsgOptionBlocks(approvalBlocks("r9")...)

	var ts, viewID string
	steps := []struct {
		method string
		call   func() error
	}{
		{"chat.postMessage", func() (err error) { _, ts, err = api.PostMessageContext(ctx, "C1", blocks); return err }},
		{"auth.test", func() error { _, err := api.AuthTestContext(ctx); return err }},
		{"chat.postEphemeral", func() error { _, err := api.PostEphemeralContext(ctx, "C1", alice.ID, blocks); return err }},
		{"chat.update", func() error { _, _, _, err := api.UpdateMessageContext(ctx, "C1", ts, blocks); return err }},
		{"conversations.open", func() error {
			_, _, _, err := api.OpenConversationContext(ctx, &slack.OpenConversationParameters{Users: []string{alice.ID}})
			return err
		}},
		{"users.info", func() error { _, err := api.GetUserInfoContext(ctx, alice.ID); return err }},
		{"users.lookupByEmail", func() error { _, err := api.GetUserByEmailContext(ctx, alice.Email); return err }},
		{"usergroups.users.list", func() error { _, err := api.GetUserGroupMembersContext(ctx, "S0DBA"); return err }},
		{"usergroups.list", func() error { _, err := api.GetUserGroupsContext(ctx); return err }},
		{"views.open", func() error {
			v, err := api.OpenViewContext(ctx, srv.NewTriggerID(), modal("Request access"))
			if err == nil {
				viewID = v.ID
			}
			return err
		}},
		{"views.update", func() error { _, err := api.UpdateViewContext(ctx, modal("Done"), "", "", viewID); return err }},
		{"views.push", func() error { _, err := api.PushViewContext(ctx, srv.NewTriggerID(), modal("Step 2")); return err }},
		{"views.publish", func() error {
			_, err := api.PublishViewContext(ctx, slack.PublishViewContextRequest{UserID: alice.ID, View: slack.HomeTabViewRequest{
				Type: slack.VTHomeTab, Blocks: slack.Blocks{BlockSet: approvalBlocks("r9")}}})
			return err
		}},
		{"apps.connections.open", func() error { _, _, err := srv.Client().StartSocketModeContext(ctx); return err }},
		{"chat.delete", func() error { _, _, err := api.DeleteMessageContext(ctx, "C1", ts); return err }},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Errorf("%s: %v", s.method, err)
			continue
		}
		calls := srv.CallsTo(s.method)
		if len(calls) != 1 || calls[0].Status != http.StatusOK || calls[0].Error != "" || len(calls[0].Body) == 0 && s.method != "apps.connections.open" {
			t.Errorf("%s recorded as %+v", s.method, calls)
		}
	}
	// Blocks are readable from every place they were recorded.
	for _, m := range srv.Messages() {
		if len(m.Buttons()) != 2 || m.Buttons()[0].Value != "approve:r9" {
			t.Errorf("message %s buttons = %+v", m.TS, m.Buttons())
		}
	}
	if m, _ := srv.Message("C1", ts); len(m.Updates) != 1 || len(m.Updates[0].Blocks.BlockSet) != 2 {
		t.Errorf("update blocks not readable: %+v", m.Updates)
	}
	if views := srv.Views(); len(views) != 4 || len(views[3].Buttons()) != 2 {
		t.Errorf("views = %+v", views)
	}
	// The JSON-bodied call's params read like a form's.
	if got := srv.CallsTo("views.open")[0].Params.Get("view"); !strings.Contains(got, `"callback_id":"access_request"`) {
		t.Errorf("views.open params view = %s", got)
	}
}

// TestJSONBody posts chat.postMessage as JSON with a bearer token, which
// Slack accepts and some callers (response builders, scripts) use.
func TestJSONBody(t *testing.T) {
	srv, _ := newServer(t)
	body := `{"channel":"C1","text":"json","thread_ts":"1.000001","blocks":[{"type":"section","text":{"type":"mrkdwn","text":"hello"}}]}`
	req, err := http.NewRequestWithContext(ctxT(t), http.MethodPost, srv.APIURL()+"chat.postMessage", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+srv.BotToken())
	var out struct {
		OK bool   `json:"ok"`
		TS string `json:"ts"`
	}
	res, err := http.DefaultClient.Do(req)
	if err == nil {
		err = json.NewDecoder(res.Body).Decode(&out)
		res.Body.Close()
	}
	if err != nil || !out.OK || out.TS == "" {
		t.Fatalf("answer %+v, %v", out, err)
	}
	m, ok := srv.Message("C1", out.TS)
	if !ok || m.Text != "json" || m.ThreadTS != "1.000001" || m.AllText() != "json\nhello" {
		t.Errorf("message = %+v", m)
	}
	if c := srv.CallsTo("chat.postMessage")[0]; c.Params.Get("text") != "json" || !strings.HasPrefix(c.Params.Get("blocks"), "[{") {
		t.Errorf("params = %v", c.Params)
	}

	req, _ = http.NewRequestWithContext(ctxT(t), http.MethodPost, srv.APIURL()+"chat.postMessage", strings.NewReader(`{"channel":`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+srv.BotToken())
	res2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res2.Body.Close()
	if c := srv.CallsTo("chat.postMessage"); len(c) != 2 || c[1].Error != "invalid_json" {
		t.Errorf("truncated JSON recorded as %+v", c[len(c)-1])
	}
}

func TestRefuseAndFailStatus(t *testing.T) {
	srv, api := newServer(t)
	srv.Refuse("chat.postMessage", 1, "channel_not_found")
	_, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false))
	var refused slack.SlackErrorResponse
	if !errors.As(err, &refused) || refused.Err != "channel_not_found" {
		t.Fatalf("refused post: %v, want SlackErrorResponse channel_not_found", err)
	}
	if _, _, err := api.PostMessage("C1", slack.MsgOptionText("x", false)); err != nil {
		t.Fatalf("after the refusal: %v", err)
	}

	srv.FailStatus("chat.update", 2, http.StatusInternalServerError)
	for i := range 2 {
		_, _, _, err := api.UpdateMessage("C1", "1.0", slack.MsgOptionText("y", false))
		var sc slack.StatusCodeError
		if !errors.As(err, &sc) || sc.Code != http.StatusInternalServerError {
			t.Fatalf("update %d: %v, want StatusCodeError 500", i+1, err)
		}
	}
	// A new fault replaces the method's last; times <= 0 clears it.
	srv.Refuse("users.info", 5, "user_not_found")
	srv.RateLimit("users.info", 0, 0)
	if _, err := api.GetUserInfo(alice.ID); err != nil {
		t.Fatalf("cleared fault: %v", err)
	}

	calls := srv.Calls()
	if len(calls) != 5 || calls[0].Status != http.StatusOK || calls[0].Error != "channel_not_found" || calls[2].Status != http.StatusInternalServerError {
		t.Errorf("calls = %+v", calls)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1 (failed posts are not messages)", n)
	}
}

// conversations.history lists what the bot posted in a conversation,
// newest first, paged, from oldest on, with the metadata only when asked;
// it takes conversation ids only.
func TestConversationsHistory(t *testing.T) {
	clock := newFakeClock()
	srv, api := newServer(t, WithClock(clock))
	ctx := ctxT(t)
	meta := func(id string) slack.MsgOption {
		return slack.MsgOptionMetadata(slack.SlackMetadata{EventType: "jitbot_delivery", EventPayload: map[string]any{"delivery": id}})
	}
	dm, first, err := api.PostMessageContext(ctx, alice.ID, slack.MsgOptionText("one", false), meta("1"))
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	if _, _, err := api.PostMessageContext(ctx, alice.ID, slack.MsgOptionText("two", false)); err != nil {
		t.Fatal(err)
	}
	if _, err := api.PostEphemeralContext(ctx, dm, alice.ID, slack.MsgOptionText("only alice", false)); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	_, third, err := api.PostMessageContext(ctx, alice.ID, slack.MsgOptionText("three", false), meta("3"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := api.PostMessageContext(ctx, bob.ID, slack.MsgOptionText("bob's", false)); err != nil {
		t.Fatal(err)
	}
	texts := func(p *slack.GetConversationHistoryParameters) ([]string, *slack.GetConversationHistoryResponse) {
		t.Helper()
		res, err := api.GetConversationHistoryContext(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range res.Messages {
			out = append(out, m.Text)
		}
		return out, res
	}
	got, res := texts(&slack.GetConversationHistoryParameters{ChannelID: dm})
	if strings.Join(got, ",") != "three,two,one" || res.HasMore || res.Messages[0].Metadata.EventType != "" {
		t.Fatalf("history %v (more %v, metadata %+v): want three,two,one without metadata", got, res.HasMore, res.Messages[0].Metadata)
	}
	got, res = texts(&slack.GetConversationHistoryParameters{ChannelID: dm, IncludeAllMetadata: true, Oldest: first})
	if strings.Join(got, ",") != "three,two" || res.Messages[0].Metadata.EventType != "jitbot_delivery" || res.Messages[0].Metadata.EventPayload["delivery"] != "3" ||
		res.Messages[0].User != srv.BotUserID() {
		t.Fatalf("history after the first: %v, %+v: want three (with its metadata, by the bot) and two", got, res.Messages)
	}
	got, _ = texts(&slack.GetConversationHistoryParameters{ChannelID: dm, Oldest: first, Inclusive: true, Latest: third})
	if strings.Join(got, ",") != "three,two,one" {
		t.Fatalf("history from the first to the third, both included: %v", got)
	}
	got, _ = texts(&slack.GetConversationHistoryParameters{ChannelID: dm, Latest: third})
	if strings.Join(got, ",") != "two,one" {
		t.Fatalf("history before the third: %v", got)
	}
	var paged []string
	p := &slack.GetConversationHistoryParameters{ChannelID: dm, Limit: 1}
	for range 5 {
		page, res := texts(p)
		paged = append(paged, page...)
		if !res.HasMore {
			break
		}
		p.Cursor = res.ResponseMetaData.NextCursor
	}
	if strings.Join(paged, ",") != "three,two,one" {
		t.Fatalf("paged one at a time: %v", paged)
	}
	for _, ch := range []string{alice.ID, "#general", "C0NOWHERE", "D" + gone.ID} {
		_, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: ch})
		wantSlackError(t, err, "channel_not_found")
	}
	_, err = api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: dm, Cursor: "bogus"})
	wantSlackError(t, err, "invalid_cursor")
	_, _, err = api.PostMessageContext(ctx, alice.ID, slack.MsgOptionText("x", false),
		slack.MsgOptionMetadata(slack.SlackMetadata{EventType: "not a type!", EventPayload: map[string]any{}}))
	wantSlackError(t, err, "invalid_metadata_format")
}

// TestUsersConversations: the bot's channels, of the types asked for, by
// name, a page at a time; bad arguments are refused as Slack refuses them.
func TestUsersConversations(t *testing.T) {
	srv, api := newServer(t)
	ctx := ctxT(t)
	srv.AddChannel("C0DB", "#db-access")
	srv.AddChannel("C0AL", "alerts")
	srv.AddPrivateChannel("C0SEC", "sec-approvals")
	list := func(p slack.GetConversationsForUserParameters) []string {
		t.Helper()
		var out []string
		for range 10 {
			page, next, err := api.GetConversationsForUserContext(ctx, &p)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range page {
				out = append(out, fmt.Sprintf("%s=%s/%v", c.Name, c.ID, c.IsPrivate))
			}
			if next == "" {
				return out
			}
			p.Cursor = next
		}
		t.Fatalf("users.conversations never ended its pages: %v", out)
		return nil
	}
	if got := strings.Join(list(slack.GetConversationsForUserParameters{}), " "); got != "alerts=C0AL/false db-access=C0DB/false" {
		t.Errorf("no types: %s; want the public channels by name", got)
	}
	both := slack.GetConversationsForUserParameters{Types: []string{"public_channel", "private_channel"}, Limit: 1}
	if got := strings.Join(list(both), " "); got != "alerts=C0AL/false db-access=C0DB/false sec-approvals=C0SEC/true" {
		t.Errorf("public and private, one a page: %s", got)
	}
	if got := strings.Join(list(slack.GetConversationsForUserParameters{Types: []string{"private_channel"}}), " "); got != "sec-approvals=C0SEC/true" {
		t.Errorf("private only: %s", got)
	}
	for _, c := range []struct {
		p    slack.GetConversationsForUserParameters
		want string
	}{
		{slack.GetConversationsForUserParameters{Types: []string{"channels"}}, "invalid_types"},
		{slack.GetConversationsForUserParameters{Cursor: "bogus"}, "invalid_cursor"},
		{slack.GetConversationsForUserParameters{UserID: alice.ID}, "invalid_arguments"},
	} {
		_, _, err := api.GetConversationsForUserContext(ctx, &c.p)
		wantSlackError(t, err, c.want)
	}
}

// TestScopes: every answer to the bot token names its scopes, and a method
// called without the scope it needs (for the channel or the types it
// reads) is refused with missing_scope, naming the one needed.
func TestScopes(t *testing.T) {
	srv, api := newServer(t, WithScopes("chat:write", "im:write", "im:history", "channels:read"))
	ctx := ctxT(t)
	srv.AddPrivateChannel("CSEC", "sec")
	resp, err := http.PostForm(srv.APIURL()+"auth.test", url.Values{"token": {srv.BotToken()}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-OAuth-Scopes"); got != "chat:write,im:write,im:history,channels:read" {
		t.Errorf("X-OAuth-Scopes %q", got)
	}
	dm, _, err := api.PostMessageContext(ctx, alice.ID, slack.MsgOptionText("hi", false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: dm}); err != nil {
		t.Errorf("a DM's history with im:history: %v", err)
	}
	if _, _, err := api.GetConversationsForUserContext(ctx, &slack.GetConversationsForUserParameters{}); err != nil {
		t.Errorf("public channels with channels:read: %v", err)
	}
	for _, c := range []struct {
		call   func() error
		needed string
	}{
		{func() error { _, err := api.GetUserInfoContext(ctx, alice.ID); return err }, "users:read"},
		{func() error {
			_, err := api.GetConversationHistoryContext(ctx, &slack.GetConversationHistoryParameters{ChannelID: "CSEC"})
			return err
		}, "groups:history"},
		{func() error {
			_, _, err := api.GetConversationsForUserContext(ctx, &slack.GetConversationsForUserParameters{Types: []string{"public_channel", "private_channel"}})
			return err
		}, "groups:read"},
	} {
		err := c.call()
		wantSlackError(t, err, "missing_scope")
		calls := srv.Calls()
		if last := calls[len(calls)-1]; last.Error != "missing_scope" {
			t.Errorf("%s recorded %q", last.Method, last.Error)
		}
		var body struct{ Needed string }
		resp, herr := http.PostForm(srv.APIURL()+calls[len(calls)-1].Method, calls[len(calls)-1].Params)
		if herr != nil {
			t.Fatal(herr)
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if body.Needed != c.needed {
			t.Errorf("%s: needed %q, want %q", calls[len(calls)-1].Method, body.Needed, c.needed)
		}
	}
}
