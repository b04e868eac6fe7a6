// Package flowstest holds test doubles of the flows ports (a fake clock, an
// in-memory store, a provisioner, a catalog and a recording notifier) and a
// conformance suite that every flows.Store implementation must pass. It is
// imported by tests only.
package flowstest
