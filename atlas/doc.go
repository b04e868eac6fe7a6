// Package atlas is jitbot's adapter to the MongoDB Atlas Admin API. It
// implements the flows ports that touch Atlas: [Provisioner] (the provisioner
// of the database-user kind, with every optional capability: temporary
// database users, one per grant) and [Catalog] (flows.Catalog: clusters,
// their owner tags and configured database hints).
//
// Every Atlas call goes through the go.mongodb.org/atlas-sdk admin client, with
// an http.Client of jitbot's own: a deadline on every call, a retrying
// transport that honours Retry-After, and OAuth token fetches that never touch
// http.DefaultClient. Failures come back as *flows.Error with a message people
// can act on; the SDK error is kept as the log-only cause.
//
// atlas imports flows, the SDK and the standard library. It must not import
// store, bot or any chat adapter; only cmd/ (cmd/internal/app) wires them
// together.
// atlas/atlastest is the simulator its tests run against.
package atlas
