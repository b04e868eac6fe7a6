package slack

import (
	"slices"
	"testing"

	"github.com/jitbot/jitbot/flows"
)

func TestConfigValidate(t *testing.T) {
	fe := func(path, msg string) flows.FieldError { return flows.FieldError{Path: path, Message: msg} }
	const httpNeedsSecret = "required to serve HTTP (or set app_token for Socket Mode)"
	tests := []struct {
		name string
		cfg  Config
		want []flows.FieldError
	}{
		{"HTTP", Config{BotToken: "xoxb-1", SigningSecret: "s"}, nil},
		{"Socket Mode needs no signing secret", Config{BotToken: "xoxb-1", AppToken: "xapp-1"}, nil},
		{"secrets from files", Config{BotTokenFile: "/run/bot", SigningSecretFile: "/run/signing"}, nil},
		{"empty", Config{}, []flows.FieldError{fe("bot_token", "required"), fe("signing_secret", httpNeedsSecret)}},
		{"app token from a file", Config{BotToken: "xoxb-1", AppTokenFile: "/run/app"}, []flows.FieldError{fe("signing_secret", httpNeedsSecret)}},
		{"no signing secret", Config{BotToken: "xoxb-1"}, []flows.FieldError{fe("signing_secret", httpNeedsSecret)}},
		{"app token as bot token", Config{BotToken: "xapp-1", SigningSecret: "s"}, []flows.FieldError{
			fe("bot_token", "an app-level token (xapp-): use the bot token (xoxb-), and the app-level token in app_token for Socket Mode"),
		}},
		{"token kinds", Config{BotToken: "xoxp-1", AppToken: "x-1"}, []flows.FieldError{
			fe("bot_token", "a bot token starts with xoxb-"), fe("app_token", "an app-level token starts with xapp-"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.cfg.Validate(); !slices.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}
