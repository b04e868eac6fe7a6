// Package pagerduty tells flows who is on call (flows.OnCall), from
// PagerDuty's REST API v2 (GET /oncalls, users included for their emails).
//
// It is an adapter, wired by cmd/ only; it lives under cmd/internal rather
// than beside atlas/ and store/ because the design's top level holds the
// domain and its three main adapters, and this one is a small client of one
// endpoint that only the wiring uses. It imports flows and the standard
// library, never another adapter. pagerdutytest is its fake server, for
// tests and the demo only.
package pagerduty
