package atlas

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"

	"github.com/jitbot/jitbot/flows"
)

// UIAccess makes the grants of kind flows.KindAtlasUI: project or
// organization roles for a person's own Atlas account (the Atlas user whose
// username is their email), for the approved duration. It shares the
// Provisioner's clients, and calls Atlas through the MongoDB Cloud Users API
// (listOrgUsers, getOrgUser, addGroupUsers, addGroupUserRole,
// removeGroupUserRole, removeGroupUser, addOrgRole, removeOrgRole) and the
// event logs (listGroupEvents, listOrgEvents).
//
// A grant records, on its request and before each change (flows.Journal),
// what it is about to do: the person's roles before the grant (never
// removed), the roles jitbot adds, and, when it ends, the roles it keeps
// and removes. A crash anywhere leaves the request saying enough for the
// Create or Delete that Resume runs to finish the job, and nothing behind.
//
// At the end, a role someone else gave the person during the grant (the
// event log's last addition of it is not jitbot's) is kept and the admins
// are told; so is, for a role that lets a person create standing access,
// what they created during the grant. Roles carry no label in Atlas:
// ManagedGrants reads from the event logs which roles jitbot gave and the
// person still holds, for reconcile.
type UIAccess struct {
	p   *Provisioner
	cfg UIConfig
	// orgs caches the organization of integrations of one project (getGroup).
	orgs sync.Map // integration → org id
}

// UIConfig tunes UIAccess. Zero values take the defaults noted.
type UIConfig struct {
	// EventLookback is how far back ManagedGrants reads the event logs for
	// roles jitbot gave (14 days: grants last less than a week).
	EventLookback time.Duration
}

var (
	_ flows.Provisioner = (*UIAccess)(nil)
	_ flows.Checker     = (*UIAccess)(nil)
	_ flows.Inventory   = (*UIAccess)(nil)
)

// NewUIAccess returns the provisioner of Atlas UI access over p's clients.
func NewUIAccess(p *Provisioner, cfg UIConfig) *UIAccess {
	if cfg.EventLookback <= 0 {
		cfg.EventLookback = 14 * 24 * time.Hour
	}
	return &UIAccess{p: p, cfg: cfg}
}

// uiState is what a grant records on its request (flows.Grant.State), as
// JSON. Before is written before any change and never changes after.
type uiState struct {
	UserID string `json:"user_id"`
	// Member says the person was a member of the project before the grant.
	Member bool     `json:"member,omitempty"`
	Before []string `json:"before,omitempty"`
	// Adding are the roles jitbot adds: written before the first call that
	// adds one.
	Adding []string  `json:"adding,omitempty"`
	Since  time.Time `json:"since"`
	// Ending is set, with Kept and Removing, before the first call that
	// removes a role; Reported once the admins were told what they need.
	Ending   bool     `json:"ending,omitempty"`
	Kept     []string `json:"kept,omitempty"`
	KeptWhy  []string `json:"kept_why,omitempty"` // who gave each of Kept, and when
	Removing []string `json:"removing,omitempty"`
	Reported bool     `json:"reported,omitempty"`
}

func readState(s string) (uiState, error) {
	var st uiState
	if s == "" {
		return st, nil
	}
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return st, flows.WrapError(flows.EINTERNAL, err, "the recorded state of the grant cannot be read")
	}
	return st, nil
}

func (st uiState) String() string {
	b, _ := json.Marshal(st) // strings, booleans and a time: it cannot fail
	return string(b)
}

// place is where a grant's roles are held: one project, or the
// organization.
type place struct {
	pr    *project // the client, aimed at the project for project roles
	orgID string
	org   bool   // organization roles
	name  string // the project's name, or the organization's integration
}

func (pl place) String() string {
	if pl.org {
		return "the Atlas organization of " + pl.pr.Name
	}
	return "project " + pl.name
}

