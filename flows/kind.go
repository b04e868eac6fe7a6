package flows

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Kind names a kind of grant: what jitbot creates in Atlas for an approved
// request (a database user, a project role, an access-list entry...) and so
// what the requester receives.
type Kind string

// KindDatabaseUser is a temporary Atlas database user, with a password or,
// where its flow says so, signing in through the organization's identity
// provider or AWS IAM (DatabaseAuth). Every request stored before kinds
// existed was one, and a request or a flow that names no kind is one.
const KindDatabaseUser Kind = "database_user"

// KindSpec is what the domain knows of one kind of grant, declared in one
// place: how its target is written and checked, which roles it grants, how
// the identity it creates is named, and how people call it. The provisioner
// that makes and removes it is registered beside it (Provisioners), with the
// optional capabilities it has.
//
// A target is a Resource: the integration and, below it, as many of cluster,
// database and collection as the kind names (a database user all three, a
// cluster-wide kind only the cluster, a project-wide kind none).
type KindSpec struct {
	Kind Kind
	// Name is how people read the kind: "database user".
	Name string
	// SecretName is what people call the secret the kind hands out
	// ("password"); empty when it hands out none.
	SecretName string
	// TargetSyntax shows how a target is written, for errors and help:
	// "integration/cluster/database[/collection]".
	TargetSyntax string
	// ParseTarget reads a target as a person typed it; ValidateTarget checks
	// one however it came (a command, a form, a stored request). Refusals
	// are EINVALID errors whose messages say what is wrong.
	ParseTarget    func(s string) (Resource, error)
	ValidateTarget func(t Resource) error
	// TargetParts is the most parts a target has below its integration, and
	// so the most a flow's resource pattern may have (1 to 3); 0 for a kind
	// whose flows name no resource patterns (network access: its targets are
	// addresses, which its flows bound with address ranges instead).
	TargetParts int
	// PatternSyntax says how a flow's resource patterns are written, for
	// `jitbot check`: "cluster, cluster/database or cluster/database/collection".
	PatternSyntax string
	// Roles are the roles the kind grants, in the order they are offered.
	Roles []string
	// ValidateRole refuses a role the kind never grants, saying why; nil
	// accepts exactly Roles.
	ValidateRole func(role string) error
	// MultipleRoles lets one request ask for several roles at once
	// (read,readWrite); otherwise a request names exactly one.
	MultipleRoles bool
	// CheckRoles refuses valid roles that cannot be limited to the target
	// (a collection takes fewer roles than a database); nil allows any.
	CheckRoles func(roles []string, t Resource) error
	// AccessDetails says the integration's access details (how to connect
	// to its clusters) belong in this kind's credentials message.
	AccessDetails bool
	// Principal names the identity a grant creates in Atlas. It is derived
	// from the request alone, so that a repeated create finds the same one,
	// and unique per request (but for a kind that changes the roles of the
	// requester's own Atlas account, whose principal is that account).
	Principal func(requester string, requestID RequestID) string
	// PrincipalOf, when set, names it instead, from the whole request: what
	// the grant creates is its target (an access-list entry is its address).
	// A principal its flow decides (a passwordless database user's, from the
	// flow's template) is fixed at submission and neither is called.
	PrincipalOf func(r *Request) string
	// SharedTarget says several grants may hold what one creates (one
	// access-list entry for every grant of the same address): the
	// provisioner is told of the other live grants of the same target
	// (Grant.Holders) and keeps it while any of them holds it.
	SharedTarget bool
	// Describe says what a grant of roles on t gives, for people ("read on
	// prod/Cluster0/sales"); nil: the roles on the target.
	Describe func(roles []string, t Resource) string
	// CheckTarget, when set, checks a target and its roles against the
	// integration at submission: what the target alone cannot say
	// (organization roles need an organization-wide integration).
	CheckTarget func(in *Integration, t Resource, roles []string) error
	// CheckFlow, when set, checks a flow of the kind beyond its patterns
	// and roles; the paths of its problems are relative to the flow.
	CheckFlow func(fs FlowSpec, in *Integration) ValidationError
	// OneGrantPerTarget lets a person hold one live grant of the kind per
	// target, whatever its roles: its grants change the same Atlas identity,
	// and one grant's end must not take away what another gave.
	OneGrantPerTarget bool
	// FromAddress says a grant of the kind is used from an address the
	// request names beside its target (Resource.Address: from 203.0.113.7),
	// and works from there only: its flows bound the addresses with the
	// network rules of network access flows (allowed_cidrs, widest_prefix_v4,
	// widest_prefix_v6, allow_public; kind_programmatic.go).
	FromAddress bool
}

var kindName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)

// check reports a spec that cannot work; it is a programming error, not a
// configuration one.
func (k KindSpec) check() error {
	switch {
	case !kindName.MatchString(string(k.Kind)):
		return fmt.Errorf("flows: kind %q: want lower-case letters, digits and _", k.Kind)
	case k.Name == "" || k.TargetSyntax == "" || (k.PatternSyntax == "" && k.TargetParts > 0):
		return fmt.Errorf("flows: kind %s: Name, TargetSyntax and PatternSyntax are required", k.Kind)
	case k.ParseTarget == nil || k.ValidateTarget == nil || (k.Principal == nil && k.PrincipalOf == nil):
		return fmt.Errorf("flows: kind %s: ParseTarget, ValidateTarget and Principal (or PrincipalOf) are required", k.Kind)
	case k.TargetParts < 0 || k.TargetParts > 3:
		return fmt.Errorf("flows: kind %s: TargetParts must be 0 to 3", k.Kind)
	case len(k.Roles) == 0:
		return fmt.Errorf("flows: kind %s grants no role", k.Kind)
	}
	return nil
}

