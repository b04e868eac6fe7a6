// Package flows is jitbot's domain: access requests and their state machine,
// the access-flow policy (who may ask for what, for how long, and who approves),
// routing to approvers, grants of every kind (a KindSpec each: target, roles,
// principal), expiry, and the events that the audit log and the chat adapters
// consume.
//
// flows imports only the standard library. It declares the ports it needs
// (Store, a Provisioner per kind with its optional capabilities, Catalog,
// Notifier, Clock) and the adapters in atlas, store and bot implement them;
// flows never imports an adapter, an SDK or a storage engine, and no SDK type
// appears in its signatures.
package flows
