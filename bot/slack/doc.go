// Package slack is jitbot's Slack adapter, built on slack-go. It serves the
// /access slash command, button clicks, modals and the App Home over HTTP
// (signed requests) or Socket Mode, drives flows.Service with what people do,
// and implements flows.Notifier to tell them what happened: approval cards,
// direct messages, credentials.
//
// Its rules: every HTTP request's signature is checked before anything else;
// Slack gets its acknowledgement within 3 seconds, so work that calls Atlas
// or slow Slack methods runs afterwards on a detached, bounded context and
// reports through the response_url or a direct message; retried deliveries
// are recognised and do nothing twice; chat.postMessage is paced per channel
// and rate-limited calls are retried after Retry-After, off the ack path.
// What cards say comes from package bot, shared with the Teams adapter; this
// package only renders it as Block Kit.
//
// It must not import atlas, store or bot/teams (the wiring in cmd/jitbot
// connects them); its tests may. bot/slack/slacktest is for tests only.
package slack