// validateRole checks one role name.
func (k KindSpec) validateRole(role string) error {
	if k.ValidateRole != nil {
		return k.ValidateRole(role)
	}
	if !slices.Contains(k.Roles, role) {
		return Errorf(EINVALID, "role %q is not one a %s gets: ask for %s", excerpt(role), k.Name, strings.Join(k.Roles, ", "))
	}
	return nil
}

// checkRoles validates the roles of a request on target t.
func (k KindSpec) checkRoles(roles []string, t Resource) error {
	switch {
	case len(roles) == 0:
		return Errorf(EINVALID, "name the role you need, such as %s", k.Roles[0])
	case len(roles) > 1 && !k.MultipleRoles:
		return Errorf(EINVALID, "a %s has one role: ask for %s or %s, not both", k.Name, roles[0], roles[1])
	}
	for _, r := range roles {
		if err := k.validateRole(r); err != nil {
			return err
		}
	}
	if k.CheckRoles != nil {
		return k.CheckRoles(roles, t)
	}
	return nil
}

// validatePattern checks a flow's resource pattern: one to TargetParts
// parts, each a path.Match pattern, with the project first in an
// organization-wide integration. The project and cluster parts may be tag
// patterns (tag:env=prod); the parts below them may not.
func (k KindSpec) validatePattern(g string, orgWide bool) error {
	segs := strings.Split(g, "/")
	most, syntax, tagParts := k.TargetParts, k.PatternSyntax, 1
	if orgWide {
		most, syntax, tagParts = most+1, "project/ followed by "+k.PatternSyntax, 2
	}
	if g == "" || len(segs) > most {
		return fmt.Errorf("%q: want %s, each part a name or a pattern with * ? [ ]", g, syntax)
	}
	for i, s := range segs {
		if s == "" {
			return fmt.Errorf("%q: empty part", g)
		}
		if _, isTag, err := parseTagPattern(s); isTag {
			if err != nil {
				return err
			}
			if i >= tagParts {
				return fmt.Errorf("%q: tag patterns select projects and clusters; %q is below them", g, s)
			}
			continue
		}
		if _, err := path.Match(s, ""); err != nil {
			return fmt.Errorf("%q: bad pattern %q: %v", g, s, err)
		}
	}
	return nil
}

// builtinKinds are the kinds jitbot grants. A new kind is added here (its
// spec beside databaseUser) and its provisioner registered in cmd.
func builtinKinds() []KindSpec {
	return []KindSpec{databaseUser(), accessListEntry(), atlasUI(), serviceAccount(), apiKey()}
}

// databaseUser is the kind jitbot began with: a SCRAM user limited to one
// cluster, with roles limited to one database or collection.
func databaseUser() KindSpec {
	return KindSpec{
		Kind: KindDatabaseUser, Name: "database user", SecretName: "password",
		TargetSyntax: "integration/cluster/database[/collection]",
		ParseTarget:  ParseResource, ValidateTarget: Resource.Validate,
		TargetParts: 3, PatternSyntax: "cluster, cluster/database or cluster/database/collection",
		Roles: []string{"read", "readWrite", "dbAdmin"}, ValidateRole: ValidateRole, MultipleRoles: true,
		CheckRoles: func(roles []string, t Resource) error {
			for _, r := range roles {
				if err := checkRoleForResource(r, t); err != nil {
					return err
				}
			}
			return nil
		},
		AccessDetails: true,
		Principal:     databaseUsername,
	}
}

// principalOf names what r's grant creates in Atlas (see PrincipalOf).
func (k KindSpec) principalOf(r *Request) string {
	if k.PrincipalOf != nil {
		return k.PrincipalOf(r)
	}
	return k.Principal(r.Requester, r.ID)
}

// DatabaseUser returns the spec of KindDatabaseUser.
func DatabaseUser() KindSpec { return databaseUser() }

// KindName is how people read a kind: the Name of a kind jitbot grants, or,
// for a kind it does not know (one a test adds), its id in words. No kind
// is a database user.
func KindName(k Kind) string {
	k = k.orDefault()
	for _, s := range builtinKinds() {
		if s.Kind == k {
			return s.Name
		}
	}
	return strings.ReplaceAll(string(k), "_", " ")
}

// SecretName is what people call the secret of a kind: the SecretName of a
// kind jitbot grants, or "secret" (for a kind it does not know, or one
// that hands out none).
func SecretName(k Kind) string {
	k = k.orDefault()
	for _, s := range builtinKinds() {
		if s.Kind == k && s.SecretName != "" {
			return s.SecretName
		}
	}
	return "secret"
}

// orDefault reads a kind that may be unset: requests and flows written
// before kinds existed are database users.
func (k Kind) orDefault() Kind {
	if k == "" {
		return KindDatabaseUser
	}
	return k
}

// ParseRoles reads roles as a person typed them: one (read), or several
// separated by commas (read,readWrite). Spaces around each are ignored and
// empty ones dropped; the kind decides which are valid.
func ParseRoles(s string) []string {
	var out []string
	for r := range strings.SplitSeq(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

// FormatRoles prints roles the way ParseRoles reads them: read,readWrite.
func FormatRoles(roles []string) string { return strings.Join(roles, ",") }

// databaseUsername is the Atlas database user for a request: jit-, the
// requester's local part (cleaned, at most 24 characters), and the request id.
func databaseUsername(requester string, requestID RequestID) string {
	local, _, _ := strings.Cut(strings.ToLower(requester), "@")
	clean := []byte(local)
	for i, c := range clean {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			clean[i] = '-'
		}
	}
	if len(clean) > 24 {
		clean = clean[:24]
	}
	return "jit-" + string(clean) + "-" + string(requestID)
}
