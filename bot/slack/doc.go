// Package slack is jitbot's Slack platform, built on slack-go: a narrow port
// of the chat engine in package bot. It serves the /access slash command,
// button clicks, modals and the App Home over HTTP (signed requests) or
// Socket Mode, hands what people do to the engine (bot.Engine's Run and
// Click) and delivers its answers, and implements bot.Platform so that the
// engine can tell people what happened: it finds members by email, sends
// direct messages, posts to the approvals channel, updates messages.
//
// Its rules: every HTTP request's signature is checked before anything else;
// Slack gets its acknowledgement within 3 seconds, so work that calls Atlas
// or slow Slack methods runs afterwards on a detached, bounded context and
// reports through the response_url or a direct message; retried deliveries
// are recognised and do nothing twice; chat.postMessage is paced per channel.
// For the outbox's dispatcher (as bot.Platform, and as bot.Replier for the
// answers it sends) it makes each call once and leaves retrying to it: a 429
// returns at once as a bot.RateLimited carrying Slack's Retry-After (the
// dispatcher holds the conversation), refusals that no retry heals
// (channel_not_found, user_disabled, ...; see permanentCode) are
// bot.PermanentError, and those about the bot's own token or app
// (invalid_auth, token_revoked, account_inactive) stay transient. Other
// detached work waits out a Retry-After of a few seconds, never more.
// What cards say, and who hears what, comes from package bot; this package
// only renders it as Block Kit, escaping every text Slack reads as mrkdwn,
// the notification text included, so that nobody's words ping or link.
//
// It must not import atlas, store or bot/teams (the wiring in cmd/jitbot
// connects them). Its tests run the engine on flowstest's fakes and may use
// the Atlas simulator, never store or bot/teams: journeys across platforms
// are cmd/jitbot's end-to-end tests. bot/slack/slacktest is for tests only.
package slack
