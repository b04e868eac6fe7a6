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
// dropped connections) and a token-bucket rate limiter can be switched on per test.
package atlastest
