// Package storecopy moves jitbot's whole state from one store to another
// (`jitbot store copy`: a bbolt file to an etcd cluster and back): the
// requests, the audit chain, chat state, the inbox with its dedupe
// records, the outbox, the sign-in records and the audit sinks' cursors,
// as each store exports them (store/internal/record.Piece).
//
// It names no store: it takes any two that export and import pieces, and
// proves the copy: the source's audit chain verifies before anything is
// written, the destination's verifies after with the same length and head,
// and the destination exports as many pieces of each kind as the source.
// It imports flows and store/internal/record only; cmd wires the stores.
package storecopy
