// Package scenario holds the scenarios behind DESIGN §8's budget: load,
// approval click to credentials, duplicate delivery, expiry under Atlas's
// rate limit, downtime, a chat outage, kill -9 at random points and right
// after acks, and a long history. Each
// runs the real jitbot (app.Main, its HTTP handlers, the store on disk; or
// the jitbot binary as `jitbot serve`) in a rig against the simulators and
// returns what it measured. jitbot-bench prints the figures; this package's
// tests run the same scenarios, smaller, and assert their invariants (never
// their timings).
//
// It is the load generator and the kill loops: it must never be linked into
// the jitbot binary (cmd/jitbot's TestScenariosAreNotLinked fails if it is),
// so only cmd/jitbot-bench and tests import it.
package scenario
