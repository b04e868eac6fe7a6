package slack

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/flows"
)

// platformOp is one bot.Platform method, the Web API method it ends in, and
// a call of it on h.
type platformOp struct {
	name, method string
	do           func(h *harness) error
}

func platformOps(t *testing.T, h *harness) []platformOp {
	t.Helper()
	// A message to update, sent before any fault is set.
	ref, err := h.bot.Send(h.ctx, bot.Person{Email: bob.Email, Address: bob.ID}, cardTitled("v1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.bot.Ping(h.ctx); err != nil { // Find then asks nothing but users.lookupByEmail
		t.Fatal(err)
	}
	return []platformOp{
		{"Send", "chat.postMessage", func(h *harness) error {
			_, err := h.bot.Send(h.ctx, bot.Person{Email: bob.Email, Address: bob.ID}, cardTitled("hello"))
			return err
		}},
		{"Post", "chat.postMessage", func(h *harness) error {
			_, err := h.bot.Post(h.ctx, "CAPPROVALS", cardTitled("approve?"))
			return err
		}},
		{"Update", "chat.update", func(h *harness) error {
			return h.bot.Update(h.ctx, ref, cardTitled("v2"))
		}},
		{"Find", "users.lookupByEmail", func(h *harness) error {
			_, _, err := h.bot.Find(h.ctx, carol.Email)
			return err
		}},
	}
}

// noLongSleep fails the test if the bot sleeps a second or more: the
// pacer's few milliseconds are all a platform call may wait.
func noLongSleep(t *testing.T, h *harness) {
	h.bot.sleep = func(ctx context.Context, d time.Duration) error {
		if d >= time.Second {
			t.Errorf("slept %s inside a platform call", d)
		}
		return sleepContext(ctx, d)
	}
}

// A 429 answers a bot.Platform call at once, as a bot.RateLimited carrying
// Slack's Retry-After (the dispatcher holds the conversation that long),
// after one call: nothing sleeps on it.
func TestPlatformRateLimitedReturnsAtOnce(t *testing.T) {
	h := newHarness(t)
	for _, op := range platformOps(t, h) {
		// Even a Retry-After that detached work would wait out.
		for _, wait := range []time.Duration{time.Minute, 2 * time.Second} {
			t.Run(op.name+"/"+wait.String(), func(t *testing.T) {
				noLongSleep(t, h)
				before := len(h.slack.CallsTo(op.method))
				h.slack.RateLimit(op.method, 5, wait)
				defer h.slack.RateLimit(op.method, 0, 0)
				start := time.Now()
				err := op.do(h)
				if took := time.Since(start); took > 5*time.Second {
					t.Errorf("took %s", took)
				}
				var rl bot.RateLimited
				if !errors.As(err, &rl) || rl.RetryAfter() != wait {
					t.Fatalf("err = %v, want a bot.RateLimited of %s", err, wait)
				}
				var slackRL *slackgo.RateLimitedError
				if !errors.As(err, &slackRL) {
					t.Errorf("err = %v does not wrap slack-go's RateLimitedError", err)
				}
				var pe bot.PermanentError
				if errors.As(err, &pe) {
					t.Errorf("a 429 is permanent: %v", err)
				}
				if n := len(h.slack.CallsTo(op.method)) - before; n != 1 {
					t.Errorf("%s called %d times, want 1", op.method, n)
				}
			})
		}
	}
}

// A Retry-After under a second still holds the conversation a second: 0
// would read as no Retry-After at all.
func TestPlatformRateLimitedAtLeastASecond(t *testing.T) {
	err := apiError("chat.postMessage", &slackgo.RateLimitedError{RetryAfter: 0})
	var rl bot.RateLimited
	if !errors.As(err, &rl) || rl.RetryAfter() != time.Second {
		t.Fatalf("err = %v, want a bot.RateLimited of 1s", err)
	}
}

// Refusals about the conversation, the person or the message itself are
// permanent: the dispatcher drops the delivery instead of retrying it
// forever.
func TestPlatformPermanentRefusals(t *testing.T) {
	h := newHarness(t)
	ops := platformOps(t, h)
	for _, code := range []string{"channel_not_found", "is_archived", "not_in_channel", "user_not_found", "user_disabled", "cannot_dm_bot", "msg_too_long"} {
		for _, op := range ops[:2] { // Send and Post
			t.Run(op.name+"/"+code, func(t *testing.T) {
				h.slack.Refuse(op.method, 1, code)
				err := op.do(h)
				var pe bot.PermanentError
				if !errors.As(err, &pe) || !pe.Permanent() {
					t.Fatalf("err = %v, want a bot.PermanentError", err)
				}
				var rl bot.RateLimited
				if errors.As(err, &rl) {
					t.Errorf("a refusal is rate limited: %v", err)
				}
				if slackCode(err) != code {
					t.Errorf("the Slack error is not wrapped: %v", err)
				}
			})
		}
	}
	for _, code := range []string{"message_not_found", "cant_update_message", "edit_window_closed", "channel_not_found"} {
		t.Run("Update/"+code, func(t *testing.T) {
			h.slack.Refuse("chat.update", 1, code)
			var pe bot.PermanentError
			if err := ops[2].do(h); !errors.As(err, &pe) || !pe.Permanent() {
				t.Fatalf("err = %v, want a bot.PermanentError", err)
			}
		})
	}
}

// What is wrong with the bot itself (its token, its app, its workspace) or
// with Slack for now is transient: neither permanent nor rate limited, so
// the dispatcher backs off and an operator's fix resumes delivery.
// account_inactive is one: Slack answers it for the token's own deleted or
// deactivated user or workspace, not for the recipient.
func TestPlatformTransientFailures(t *testing.T) {
	h := newHarness(t)
	neither := func(t *testing.T, err error) {
		t.Helper()
		if err == nil {
			t.Fatal("no error")
		}
		var pe bot.PermanentError
		var rl bot.RateLimited
		if errors.As(err, &pe) || errors.As(err, &rl) {
			t.Errorf("err = %v (%T), want a transient error", err, err)
		}
	}
	for _, op := range platformOps(t, h) {
		for _, code := range []string{"account_inactive", "invalid_auth", "token_revoked", "not_authed", "missing_scope", "internal_error"} {
			t.Run(op.name+"/"+code, func(t *testing.T) {
				h.slack.Refuse(op.method, 1, code)
				neither(t, op.do(h))
			})
		}
		t.Run(op.name+"/500", func(t *testing.T) {
			h.slack.FailStatus(op.method, 1, http.StatusInternalServerError)
			neither(t, op.do(h))
		})
	}

	t.Run("network error", func(t *testing.T) {
		down := errors.New("connection reset by peer")
		b, err := New(Config{
			BotToken: h.slack.BotToken(), SigningSecret: signingSecret, APIURL: h.slack.APIURL(),
			Runtime: bot.Runtime{Inbox: testInbox(t), HTTPClient: &http.Client{Transport: failingTransport{down}}},
		}, h.engine, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Send(h.ctx, bot.Person{Email: bob.Email, Address: bob.ID}, cardTitled("hello"))
		neither(t, err)
		if !errors.Is(err, down) {
			t.Errorf("err = %v, want the transport's error wrapped", err)
		}
		err = b.Update(h.ctx, flows.MessageRef{Conversation: slacktest.DMChannel(bob.ID), ID: "1.0"}, cardTitled("v2"))
		neither(t, err)
	})
}

type failingTransport struct{ err error }

func (f failingTransport) RoundTrip(*http.Request) (*http.Response, error) { return nil, f.err }

// Detached work (an inbox worker looking a person up) waits out a short
// Retry-After, but returns a long one at once: no worker sleeps for a
// minute.
func TestDetachedCallsWaitOnlyShortRetryAfter(t *testing.T) {
	h := newHarness(t)
	if err := h.bot.Ping(h.ctx); err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	h.bot.sleep = func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return nil
	}
	h.slack.RateLimit("users.info", 2, 2*time.Second)
	if _, err := h.bot.people.byUserID(h.ctx, h.bot.call, alice.ID); err != nil {
		t.Fatalf("after two short waits: %v", err)
	}
	if len(waits) != 2 || waits[0] != 2*time.Second || waits[1] != 2*time.Second {
		t.Errorf("waits = %v, want the Retry-After twice", waits)
	}

	waits = nil
	h.slack.RateLimit("users.info", 1, time.Minute)
	_, err := h.bot.people.byUserID(h.ctx, h.bot.call, bob.ID)
	var rl bot.RateLimited
	if !errors.As(err, &rl) || rl.RetryAfter() != time.Minute || flows.ErrorCode(err) != flows.EUNAVAILABLE {
		t.Fatalf("err = %v, want unavailable, rate limited for 1m", err)
	}
	if len(waits) != 0 {
		t.Errorf("waited %v for a 1m Retry-After", waits)
	}
	if !bot.Retryable(err) {
		t.Error("the inbox would not retry a rate-limited lookup")
	}
}

// The answers the dispatcher sends (SendReply) follow Send's contract: a
// 429 returns at once, rate limited, and a request form that was closed is
// permanent, so that it does not hold back the person's later answers.
func TestRepliesFollowSendsContract(t *testing.T) {
	h := newHarness(t)
	noLongSleep(t, h)
	reply := func(a answer) error {
		t.Helper()
		a.At = h.bot.clock.Now()
		raw, err := json.Marshal(a)
		if err != nil {
			t.Fatal(err)
		}
		return h.bot.SendReply(h.ctx, flows.Delivery{Platform: Platform, Recipient: a.UserID, Payload: raw})
	}
	rateLimited := func(t *testing.T, err error, method string, want time.Duration) {
		t.Helper()
		var rl bot.RateLimited
		if !errors.As(err, &rl) || rl.RetryAfter() != want {
			t.Errorf("err = %v, want a bot.RateLimited of %s", err, want)
		}
		if n := len(h.slack.CallsTo(method)); n != 1 {
			t.Errorf("%s called %d times, want 1", method, n)
		}
	}

	h.slack.RateLimit("views.publish", 5, time.Minute)
	rateLimited(t, reply(answer{Kind: answerHome, UserID: alice.ID}), "views.publish", time.Minute)

	h.slack.RateLimit("chat.postEphemeral", 5, 2*time.Second)
	rateLimited(t, reply(answer{Kind: answerMessage, UserID: alice.ID, ChannelID: "CAPPROVALS", Text: "done"}), "chat.postEphemeral", 2*time.Second)

	h.slack.RateLimit("chat.postMessage", 5, 2*time.Second)
	rateLimited(t, reply(answer{Kind: answerMessage, UserID: alice.ID, Text: "done"}), "chat.postMessage", 2*time.Second)

	err := reply(answer{Kind: answerForm, UserID: alice.ID, ViewID: "VGONE", Hash: "1", View: mustJSON(messageModal("Request access", "gone"))})
	var pe bot.PermanentError
	if !errors.As(err, &pe) || !pe.Permanent() || slackCode(err) != "not_found" {
		t.Errorf("a closed form: err = %v, want a bot.PermanentError (not_found)", err)
	}
}
