// Package atlastest is an in-process simulator of the MongoDB Atlas Admin API (v2), built on
// net/http/httptest, for jitbot's tests and for `jitbot demo`.
//
// It is a test double, not an adapter: only tests, `jitbot demo` and jitbot-bench import it
// (the last two through cmd/internal/rig).
// It must not import flows, store, bot or any other jitbot package, so that it can never
// drift into sharing code with the thing it is meant to check. It speaks the wire protocol
// only (HTTP, Digest and OAuth client credentials, Atlas JSON), which is what lets the real
// go.mongodb.org/atlas-sdk client be pointed at it unchanged.
//
// Every request is checked against openapi/atlas-api-transformed.yaml from the SDK module, so
// a client that builds a request the real Atlas would reject fails here too. The spec is
// loaded once per process ([SharedSpec]) and shared by every [Server]. Where that file is not
// at hand (a binary without a Go module cache, as in the container image), [RoutingSpec]
// routes the implemented operations and checks nothing: the demo says so when it uses it.
//
// Beyond the spec the simulator enforces the Atlas rules the spec only states in prose: the
// 100-users-per-project cap, deleteAfterDate at most one week ahead, scopes naming existing
// clusters, change status PENDING until a change is applied, per-operation project roles, and
// automatic deletion of users whose deleteAfterDate has passed; OIDC and AWS IAM users
// live in $external, have no password and are named as their method requires
// (external_users.go); the project IP access list keeps temporary entries until their
// deleteAfterDate, upserts a POST of an entry that exists, and refuses a POST that overlaps
// another to the same project (accesslist.go). Faults (latency, 429, 5xx,
// dropped connections) and token-bucket rate limiters (per endpoint set, per project or
// organization) can be switched on per test.
//
// Organizations hold projects (with tags) and Atlas (UI) users. A project's clusters are
// dedicated (three processes the monitoring API lists, each answering listDatabases),
// shared-tier (M0: providerName TENANT, no processes) or Flex (listFlexClusters only; the
// Clusters API refuses them with CANNOT_USE_FLEX_CLUSTER_IN_CLUSTER_API, as Atlas does).
// Users are organization members (listOrgUsers, getOrgUser, addOrgRole, removeOrgRole) and
// project members (listGroupUsers, getGroupUser, addGroupUsers, removeGroupUser,
// addGroupUserRole, removeGroupUserRole: the MongoDB Cloud Users API of version 2025-02-19,
// not the deprecated getUserByName or project invitations); every change lands in the
// project's or the organization's event log (listGroupEvents, listOrgEvents) with its actor.
// Credentials carry organization roles as well as project roles, and see what Atlas would
// let them see (an Organization Member lists only its own projects). members.go lists the
// refusals and their error codes; where the spec names none the codes are the simulator's.
package atlastest
