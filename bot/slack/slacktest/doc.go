// Package slacktest is a recording fake of the Slack Web API, Socket Mode and
// response_url endpoints, plus helpers that build signed Slack requests.
//
// Role: a test double. It is imported only by tests (of bot/slack, of the
// end-to-end suite) and by `jitbot demo`, never by production code paths. It
// exists because slack-go's own slacktest cannot read back Web API posts and
// lacks views.*, chat.update and conversations.open (see
// shared/notes/testing-offline.md §2).
//
// The fake answers with Slack's real response shapes so the real slack-go
// client decodes them, enforces the limits the bot must respect (single-use
// trigger ids, five uses of a response_url within 30 minutes, one message per
// second per channel, the bot token's scopes (WithScopes), 429 with
// Retry-After on demand), fails calls on demand as Slack does (RateLimit,
// Refuse with an error code, FailStatus) and records every call so tests can
// assert on what the bot sent. Breaches of a limit are kept as Violations,
// which a test can require to be empty.
//
// It must not import flows or any other jitbot package, and its non-test files
// must not import the testing package: `jitbot demo` links it into the binary.
// All methods of Server are safe for concurrent use.
package slacktest
