// Package app wires one jitbot: it turns a loaded configuration into the
// store, the Atlas adapter, the chat adapters, the domain service, the
// schedules, the HTTP server with its probes, metrics and admin API (Main),
// and reloads the access policy while it runs (reload.go); it offers the
// client of that admin API, and the domain service alone (Offline) for an
// admin verb run when no server does.
//
// It is the wiring DESIGN §2 rule 3 reserves to cmd/: the jitbot command
// (its serve verb, its offline admin verbs and its demo) and jitbot-bench
// (the scenarios) both run it, so it lives under cmd/internal, importable by
// them and nothing else. It must not import the test servers (atlastest,
// slacktest, teamstest) nor the scenarios: what it links ends up in the
// production binary.
package app