// where is the place as a reconcile target.
func (pl place) where() flows.Resource {
	r := flows.Resource{Integration: pl.pr.Name}
	if pl.org {
		return r
	}
	r.ProjectID = pl.pr.ProjectID
	if pl.pr.OrgWide() || pl.pr.org != nil {
		r.Project = pl.name
	}
	return r
}

// checkUIGrant refuses grants the adapter must never act on.
func checkUIGrant(g flows.Grant) error {
	switch {
	case g.Kind != flows.KindAtlasUI:
		return flows.Errorf(flows.EINTERNAL, "refusing a grant of kind %s: this provisioner gives Atlas UI access", g.Kind)
	case len(g.Roles) == 0 || g.Principal == "" || !strings.Contains(g.Principal, "@"):
		return flows.Errorf(flows.EINTERNAL, "the Atlas UI grant of request %s names no role or no person", g.RequestID)
	}
	for _, r := range g.Roles {
		if err := flows.AtlasUI().ValidateRole(r); err != nil {
			return flows.WrapError(flows.EINTERNAL, err, "refusing to grant %s", r)
		}
		if flows.IsOrgRole(r) != flows.IsOrgRole(g.Roles[0]) {
			return flows.Errorf(flows.EINTERNAL, "the Atlas UI grant of request %s mixes project and organization roles", g.RequestID)
		}
	}
	return nil
}

// locate finds where g's roles are held.
func (u *UIAccess) locate(ctx context.Context, g flows.Grant, create bool) (place, error) {
	pr, err := u.p.project(g.Integration)
	if err != nil {
		return place{}, err
	}
	if flows.IsOrgRole(g.Roles[0]) {
		if !pr.OrgWide() {
			return place{}, flows.Errorf(flows.EINVALID, "integration %s is one Atlas project: it cannot grant organization roles", pr.Name)
		}
		return place{pr: pr, orgID: pr.OrganizationID, org: true, name: pr.Name}, nil
	}
	if pr.OrgWide() {
		view, err := u.p.target(ctx, g, create)
		if err != nil {
			return place{}, err
		}
		name := g.Resource.Project
		if name == "" {
			name = view.ProjectID
		}
		return place{pr: view, orgID: pr.OrganizationID, name: name}, nil
	}
	orgID, err := u.orgOf(ctx, pr)
	if err != nil {
		return place{}, err
	}
	return place{pr: pr, orgID: orgID, name: pr.Name}, nil
}

// orgOf returns the organization of an integration of one project.
func (u *UIAccess) orgOf(ctx context.Context, pr *project) (string, error) {
	if id, ok := u.orgs.Load(pr.Name); ok {
		return id.(string), nil
	}
	var grp *admin.Group
	err := u.p.do(ctx, pr, "getGroup", func(ctx context.Context) (*http.Response, error) {
		var resp *http.Response
		var err error
		grp, resp, err = pr.api.ProjectsApi.GetGroup(ctx, pr.ProjectID).Execute()
		return resp, err
	})
	if err != nil {
		return "", err
	}
	u.orgs.Store(pr.Name, grp.GetOrgId())
	return grp.GetOrgId(), nil
}

// account is a person's Atlas account as listOrgUsers and getOrgUser show it.
type account struct {
	id, username string
	pending      bool
	orgRoles     []string
	projectRoles map[string][]string
}

func accountOf(r *admin.OrgUserResponse) account {
	a := account{id: r.GetId(), username: r.GetUsername(), pending: r.GetOrgMembershipStatus() == "PENDING", projectRoles: map[string][]string{}}
	roles := r.GetRoles()
	a.orgRoles = roles.GetOrgRoles()
	for _, ga := range roles.GetGroupRoleAssignments() {
		a.projectRoles[ga.GetGroupId()] = append(a.projectRoles[ga.GetGroupId()], ga.GetGroupRoles()...)
	}
	return a
}

