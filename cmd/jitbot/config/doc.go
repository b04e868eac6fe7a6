// Package config loads jitbot.yaml: it decodes the file strictly (an unknown
// key is an error), expands ${ENV} references and *_file secrets, checks
// everything, and reports every problem with its path and line. The access
// policy inside it is validated by flows.Compile; the rest (listen address,
// store, Slack, Teams, Atlas credentials) here.
//
// It is used by cmd/ only (the jitbot command and its wiring in
// cmd/internal/app) and imports flows; it must not import any adapter, so
// that `jitbot check` stays cheap.
package config
