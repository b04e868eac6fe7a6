package atlas

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"

	"github.com/jitbot/jitbot/flows"
)

// What Atlas UI access reads of the event logs (listGroupEvents,
// listOrgEvents): who last gave a person a role (jitbot, or someone else,
// whose role jitbot then keeps), what a person created while they held a
// role that creates standing access, and, for reconcile, the roles jitbot
// gave that people still hold.
//
// Atlas keeps the roles a change gave or took in the event's raw document
// only (includeRaw: its description, which the simulator writes
// "USER_ROLES_CHANGED_AUDIT +GROUP_READ_ONLY"). A change of the person's
// roles by someone else whose description names no role is read as possibly
// giving every role: jitbot keeps them and tells the admins, rather than
// take what it cannot tell is its own.

// Event types of role changes (Atlas's names).
var (
	projectRoleEvents = []string{"JOINED_GROUP", "INVITED_TO_GROUP", "USER_ROLES_CHANGED_AUDIT", "REMOVED_FROM_GROUP"}
	orgRoleEvents     = []string{"JOINED_ORG", "INVITED_TO_ORG", "USER_ROLES_CHANGED_AUDIT", "REMOVED_FROM_ORG"}
)

// created names, by event type, what a person makes that outlives a grant.
var created = map[string]string{
	"MONGODB_USER_ADDED":             "database user",
	"NETWORK_PERMISSION_ENTRY_ADDED": "IP access-list entry",
	"API_KEY_CREATED":                "API key",
	"API_KEY_ADDED_TO_GROUP":         "API key added to the project",
	"SERVICE_ACCOUNT_CREATED":        "service account",
	"SERVICE_ACCOUNT_ADDED_TO_GROUP": "service account added to the project",
	"GROUP_CREATED":                  "project",
	"INVITED_TO_ORG":                 "invitation to the organization",
	"INVITED_TO_GROUP":               "invitation to the project",
	"JOINED_GROUP":                   "member added to the project",
	"USER_ROLES_CHANGED_AUDIT":       "roles changed",
}

var roleToken = regexp.MustCompile(`^([+-])([A-Z][A-Z_]+)$`)

// uiEvent is one entry of an event log, as jitbot reads it.
type uiEvent struct {
	typ    string
	at     time.Time
	actor  string // the person (username), or the API key or service account (publicKey)
	person bool   // a person made it, in the Atlas UI
	ours   bool   // jitbot's own credential made it
	target string // the person the change was about
	// added and removed are the roles the change gave and took; detail says
	// the description named any.
	added, removed []string
	detail         bool
	dbUser, entry  string
	apiKey, group  string
}

func readEvent(pr *project, typ string, at time.Time, username, publicKey, target string, raw *admin.Raw) uiEvent {
	e := uiEvent{typ: typ, at: at, actor: publicKey, target: target}
	if username != "" {
		e.actor, e.person = username, true
	} else if publicKey != "" {
		e.ours = publicKey == pr.ClientID || publicKey == pr.PublicKey
	}
	if raw != nil {
		for _, tok := range strings.Fields(raw.GetDescription()) {
			m := roleToken.FindStringSubmatch(tok)
			if m == nil {
				continue
			}
			e.detail = true
			if m[1] == "+" {
				e.added = append(e.added, m[2])
			} else {
				e.removed = append(e.removed, m[2])
			}
		}
	}
	return e
}

