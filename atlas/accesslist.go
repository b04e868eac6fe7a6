package atlas

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"

	"github.com/jitbot/jitbot/flows"
)

// AccessList makes the grants of kind flows.KindAccessListEntry: entries in
// a project's IP access list, temporary (deleteAfterDate is the backstop),
// over the Admin API through the Provisioner's clients. It is an
// ApplyWaiter (the entry's status turns ACTIVE), a Backstopper and an
// Inventory, and no Reissuer: it hands out no secret.
//
// Atlas's access list has no labels: an entry jitbot made carries a comment
// that starts with "jitbot " and names the request that made it, and that
// is how jitbot tells its entries from the rest. An entry without it was
// there before (a team's office range): a grant of its address uses it as
// it is, and jitbot never changes or removes it.
//
// Grants of one address share its entry: Delete keeps an entry that other
// live grants hold (Grant.Holders), and the entry's deleteAfterDate is the
// latest of their backstops. Every read-and-write of a project's list runs
// under the project's lock, since Atlas refuses concurrent POSTs to it and
// a POST of an existing entry replaces it.
type AccessList struct {
	p     *Provisioner
	locks sync.Map // integration → *sync.Mutex
}

var (
	_ flows.Provisioner = (*AccessList)(nil)
	_ flows.ApplyWaiter = (*AccessList)(nil)
	_ flows.Backstopper = (*AccessList)(nil)
	_ flows.Inventory   = (*AccessList)(nil)
)

const (
	commentPrefix     = "jitbot "
	maxComment        = 80 // Atlas's limit on an entry's comment
	entriesPerPage    = 500
	statusActive      = "ACTIVE"
	statusFailed      = "FAILED"
	networkPrivileges = "Project Network Access Manager"
)

// AccessList returns the provisioner of network access, sharing this
// Provisioner's clients, clock and configuration.
func (p *Provisioner) AccessList() *AccessList { return p.accessList }

func (a *AccessList) lock(integration string) func() {
	v, _ := a.locks.LoadOrStore(integration, &sync.Mutex{})
	mu := v.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// oneProject refuses an organization-wide integration: an access list is a
// project's, and network access flows name integrations of one project.
func oneProject(pr *project) error {
	if pr.OrgWide() {
		return flows.Errorf(flows.EINVALID, "integration %s spans an organization: network access is granted in integrations of one project", pr.Name)
	}
	return nil
}

// entryOf reads a grant's address, refusing a grant that is not network
// access.
func entryOf(g flows.Grant) (netip.Prefix, error) {
	if g.Kind != flows.KindAccessListEntry {
		return netip.Prefix{}, flows.Errorf(flows.EINTERNAL, "refusing a grant of kind %s: this provisioner makes access-list entries", g.Kind)
	}
	p, err := flows.ParseAddress(g.Principal)
	if err != nil {
		return netip.Prefix{}, flows.WrapError(flows.EINTERNAL, err, "grant %s names no address (%q)", g.RequestID, g.Principal)
	}
	return p, nil
}

// wireCIDR writes a range as Atlas's spec accepts it: IPv6 with all eight
// groups (2001:db8:0:0:0:0:0:0/64), since the cidrBlock pattern refuses the
// compressed form with a prefix length.
func wireCIDR(p netip.Prefix) string {
	if p.Addr().Is4() {
		return p.String()
	}
	b := p.Addr().As16()
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = fmt.Sprintf("%x", uint16(b[2*i])<<8|uint16(b[2*i+1]))
	}
	return strings.Join(groups, ":") + "/" + fmt.Sprint(p.Bits())
}

// entryRange reads the range an entry Atlas returned covers.
func entryRange(e *admin.NetworkPermissionEntry) (netip.Prefix, bool) {
	if c := e.GetCidrBlock(); c != "" {
		p, err := flows.ParseAddress(c)
		return p, err == nil
	}
	if ip := e.GetIpAddress(); ip != "" {
		p, err := flows.ParseAddress(ip)
		return p, err == nil
	}
	return netip.Prefix{}, false
}

// jitbotEntry reports whether jitbot made the entry, and for which request.
func jitbotEntry(e *admin.NetworkPermissionEntry) (flows.RequestID, bool) {
	rest, ok := strings.CutPrefix(e.GetComment(), commentPrefix)
	if !ok {
		return "", false
	}
	id, _, _ := strings.Cut(rest, " ")
	return flows.RequestID(id), true
}

