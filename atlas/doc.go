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
// An integration is one project, or (Integration.OrganizationID) every project
// of one organization. Part A of organization-wide integrations provides:
// discovery of the organization's projects (getOrgGroups, with their tags),
// each project's clusters (listClusters, with their tags; listFlexClusters for
// Flex ones) and the databases of the dedicated clusters (monitoring API:
// listGroupProcesses, listDatabases), on demand and on a schedule
// (Catalog.Start), within Atlas's rate limits and keeping the last good catalog
// when a refresh fails (Catalog.Health, Ping); database-user grants in any of
// the organization's projects, keyed by the project id the catalog gave
// (Provisioner.target), so renames change nothing; reconcile across the
// projects (ManagedGrant.Where); `check -online` for the organization.
//
// [UIAccess] is the provisioner of Atlas UI access (flows.KindAtlasUI):
// time-bound project and organization roles for a person's own Atlas
// account, recorded on the request before each change so that a crash
// leaves nothing behind, with the event logs telling the roles someone
// else gave (kept) and what a person made with a role that creates
// standing access (reported); its inventory reads the event logs for the
// roles jitbot gave. [Catalog.Projects] lists an organization's projects
// for targets that name no cluster.
//
// atlas imports flows, the SDK and the standard library. It must not import
// store, bot or any chat adapter; only cmd/ (cmd/internal/app) wires them
// together.
// atlas/atlastest is the simulator its tests run against.
package atlas
