// Package rig is the world jitbot runs in for the demo, the scenarios and
// the tests: the Atlas simulator, the Slack fake and the Bot Framework fake,
// jitbot's configuration and store in a directory of their own, jitbot in
// this process (app.Main) or as a `jitbot serve` child, and the people who
// talk to it (signed Slack requests, Teams activities).
//
// It is the one place that wiring lives, so the demo, jitbot-bench and the
// tests cannot drift apart. It is linked into the jitbot binary through
// `jitbot demo`, so it holds no scenario: no load generation, no kill loop,
// no measurement (those are cmd/internal/scenario's). It must not import
// testing (rigtest adds what tests need) nor the scenarios.
package rig