// events reads a project's event log (projectID set) or an organization's
// since t, oldest first. Events of the same second keep the log's order.
func (u *UIAccess) events(ctx context.Context, pr *project, orgID, projectID string, since time.Time) ([]uiEvent, error) {
	var out []uiEvent
	op := "listOrgEvents"
	if projectID != "" {
		op = "listGroupEvents"
	}
	for page := 1; page <= maxPages; page++ {
		var n int
		var total *int
		err := u.p.do(ctx, pr, op, func(ctx context.Context) (*http.Response, error) {
			if projectID != "" {
				res, resp, err := pr.api.EventsApi.ListGroupEvents(ctx, projectID).IncludeRaw(true).MinDate(since).
					IncludeCount(true).ItemsPerPage(perPage).PageNum(page).Execute()
				for _, e := range res.GetResults() {
					out = append(out, readEvent(pr, e.GetEventTypeName(), e.GetCreated(), e.GetUsername(), e.GetPublicKey(), e.GetTargetUsername(), e.Raw))
					last := &out[len(out)-1]
					last.dbUser, last.entry, last.apiKey, last.group = e.GetDbUserUsername(), e.GetWhitelistEntry(), e.GetTargetPublicKey(), e.GetGroupId()
				}
				n, total = len(res.GetResults()), totalOf(res.GetTotalCountOk())
				return resp, err
			}
			res, resp, err := pr.api.EventsApi.ListOrgEvents(ctx, orgID).IncludeRaw(true).MinDate(since).
				IncludeCount(true).ItemsPerPage(perPage).PageNum(page).Execute()
			for _, e := range res.GetResults() {
				out = append(out, readEvent(pr, e.GetEventTypeName(), e.GetCreated(), e.GetUsername(), e.GetPublicKey(), e.GetTargetUsername(), e.Raw))
				last := &out[len(out)-1]
				last.dbUser, last.entry, last.apiKey, last.group = e.GetDbUserUsername(), e.GetWhitelistEntry(), e.GetTargetPublicKey(), e.GetGroupId()
			}
			n, total = len(res.GetResults()), totalOf(res.GetTotalCountOk())
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		if n < perPage || (total != nil && len(out) >= *total) {
			// Atlas lists the newest first.
			slices.Reverse(out)
			sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
			return out, nil
		}
	}
	return nil, flows.Errorf(flows.EINTERNAL, "%s: more than %d pages of events; giving up", op, maxPages)
}

// placeEvents reads the event log of the place.
func (u *UIAccess) placeEvents(ctx context.Context, pl place, since time.Time) ([]uiEvent, error) {
	if pl.org {
		return u.events(ctx, pl.pr, pl.orgID, "", since)
	}
	return u.events(ctx, pl.pr, pl.orgID, pl.pr.ProjectID, since)
}

// roleChange is who gave a role, and when.
type roleChange struct {
	actor string
	at    time.Time
	ours  bool
}

// lastGiven replays the role changes of the log: for each person (lower
// case) and role, the last change that gave it to them, forgotten when a
// later one takes it away.
func lastGiven(pl place, evs []uiEvent) map[string]map[string]roleChange {
	types := projectRoleEvents
	if pl.org {
		types = orgRoleEvents
	}
	out := map[string]map[string]roleChange{}
	for _, e := range evs {
		if e.target == "" || !slices.Contains(types, e.typ) {
			continue
		}
		who := strings.ToLower(e.target)
		if out[who] == nil {
			out[who] = map[string]roleChange{}
		}
		if strings.HasPrefix(e.typ, "REMOVED_FROM") {
			out[who] = map[string]roleChange{}
			continue
		}
		for _, r := range e.removed {
			delete(out[who], r)
		}
		c := roleChange{actor: e.actor, at: e.at, ours: e.ours}
		for _, r := range e.added {
			out[who][r] = c
		}
		if !e.detail && !e.ours {
			// Someone changed this person's roles and the log does not say
			// which: any role may be theirs.
			out[who]["*"] = c
		}
	}
	return out
}

// grantedByOthers returns those of roles that someone other than jitbot
// last gave username at pl since t (and who did).
func (u *UIAccess) grantedByOthers(ctx context.Context, pl place, username string, roles []string, since time.Time) (map[string]roleChange, error) {
	if len(roles) == 0 {
		return nil, nil
	}
	evs, err := u.placeEvents(ctx, pl, since.Add(-time.Minute))
	if err != nil {
		return nil, err
	}
	given := lastGiven(pl, evs)[strings.ToLower(username)]
	out := map[string]roleChange{}
	for _, r := range roles {
		c, ok := given[r]
		if unk, found := given["*"]; found && (!ok || unk.at.After(c.at)) {
			c, ok = unk, true
		}
		if ok && !c.ours {
			out[r] = c
		}
	}
	return out, nil
}

// reportCreated tells the admins what the person created at pl while the
// grant lasted (and, for organization roles, in every project the catalog
// knows): the grant gave a role that creates standing access.
func (u *UIAccess) reportCreated(ctx context.Context, g flows.Grant, pl place, a account, st uiState) error {
	since := st.Since.Add(-time.Minute)
	evs, err := u.placeEvents(ctx, pl, since)
	if err != nil {
		return err
	}
	if pl.org {
		snap, err := u.p.catalog.snapshot(ctx, pl.pr.Name, false)
		if err != nil {
			return err
		}
		for _, id := range sortedKeys(snap.projects) {
			more, err := u.events(ctx, u.p.view(pl.pr, id), pl.orgID, id, since)
			if err != nil {
				return err
			}
			evs = append(evs, more...)
		}
	}
	var made []string
	for _, e := range evs {
		what, ok := created[e.typ]
		if !ok || !e.person || !strings.EqualFold(e.actor, a.username) {
			continue
		}
		switch {
		case e.dbUser != "":
			what += " " + e.dbUser
		case e.entry != "":
			what += " " + e.entry
		case e.apiKey != "":
			what += " " + e.apiKey
		case e.target != "" && !strings.EqualFold(e.target, a.username):
			what += " for " + e.target
			if len(e.added) > 0 {
				what += " (+" + strings.Join(e.added, " +") + ")"
			}
		case e.typ == "GROUP_CREATED" && e.group != "":
			what += " " + e.group
		case e.target != "":
			continue // their own roles: jitbot's doing, or reported as kept
		}
		if e.group != "" && !pl.org && e.typ != "GROUP_CREATED" {
			what += " in " + pl.name
		}
		made = append(made, what+" at "+e.at.UTC().Format(time.RFC3339))
	}
	standing := slices.DeleteFunc(slices.Clone(g.Roles), func(r string) bool { return !flows.IsStandingAccessRole(r) })
	head := fmt.Sprintf("%s held %s in %s from %s for request %s, a role that lets them create access outliving the grant.",
		g.Principal, flows.FormatRoles(standing), pl, st.Since.UTC().Format(time.RFC3339), g.RequestID)
	msg := head + " The event log shows they created nothing of the kind (database users, API keys, access-list entries, members, projects)."
	if len(made) > 0 {
		msg = head + " The event log shows they created: " + strings.Join(made, "; ") + ". These outlive the grant: review them in Atlas."
	}
	if err := g.Report(ctx, msg); err != nil {
		return flows.WrapError(flows.EUNAVAILABLE, err, "could not tell the admins what %s created", g.Principal)
	}
	return nil
}

// ManagedGrants implements flows.Inventory: the roles the event logs of
// the integration's organization and projects (over UIConfig.EventLookback)
// say jitbot gave last, that their holders still hold. Atlas keeps no
// label on a role, so each names the person (flows.ManagedGrant.Person) and
// no request: reconcile looks for a grant of theirs that explains it.
func (u *UIAccess) ManagedGrants(ctx context.Context, integration string) ([]flows.ManagedGrant, error) {
	pr, err := u.p.project(integration)
	if err != nil {
		return nil, fmt.Errorf("atlas: list Atlas UI roles: %w", err)
	}
	var places []place
	if pr.OrgWide() {
		places = append(places, place{pr: pr, orgID: pr.OrganizationID, org: true, name: pr.Name})
		snap, err := u.p.catalog.snapshot(ctx, integration, false)
		if err != nil {
			return nil, fmt.Errorf("atlas: list Atlas UI roles of %s: %w", integration, err)
		}
		for _, id := range sortedKeys(snap.projects) {
			places = append(places, place{pr: u.p.view(pr, id), orgID: pr.OrganizationID, name: snap.projects[id].name})
		}
	} else {
		orgID, err := u.orgOf(ctx, pr)
		if err != nil {
			return nil, fmt.Errorf("atlas: list Atlas UI roles of %s: %w", integration, err)
		}
		places = append(places, place{pr: pr, orgID: orgID, name: pr.Name})
	}
	since := u.p.clock.Now().Add(-u.cfg.EventLookback)
	var out []flows.ManagedGrant
	for _, pl := range places {
		got, err := u.managedAt(ctx, pl, since)
		if err != nil {
			return nil, fmt.Errorf("atlas: list Atlas UI roles of %s in %s: %w", integration, pl, err)
		}
		out = append(out, got...)
	}
	return out, nil
}

func (u *UIAccess) managedAt(ctx context.Context, pl place, since time.Time) ([]flows.ManagedGrant, error) {
	evs, err := u.placeEvents(ctx, pl, since)
	if err != nil {
		return nil, err
	}
	given := lastGiven(pl, evs)
	ours := false
	for _, roles := range given {
		for _, c := range roles {
			ours = ours || c.ours
		}
	}
	if !ours {
		return nil, nil // jitbot gave nobody anything here lately
	}
	held, err := u.holders(ctx, pl)
	if err != nil {
		return nil, err
	}
	var out []flows.ManagedGrant
	for _, who := range sortedKeys(held) {
		var roles []string
		for _, r := range held[who] {
			if c, ok := given[who][r]; ok && c.ours {
				if unk, found := given[who]["*"]; found && unk.at.After(c.at) {
					continue // someone changed their roles since, and the log does not say how
				}
				roles = append(roles, r)
			}
		}
		if len(roles) > 0 {
			slices.Sort(roles)
			out = append(out, flows.ManagedGrant{Principal: who, Person: who, Roles: roles, Where: pl.where()})
		}
	}
	return out, nil
}

// holders lists who holds which roles at pl (usernames in lower case).
func (u *UIAccess) holders(ctx context.Context, pl place) (map[string][]string, error) {
	out := map[string][]string{}
	for page := 1; page <= maxPages; page++ {
		var n int
		var total *int
		err := u.p.do(ctx, pl.pr, map[bool]string{true: "listOrgUsers", false: "listGroupUsers"}[pl.org], func(ctx context.Context) (*http.Response, error) {
			if pl.org {
				res, resp, err := pl.pr.api.MongoDBCloudUsersApi.ListOrgUsers(ctx, pl.orgID).IncludeCount(true).ItemsPerPage(perPage).PageNum(page).Execute()
				for i := range res.GetResults() {
					a := accountOf(&res.GetResults()[i])
					out[strings.ToLower(a.username)] = a.orgRoles
				}
				n, total = len(res.GetResults()), totalOf(res.GetTotalCountOk())
				return resp, err
			}
			res, resp, err := pl.pr.api.MongoDBCloudUsersApi.ListGroupUsers(ctx, pl.pr.ProjectID).IncludeCount(true).ItemsPerPage(perPage).PageNum(page).Execute()
			for _, m := range res.GetResults() {
				out[strings.ToLower(m.GetUsername())] = m.GetRoles()
			}
			n, total = len(res.GetResults()), totalOf(res.GetTotalCountOk())
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		if n < perPage || (total != nil && page*perPage >= *total) {
			return out, nil
		}
	}
	return nil, flows.Errorf(flows.EINTERNAL, "more than %d pages of members; giving up", maxPages)
}