func comment(g flows.Grant) string {
	return truncate(fmt.Sprintf("%s%s for %s", commentPrefix, g.RequestID, g.Requester), maxComment)
}

// forbidden names the role network access needs when Atlas refuses jitbot.
func forbidden(pr *project, err error) error {
	if status, _ := failure(err); status == http.StatusForbidden {
		return flows.WrapError(flows.EFORBIDDEN, err, "Atlas refused jitbot for integration %s: network access needs its %s to hold the role %s", pr.Name, pr.credentialKind(), networkPrivileges)
	}
	return err
}

// get reads the entry of one range; nil when there is none.
func (a *AccessList) get(ctx context.Context, pr *project, p netip.Prefix) (*admin.NetworkPermissionEntry, error) {
	var e *admin.NetworkPermissionEntry
	err := a.p.do(ctx, pr, "getAccessListEntry", func(ctx context.Context) (*http.Response, error) {
		var resp *http.Response
		var err error
		e, resp, err = pr.api.ProjectIPAccessListApi.GetAccessListEntry(ctx, pr.ProjectID, wireCIDR(p)).Execute()
		return resp, err
	})
	if status, code := failure(err); status == http.StatusNotFound && !strings.Contains(code, "GROUP") {
		return nil, nil
	}
	return e, forbidden(pr, err)
}

// put writes one entry (a POST creates it, or replaces the one there).
func (a *AccessList) put(ctx context.Context, pr *project, p netip.Prefix, comment string, at time.Time) error {
	entries := []admin.NetworkPermissionEntry{{CidrBlock: admin.PtrString(wireCIDR(p)), Comment: admin.PtrString(comment), DeleteAfterDate: &at}}
	return forbidden(pr, a.p.do(ctx, pr, "createAccessListEntry", func(ctx context.Context) (*http.Response, error) {
		_, resp, err := pr.api.ProjectIPAccessListApi.CreateAccessListEntry(ctx, pr.ProjectID, &entries).Execute()
		return resp, err
	}))
}

// latest is the deleteAfterDate an entry the grants share should have: the
// latest of their backstops still ahead (zero when none is).
func (a *AccessList) latest(gs ...flows.Grant) time.Time {
	now := a.p.clock.Now()
	var at time.Time
	for _, g := range gs {
		if b := g.BackstopAt.UTC().Truncate(time.Second); b.After(now) && b.After(at) {
			at = b
		}
	}
	return at
}

// Create puts the grant's address on the project's access list until its
// backstop, or finds it there: an entry jitbot made (for this grant's
// earlier attempt, or another grant of the address) is kept, its
// deleteAfterDate moved later if this grant ends later; an entry jitbot did
// not make is used as it is and never changed.
func (a *AccessList) Create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	creds, err := a.create(ctx, g)
	if err != nil {
		return flows.Credentials{}, fmt.Errorf("atlas: add access-list entry %s: %w", g.Principal, err)
	}
	return creds, nil
}

func (a *AccessList) create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	pr, err := a.p.project(g.Integration)
	if err == nil {
		err = oneProject(pr)
	}
	if err != nil {
		return flows.Credentials{}, err
	}
	p, err := entryOf(g)
	if err != nil {
		return flows.Credentials{}, err
	}
	at, err := a.p.backstop(g)
	if err != nil {
		return flows.Credentials{}, err
	}
	defer a.lock(pr.Name)()
	e, err := a.get(ctx, pr, p)
	if err != nil {
		return flows.Credentials{}, err
	}
	note := ""
	switch _, ours := jitbotEntry(e); {
	case e == nil:
		if err := a.put(ctx, pr, p, comment(g), at); err != nil {
			return flows.Credentials{}, err
		}
		a.p.log.InfoContext(ctx, "atlas access-list entry added", "integration", pr.Name, "cidr", p.String(),
			"request_id", g.RequestID, "delete_after", at)
	case !ours:
		a.p.log.InfoContext(ctx, "atlas access-list entry exists and is not jitbot's; using it as it is", "integration", pr.Name,
			"cidr", p.String(), "request_id", g.RequestID, "comment", e.GetComment())
		note = "The address was on the access list already, put there outside jitbot: jitbot leaves that entry as it is."
		if d := e.GetDeleteAfterDate(); !d.IsZero() && d.Before(at) {
			note += " Atlas removes it by itself at " + d.UTC().Format(time.RFC3339) + ", which may be before your access ends."
		}
	default:
		d := e.GetDeleteAfterDate()
		if want := a.latest(append(g.Holders, g)...); !d.IsZero() && want.After(d) {
			if err := a.put(ctx, pr, p, e.GetComment(), want); err != nil {
				return flows.Credentials{}, err
			}
			d = want
		}
		a.p.log.InfoContext(ctx, "atlas access-list entry is jitbot's already; sharing it", "integration", pr.Name,
			"cidr", p.String(), "request_id", g.RequestID, "holders", len(g.Holders), "delete_after", d)
	}
	return flows.NetworkAccessCredentials(p.String(), pr.Name, note), nil
}