// roles are the account's roles where pl is.
func (a account) roles(pl place) []string {
	if pl.org {
		return slices.Clone(a.orgRoles)
	}
	return slices.Clone(a.projectRoles[pl.pr.ProjectID])
}

// findAccount looks the person up among the organization's Atlas users by
// username (their email). found is false when the organization has none.
func (u *UIAccess) findAccount(ctx context.Context, pl place, email string) (account, bool, error) {
	var res *admin.PaginatedOrgUser
	err := u.p.do(ctx, pl.pr, "listOrgUsers", func(ctx context.Context) (*http.Response, error) {
		var resp *http.Response
		var err error
		res, resp, err = pl.pr.api.MongoDBCloudUsersApi.ListOrgUsers(ctx, pl.orgID).Username(email).Execute()
		return resp, err
	})
	if err != nil {
		return account{}, false, err
	}
	for i := range res.GetResults() {
		if r := &res.GetResults()[i]; strings.EqualFold(r.GetUsername(), email) {
			return accountOf(r), true, nil
		}
	}
	return account{}, false, nil
}

// getAccount reads an account by id; found is false once it left the
// organization.
func (u *UIAccess) getAccount(ctx context.Context, pl place, id string) (account, bool, error) {
	var res *admin.OrgUserResponse
	err := u.p.do(ctx, pl.pr, "getOrgUser", func(ctx context.Context) (*http.Response, error) {
		var resp *http.Response
		var err error
		res, resp, err = pl.pr.api.MongoDBCloudUsersApi.GetOrgUser(ctx, pl.orgID, id).Execute()
		return resp, err
	})
	if accountGone(err) {
		return account{}, false, nil
	}
	if err != nil {
		return account{}, false, err
	}
	return accountOf(res), true, nil
}

// usable refuses a person without an active Atlas account in the
// organization, saying what to ask for.
func usable(a account, found bool, pl place, email string) error {
	switch {
	case !found:
		return flows.Errorf(flows.EFORBIDDEN, "%s has no Atlas account in the organization of %s: Atlas UI access is given to your own Atlas account, "+
			"found by your email. Ask an owner of the Atlas organization to invite %s to it, accept the invitation, then ask again", email, pl.pr.Name, email)
	case a.pending:
		return flows.Errorf(flows.EFORBIDDEN, "the invitation of %s to the Atlas organization of %s has not been accepted yet: accept it (see your email from MongoDB Atlas), then ask again",
			email, pl.pr.Name)
	}
	return nil
}

// CheckGrant implements flows.Checker: the person must have an active Atlas
// account in the organization, and lack at least one of the roles.
func (u *UIAccess) CheckGrant(ctx context.Context, g flows.Grant) error {
	if err := checkUIGrant(g); err != nil {
		return err
	}
	pl, err := u.locate(ctx, g, true)
	if err != nil {
		return err
	}
	a, found, err := u.findAccount(ctx, pl, g.Principal)
	if err != nil {
		return err
	}
	if err := usable(a, found, pl, g.Principal); err != nil {
		return err
	}
	if missing := without(g.Roles, a.roles(pl)); len(missing) == 0 {
		return flows.Errorf(flows.ECONFLICT, "%s holds %s in %s already: there is nothing to grant", g.Principal, flows.FormatRoles(g.Roles), pl)
	}
	return nil
}

// without returns the roles of a that are not in b.
func without(a, b []string) []string {
	var out []string
	for _, r := range a {
		if !slices.Contains(b, r) {
			out = append(out, r)
		}
	}
	return out
}

// both returns the roles of a that are in b.
func both(a, b []string) []string {
	var out []string
	for _, r := range a {
		if slices.Contains(b, r) {
			out = append(out, r)
		}
	}
	return out
}

