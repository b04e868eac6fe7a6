package flows

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// KindAtlasUI is Atlas UI access: a person's own Atlas account (the Atlas
// user whose username is their email) gets project roles, or organization
// roles, for the approved duration. jitbot creates no identity: it adds the
// roles the person did not hold (adding them to the project when they are
// not a member) and at the end removes those it added, and only those.
//
// Its target is integration/project for project roles (acme/payments-prod),
// the integration alone for project roles in an integration of one project
// (prod), and the integration alone for organization roles in an
// organization-wide one (acme ORG_READ_ONLY). The roles say which: GROUP_*
// are project roles, ORG_* organization roles; one request asks for one or
// the other.
//
// Owner roles are never granted. Roles that let a person create access that
// outlives the grant (standingRoles: database users, API keys, access-list
// entries, projects, invitations) are offered only by a flow that opts in by
// name (FlowSpec.AllowStandingAccess); at the end of such a grant the
// provisioner reports to the admins what the person created during it.
const KindAtlasUI Kind = "atlas_ui"

// ownerRoles are never granted: an owner can give themselves anything.
var ownerRoles = []string{"GROUP_OWNER", "ORG_OWNER"}

// uiProjectRoles and uiOrgRoles are the Atlas roles jitbot grants, least
// powerful first (the first is the example people are shown).
var (
	uiProjectRoles = []string{
		"GROUP_READ_ONLY", "GROUP_OBSERVABILITY_VIEWER", "GROUP_DATA_ACCESS_READ_ONLY", "GROUP_DATA_ACCESS_READ_WRITE",
		"GROUP_DATA_ACCESS_ADMIN", "GROUP_SEARCH_INDEX_EDITOR", "GROUP_BACKUP_MANAGER", "GROUP_CLUSTER_MANAGER",
		"GROUP_STREAM_PROCESSING_OWNER", "GROUP_DATABASE_ACCESS_ADMIN", "GROUP_ACCESS_MANAGER", "GROUP_USER_ADMIN",
	}
	uiOrgRoles = []string{
		"ORG_READ_ONLY", "ORG_BILLING_READ_ONLY", "ORG_BILLING_ADMIN", "ORG_STREAM_PROCESSING_ADMIN",
		"ORG_GROUP_CREATOR", "ORG_USER_ADMIN",
	}
)

// standingRoles let the person who holds them create access that outlives
// the grant: database users (GROUP_DATABASE_ACCESS_ADMIN, and
// GROUP_STREAM_PROCESSING_OWNER, which may create them too), members and API
// keys of the project or organization (GROUP_ACCESS_MANAGER,
// GROUP_USER_ADMIN, ORG_USER_ADMIN), projects they then own
// (ORG_GROUP_CREATOR) and stream processing workspaces with their own
// connections (ORG_STREAM_PROCESSING_ADMIN).
var standingRoles = []string{
	"GROUP_DATABASE_ACCESS_ADMIN", "GROUP_STREAM_PROCESSING_OWNER", "GROUP_ACCESS_MANAGER", "GROUP_USER_ADMIN",
	"ORG_GROUP_CREATOR", "ORG_USER_ADMIN", "ORG_STREAM_PROCESSING_ADMIN",
}

var atlasRoleName = regexp.MustCompile(`^[A-Z][A-Z_]{2,63}$`)

// IsStandingAccessRole reports whether an Atlas role lets its holder create
// access that outlives a grant of it.
func IsStandingAccessRole(role string) bool { return slices.Contains(standingRoles, role) }

// IsOrgRole reports whether an Atlas role is an organization role (ORG_*),
// rather than a project role (GROUP_*).
func IsOrgRole(role string) bool { return strings.HasPrefix(role, "ORG_") }

// LooksLikeAtlasRole reports whether what a person typed names an Atlas UI
// role (GROUP_READ_ONLY, ORG_READ_ONLY) rather than database roles only:
// how a command tells which kind is asked for (and refuses the others).
func LooksLikeAtlasRole(s string) bool {
	return slices.ContainsFunc(ParseRoles(s), func(r string) bool {
		return strings.HasPrefix(r, "GROUP_") || strings.HasPrefix(r, "ORG_")
	})
}

func atlasUI() KindSpec {
	return KindSpec{
		Kind: KindAtlasUI, Name: "Atlas UI access",
		TargetSyntax: "integration/project for project roles, or the integration alone (organization roles; project roles in an integration of one project)",
		ParseTarget:  ParseUITarget, ValidateTarget: validateUITarget,
		TargetParts:   1,
		PatternSyntax: "* (any project, and the organization itself) or, in an organization-wide integration, a project by name, id, glob or tag:key=value",
		Roles:         append(slices.Clone(uiProjectRoles), uiOrgRoles...),
		ValidateRole:  validateUIRole, MultipleRoles: true,
		CheckRoles: func(roles []string, t Resource) error {
			org := IsOrgRole(roles[0])
			for _, r := range roles[1:] {
				if IsOrgRole(r) != org {
					return Errorf(EINVALID, "ask for project roles (GROUP_...) and organization roles (ORG_...) in separate requests")
				}
			}
			if org && t.Project != "" {
				return Errorf(EINVALID, "organization roles are for the whole organization: name the integration alone (%s), not a project", t.Integration)
			}
			return nil
		},
		// The identity is the requester's own Atlas account.
		Principal: func(requester string, _ RequestID) string { return requester },
		Describe: func(roles []string, t Resource) string {
			return "Atlas UI access: " + FormatRoles(roles) + " on " + t.String()
		},
		CheckTarget:       checkUITarget,
		CheckFlow:         checkUIFlow,
		OneGrantPerTarget: true,
	}
}

