package slacktest

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Signature computes Slack's v0 request signature:
// "v0=" + hex(HMAC-SHA256(secret, "v0:" + unix(ts) + ":" + body)).
func Signature(body []byte, signingSecret string, ts time.Time) string {
	mac := hmac.New(sha256.New, []byte(signingSecret))
	// hash.Hash.Write never fails.
	_, _ = mac.Write([]byte("v0:" + strconv.FormatInt(ts.Unix(), 10) + ":"))
	_, _ = mac.Write(body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

// Sign sets X-Slack-Request-Timestamp and X-Slack-Signature on req as Slack
// would for body sent at ts. body must be exactly the bytes req carries.
func Sign(req *http.Request, body []byte, signingSecret string, ts time.Time) {
	req.Header.Set("X-Slack-Request-Timestamp", strconv.FormatInt(ts.Unix(), 10))
	req.Header.Set("X-Slack-Signature", Signature(body, signingSecret, ts))
}

// SignedRequest builds a form POST to target signed like Slack's: what a
// slash command or an interaction delivers to the bot's HTTP handlers. It
// works both with http.Client.Do and handler.ServeHTTP.
func SignedRequest(ctx context.Context, target string, form url.Values, signingSecret string, ts time.Time) (*http.Request, error) {
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("slacktest: signed request to %s: %w", target, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "Slackbot 1.0 (+https://api.slack.com/robots)")
	Sign(req, []byte(body), signingSecret, ts)
	return req, nil
}

// SlashCommandForm encodes a slash command as the form Slack posts, the
// inverse of slack.SlashCommandParse.
func SlashCommandForm(cmd slack.SlashCommand) url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("token", cmd.Token)
	set("team_id", cmd.TeamID)
	set("team_domain", cmd.TeamDomain)
	set("enterprise_id", cmd.EnterpriseID)
	set("enterprise_name", cmd.EnterpriseName)
	set("channel_id", cmd.ChannelID)
	set("channel_name", cmd.ChannelName)
	set("user_id", cmd.UserID)
	set("user_name", cmd.UserName)
	v.Set("command", cmd.Command)
	v.Set("text", cmd.Text)
	set("response_url", cmd.ResponseURL)
	set("trigger_id", cmd.TriggerID)
	set("api_app_id", cmd.APIAppID)
	v.Set("is_enterprise_install", strconv.FormatBool(cmd.IsEnterpriseInstall))
	return v
}

// InteractionForm encodes an interaction as Slack posts it: one form field,
// payload, holding the JSON. It marshals through the pointer because
// InteractionCallback.MarshalJSON has a pointer receiver and marshalling the
// value silently drops "state".
func InteractionForm(cb *slack.InteractionCallback) (url.Values, error) {
	b, err := json.Marshal(cb)
	if err != nil {
		return nil, fmt.Errorf("slacktest: marshal interaction: %w", err)
	}
	return url.Values{"payload": {string(b)}}, nil
}

// Click describes a button press for BlockActions.
type Click struct {
	UserID, UserName, TeamID, APIAppID string
	ActionID, BlockID, Value           string
	ResponseURL, TriggerID             string
	// ChannelID and MessageTS name the message holding the button. Leave
	// them empty and set ViewID for a button in a modal or the Home tab.
	ChannelID, MessageTS string
	ViewID               string
	ActionTS             string // defaults to MessageTS, or "1.000001"
}

// BlockActions builds the block_actions callback Slack sends when a user
// clicks a button.
func BlockActions(c Click) *slack.InteractionCallback {
	actionTS := c.ActionTS
	if actionTS == "" {
		actionTS = "1.000001"
		if c.MessageTS != "" {
			actionTS = c.MessageTS
		}
	}
	cb := &slack.InteractionCallback{
		Type:        slack.InteractionTypeBlockActions,
		ResponseURL: c.ResponseURL,
		TriggerID:   c.TriggerID,
		ActionTs:    actionTS,
		APIAppID:    c.APIAppID,
		Team:        slack.Team{ID: c.TeamID},
		User:        slack.User{ID: c.UserID, Name: c.UserName, TeamID: c.TeamID},
		ActionCallback: slack.ActionCallbacks{BlockActions: []*slack.BlockAction{{
			ActionID: c.ActionID,
			BlockID:  c.BlockID,
			Type:     "button",
			Value:    c.Value,
			ActionTs: actionTS,
		}}},
		BlockActionState: &slack.BlockActionStates{Values: map[string]map[string]slack.BlockAction{}},
	}
	if c.ChannelID != "" {
		cb.Channel.ID = c.ChannelID
		cb.Container = slack.Container{Type: "message", ChannelID: c.ChannelID, MessageTs: c.MessageTS}
		cb.Message.Timestamp = c.MessageTS
		cb.Message.Channel = c.ChannelID
	} else if c.ViewID != "" {
		cb.Container = slack.Container{Type: "view", ViewID: c.ViewID}
		cb.View.ID = c.ViewID
	}
	return cb
}

// Submission describes a modal submit for ViewSubmission.
type Submission struct {
	UserID, UserName, TeamID, APIAppID  string
	ViewID, CallbackID, PrivateMetadata string
	Hash, TriggerID                     string
	// Values is the modal state: block id -> action id -> value; build the
	// values with TextValue and OptionValue.
	Values       map[string]map[string]slack.BlockAction
	ResponseURLs []slack.ViewSubmissionCallbackResponseURL
}

// ViewSubmission builds the view_submission callback Slack sends when a user
// submits a modal.
func ViewSubmission(s Submission) *slack.InteractionCallback {
	values := s.Values
	if values == nil {
		values = map[string]map[string]slack.BlockAction{}
	}
	return &slack.InteractionCallback{
		Type:      slack.InteractionTypeViewSubmission,
		TriggerID: s.TriggerID,
		APIAppID:  s.APIAppID,
		Team:      slack.Team{ID: s.TeamID},
		User:      slack.User{ID: s.UserID, Name: s.UserName, TeamID: s.TeamID},
		View: slack.View{
			ID:              s.ViewID,
			TeamID:          s.TeamID,
			Type:            slack.VTModal,
			CallbackID:      s.CallbackID,
			PrivateMetadata: s.PrivateMetadata,
			Hash:            s.Hash,
			State:           &slack.ViewState{Values: values},
		},
		ViewSubmissionCallback: slack.ViewSubmissionCallback{Hash: s.Hash, ResponseURLs: s.ResponseURLs},
	}
}

// TextValue is the state of a plain_text_input holding value.
func TextValue(value string) slack.BlockAction {
	return slack.BlockAction{Type: "plain_text_input", Value: value}
}

// OptionValue is the state of a static_select with the option value chosen.
func OptionValue(value string) slack.BlockAction {
	return slack.BlockAction{
		Type: "static_select",
		SelectedOption: slack.OptionBlockObject{
			Value: value,
			Text:  &slack.TextBlockObject{Type: slack.PlainTextType, Text: value},
		},
	}
}
