package scenario

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
)

// The crash scenario's other kinds of grant: Atlas UI project roles on the
// requesters' own Atlas accounts and network access (IP access-list
// entries). Their bursts share the kills, and after every kill what Atlas
// holds is checked against the grants the store says hold access: no role
// and no jitbot entry that no live grant explains (a leftover), none
// missing for an active grant, none kept past its deadline while jitbot ran.

// crashKindFlows: the same times as crashFlow, approved by olivia.
var crashKindFlows = crashKindFlow("crash-ui", "atlas_ui", `    resources: ["*"]
    roles: [`+crashUIRole+`]
`) + crashKindFlow("crash-network", "access_list_entry", `    allowed_cidrs: [198.51.100.0/24]
`) + crashKindFlow("crash-service-account", "service_account", `    resources: ["*"]
    roles: [`+crashUIRole+`]
    allowed_cidrs: [198.51.100.0/24]
`) + crashKindFlow("crash-api-key", "api_key", `    resources: ["*"]
    roles: [`+crashUIRole+`]
    allowed_cidrs: [198.51.100.0/24]
    accept_no_backstop: true
`)

// crashKindFlow is a flow of kind with what it grants (rules) and the
// crash scenario's times and approver.
func crashKindFlow(name, kind, rules string) string {
	return "  - name: " + name + "\n    kind: " + kind + "\n    integration: prod\n    requesters: [\"*\"]\n" + rules +
		"    default_duration: 1m\n    max_duration: 3m\n    approvers: [" + rig.Olivia.Email + "]\n    require_reason: true\n    pending_ttl: 2m\n"
}

const crashUIRole = atlastest.RoleReadOnly

// crashAtlasRoles are jitbot's service account's roles: database users and
// discovery, Atlas UI access (find people, read the event log, manage
// project members), the project's access list, and service accounts
// (Project Owner makes them; without Organization Owner jitbot ends one by
// taking its secrets and its project, and it stays in the organization).
var crashAtlasRoles = []string{atlastest.RoleDatabaseAccessAdmin, atlastest.RoleReadOnly, atlastest.RoleOrgReadOnly,
	"GROUP_ACCESS_MANAGER", atlastest.RoleNetworkAccessManager, atlastest.RoleProjectOwner}

// What the bursts ask for besides database users: the project's UI role,
// and two addresses, so that grants of several people share an entry.
const (
	crashUITarget  = "ui"
	crashNetPrefix = "net:"
	crashSAPrefix  = "sa:"
	crashKeyPrefix = "key:"
)

var crashKindResources = []string{crashUITarget, crashNetPrefix + "198.51.100.7", crashNetPrefix + "198.51.100.8", crashSAPrefix + "198.51.100.9", crashKeyPrefix + "198.51.100.10"}

// requestText is the command that asks for resource (as crashResources and
// crashKindResources name them) for d, with a marker as its reason.
func requestText(resource, d, marker string) string {
	switch {
	case resource == crashUITarget:
		return fmt.Sprintf("request prod %s %s %s", crashUIRole, d, marker)
	case strings.HasPrefix(resource, crashSAPrefix):
		return fmt.Sprintf("request service-account prod %s %s from %s %s", crashUIRole, d, strings.TrimPrefix(resource, crashSAPrefix), marker)
	case strings.HasPrefix(resource, crashKeyPrefix):
		return fmt.Sprintf("request api-key prod %s %s from %s %s", crashUIRole, d, strings.TrimPrefix(resource, crashKeyPrefix), marker)
	case strings.HasPrefix(resource, crashNetPrefix):
		return fmt.Sprintf("network prod %s %s %s", strings.TrimPrefix(resource, crashNetPrefix), d, marker)
	}
	return fmt.Sprintf("request %s read %s %s", resource, d, marker)
}

// joinTheOrganization makes every requester a member of the project's
// Atlas organization with no project role: what UI access needs.
func joinTheOrganization(r *rig.Rig, emails []string) error {
	for _, e := range emails {
		if _, err := r.Atlas.AddOrgUser(atlastest.DefaultOrgID, atlastest.OrgUser{Username: e}); err != nil {
			return fmt.Errorf("crash: add %s to the Atlas organization: %w", e, err)
		}
	}
	return nil
}

// canonicalCIDR is an address or range as Atlas lists it (a bare address
// is its /32 or /128).
func canonicalCIDR(s string) string {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked().String()
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()).String()
	}
	return s
}