// AtlasUI returns the spec of KindAtlasUI.
func AtlasUI() KindSpec { return atlasUI() }

// ParseUITarget reads integration or integration/project.
func ParseUITarget(s string) (Resource, error) {
	s = unquoteName(strings.TrimSpace(s))
	parts := strings.Split(s, "/")
	for i, p := range parts {
		parts[i] = unquoteName(p)
	}
	var t Resource
	switch len(parts) {
	case 1:
		t = Resource{Integration: parts[0]}
	case 2:
		t = Resource{Integration: parts[0], Project: parts[1]}
	default:
		return Resource{}, Errorf(EINVALID, "Atlas UI access to %q: want integration/project (project roles) or the integration alone (organization roles)", excerpt(s))
	}
	return t, validateUITarget(t)
}

func validateUITarget(t Resource) error {
	if err := checkNameText("integration", t.Integration); err != nil {
		return err
	}
	if !integrationName.MatchString(t.Integration) {
		return Errorf(EINVALID, "integration %q: use lower-case letters, digits, - and _", excerpt(t.Integration))
	}
	if t.Project != "" {
		if err := checkNameText("project", t.Project); err != nil {
			return err
		}
		if !projectName.MatchString(t.Project) {
			return Errorf(EINVALID, "project %q: Atlas project names are letters, digits and - _ . ( ) , : & @ + '", excerpt(t.Project))
		}
	}
	if t.Cluster != "" || t.Database != "" || t.Collection != "" {
		return Errorf(EINVALID, "Atlas UI access is to a project or the organization, not to %s: ask for a database user there instead", t)
	}
	return nil
}

func validateUIRole(role string) error {
	switch {
	case !atlasRoleName.MatchString(role):
		return Errorf(EINVALID, "role %q: Atlas roles are written in capitals, such as GROUP_READ_ONLY or ORG_READ_ONLY", excerpt(role))
	case slices.Contains(ownerRoles, role):
		return Errorf(EINVALID, "%s is an owner role: jitbot never grants it, since an owner can give themselves access that outlives the grant", role)
	case role == "ORG_MEMBER":
		return Errorf(EINVALID, "every member of an Atlas organization holds ORG_MEMBER already; ask for the role you need, such as ORG_READ_ONLY")
	case !slices.Contains(uiProjectRoles, role) && !slices.Contains(uiOrgRoles, role):
		return Errorf(EINVALID, "%s is not an Atlas role jitbot grants: ask for a project role (%s) or an organization role (%s)",
			role, strings.Join(uiProjectRoles[:4], ", ")+"...", strings.Join(uiOrgRoles[:2], ", ")+"...")
	}
	return nil
}

// checkUITarget says where the roles asked for are held: organization
// roles in the organization of an organization-wide integration, project
// roles in a project.
func checkUITarget(in *Integration, t Resource, roles []string) error {
	org := len(roles) > 0 && IsOrgRole(roles[0])
	switch {
	case org && !in.OrgWide():
		return Errorf(EINVALID, "integration %s is one Atlas project: organization roles need an organization-wide integration (organization_id)", in.Name)
	case !org && in.OrgWide() && t.Project == "":
		return Errorf(EINVALID, "integration %s spans an Atlas organization: name the project of the roles, as in %s/<project>", in.Name, in.Name)
	}
	return nil
}

// checkUIFlow checks what a flow of Atlas UI access says: its patterns name
// a project (or are *), its organization roles have an organization, and
// every role that creates standing access is opted into by name.
func checkUIFlow(fs FlowSpec, in *Integration) ValidationError {
	var v ValidationError
	for j, g := range fs.Resources {
		switch {
		case !in.OrgWide() && g != "*":
			v.Add(fmt.Sprintf("resources[%d]", j), "%q: Atlas UI access in an integration of one project is to that project: write *", g)
		case strings.Contains(g, "/"):
			v.Add(fmt.Sprintf("resources[%d]", j), "%q: Atlas UI access is to a project: name the project alone (a name, an id, a pattern or tag:key=value), or *", g)
		}
	}
	for j, r := range fs.Roles {
		at := fmt.Sprintf("roles[%d]", j)
		switch {
		case IsOrgRole(r) && !in.OrgWide():
			v.Add(at, "%s is an organization role: integration %s is one project, so it cannot be granted (use an organization-wide integration)", r, in.Name)
		case IsStandingAccessRole(r) && !slices.Contains(fs.AllowStandingAccess, r):
			v.Add(at, "%s lets a person create access that outlives the grant (database users, API keys, members or projects): to offer it, list it under allow_standing_access too; jitbot then reports to the admins what they created", r)
		}
	}
	for j, r := range fs.AllowStandingAccess {
		at := fmt.Sprintf("allow_standing_access[%d]", j)
		switch {
		case !IsStandingAccessRole(r):
			v.Add(at, "%q is not a role that creates standing access; those are %s", r, strings.Join(standingRoles, ", "))
		case !slices.Contains(fs.Roles, r):
			v.Add(at, "%s is not among the flow's roles: list it under roles as well", r)
		}
	}
	return v
}

