package rig

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

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
)

// Poster delivers signed requests to jitbot's Slack endpoints, as Slack
// does: each delivery, retries included, signed anew.
type Poster struct {
	base string // http://host:port
	http *http.Client
}

// NewPoster posts to the jitbot at addr (host:port).
func NewPoster(addr string) *Poster {
	tr := &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute}
	return &Poster{base: "http://" + addr, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Close lets go of the idle connections.
func (p *Poster) Close() { p.http.CloseIdleConnections() }

// Post sends body to path; retry > 0 marks it as Slack's retry number retry.
func (p *Poster) Post(ctx context.Context, path, contentType string, body []byte, retry int) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", contentType)
	if retry > 0 {
		req.Header.Set("X-Slack-Retry-Num", strconv.Itoa(retry))
		req.Header.Set("X-Slack-Retry-Reason", "http_timeout")
	}
	slacktest.Sign(req, body, SigningSecret, time.Now())
	resp, err := p.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// Form posts a form and answers the status.
func (p *Poster) Form(ctx context.Context, path string, form url.Values, retry int) (int, error) {
	status, _, err := p.Post(ctx, path, "application/x-www-form-urlencoded", []byte(form.Encode()), retry)
	return status, err
}

// Send posts a form once and answers jitbot's reply, failing on anything
// but a 200.
func (p *Poster) Send(ctx context.Context, path string, form url.Values) (string, error) {
	status, body, err := p.Post(ctx, path, "application/x-www-form-urlencoded", []byte(form.Encode()), 0)
	if err != nil {
		return "", err
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("%s answered %d: %s", path, status, body)
	}
	return string(body), nil
}

// SlashForm is a /access invocation by user as Slack posts it.
func (r *Rig) SlashForm(user slacktest.User, text, triggerID string) url.Values {
	return slacktest.SlashCommandForm(slackgo.SlashCommand{
		TeamID: r.Slack.TeamID(), ChannelID: "C0GENERAL", UserID: user.ID, UserName: user.Name, Command: "/access", Text: text,
		ResponseURL: r.Slack.NewResponseURL(), TriggerID: triggerID,
	})
}

// ClickForm is a press by user on the button (actionID, value) of message m
// (a zero message for a button pressed where jitbot does not know the
// message).
func (r *Rig) ClickForm(user slacktest.User, actionID, value string, m slacktest.Message) (url.Values, error) {
	return slacktest.InteractionForm(slacktest.BlockActions(slacktest.Click{
		UserID: user.ID, UserName: user.Name, TeamID: r.Slack.TeamID(), ActionID: actionID, Value: value,
		ResponseURL: r.Slack.NewMessageResponseURL(m.Channel, m.TS), TriggerID: r.Slack.NewTriggerIDFor(user.ID),
		ChannelID: m.Channel, MessageTS: m.TS,
	}))
}

// Button is the button of m whose value starts with prefix.
func Button(m slacktest.Message, prefix string) (*slackgo.ButtonBlockElement, bool) {
	for _, b := range m.Buttons() {
		if strings.HasPrefix(b.Value, prefix) {
			return b, true
		}
	}
	return nil, false
}

// WaitSlack waits until cond holds for the Slack fake, at most timeout.
func (r *Rig) WaitSlack(ctx context.Context, what string, timeout time.Duration, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := r.Slack.Wait(ctx, cond); err != nil {
		return fmt.Errorf("%s did not happen within %s", what, timeout)
	}
	return nil
}

// WaitDM waits, at most timeout, for a Slack DM to user containing needle
// and answers the last such.
func (r *Rig) WaitDM(ctx context.Context, user slacktest.User, needle string, timeout time.Duration) (slacktest.Message, error) {
	var found slacktest.Message
	err := r.WaitSlack(ctx, "a DM to "+user.Name+" containing "+strconv.Quote(needle), timeout, func() bool {
		m, ok := LastWith(r.Slack.DMs(user.ID), needle)
		found = m
		return ok
	})
	return found, err
}

// LastWith is the last of msgs whose text contains needle.
func LastWith(msgs []slacktest.Message, needle string) (slacktest.Message, bool) {
	for i := len(msgs) - 1; i >= 0; i-- {
		if strings.Contains(msgs[i].AllText(), needle) {
			return msgs[i], true
		}
	}
	return slacktest.Message{}, false
}

// ApprovalCard finds the card in olivia's Slack DMs for the request whose
// text contains needle, and the id of that request.
func (r *Rig) ApprovalCard(needle string) (slacktest.Message, string, bool) {
	msgs := r.Slack.DMs(Olivia.ID)
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i]
		if !strings.Contains(m.AllText(), needle) {
			continue
		}
		if b, ok := Button(m, "approve:"); ok {
			return m, strings.TrimPrefix(b.Value, "approve:"), true
		}
	}
	return slacktest.Message{}, "", false
}