// Create implements flows.Provisioner: it adds to the person's account the
// roles of g they do not hold, recording first what they hold and what it
// adds. A person who is not a member of the project is added to it with
// those roles; a member gets them one at a time. A retried or resumed
// Create finds what the last one recorded and adds what is missing.
func (u *UIAccess) Create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	creds, err := u.create(ctx, g)
	if err != nil {
		err = uiForbidden(err, g)
		return flows.Credentials{}, fmt.Errorf("atlas: give %s %s: %w", g.Principal, flows.FormatRoles(g.Roles), err)
	}
	return creds, nil
}

func (u *UIAccess) create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	if err := checkUIGrant(g); err != nil {
		return flows.Credentials{}, err
	}
	st, err := readState(g.State)
	if err != nil {
		return flows.Credentials{}, err
	}
	pl, err := u.locate(ctx, g, true)
	if err != nil {
		return flows.Credentials{}, err
	}
	a, found, err := u.findAccount(ctx, pl, g.Principal)
	if err != nil {
		return flows.Credentials{}, err
	}
	if err := usable(a, found, pl, g.Principal); err != nil {
		return flows.Credentials{}, err
	}
	current := a.roles(pl)
	if st.UserID == "" {
		// The first attempt: what the person holds now is theirs, whatever
		// happens next. Recorded before anything changes.
		st = uiState{UserID: a.id, Member: !pl.org && len(current) > 0, Before: current, Adding: without(g.Roles, current), Since: u.p.clock.Now().UTC()}
		if len(st.Adding) == 0 {
			return flows.Credentials{}, flows.Errorf(flows.ECONFLICT, "%s holds %s in %s already: there is nothing to grant", g.Principal, flows.FormatRoles(g.Roles), pl)
		}
		if err := g.Record(ctx, st.String()); err != nil {
			return flows.Credentials{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not record the grant before changing Atlas")
		}
	} else if st.UserID != a.id {
		// The account was removed and made again meanwhile: the roles go to
		// (and at the end come off) the one that exists.
		st.UserID = a.id
		if err := g.Record(ctx, st.String()); err != nil {
			return flows.Credentials{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not record the grant before changing Atlas")
		}
	}
	if err := u.add(ctx, pl, a, without(st.Adding, current)); err != nil {
		if code := flows.ErrorCode(err); code != flows.EUNAVAILABLE && code != flows.EINTERNAL {
			// A grant that cannot be finished is undone now rather than left
			// for reconcile.
			if uerr := u.remove(ctx, g, pl, st); uerr != nil {
				u.p.log.WarnContext(ctx, "could not undo a failed Atlas UI grant; reconcile will", "integration", pl.pr.Name,
					"request_id", g.RequestID, "err", uerr)
			}
		}
		return flows.Credentials{}, err
	}
	u.p.log.InfoContext(ctx, "atlas UI roles given", "integration", pl.pr.Name, "where", pl.String(), "person", g.Principal,
		"request_id", g.RequestID, "added", flows.FormatRoles(st.Adding), "held_before", flows.FormatRoles(st.Before))
	return u.credentials(pl, g, st), nil
}

// add gives the roles missing of those the grant adds.
func (u *UIAccess) add(ctx context.Context, pl place, a account, missing []string) error {
	if len(missing) == 0 {
		return nil
	}
	if pl.org {
		for _, r := range missing {
			if err := u.p.do(ctx, pl.pr, "addOrgRole", func(ctx context.Context) (*http.Response, error) {
				_, resp, err := pl.pr.api.MongoDBCloudUsersApi.AddOrgRole(ctx, pl.orgID, a.id, &admin.AddOrRemoveOrgRole{OrgRole: r}).Execute()
				return resp, err
			}); err != nil {
				return roleError(err, r, pl)
			}
		}
		return nil
	}
	if len(a.roles(pl)) == 0 {
		// Not a member (now): one call adds them with every role.
		err := u.p.do(ctx, pl.pr, "addGroupUsers", func(ctx context.Context) (*http.Response, error) {
			_, resp, err := pl.pr.api.MongoDBCloudUsersApi.AddGroupUsers(ctx, pl.pr.ProjectID,
				&admin.GroupUserRequest{Username: a.username, Roles: missing}).Execute()
			return resp, err
		})
		// A 409 says they are a member already (the simulator's code is
		// USER_ALREADY_IN_GROUP; the spec names none, so the status decides).
		if status, _ := failure(err); status != http.StatusConflict {
			return roleError(err, flows.FormatRoles(missing), pl)
		}
		// Someone made them a member meanwhile: add the roles one by one.
	}
	for _, r := range missing {
		if err := u.p.do(ctx, pl.pr, "addGroupUserRole", func(ctx context.Context) (*http.Response, error) {
			_, resp, err := pl.pr.api.MongoDBCloudUsersApi.AddGroupUserRole(ctx, pl.pr.ProjectID, a.id,
				&admin.AddOrRemoveGroupRole{GroupRole: r}).Execute()
			return resp, err
		}); err != nil {
			return roleError(err, r, pl)
		}
	}
	return nil
}

// uiForbidden says, of a call Atlas refused for want of a role, which roles
// Atlas UI access needs.
func uiForbidden(err error, g flows.Grant) error {
	if status, _ := failure(err); status != http.StatusForbidden {
		return err
	}
	need := "Project Access Manager in the project"
	if len(g.Roles) > 0 && flows.IsOrgRole(g.Roles[0]) {
		need = "Organization Owner"
	}
	return flows.WrapError(flows.EFORBIDDEN, err, "Atlas refused jitbot for integration %s: to give Atlas UI access (%s) its credential needs %s, and Organization Read Only",
		g.Integration, flows.FormatRoles(g.Roles), need)
}

// roleError says what Atlas refused about a role.
func roleError(err error, role string, pl place) error {
	if err == nil {
		return nil
	}
	switch _, code := failure(err); {
	case code == "INVALID_ROLE":
		return flows.WrapError(flows.EINVALID, err, "Atlas does not know the role %s in %s", role, pl)
	case accountGone(err):
		return flows.WrapError(flows.ECONFLICT, err, "the Atlas account changed while jitbot gave it %s in %s", role, pl)
	}
	return err
}

// credentials are what the requester is told: the account, where, and the
// roles added.
func (u *UIAccess) credentials(pl place, g flows.Grant, st uiState) flows.Credentials {
	where := flows.CredentialField{Key: "project", Label: "Project", Value: pl.name}
	if pl.org {
		where = flows.CredentialField{Key: "organization", Label: "Organization", Value: "the Atlas organization of " + pl.pr.Name}
	}
	fields := []flows.CredentialField{
		{Key: "atlas_user", Label: "Atlas user", Value: g.Principal, Mono: true},
		where,
		{Key: "roles_added", Label: "Roles added", Value: flows.FormatRoles(st.Adding), Mono: true},
	}
	if held := both(g.Roles, st.Before); len(held) > 0 {
		fields = append(fields, flows.CredentialField{Key: "roles_held", Label: "Held already", Value: flows.FormatRoles(held), Mono: true})
	}
	return flows.Credentials{Fields: fields, Instructions: fmt.Sprintf(
		"Sign in to the Atlas UI (%s) as %s; if you were signed in, reload the page. When access ends jitbot removes the roles it added, and only those: what you held before stays.",
		pl.pr.BaseURL, g.Principal)}
}

// Delete implements flows.Provisioner: it removes the roles the grant
// added, keeping those the person held before and those someone else gave
// them during the grant (the admins are told). For a role that lets a person
// create standing access, the admins are told what the person created
// during the grant. A grant whose Create recorded nothing changed nothing.
// A grant of no request (an orphan reconcile found: g.RequestID empty)
// removes g.Roles, those the event log says jitbot gave.
func (u *UIAccess) Delete(ctx context.Context, g flows.Grant) error {
	if err := u.delete(ctx, g); err != nil {
		err = uiForbidden(err, g)
		return fmt.Errorf("atlas: remove %s of %s: %w", flows.FormatRoles(g.Roles), g.Principal, err)
	}
	return nil
}

func (u *UIAccess) delete(ctx context.Context, g flows.Grant) error {
	if err := checkUIGrant(g); err != nil {
		return err
	}
	st, err := readState(g.State)
	if err != nil {
		return err
	}
	orphan := g.RequestID == ""
	if st.UserID == "" && !orphan {
		return nil // nothing was recorded, so nothing was changed
	}
	pl, err := u.locate(ctx, g, false)
	if err != nil {
		return err
	}
	if orphan {
		a, found, err := u.findAccount(ctx, pl, g.Principal)
		if err != nil || !found {
			return err
		}
		st = uiState{UserID: a.id, Adding: g.Roles, Since: u.p.clock.Now().Add(-u.cfg.EventLookback)}
	}
	return u.remove(ctx, g, pl, st)
}

// remove ends a grant whose state is st (see Delete).
func (u *UIAccess) remove(ctx context.Context, g flows.Grant, pl place, st uiState) error {
	a, found, err := u.getAccount(ctx, pl, st.UserID)
	if err != nil {
		return err
	}
	if !found {
		u.p.log.InfoContext(ctx, "the Atlas account left the organization; no role to remove", "person", g.Principal, "request_id", g.RequestID)
		return nil
	}
	current := a.roles(pl)
	if !st.Ending {
		ours := both(without(st.Adding, st.Before), current)
		kept, err := u.grantedByOthers(ctx, pl, a.username, ours, st.Since)
		if err != nil {
			return err
		}
		st.Ending, st.Removing = true, nil
		for _, r := range ours {
			if c, ok := kept[r]; ok {
				st.Kept = append(st.Kept, r)
				st.KeptWhy = append(st.KeptWhy, fmt.Sprintf("%s (given by %s at %s)", r, c.actor, c.at.UTC().Format(time.RFC3339)))
			} else {
				st.Removing = append(st.Removing, r)
			}
		}
		if err := g.Record(ctx, st.String()); err != nil {
			return flows.WrapError(flows.EUNAVAILABLE, err, "could not record the end of the grant before changing Atlas")
		}
	}
	standing := slices.ContainsFunc(g.Roles, flows.IsStandingAccessRole)
	if !st.Reported && g.RequestID != "" && (len(st.Kept) > 0 || standing) {
		// Told at least once: a crash before Reported is recorded tells again.
		if len(st.Kept) > 0 {
			u.reportKept(ctx, g, pl, st)
		}
		if standing {
			if err := u.reportCreated(ctx, g, pl, a, st); err != nil {
				return err
			}
		}
		st.Reported = true
		if err := g.Record(ctx, st.String()); err != nil {
			return flows.WrapError(flows.EUNAVAILABLE, err, "could not record that the admins were told")
		}
	}
	return u.take(ctx, g, pl, a, st, both(st.Removing, current))
}

// take removes roles from the account, leaving it at least one: a member of
// the project left with none is removed from it instead; an account left
// with no organization role is given ORG_MEMBER first.
func (u *UIAccess) take(ctx context.Context, g flows.Grant, pl place, a account, st uiState, roles []string) error {
	if len(roles) == 0 {
		return nil
	}
	current := a.roles(pl)
	left := without(current, roles)
	if pl.org {
		if len(left) == 0 {
			if err := u.orgRole(ctx, pl, a.id, "ORG_MEMBER", true); err != nil {
				return err
			}
		}
		for _, r := range roles {
			if err := u.orgRole(ctx, pl, a.id, r, false); err != nil {
				return err
			}
		}
		u.p.log.InfoContext(ctx, "atlas UI roles removed", "where", pl.String(), "person", g.Principal, "request_id", g.RequestID, "removed", flows.FormatRoles(roles))
		return nil
	}
	if len(left) == 0 {
		err := u.p.do(ctx, pl.pr, "removeGroupUser", func(ctx context.Context) (*http.Response, error) {
			return pl.pr.api.MongoDBCloudUsersApi.RemoveGroupUser(ctx, pl.pr.ProjectID, a.id).Execute()
		})
		if accountGone(err) {
			err = nil
		}
		if err != nil {
			return err
		}
		if st.Member {
			_ = g.Report(ctx, fmt.Sprintf("%s was a member of %s before request %s, but none of the roles they held then was left at its end (someone removed them): jitbot removed them from the project",
				g.Principal, pl, g.RequestID))
		}
		u.p.log.InfoContext(ctx, "atlas UI access removed: the person left the project", "where", pl.String(), "person", g.Principal,
			"request_id", g.RequestID, "removed", flows.FormatRoles(roles))
		return nil
	}
	for _, r := range roles {
		err := u.p.do(ctx, pl.pr, "removeGroupUserRole", func(ctx context.Context) (*http.Response, error) {
			_, resp, err := pl.pr.api.MongoDBCloudUsersApi.RemoveGroupUserRole(ctx, pl.pr.ProjectID, a.id,
				&admin.AddOrRemoveGroupRole{GroupRole: r}).Execute()
			return resp, err
		})
		if accountGone(err) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	u.p.log.InfoContext(ctx, "atlas UI roles removed", "where", pl.String(), "person", g.Principal, "request_id", g.RequestID, "removed", flows.FormatRoles(roles))
	return nil
}

func (u *UIAccess) orgRole(ctx context.Context, pl place, userID, role string, add bool) error {
	op := "removeOrgRole"
	if add {
		op = "addOrgRole"
	}
	err := u.p.do(ctx, pl.pr, op, func(ctx context.Context) (*http.Response, error) {
		body := &admin.AddOrRemoveOrgRole{OrgRole: role}
		var resp *http.Response
		var err error
		if add {
			_, resp, err = pl.pr.api.MongoDBCloudUsersApi.AddOrgRole(ctx, pl.orgID, userID, body).Execute()
		} else {
			_, resp, err = pl.pr.api.MongoDBCloudUsersApi.RemoveOrgRole(ctx, pl.orgID, userID, body).Execute()
		}
		return resp, err
	})
	if accountGone(err) {
		return nil
	}
	return err
}

// accountGone reports a 404 about the person's account (gone from the
// organization, or no longer a member of the project) rather than about
// the project or organization the call names. The spec names no error
// codes for these operations (the simulator's USER_NOT_FOUND and
// USER_NOT_IN_GROUP are its own), so only the codes Atlas documents for a
// missing project or organization tell the two apart.
func accountGone(err error) bool {
	status, code := failure(err)
	return status == http.StatusNotFound && code != "GROUP_NOT_FOUND" && code != "ORG_NOT_FOUND" && code != "RESOURCE_NOT_FOUND"
}

// reportKept tells the admins which roles jitbot kept, and who gave them.
func (u *UIAccess) reportKept(ctx context.Context, g flows.Grant, pl place, st uiState) {
	msg := fmt.Sprintf("jitbot kept %s of %s in %s at the end of request %s: someone else gave %s during the grant, so %s not jitbot's to take: %s. Check that %s should stay.",
		flows.FormatRoles(st.Kept), g.Principal, pl, g.RequestID, pronoun(len(st.Kept)), isAre(len(st.Kept)), strings.Join(st.KeptWhy, "; "), pronoun(len(st.Kept)))
	if err := g.Report(ctx, msg); err != nil {
		u.p.log.WarnContext(ctx, "could not tell the admins of kept roles", "request_id", g.RequestID, "err", err)
	}
}

func pronoun(n int) string {
	if n == 1 {
		return "it"
	}
	return "them"
}

func isAre(n int) string {
	if n == 1 {
		return "it is"
	}
	return "they are"
}
