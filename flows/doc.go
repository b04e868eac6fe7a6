// Package flows is jitbot's domain: access requests and their state machine,
// the access-flow policy (who may ask for what, for how long, and who approves),
// routing to approvers, grants of every kind (a KindSpec each: target, roles,
// principal), expiry, and the events that the audit log and the chat adapters
// consume.
//
// flows imports only the standard library. It declares the ports it needs
// (Store, a Provisioner per kind with its optional capabilities, Catalog,
// Notifier, Clock) and the adapters in atlas, store and bot implement them;
// flows never imports an adapter, an SDK or a storage engine, and no SDK type
// appears in its signatures.
//
// An integration is one Atlas project, or every project of one Atlas
// organization (IntegrationSpec.OrganizationID). The resources of an
// organization-wide integration name the project after the integration
// (acme/payments-prod/Cluster0/sales/orders); Policy.Resolve reads a parsed
// resource the way its integration wants it, and the service fills in the
// project's and the cluster's Atlas ids from the catalog, which key the
// grant while the names stay for display (Resource.Same). A flow's resource
// patterns may select projects and clusters by Atlas tag (tag:env=prod), so
// that a project tagged tomorrow is covered without a change to the policy;
// the catalog says each cluster's tags and its project's (Cluster.Tags,
// Cluster.ProjectTags).
package flows