// WaitApplied returns once Atlas says the entry is ACTIVE on every cloud
// provider of the project, or flows.ErrNotApplied after ApplyTimeout.
func (a *AccessList) WaitApplied(ctx context.Context, g flows.Grant) error {
	if err := a.waitApplied(ctx, g); err != nil {
		return fmt.Errorf("atlas: wait for access-list entry %s: %w", g.Principal, err)
	}
	return nil
}

func (a *AccessList) waitApplied(ctx context.Context, g flows.Grant) error {
	pr, err := a.p.project(g.Integration)
	if err == nil {
		err = oneProject(pr)
	}
	if err != nil {
		return err
	}
	p, err := entryOf(g)
	if err != nil {
		return err
	}
	cfg := a.p.cfg
	gap, waited := cfg.ApplyFirstPoll, time.Duration(0)
	for {
		var st *admin.NetworkPermissionEntryStatus
		err := a.p.do(ctx, pr, "getAccessListStatus", func(ctx context.Context) (*http.Response, error) {
			var resp *http.Response
			var err error
			st, resp, err = pr.api.ProjectIPAccessListApi.GetAccessListStatus(ctx, pr.ProjectID, wireCIDR(p)).Execute()
			return resp, err
		})
		switch status, _ := failure(err); {
		case status == http.StatusNotFound:
			return flows.ErrNotApplied // gone meanwhile: the next attempt puts it back
		case err != nil:
			return err
		case st.GetSTATUS() == statusActive:
			return nil
		case st.GetSTATUS() == statusFailed:
			return flows.Errorf(flows.EUNAVAILABLE, "Atlas failed to apply the access-list entry %s in integration %s", p, pr.Name)
		}
		if waited >= cfg.ApplyTimeout {
			return flows.ErrNotApplied
		}
		if err := cfg.Sleep(ctx, gap); err != nil {
			return flows.WrapError(flows.EUNAVAILABLE, err, "gave up waiting for Atlas to apply the access-list entry %s", p)
		}
		waited += gap
		gap = min(max(gap*2, cfg.ApplyPoll), cfg.ApplyPollMax)
	}
}

// SetBackstop moves the entry's deleteAfterDate to the latest backstop of
// the grants that hold it. An entry jitbot did not make keeps its own.
func (a *AccessList) SetBackstop(ctx context.Context, g flows.Grant) error {
	if err := a.setBackstop(ctx, g); err != nil {
		return fmt.Errorf("atlas: move the backstop of access-list entry %s: %w", g.Principal, err)
	}
	return nil
}

func (a *AccessList) setBackstop(ctx context.Context, g flows.Grant) error {
	pr, err := a.p.project(g.Integration)
	if err == nil {
		err = oneProject(pr)
	}
	if err != nil {
		return err
	}
	p, err := entryOf(g)
	if err != nil {
		return err
	}
	if _, err := a.p.backstop(g); err != nil {
		return err
	}
	defer a.lock(pr.Name)()
	e, err := a.get(ctx, pr, p)
	switch _, ours := jitbotEntry(e); {
	case err != nil:
		return err
	case e == nil:
		return flows.Errorf(flows.ENOTFOUND, "the access-list entry %s is no longer in integration %s", p, pr.Name)
	case !ours || e.GetDeleteAfterDate().IsZero():
		return nil // not jitbot's to move
	}
	want := a.latest(append(g.Holders, g)...)
	if want.IsZero() || want.Equal(e.GetDeleteAfterDate()) {
		return nil
	}
	if err := a.put(ctx, pr, p, e.GetComment(), want); err != nil {
		return err
	}
	a.p.log.InfoContext(ctx, "atlas access-list entry updated", "integration", pr.Name, "cidr", p.String(), "delete_after", want)
	return nil
}

