package slack

import (
	"errors"
	"fmt"
	"time"

	slackgo "github.com/slack-go/slack"
)

// The errors of Web API calls say whether waiting heals them, for the
// outbox's dispatcher (package bot): a 429 is a rateLimitedError (a
// bot.RateLimited: the conversation is held back for its Retry-After), a
// refusal that no retry of the same message heals is a refusedError (a
// bot.PermanentError: the delivery is dropped with an audit event, and
// credentials that cannot be delivered have their grant revoked), and
// anything else is transient (backed off and retried). Each wraps what
// slack-go returned, so errors.As still finds *slack.RateLimitedError and
// slack.SlackErrorResponse.

// minRetryAfter is the least a 429 holds a conversation back: Slack's
// Retry-After is in whole seconds, and 0 would have the dispatcher take it
// for no Retry-After at all.
const minRetryAfter = time.Second

// rateLimitedError is a call Slack answered 429: it implements
// bot.RateLimited.
type rateLimitedError struct {
	method string
	wait   time.Duration
	err    error // the *slackgo.RateLimitedError
}

func (e *rateLimitedError) Error() string {
	return fmt.Sprintf("slack: %s: rate limited; retry after %s", e.method, e.wait)
}

func (e *rateLimitedError) Unwrap() error { return e.err }

// RetryAfter is Slack's Retry-After, at least minRetryAfter.
func (e *rateLimitedError) RetryAfter() time.Duration { return e.wait }

// refusedError is a call Slack refused with a code in permanentCodes: it
// implements bot.PermanentError. It is this package's own type rather than
// bot.Permanent so that the inbox, which treats bot.Permanent as "give up
// at once", keeps deciding by the flows error code its callers wrap it in.
type refusedError struct {
	method string
	err    error // the slackgo.SlackErrorResponse
}

func (e *refusedError) Error() string { return "slack: " + e.method + ": " + e.err.Error() }

func (e *refusedError) Unwrap() error { return e.err }

// Permanent reports that retrying the same message cannot succeed.
func (e *refusedError) Permanent() bool { return true }

// permanentCodes are the Slack error codes that no retry of the same
// message heals: they are about the conversation, the person or the message
// itself, so holding the conversation behind them would block it forever.
// The decisions, code by code:
//
//   - channel_not_found: the conversation does not exist or the bot cannot
//     see it (a private channel it was never invited to, a deleted DM).
//   - is_archived: the channel is archived.
//   - not_in_channel: the bot was removed from the channel. Inviting it back
//     lets the next messages through; the audit event says what was lost.
//   - user_not_found, user_disabled: the person is gone or deactivated.
//   - cannot_dm_bot: the recipient is a bot.
//   - restricted_action, restricted_action_read_only_channel,
//     restricted_action_thread_only_channel,
//     restricted_action_non_threadable_channel: the workspace forbids
//     posting in that channel.
//   - message_not_found, cant_update_message, edit_window_closed
//     (chat.update): the card to refresh is gone or can no longer be edited.
//   - not_found, hash_conflict (views.update): the request form was closed,
//     or changed since; it will not come back.
//   - msg_too_long, msg_blocks_too_long, invalid_blocks,
//     invalid_blocks_format, too_many_attachments, no_text, view_too_large:
//     Slack refuses this message as it is, and it is rendered the same on
//     every attempt.
//
// Every other code is transient, notably those about the bot itself rather
// than one message: invalid_auth, not_authed, token_revoked, token_expired,
// account_inactive, missing_scope, not_allowed_token_type, no_permission,
// team_access_not_granted, ekm_access_denied, messages_tab_disabled. Every
// message fails alike with them, and an operator's fix (a new token, a
// scope, the app's Messages tab) must resume delivery, not find the outbox
// emptied and every pending grant revoked. account_inactive is one of them:
// Slack answers it when the token's own user or workspace is deleted or
// deactivated (the app uninstalled), not for a deactivated recipient, to
// whom a post succeeds (Find does not find them). So are Slack's own
// failures: ratelimited, internal_error, fatal_error, service_unavailable,
// request_timeout, HTTP 5xx and network errors. So is a response_url
// answering 404 (expired_url, used_url: slack-go gives the status only): the
// answer is retried until it is old enough for SendReply to send it to the
// person's DMs instead (responseURLLife).
//
// An answer waits in the outbox in one conversation per person: a refusal
// taken for transient there holds back every later answer to them, which
// is why a closed form (not_found) is permanent.
func permanentCode(code string) bool {
	switch code {
	case "channel_not_found", "is_archived", "not_in_channel",
		"user_not_found", "user_disabled", "cannot_dm_bot",
		"restricted_action", "restricted_action_read_only_channel",
		"restricted_action_thread_only_channel", "restricted_action_non_threadable_channel",
		"message_not_found", "cant_update_message", "edit_window_closed",
		"not_found", "hash_conflict",
		"msg_too_long", "msg_blocks_too_long", "invalid_blocks", "invalid_blocks_format",
		"too_many_attachments", "no_text", "view_too_large":
		return true
	}
	return false
}

// apiError names the method in a failed call's error and says whether it
// heals (see above). nil stays nil.
func apiError(method string, err error) error {
	if err == nil {
		return nil
	}
	var rl *slackgo.RateLimitedError
	if errors.As(err, &rl) {
		return &rateLimitedError{method: method, wait: max(rl.RetryAfter, minRetryAfter), err: err}
	}
	if permanentCode(slackCode(err)) {
		return &refusedError{method: method, err: err}
	}
	return fmt.Errorf("slack: %s: %w", method, err)
}
