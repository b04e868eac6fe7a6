package playground

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
)

// utterance is something a person typed, and where jitbot answers them
// alone: the slash command's acknowledgement and its response_url.
type utterance struct {
	text        string
	at          time.Time
	ack         []byte
	responseURL string
	// message is the message whose button was clicked (its response_url
	// replaces it, which the message itself shows).
	message bool
}

// slackCommand is a person typing /access ... in a channel.
func (s *Server) slackCommand(ctx context.Context, req actionRequest) error {
	p, err := s.paneOf(req.Pane, "slack")
	if err != nil {
		return err
	}
	text := strings.TrimSpace(req.Text)
	cmd, args, _ := strings.Cut(text, " ")
	if cmd != "/access" {
		return errors.New(`only /access is installed here: type /access help`)
	}
	args = strings.TrimSpace(args)
	form := s.rig.SlashForm(*p.slack, args, s.rig.Slack.NewTriggerIDFor(p.slack.ID))
	u := &utterance{text: strings.TrimSpace("/access " + args), at: s.rig.Now(), responseURL: form.Get("response_url")}
	s.remember(p.ID, u)
	status, body, err := s.poster.Post(ctx, "/slack/commands", "application/x-www-form-urlencoded", []byte(form.Encode()), 0)
	if err != nil {
		return fmt.Errorf("jitbot did not answer: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("jitbot answered %d: %s", status, body)
	}
	s.mu.Lock()
	u.ack = body
	s.mu.Unlock()
	return nil
}

// slackClick is a person clicking a button: in a message, in an answer
// only they see, or in their Home tab.
func (s *Server) slackClick(ctx context.Context, req actionRequest) error {
	p, err := s.clicker(req)
	if err != nil {
		return err
	}
	var form url.Values
	onMessage := false
	switch {
	case req.ViewID != "":
		form, err = s.rig.HomeClickForm(*p.slack, req.ActionID, req.Value, req.ViewID)
	case req.Channel != "":
		m, ok := s.rig.Slack.Message(req.Channel, req.TS)
		if !ok {
			return fmt.Errorf("no message %s in %s", req.TS, req.Channel)
		}
		onMessage = true
		form, err = s.rig.ClickForm(*p.slack, req.ActionID, req.Value, m)
	default:
		form, err = s.rig.ClickForm(*p.slack, req.ActionID, req.Value, slacktest.Message{})
	}
	if err != nil {
		return err
	}
	var payload struct {
		ResponseURL string `json:"response_url"`
	}
	_ = json.Unmarshal([]byte(form.Get("payload")), &payload) // built by the rig just above
	if payload.ResponseURL != "" {
		s.remember(p.ID, &utterance{at: s.rig.Now(), responseURL: payload.ResponseURL, message: onMessage})
	}
	return s.interact(ctx, form, "")
}

// clicker is the Slack pane whose person clicks: the pane's own, or in a
// channel the one chosen to click there.
func (s *Server) clicker(req actionRequest) (*pane, error) {
	if strings.HasPrefix(req.Pane, "channel-") {
		if req.As == "" {
			return nil, errors.New("say who clicks in the channel")
		}
		return s.paneOf(req.As, "slack")
	}
	return s.paneOf(req.Pane, "slack")
}

// slackHome is a person opening jitbot's Home tab.
func (s *Server) slackHome(ctx context.Context, req actionRequest) error {
	p, err := s.paneOf(req.Pane, "slack")
	if err != nil {
		return err
	}
	body, err := s.rig.HomeOpened(*p.slack)
	if err != nil {
		return err
	}
	status, answer, err := s.poster.Post(ctx, "/slack/events", "application/json", body, 0)
	if err != nil {
		return fmt.Errorf("jitbot did not answer: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("jitbot answered %d: %s", status, answer)
	}
	return nil
}

// slackSubmit is a person submitting a form jitbot opened for them. jitbot
// either takes it (the form closes) or says what is wrong (it stays open,
// with the errors under their fields).
func (s *Server) slackSubmit(ctx context.Context, req actionRequest) error {
	p, err := s.paneOf(req.Pane, "slack")
	if err != nil {
		return err
	}
	v, ok := s.form(p, req.ViewID)
	if !ok {
		return fmt.Errorf("no open form %s", req.ViewID)
	}
	values := map[string]map[string]slackgo.BlockAction{}
	for _, in := range req.Inputs {
		if values[in.BlockID] == nil {
			values[in.BlockID] = map[string]slackgo.BlockAction{}
		}
		switch in.Type {
		case "static_select":
			if in.Value != "" {
				values[in.BlockID][in.ActionID] = slacktest.OptionValue(in.Value)
			}
		default:
			values[in.BlockID][in.ActionID] = slacktest.TextValue(in.Value)
		}
	}
	form, err := s.rig.SubmitForm(*p.slack, v, values)
	if err != nil {
		return err
	}
	return s.interact(ctx, form, v.ID)
}

// slackDismiss is a person closing a form without submitting it.
func (s *Server) slackDismiss(_ context.Context, req actionRequest) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed[req.ViewID] = true
	return nil
}

// interact posts an interaction; for a form's submission (viewID) it reads
// jitbot's answer: errors keep the form open, anything else closes it.
func (s *Server) interact(ctx context.Context, form url.Values, viewID string) error {
	status, body, err := s.poster.Post(ctx, "/slack/interactions", "application/x-www-form-urlencoded", []byte(form.Encode()), 0)
	if err != nil {
		return fmt.Errorf("jitbot did not answer: %w", err)
	}
	if status != http.StatusOK {
		return fmt.Errorf("jitbot answered %d: %s", status, body)
	}
	if viewID == "" {
		return nil
	}
	var answer struct {
		ResponseAction string            `json:"response_action"`
		Errors         map[string]string `json:"errors"`
	}
	_ = json.Unmarshal(body, &answer) // an empty answer closes the form
	s.mu.Lock()
	defer s.mu.Unlock()
	if answer.ResponseAction == "errors" {
		s.formErrors[viewID] = answer.Errors
		return nil
	}
	delete(s.formErrors, viewID)
	s.closed[viewID] = true
	return nil
}

// form is the current state of the form viewID opened for p, if open.
func (s *Server) form(p *pane, viewID string) (slacktest.View, bool) {
	var found slacktest.View
	ok := false
	for _, v := range s.rig.Slack.Views() {
		if v.ID == viewID && v.Type == "modal" && v.UserID == p.slack.ID {
			found, ok = v, true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return found, ok && !s.closed[viewID]
}

func (s *Server) remember(paneID string, u *utterance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.said[paneID] = append(s.said[paneID], u)
}