// Project is one Atlas project as a catalog knows it.
type Project struct {
	Name, ID string
	Tags     []Tag
	// Owners are the tokens of the project's owner tag: emails or group:<name>.
	Owners []string
}

// ProjectCatalog is a Catalog that also lists an organization-wide
// integration's projects, with clusters or without: what a target that names
// a project and no cluster (KindAtlasUI) is looked up in. A catalog without
// it finds such projects among its clusters.
type ProjectCatalog interface {
	Projects(ctx context.Context, integration string) ([]Project, error)
}

// aboveClusters completes a target that names no cluster: in an
// organization-wide integration its project (by name or id) gets the
// catalog's name and id, and its tags and owners route the request, as a
// cluster's do; in an integration of one project the target is that project.
// The organization itself, and an address, are left as they are.
func (s *Service) aboveClusters(ctx context.Context, in *Integration, r *Resource) (Cluster, error) {
	if r.Address != "" {
		return Cluster{}, nil // network access: an address, in no project the target names
	}
	if !in.OrgWide() {
		if r.Project == "" {
			r.ProjectID = in.ProjectID
		}
		return Cluster{}, nil
	}
	if r.Project == "" {
		return Cluster{}, nil
	}
	projects, err := s.projects(ctx, in.Name)
	if err != nil {
		if ErrorCode(err) == EINTERNAL {
			return Cluster{}, WrapError(EUNAVAILABLE, err, "could not list the projects of %s right now; try again in a minute", in.Name)
		}
		return Cluster{}, err
	}
	var names []string
	for _, p := range projects {
		if p.Name == r.Project || p.ID == r.Project {
			r.Project, r.ProjectID = p.Name, p.ID
			return Cluster{Project: p.Name, ProjectID: p.ID, ProjectTags: slices.Clone(p.Tags), Owners: slices.Clone(p.Owners)}, nil
		}
		names = append(names, p.Name)
	}
	slices.Sort(names)
	return Cluster{}, Errorf(EINVALID, "there is no project %q in %s; its projects are: %s", r.Project, in.Name, strings.Join(names, ", "))
}

// projects lists an organization-wide integration's projects: from the
// catalog when it is a ProjectCatalog, else from its clusters (with their
// project's tags, and the owners of the project's owner tag).
func (s *Service) projects(ctx context.Context, integration string) ([]Project, error) {
	if pc, ok := s.catalog.(ProjectCatalog); ok {
		return pc.Projects(ctx, integration)
	}
	clusters, err := s.catalog.Clusters(ctx, integration)
	if err != nil {
		return nil, err
	}
	in, _ := s.Policy().Integration(integration)
	var out []Project
	for _, c := range clusters {
		if c.Project == "" || slices.ContainsFunc(out, func(p Project) bool { return p.ID == c.ProjectID && p.Name == c.Project }) {
			continue
		}
		p := Project{Name: c.Project, ID: c.ProjectID, Tags: slices.Clone(c.ProjectTags)}
		for _, t := range c.ProjectTags {
			if in != nil && t.Key == in.OwnerTag {
				p.Owners = append(p.Owners, strings.FieldsFunc(t.Value, func(r rune) bool { return r == ' ' || r == ',' || r == ';' })...)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// atlasThing names what a grant of the kind is in Atlas, for findings:
// "Atlas database user", "Atlas UI access".
func atlasThing(k Kind) string {
	name := KindName(k)
	if strings.HasPrefix(name, "Atlas ") {
		return name
	}
	return "Atlas " + name
}

// aKind is a kind's name after an article where it takes one: "a database
// user", but "Atlas UI access".
func aKind(k Kind) string {
	name := KindName(k)
	if strings.HasSuffix(name, " access") {
		return name
	}
	return "a " + name
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// uiPatternTarget is the target a pattern of Atlas UI access covers, for
// the policy's warnings: * the integration itself (the organization, or the
// one project), anything else a project (CheckFlow has refused the rest).
func uiPatternTarget(integration, g string) (Resource, error) {
	if g == "*" {
		return Resource{Integration: integration}, nil
	}
	t := Resource{Integration: integration, Project: "any-project"}
	if !strings.ContainsAny(g, `*?[\`) && !strings.HasPrefix(g, tagPrefix) {
		t.Project = g
	}
	return t, validateUITarget(t)
}