// Delete takes the grant's address off the access list, unless another
// live grant holds it (its deleteAfterDate then becomes the latest of
// theirs) or jitbot did not make the entry. An entry already gone counts
// as deleted.
func (a *AccessList) Delete(ctx context.Context, g flows.Grant) error {
	if err := a.delete(ctx, g); err != nil {
		return fmt.Errorf("atlas: remove access-list entry %s: %w", g.Principal, err)
	}
	return nil
}

func (a *AccessList) delete(ctx context.Context, g flows.Grant) error {
	pr, err := a.p.project(g.Integration)
	if err == nil {
		err = oneProject(pr)
	}
	if err != nil {
		return err
	}
	p, err := entryOf(g)
	if err != nil {
		return err
	}
	defer a.lock(pr.Name)()
	e, err := a.get(ctx, pr, p)
	if err != nil {
		return err
	}
	if e == nil {
		a.p.log.InfoContext(ctx, "atlas access-list entry already gone", "integration", pr.Name, "cidr", p.String())
		return nil
	}
	if _, ours := jitbotEntry(e); !ours {
		a.p.log.InfoContext(ctx, "not removing an access-list entry jitbot did not make", "integration", pr.Name,
			"cidr", p.String(), "request_id", g.RequestID)
		return nil
	}
	if len(g.Holders) > 0 {
		if want := a.latest(g.Holders...); !want.IsZero() && !want.Equal(e.GetDeleteAfterDate()) && !e.GetDeleteAfterDate().IsZero() {
			if err := a.put(ctx, pr, p, e.GetComment(), want); err != nil {
				return err
			}
		}
		a.p.log.InfoContext(ctx, "atlas access-list entry kept: other grants hold it", "integration", pr.Name,
			"cidr", p.String(), "request_id", g.RequestID, "holders", len(g.Holders))
		return nil
	}
	err = a.p.do(ctx, pr, "deleteAccessListEntry", func(ctx context.Context) (*http.Response, error) {
		return pr.api.ProjectIPAccessListApi.DeleteAccessListEntry(ctx, pr.ProjectID, wireCIDR(p)).Execute()
	})
	if status, code := failure(err); status == http.StatusNotFound && !strings.Contains(code, "GROUP") {
		return nil
	}
	if err != nil {
		return forbidden(pr, err)
	}
	a.p.log.InfoContext(ctx, "atlas access-list entry removed", "integration", pr.Name, "cidr", p.String(), "request_id", g.RequestID)
	return nil
}

// ManagedGrants lists the project's access list, page by page: the entries
// jitbot made, by the request named in their comment, and the others as
// Foreign (they explain the grants that use them and are never removed).
func (a *AccessList) ManagedGrants(ctx context.Context, integration string) ([]flows.ManagedGrant, error) {
	pr, err := a.p.project(integration)
	if err != nil {
		return nil, fmt.Errorf("atlas: list access list: %w", err)
	}
	if pr.OrgWide() {
		return nil, nil // network access is granted in integrations of one project only
	}
	var out []flows.ManagedGrant
	seen := 0
	for page := 1; page <= maxPages; page++ {
		var res *admin.PaginatedNetworkAccess
		err := a.p.do(ctx, pr, "listAccessListEntries", func(ctx context.Context) (*http.Response, error) {
			var resp *http.Response
			var err error
			res, resp, err = pr.api.ProjectIPAccessListApi.ListAccessListEntries(ctx, pr.ProjectID).
				IncludeCount(true).ItemsPerPage(entriesPerPage).PageNum(page).Execute()
			return resp, err
		})
		if err != nil {
			return nil, fmt.Errorf("atlas: list the access list of %s (page %d): %w", integration, page, forbidden(pr, err))
		}
		results := res.GetResults()
		seen += len(results)
		for i := range results {
			e := &results[i]
			p, ok := entryRange(e)
			if !ok {
				continue // a security group: never a grant's
			}
			id, ours := jitbotEntry(e)
			out = append(out, flows.ManagedGrant{Principal: p.String(), RequestID: id, Foreign: !ours})
		}
		if total, ok := res.GetTotalCountOk(); len(results) < entriesPerPage || (ok && seen >= *total) {
			return out, nil
		}
	}
	return nil, fmt.Errorf("atlas: list the access list of %s: %w", integration,
		flows.Errorf(flows.EINTERNAL, "more than %d pages of entries; giving up", maxPages))
}