// checkOtherKinds compares the UI roles and the jitbot access-list
// entries in Atlas with the requests (read from the store, jitbot down):
// a role or entry no request holding access explains is an orphan; an
// active grant whose role or entry is gone before its end is missing.
func (c *crashRun) checkOtherKinds(rs []*flows.Request, now time.Time) {
	uiHolders := map[string][]*flows.Request{}  // by requester
	netHolders := map[string][]*flows.Request{} // by CIDR
	for _, r := range rs {
		switch r.Kind {
		case flows.KindAtlasUI:
			uiHolders[r.Requester] = append(uiHolders[r.Requester], r)
		case flows.KindAccessListEntry:
			cidr := canonicalCIDR(r.Resource.Address)
			netHolders[cidr] = append(netHolders[cidr], r)
		}
	}
	holds := func(rs []*flows.Request) bool {
		return slices.ContainsFunc(rs, func(r *flows.Request) bool { return r.State.HoldsAccess() })
	}
	missing := func(rs []*flows.Request) *flows.Request {
		for _, r := range rs {
			// Atlas's own backstop may have ended access that outlived its end
			// while jitbot was down; only access cut short is missing.
			if r.State == flows.StateActive && now.Before(r.ExpiresAt) {
				return r
			}
		}
		return nil
	}
	for email := range c.people {
		roles := c.r.Atlas.ProjectRoles(rig.Project, email)
		switch {
		case len(roles) > 0 && !holds(uiHolders[email]):
			c.res.Orphans++
			c.problem("orphan: %s holds %v in the project and no UI grant explains it", email, roles)
		case len(roles) == 0:
			if r := missing(uiHolders[email]); r != nil {
				c.res.Missing++
				c.problem("active UI grant %s of %s: no role in the project", r.ID, email)
			}
		}
	}
	present := map[string]bool{}
	for _, e := range c.r.Atlas.AccessList(rig.Project) {
		if !strings.HasPrefix(e.Comment, "jitbot ") {
			continue
		}
		present[e.CIDR] = true
		if !holds(netHolders[e.CIDR]) {
			c.res.Orphans++
			c.problem("orphan: access-list entry %s (%q) and no network grant explains it", e.CIDR, e.Comment)
		}
	}
	for cidr, rs := range netHolders {
		if r := missing(rs); r != nil && !present[cidr] {
			c.res.Missing++
			c.problem("active network grant %s: no access-list entry %s", r.ID, cidr)
		}
	}
	c.checkServiceAccounts(rs, now)
	c.checkAPIKeys(rs, now)
}

// checkAPIKeys: a key jitbot made (described "<principal> jitbot request
// <id> ...") needs a live grant while it exists; an active grant before
// its end needs its key.
func (c *crashRun) checkAPIKeys(rs []*flows.Request, now time.Time) {
	byID := map[string]*flows.Request{}
	for _, r := range rs {
		if r.Kind == flows.KindAPIKey {
			byID[string(r.ID)] = r
		}
	}
	present := map[string]bool{}
	for _, k := range c.r.Atlas.APIKeys(atlastest.DefaultOrgID) {
		_, rest, _ := strings.Cut(k.Desc, " ")
		rest, ours := strings.CutPrefix(rest, "jitbot request ")
		if !ours {
			continue
		}
		id, _, _ := strings.Cut(rest, " ")
		present[id] = true
		if r := byID[id]; r == nil || !r.State.HoldsAccess() {
			c.res.Orphans++
			c.problem("orphan: API key %s (%s) and no live grant explains it", k.PublicKey, k.Desc)
		}
	}
	for id, r := range byID {
		if r.State == flows.StateActive && now.Before(r.ExpiresAt) && !present[id] {
			c.res.Missing++
			c.problem("active API key grant %s: no API key", id)
		}
	}
}

