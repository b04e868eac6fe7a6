package slack

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Config configures the Slack adapter. Its yaml keys are those of the slack
// section of jitbot.yaml, read by cmd/jitbot/config: the loader expands
// ${ENV}, reads each secret from its *_file twin, refuses placeholders in
// secrets, and checks the fields tagged check:"endpoint"; Validate says
// what else is wrong. The fields
// without a key are the wiring's.
type Config struct {
	// BotToken (xoxb-...) calls the Web API. Scopes: commands, chat:write,
	// im:write, users:read, users:read.email, usergroups:read, and
	// im:history, channels:history, groups:history, channels:read,
	// groups:read (FindSent).
	BotToken     string `yaml:"bot_token"`
	BotTokenFile string `yaml:"bot_token_file"`
	// SigningSecret verifies HTTP requests from Slack. Required unless only
	// Socket Mode is used.
	SigningSecret     string `yaml:"signing_secret"`
	SigningSecretFile string `yaml:"signing_secret_file"`
	// AppToken (xapp-..., connections:write) turns on Socket Mode.
	AppToken     string `yaml:"app_token"`
	AppTokenFile string `yaml:"app_token_file"`
	// APIURL overrides the Web API's base URL (tests, proxies).
	APIURL string `yaml:"api_url" check:"endpoint"`
	// ApprovalsChannel receives a copy of every approval card when the
	// request's flow names no channel of its own: an id (C…) or a #name
	// (FindSent looks its id up among the bot's channels).
	ApprovalsChannel string `yaml:"approvals_channel"`
	// Command is the slash command's name, quoted in help texts ("/access").
	Command string `yaml:"-"`
	// Runtime: the clock also paces messages; WorkTimeout is 30s by default.
	bot.Runtime `yaml:"-"`
	// Pacing is the least time between two chat.postMessage calls to one
	// channel (1s, Slack's guidance).
	Pacing time.Duration `yaml:"-"`
}

// Validate reports what is wrong with the slack section, each problem with
// its path in the section. A secret counts as given when its *_file twin is
// set: the loader reads the file into it and reports a file it cannot read.
func (c Config) Validate() []flows.FieldError {
	var errs flows.ValidationError
	if c.BotToken == "" && c.BotTokenFile == "" {
		errs.Add("bot_token", "required")
	}
	// Socket Mode needs no signing secret: Slack's websocket is the proof.
	if c.SigningSecret == "" && c.SigningSecretFile == "" && c.AppToken == "" {
		errs.Add("signing_secret", "required to serve HTTP (or set app_token for Socket Mode)")
	}
	switch {
	case strings.HasPrefix(c.BotToken, "xapp-"):
		errs.Add("bot_token", "an app-level token (xapp-): use the bot token (xoxb-), and the app-level token in app_token for Socket Mode")
	case c.BotToken != "" && !strings.HasPrefix(c.BotToken, "xoxb-"):
		errs.Add("bot_token", "a bot token starts with xoxb-")
	}
	if c.AppToken != "" && !strings.HasPrefix(c.AppToken, "xapp-") {
		errs.Add("app_token", "an app-level token starts with xapp-")
	}
	return errs
}

// secretsRead is the configuration as New sees it: the *_file keys are the
// configuration file's, which config.Load reads into the secrets (or
// refuses), so New judges the secrets themselves.
func (c Config) secretsRead() Config {
	c.BotTokenFile, c.SigningSecretFile, c.AppTokenFile = "", "", ""
	return c
}

// configError is Validate's problems as New's error, each line saying
// where it comes from; nil when there are none.
func configError(problems []flows.FieldError) error {
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = fmt.Errorf("slack: %w", p)
	}
	return errors.Join(errs...)
}
