// Package config loads jitbot.yaml: it decodes the file strictly (an unknown
// key is an error), expands ${ENV} references and *_file secrets, checks
// everything, and reports every problem with its path and line.
//
// Each adapter declares its own section: slack.Config, teams.Config and
// atlas.Integration carry their yaml keys and check their own rules
// (Validate, with paths relative to the section). The loader composes them
// and applies what is the same for every section, as their fields declare
// it: a key k with a sibling k_file is a secret that may be read from that
// file; check:"endpoint" is a URL credentials are sent to (https, or http to
// loopback only, no user info); check:"trim" drops surrounding spaces. What
// spans sections (slack, teams or both; slack:<handle> groups need slack)
// is the loader's, and the access policy is validated by flows.Compile.
// `jitbot check` and `jitbot serve` load through Parse alike, so check runs
// exactly the validation serve runs.
//
// It is used by cmd/ only (the jitbot command and its wiring in
// cmd/internal/app). It imports flows and the adapters' configuration types,
// never to build an adapter: checking a file makes no call and opens nothing
// but the secret files.
package config
