// Package store keeps jitbot's state in one bbolt file: requests and their
// indexes (by requester, by pending approver, by state, by due time, by
// expiry), idempotency keys, the hash-chained audit log, references to chat
// messages sent about requests, and chat contact references per person.
//
// It implements flows.Store and imports flows; it must not import any other
// adapter (atlas, bot/...). Its records are its own types: domain structs are
// converted at the boundary so that storage concerns never leak into flows.
package store
