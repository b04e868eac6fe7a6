// Package jira reads tickets for flows (flows.Tickets) from Jira Cloud's
// REST API v3 (GET /rest/api/3/issue/{key}, fields status, project and
// resolution), with basic auth (an account's email and API token) or a
// bearer token.
//
// It is an adapter, wired by cmd/ only, under cmd/internal for the reason
// package pagerduty gives. It imports flows and the standard library,
// never another adapter. jiratest is its fake server, for tests and the
// demo only.
package jira
