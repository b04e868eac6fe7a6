package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"

	slackgo "github.com/slack-go/slack"
)

// requiredScopes are the bot scopes jitbot cannot work without.
func requiredScopes() []string {
	return []string{"commands", "chat:write", "im:write", "users:read", "users:read.email"}
}

// optionalScopes are the bot scopes whose absence costs something, each
// group with what.
func optionalScopes() []struct{ scopes, without string } {
	return []struct{ scopes, without string }{
		{"usergroups:read", "Slack user groups named in the access flows cannot be read"},
		{"im:history,channels:history,groups:history", "a message cut short by a crash cannot be found again, and may be posted twice"},
		{"channels:read,groups:read", "a channel named by #name cannot be looked up, to find a card cut short by a crash there"},
	}
}

// CheckReport is what Check found: OK says what works, Warnings what works
// less well than it could.
type CheckReport struct {
	OK       string
	Warnings []string
}

// Check reaches Slack as jitbot would, for `jitbot check -online`: the bot
// token works (auth.test, naming the workspace and the bot), it has the
// scopes jitbot needs (the X-OAuth-Scopes header Slack answers with), the
// app-level token opens Socket Mode when there is one, and the bot is a
// member of every channel it posts to (the approvals channel and the
// channels given, by id or by name). Each problem comes back in the error,
// named.
func Check(ctx context.Context, cfg Config, channels ...string) (CheckReport, error) {
	var rep CheckReport
	client := *httpClientOf(cfg)
	scopes := &scopeRecorder{next: client.Transport}
	client.Transport = scopes
	api := newAPI(cfg, &client)
	who, err := api.AuthTestContext(ctx)
	if err != nil {
		return rep, fmt.Errorf("the bot token does not work: auth.test: %w", err)
	}
	var problems []error
	granted, named := scopes.get()
	switch {
	case !named:
		rep.Warnings = append(rep.Warnings, "Slack did not name the bot token's scopes (no X-OAuth-Scopes header): they are not checked")
	default:
		var missing []string
		for _, s := range requiredScopes() {
			if !slices.Contains(granted, s) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Errorf("the bot token lacks the scopes %s: add them to the app (manifests/slack-app.yaml lists them) and reinstall it", strings.Join(missing, ", ")))
		}
		for _, o := range optionalScopes() {
			var lacks []string
			for _, s := range strings.Split(o.scopes, ",") {
				if !slices.Contains(granted, s) {
					lacks = append(lacks, s)
				}
			}
			if len(lacks) > 0 {
				rep.Warnings = append(rep.Warnings, fmt.Sprintf("without %s, %s", strings.Join(lacks, ", "), o.without))
			}
		}
	}
	if cfg.AppToken != "" {
		if _, _, err := api.StartSocketModeContext(ctx); err != nil {
			problems = append(problems, fmt.Errorf("the app-level token does not open Socket Mode: apps.connections.open: %w", err))
		}
	}
	found, absent, err := checkChannels(ctx, api, append([]string{cfg.ApprovalsChannel}, channels...))
	var refused slackgo.SlackErrorResponse
	switch {
	case errors.As(err, &refused) && refused.Err == "missing_scope":
		rep.Warnings = append(rep.Warnings, "the channels jitbot posts to are not checked: users.conversations needs channels:read and groups:read")
	case err != nil:
		problems = append(problems, err)
	case len(absent) > 0:
		problems = append(problems, fmt.Errorf("the bot is not a member of %s, where jitbot posts approval cards or notices: invite it there (/invite @%s), or fix the channel in the configuration",
			strings.Join(absent, ", "), who.User))
	}
	rep.OK = fmt.Sprintf("workspace %s, bot @%s", who.Team, who.User)
	if len(found) > 0 {
		rep.OK += "; a member of " + strings.Join(found, ", ")
	}
	return rep, errors.Join(problems...)
}

// checkChannels finds each of channels (ids or #names; empty ones
// skipped) among those the bot is a member of: chat:write posts only
// there. found are those it is in, with their ids; absent the others.
func checkChannels(ctx context.Context, api *slackgo.Client, channels []string) (found, absent []string, err error) {
	var want []string
	for _, c := range channels {
		if c = strings.TrimSpace(c); c != "" && !slices.Contains(want, c) {
			want = append(want, c)
		}
	}
	if len(want) == 0 {
		return nil, nil, nil
	}
	// Each call once, its error as slack-go gave it (Check tells a missing
	// scope apart).
	once := func(ctx context.Context, _ string, fn func(ctx context.Context) error) error { return fn(ctx) }
	mine, err := botChannels(ctx, api, once)
	if err != nil {
		return nil, nil, fmt.Errorf("list the bot's channels: users.conversations: %w", err)
	}
	byName, byID := map[string]string{}, map[string]string{}
	for _, c := range mine {
		byName[strings.ToLower(c.Name)], byID[c.ID] = c.ID, c.Name
	}
	for _, c := range want {
		if isChannelName(c) {
			if id, member := byName[strings.ToLower(strings.TrimPrefix(c, "#"))]; member {
				found = append(found, fmt.Sprintf("#%s (%s)", strings.TrimPrefix(c, "#"), id))
				continue
			}
		} else if name, member := byID[c]; member {
			found = append(found, fmt.Sprintf("#%s (%s)", name, c))
			continue
		}
		absent = append(absent, c)
	}
	return found, absent, nil
}

// scopeRecorder keeps the scopes Slack names in its answers' X-OAuth-Scopes
// header.
type scopeRecorder struct {
	next http.RoundTripper

	mu     sync.Mutex
	scopes []string
	named  bool
}

func (s *scopeRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	next := s.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(req)
	if err == nil {
		if h := resp.Header.Values("X-OAuth-Scopes"); len(h) > 0 {
			s.mu.Lock()
			s.named, s.scopes = true, nil
			for _, sc := range strings.Split(h[0], ",") {
				if sc = strings.TrimSpace(sc); sc != "" {
					s.scopes = append(s.scopes, sc)
				}
			}
			s.mu.Unlock()
		}
	}
	return resp, err
}

func (s *scopeRecorder) get() ([]string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.scopes), s.named
}
