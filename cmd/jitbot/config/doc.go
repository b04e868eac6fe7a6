// Package config loads jitbot.yaml. It walks the YAML tree itself, so that
// every problem is reported in one run, each with the full path of the key
// at fault (integrations[0].atlas.client_secret_file) and its line: unknown
// keys (with the key they are likely a typo of, or the level they belong
// at), values of the wrong type, keys written twice, and YAML that does not
// parse (at the line that breaks it; a tab is called a tab). It then
// expands ${ENV} references and *_file secrets and checks everything.
//
// Each adapter declares its own section: slack.Config, teams.Config and
// atlas.Integration carry their yaml keys and check their own rules
// (Validate, with paths relative to the section). The loader composes them
// and applies what is the same for every section, as their fields declare
// it: a key k with a sibling k_file is a secret that may be read from that
// file, and a secret that is empty, blank or a placeholder left from an
// example (xoxb-REPLACE-ME, changeme, <...>) is refused; check:"id" is an
// identifier of credentials, whose placeholders are refused too;
// check:"endpoint" is a URL credentials are sent to (https, or http to
// loopback only, no user info); check:"trim" drops surrounding spaces. What
// spans sections (slack, teams or both; slack:<handle> groups need slack)
// is the loader's, and the access policy is validated by flows.Compile,
// whose Warnings (flows that can never match) come back as warnings.
//
// Load is all that `jitbot serve` checks before it starts anything, and all
// that `jitbot check` runs: they cannot disagree. (The adapters'
// constructors check no more than their Validate and the loader's rules
// ensure; cmd/jitbot's TestCheckAndServeAgree runs both on broken files.)
// Serve reloads the file the same way for a new policy.
//
// It is used by cmd/ only (the jitbot command and its wiring in
// cmd/internal/app). It imports flows and the adapters' configuration types,
// never to build an adapter: checking a file makes no call and opens nothing
// but the secret files.
package config
