// Package auditsink streams the audit log out of the building: to a
// webhook (HMAC-signed JSON) and to syslog (RFC 5424 over TLS, RFC 5425
// framing), each sink on its own worker, in order and at least once, each
// event with an id to recognise repeats and the chain's hash up to it, so
// that a store rewritten later no longer verifies against what was sent
// (VerifyAgainst).
//
// It reads the log through flows.AuditReader and keeps each sink's place
// through Cursors, a port declared here and implemented by the backends in
// store (bbolt) and flows/flowstest (memory). It lives under store because
// it is the audit chain's outward copy: it imports flows and the standard
// library only, never another adapter (atlas, bot/...), and nothing in
// flows knows of it.
package auditsink
