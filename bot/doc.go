// Package bot holds what jitbot says in chat, independent of the chat
// platform: the access command language (Parse, Usage), the opaque ids that
// buttons carry (Action, ParseAction), and the views of requests (Card) that
// the Slack adapter renders as Block Kit and the Teams adapter as Adaptive
// Cards.
//
// Views are plain data built from a *flows.Request, the event that changed it
// and the person looking at it (Viewer), so both adapters show the same facts
// and offer the same buttons. Buttons are offered as a convenience only: every
// click is authorized again by flows.Service on the server.
//
// Only the credentials views carry a password, revealed from flows.Secret when
// the view is built; Card redacts sensitive fields when logged or printed.
//
// What both adapters decide alike lives here too, so they cannot drift
// apart: who gets a direct message (Tell), what a stored message shows after
// an event (Refresh, the Kind constants), what a request form offers
// (NewForm), and the machinery every adapter needs around its delivery: work
// detached from the acknowledgement and bounded at shutdown (Worker), a
// bounded TTL cache for dedupe and lookups (Cache), and per-request ordering
// of notices (RequestLocks). Delivery itself, and every platform limit, stay
// in the adapters.
//
// bot imports flows and the standard library only. It must not import a chat
// SDK (slack-go, msbotbuilder-go), atlas, store or either adapter: the
// adapters import bot, never the reverse.
package bot
