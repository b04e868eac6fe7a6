package flows

import (
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Resource names what access is asked for: for a database user (the kind
// ParseResource and Validate read), a database, or one collection in it, on
// one cluster of one integration (an Atlas project). Its text form is
// integration/cluster/database[/collection].
//
// An organization-wide integration (IntegrationSpec.OrganizationID) spans
// the organization's projects, so its resources name the project too:
// integration/project/cluster/database[/collection], such as
// acme/payments-prod/Cluster0/sales/orders. The project is written by name
// (or by id); Policy.Resolve reads a resource as its integration wants it.
//
// It is also the target of every other kind (KindSpec): the integration
// and as many of the parts below it as the kind names, the rest empty (a
// cluster-wide kind has no database; a project-wide kind, no cluster).
type Resource struct {
	Integration string
	// Project is the Atlas project's name in an organization-wide
	// integration; empty in an integration of one project.
	Project    string
	Cluster    string
	Database   string
	Collection string // empty: the whole database

	// ProjectID and ClusterID are the Atlas ids behind Project and Cluster,
	// which the service fills in from the catalog when a request is
	// submitted. Grants are keyed by them; the names are for display, so a
	// project renamed in Atlas is still the same project. Neither is part
	// of the text form.
	ProjectID string
	ClusterID string
	// Address is the target of network access (KindAccessListEntry): one
	// address or range in canonical CIDR form (203.0.113.7/32), alone below
	// its integration. Its text form is integration/address.
	Address string
}

var (
	integrationName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
	// Atlas user scopes name clusters with this pattern (UserScope.name).
	clusterName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]{0,63}$`)
	// Atlas project names (Group.name), which never hold a /.
	// Atlas's own first project is "Project 0": names may hold single
	// spaces between words.
	projectName = regexp.MustCompile(`^[\p{L}\p{N}\-_.(),:&@+']+( [\p{L}\p{N}\-_.(),:&@+']+)*$`)
	roleName    = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

// ParseResource parses integration/cluster/database[/collection], or
// integration/project/cluster/database[/collection] for an
// organization-wide integration. Four parts read either way: as a
// collection when that reading is valid, as a project's database
// otherwise; Policy.Resolve settles it by the integration.
func ParseResource(s string) (Resource, error) {
	s = unquoteName(strings.TrimSpace(s))
	parts := strings.Split(s, "/")
	for i, p := range parts {
		parts[i] = unquoteName(p)
	}
	if len(parts) < 3 || len(parts) > 5 {
		return Resource{}, Errorf(EINVALID, "resource %q: want integration/cluster/database[/collection] (integration/project/cluster/... in an organization-wide integration)", excerpt(s))
	}
	if parts[len(parts)-1] == "" && len(parts) > 3 {
		return Resource{}, Errorf(EINVALID, "resource %q: the collection after the last / is empty", excerpt(s))
	}
	if slices.Contains(parts[1:len(parts)-1], "") {
		return Resource{}, Errorf(EINVALID, "resource %q: a name between two / is empty", excerpt(s))
	}
	var r Resource
	switch len(parts) {
	case 3:
		r = Resource{Integration: parts[0], Cluster: parts[1], Database: parts[2]}
	case 4:
		r = Resource{Integration: parts[0], Cluster: parts[1], Database: parts[2], Collection: parts[3]}
		if parts[1] != "" && !clusterName.MatchString(parts[1]) {
			// Not a cluster: a project whose name a cluster could not have.
			if org := (Resource{Integration: parts[0], Project: parts[1], Cluster: parts[2], Database: parts[3]}); org.Validate() == nil {
				return org, nil
			}
		}
	case 5:
		r = Resource{Integration: parts[0], Project: parts[1], Cluster: parts[2], Database: parts[3], Collection: parts[4]}
	}
	if err := r.Validate(); err != nil {
		return Resource{}, err
	}
	return r, nil
}

// String formats the resource as integration/[project/]cluster/database[/collection],
// leaving out the parts a target of another kind does not have. A name
// with a space ("Project 0") is quoted, so that what is shown can be typed
// back: acme/"Project 0"/Cluster0/sales.
func (r Resource) String() string {
	segs := append([]string{r.Integration}, r.segments()...)
	for i, s := range segs {
		// A name that reads as quoted is quoted again, so it reads back whole.
		if strings.Contains(s, " ") || unquoteName(s) != s {
			segs[i] = `"` + s + `"`
		}
	}
	return strings.Join(segs, "/")
}

// unquoteName drops the double quotes around a name typed with them
// ("Project 0"); MaxLength and the name rules then judge what is inside.
func unquoteName(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// segments returns the resource's path inside its integration: its parts up
// to the last one set.
func (r Resource) segments() []string {
	if r.Address != "" && r.Project == "" && r.Cluster == "" {
		return []string{r.Address}
	}
	segs := []string{r.Cluster, r.Database, r.Collection}
	if r.Project != "" {
		segs = append([]string{r.Project}, segs...)
	}
	for len(segs) > 0 && segs[len(segs)-1] == "" {
		segs = segs[:len(segs)-1]
	}
	return segs
}

// Same reports whether r and o name the same target. Where both carry the
// project's id, the id decides and the project's name does not matter (a
// project renamed in Atlas is the same project); cluster names are fixed in
// Atlas, so clusters compare by name.
func (r Resource) Same(o Resource) bool {
	if r.ProjectID != "" && o.ProjectID != "" {
		if r.ProjectID != o.ProjectID {
			return false
		}
		r.Project, o.Project = "", ""
	}
	r.ProjectID, o.ProjectID, r.ClusterID, o.ClusterID = "", "", "", ""
	return r == o
}

// Validate checks every part against what Atlas and MongoDB accept, and refuses
// the system databases: access to admin, local or config is never just-in-time.
// It also refuses text that is not UTF-8 and control and format characters
// (Unicode Cc and Cf, such as NUL, newline, U+200B or U+202E), which MongoDB
// may accept but which make a name look like another to the approver who
// reads it; the refusal names the character by its code point.
func (r Resource) Validate() error {
	if err := checkNameText("integration", r.Integration); err != nil {
		return err
	}
	if !integrationName.MatchString(r.Integration) {
		return Errorf(EINVALID, "integration %q: use lower-case letters, digits, - and _", excerpt(r.Integration))
	}
	if r.Project != "" {
		if err := checkNameText("project", r.Project); err != nil {
			return err
		}
		if !projectName.MatchString(r.Project) {
			return Errorf(EINVALID, "project %q: Atlas project names are letters, digits, single spaces between words and - _ . ( ) , : & @ + '", excerpt(r.Project))
		}
	}
	if err := checkNameText("cluster", r.Cluster); err != nil {
		return err
	}
	if !clusterName.MatchString(r.Cluster) {
		return Errorf(EINVALID, "cluster %q: Atlas cluster names are letters, digits and hyphens, starting with a letter or digit", excerpt(r.Cluster))
	}
	if err := validateDatabase(r.Database); err != nil {
		return err
	}
	if r.Collection != "" {
		if err := validateCollection(r.Collection); err != nil {
			return err
		}
	}
	return nil
}

func validateDatabase(db string) error {
	if db == "" {
		return Errorf(EINVALID, "the database name is empty")
	}
	if err := checkNameText("database", db); err != nil {
		return err
	}
	switch {
	case len(db) > 63:
		return Errorf(EINVALID, "database %q: longer than MongoDB's 63 characters", excerpt(db))
	case strings.ContainsAny(db, "/\\. \"$*<>:|?"):
		return Errorf(EINVALID, "database %q: MongoDB database names cannot contain / \\ . space \" $ * < > : | ?", excerpt(db))
	case db == "admin" || db == "local" || db == "config":
		return Errorf(EINVALID, "database %q is a system database; jitbot does not grant access to it", db)
	}
	return nil
}

func validateCollection(c string) error {
	if err := checkNameText("collection", c); err != nil {
		return err
	}
	switch {
	case len(c) > 255:
		return Errorf(EINVALID, "collection %q: longer than 255 characters", excerpt(c))
	case strings.Contains(c, "$"):
		return Errorf(EINVALID, "collection %q: MongoDB collection names cannot contain $", excerpt(c))
	case strings.HasPrefix(c, "system."):
		return Errorf(EINVALID, "collection %q is a system collection; jitbot does not grant access to it", c)
	}
	return nil
}

// clusterWideRoles are Atlas built-in roles that cannot be limited to one
// database, so granting them would give more than was asked for.
var clusterWideRoles = map[string]bool{
	"atlasAdmin": true, "readAnyDatabase": true, "readWriteAnyDatabase": true,
	"dbAdminAnyDatabase": true, "clusterMonitor": true, "backup": true,
	"enableSharding": true, "clusterManager": true, "clusterAdmin": true,
	"root": true, "userAdminAnyDatabase": true, "restore": true,
}

// databaseRoles are the roles jitbot grants: Atlas built-in roles that it
// limits to the one database asked for. Custom roles are refused: their
// privileges are defined in Atlas, outside jitbot's policy, and may reach
// every database (Atlas assigns them on admin); dbOwner includes userAdmin.
var databaseRoles = map[string]bool{"read": true, "readWrite": true, "dbAdmin": true}

// ValidateRole checks a role name: read, readWrite or dbAdmin.
func ValidateRole(role string) error {
	switch {
	case !roleName.MatchString(role):
		return Errorf(EINVALID, "role %q: role names are letters, digits, - and _", excerpt(role))
	case clusterWideRoles[role]:
		return Errorf(EINVALID, "role %q applies to every database; jitbot grants only roles limited to one database", role)
	case !databaseRoles[role]:
		return Errorf(EINVALID, "role %q is not one jitbot grants: ask for read, readWrite or dbAdmin (limited to the one database; custom roles may reach further)", role)
	}
	return nil
}

// collectionRoles are the roles Atlas can limit to a single collection.
var collectionRoles = map[string]bool{"read": true, "readWrite": true}

// checkRoleForResource refuses a collection-scoped request for a role that
// Atlas cannot limit to a collection.
func checkRoleForResource(role string, r Resource) error {
	if r.Collection != "" && !collectionRoles[role] {
		return Errorf(EINVALID, "role %q cannot be limited to collection %q; ask for read or readWrite, or for the whole database", role, excerpt(r.Collection))
	}
	return nil
}

// Week is the furthest ahead Atlas accepts a user's deleteAfterDate, so every
// grant must be shorter.
const Week = 7 * 24 * time.Hour

// ParseDuration parses a duration such as 30m, 2h, 1h30m or 1d. Seconds are
// refused: grants are measured in minutes at least.
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, Errorf(EINVALID, "the duration is empty: use a number and a unit, like 30m, 2h or 1d")
	}
	var total time.Duration
	rest := strings.ToLower(in)
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, Errorf(EINVALID, "duration %q: use a number and a unit, like 30m, 2h or 1d", excerpt(in))
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil || n > 10000 {
			return 0, Errorf(EINVALID, "duration %q: the number is too large", excerpt(in))
		}
		var unit time.Duration
		switch rest[i] {
		case 'd':
			unit = 24 * time.Hour
		case 'h':
			unit = time.Hour
		case 'm':
			unit = time.Minute
		default:
			return 0, Errorf(EINVALID, "duration %q: unknown unit %q; use m, h or d", excerpt(in), rest[i:i+1])
		}
		total += time.Duration(n) * unit
		if total > 10000*24*time.Hour {
			// Each part is bounded, but enough of them would overflow.
			return 0, Errorf(EINVALID, "duration %q: too large", excerpt(in))
		}
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, Errorf(EINVALID, "duration %q: must be longer than zero", excerpt(in))
	}
	return total, nil
}

// FormatDuration prints a duration the way ParseDuration reads it: 1d2h, 90m
// becomes 1h30m.
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0m"
	}
	d = d.Round(time.Minute)
	var b strings.Builder
	if days := d / (24 * time.Hour); days > 0 {
		fmt.Fprintf(&b, "%dd", days)
		d -= days * 24 * time.Hour
	}
	if h := d / time.Hour; h > 0 {
		fmt.Fprintf(&b, "%dh", h)
		d -= h * time.Hour
	}
	if m := d / time.Minute; m > 0 {
		fmt.Fprintf(&b, "%dm", m)
	}
	if b.Len() == 0 {
		return "0m"
	}
	return b.String()
}

// NormalizeEmail validates a person's email, the identity that joins Slack,
// Teams and the policy, and returns it in lower case.
func NormalizeEmail(s string) (string, error) {
	in := strings.TrimSpace(s)
	addr, err := mail.ParseAddress(in)
	if err != nil || addr.Name != "" || !strings.EqualFold(addr.Address, in) || strings.Count(in, "@") != 1 {
		return "", Errorf(EINVALID, "%q is not an email address", excerpt(in))
	}
	return strings.ToLower(in), nil
}

// maxQuoted bounds how much of a refused input an error message quotes: the
// message goes back to a person (a chat card has a size limit) and to logs,
// whatever the size of what was typed or forged.
const maxQuoted = 64

// excerpt returns s, or its first maxQuoted bytes (not splitting a
// character) followed by an ellipsis, for quoting in error messages.
func excerpt(s string) string {
	if len(s) <= maxQuoted {
		return s
	}
	n := maxQuoted
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
