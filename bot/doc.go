// Package bot is jitbot's one chat engine, independent of the chat
// platform. It decides everything jitbot says and does in chat; the
// platforms (bot/slack, bot/teams) are narrow ports that carry it.
//
// The engine (Engine) is flows' Notifier for every platform at once
// (Notify): credentials first, approval cards to the approvers on every
// platform that reaches them and to each approvals channel, the references
// of sent cards kept (MessageRefs) and the cards refreshed after each
// event, direct messages to the people a notice names, notices of one
// request in order. It also runs what people type and click on any
// platform (Run, Click), through the domain service (Service), and answers
// with a platform-neutral Reply: cards, a list of requests, the request
// form's choices, or why it did not work (Refused). Who gets which answer,
// and which message, is decided here once.
//
// Around it: the access command language (Parse, Usage), the opaque ids
// that buttons carry (Action, ParseAction), the views of requests (Card,
// built from a *flows.Request, the event that changed it and the person
// looking at it, Viewer), what a request form offers (NewForm), and the
// machinery every platform needs around its deliveries: work detached from
// the acknowledgement and bounded at shutdown (Worker), a bounded TTL cache
// for dedupe and lookups (Cache). Buttons are offered as a convenience only:
// every click is authorized again by the service.
//
// Cards carry plain text. Each platform's renderer escapes every text it
// emits for its own markup (Slack's mrkdwn, Teams' Markdown), fallback and
// notification texts included, so that nobody's words ping, link or
// format. Only the credentials views carry a password, revealed from
// flows.Secret when the view is built; Card redacts sensitive fields when
// logged or printed.
//
// A platform implements Platform: its name and Wording, finding a person
// by email, sending a card privately, posting to a channel, updating a
// message. Rendering, pacing, retries, identity and its own rules (where a
// secret may go, who counts as a member) stay behind it, with its inbound
// HTTP, which calls Run and Click. A third platform is one new package
// implementing Platform and serving its own inbound, registered with
// Engine.Register: nothing here changes.
//
// bot imports flows and the standard library only. It must not import a
// chat SDK (slack-go, msbotbuilder-go), atlas, store or a platform: the
// platforms import bot, never the reverse. bot/bottest holds fakes for
// tests.
package bot
