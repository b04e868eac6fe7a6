// Package store keeps jitbot's state in one bbolt file: requests and their
// indexes (by requester, by pending approver, by state, by due time, by
// expiry), idempotency keys, the hash-chained audit log, references to chat
// messages sent about requests, chat contact references per person, and
// the side-effect path: the inbox of deliveries from chat platforms and the
// outbox of messages to send, with the dispatcher's audit cursor, and each audit
// sink's cursor (store/auditsink streams the log out).
//
// It implements flows.Store and imports flows; it must not import any other
// adapter (atlas, bot/...). Its records are its own types: domain structs are
// converted at the boundary so that storage concerns never leak into flows.
package store