// CountDMs counts the DMs to user containing needle.
func (r *Rig) CountDMs(user slacktest.User, needle string) int {
	n := 0
	for _, m := range r.Slack.DMs(user.ID) {
		if strings.Contains(m.AllText(), needle) {
			n++
		}
	}
	return n
}

// Quiet waits until jitbot has done nothing for settle, at most timeout:
// no change in the Slack fake (a Web API call, a response_url post), no
// Bot Framework call, no Atlas call and no audit record. Whatever jitbot's
// in-flight work does shows in one of them, and no step of it waits
// settle before the next (Atlas polls come every 50ms at first), so a
// duplicate still at work is seen before this returns.
func (r *Rig) Quiet(ctx context.Context, settle, timeout time.Duration) error {
	counters := []func() (int64, error){
		func() (int64, error) { return int64(len(r.Atlas.Calls())), nil },
		func() (int64, error) {
			sum, err := r.Main.Store().VerifyAudit(ctx)
			return int64(sum.Records), err
		},
	}
	if r.BF != nil {
		counters = append(counters, func() (int64, error) { return int64(len(r.BF.Calls())), nil })
	}
	return WaitQuiet(ctx, settle, timeout, r.Slack, counters...)
}

// WaitQuiet waits until, for settle, the Slack fake (when not nil) has not
// changed and no counter has moved; at most timeout.
func WaitQuiet(ctx context.Context, settle, timeout time.Duration, slack *slacktest.Server, counters ...func() (int64, error)) error {
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

// HomeClickForm is a press by user on the button (actionID, value) of the
// Home tab view viewID, as Slack posts it (no message, no response_url).
func (r *Rig) HomeClickForm(user slacktest.User, actionID, value, viewID string) (url.Values, error) {
	return slacktest.InteractionForm(slacktest.BlockActions(slacktest.Click{
		UserID: user.ID, UserName: user.Name, TeamID: r.Slack.TeamID(), ActionID: actionID, Value: value,
		TriggerID: r.Slack.NewTriggerIDFor(user.ID), ViewID: viewID, ActionTS: r.actionTS(),
	}))
}

// SubmitForm is user's submission of the modal v with values (block id ->
// action id -> state; slacktest.TextValue, slacktest.OptionValue), as
// Slack posts it.
func (r *Rig) SubmitForm(user slacktest.User, v slacktest.View, values map[string]map[string]slackgo.BlockAction) (url.Values, error) {
	return slacktest.InteractionForm(slacktest.ViewSubmission(slacktest.Submission{
		UserID: user.ID, UserName: user.Name, TeamID: r.Slack.TeamID(), ViewID: v.ID, CallbackID: v.CallbackID,
		PrivateMetadata: v.PrivateMetadata, Hash: v.Hash, TriggerID: r.Slack.NewTriggerIDFor(user.ID), Values: values,
	}))
}

// HomeOpened is the Events API delivery Slack sends when user opens the
// bot's Home tab; post it as JSON to /slack/events.
func (r *Rig) HomeOpened(user slacktest.User) ([]byte, error) {
	ts := r.actionTS()
	return json.Marshal(map[string]any{
		"token": "unused", "team_id": r.Slack.TeamID(), "api_app_id": r.Slack.AppID(), "type": "event_callback",
		// Each opening is an event of its own: jitbot drops a repeated event id as Slack's retry.
		"event_id": "Ev" + strings.ReplaceAll(ts, ".", ""), "event_time": r.Now().Unix(),
		"event": map[string]any{"type": "app_home_opened", "user": user.ID, "channel": slacktest.DMChannel(user.ID), "tab": "home", "event_ts": ts},
	})
}

// actionTS is a Slack timestamp for a click or an event: unique, since
// jitbot keys clicks without a message on it.
func (r *Rig) actionTS() string {
	now := r.Now()
	return fmt.Sprintf("%d.%06d", now.Unix(), r.seq.Add(1)%1000000)
}