// checkServiceAccounts: a service account jitbot made ("jitbot request
// <id>") that still works (a secret, a project) needs a live grant; an
// active grant before its end needs its working account.
func (c *crashRun) checkServiceAccounts(rs []*flows.Request, now time.Time) {
	byID := map[string]*flows.Request{}
	for _, r := range rs {
		if r.Kind == flows.KindServiceAccount {
			byID[string(r.ID)] = r
		}
	}
	working := map[string]bool{}
	for _, a := range c.r.Atlas.ServiceAccounts(atlastest.DefaultOrgID) {
		rest, ours := strings.CutPrefix(a.Description, "jitbot request ")
		if !ours {
			continue
		}
		id, _, _ := strings.Cut(rest, " ")
		if len(a.Secrets) == 0 && len(a.Projects) == 0 {
			continue // ended: nothing left that works
		}
		working[id] = true
		if r := byID[id]; r == nil || !r.State.HoldsAccess() {
			c.res.Orphans++
			c.problem("orphan: service account %s (%s) still works and no live grant explains it", a.Name, a.Description)
		}
	}
	for id, r := range byID {
		if r.State == flows.StateActive && now.Before(r.ExpiresAt) && !working[id] {
			c.res.Missing++
			c.problem("active service account grant %s: no working service account", id)
		}
	}
}

// otherKindsPastDeadline counts UI roles and access-list entries still in
// Atlas a tick and a round trip after the deadline of every grant that
// holds them (or after jitbot came up), while jitbot runs.
func (c *crashRun) otherKindsPastDeadline(views []app.GrantView, up time.Time) {
	now := time.Now()
	late := func(vs []app.GrantView) (app.GrantView, bool) {
		var last app.GrantView
		for _, v := range vs {
			if !flows.State(v.State).HoldsAccess() {
				continue
			}
			if v.ExpiresAt.IsZero() {
				return v, false // not started: holds it until it is
			}
			if v.ExpiresAt.After(last.ExpiresAt) {
				last = v
			}
		}
		if last.ID == "" {
			return last, false
		}
		due := last.ExpiresAt
		if due.Before(up) {
			due = up
		}
		return last, now.Sub(due) > SweepTick+crashRoundTrip
	}
	byPerson, byCIDR := map[string][]app.GrantView{}, map[string][]app.GrantView{}
	working := map[string]bool{} // service accounts jitbot made that still work, by name
	for _, a := range c.r.Atlas.ServiceAccounts(atlastest.DefaultOrgID) {
		if strings.HasPrefix(a.Description, "jitbot request ") && (len(a.Secrets) > 0 || len(a.Projects) > 0) {
			working[a.Name] = true
		}
	}
	keys := map[string]bool{} // API keys jitbot made, by principal
	for _, k := range c.r.Atlas.APIKeys(atlastest.DefaultOrgID) {
		if principal, rest, _ := strings.Cut(k.Desc, " "); strings.HasPrefix(rest, "jitbot request ") {
			keys[principal] = true
		}
	}
	for _, v := range views {
		switch flows.Kind(v.Kind) {
		case flows.KindAPIKey:
			if keys[v.Username] {
				if _, over := late([]app.GrantView{v}); over {
					c.res.PastDeadline++
					c.problem("API key %s (request %s) still exists %s after its deadline", v.Username, v.ID, now.Sub(v.ExpiresAt).Round(time.Millisecond))
				}
			}
		case flows.KindServiceAccount:
			if working[v.Username] {
				if _, over := late([]app.GrantView{v}); over {
					c.res.PastDeadline++
					c.problem("service account %s (request %s) still works %s after its deadline", v.Username, v.ID, now.Sub(v.ExpiresAt).Round(time.Millisecond))
				}
			}
		case flows.KindAtlasUI:
			byPerson[v.Requester] = append(byPerson[v.Requester], v)
		case flows.KindAccessListEntry:
			byCIDR[canonicalCIDR(v.Username)] = append(byCIDR[canonicalCIDR(v.Username)], v)
		}
	}
	for email, vs := range byPerson {
		if len(c.r.Atlas.ProjectRoles(rig.Project, email)) == 0 {
			continue
		}
		if v, over := late(vs); over {
			c.res.PastDeadline++
			c.problem("UI role of %s (request %s) still in Atlas %s after its deadline", email, v.ID, now.Sub(v.ExpiresAt).Round(time.Millisecond))
		}
	}
	for cidr, vs := range byCIDR {
		if _, ok := c.r.Atlas.AccessListEntry(rig.Project, cidr); !ok {
			continue
		}
		if v, over := late(vs); over {
			c.res.PastDeadline++
			c.problem("access-list entry %s (request %s) still in Atlas %s after its deadline", cidr, v.ID, now.Sub(v.ExpiresAt).Round(time.Millisecond))
		}
	}
}
