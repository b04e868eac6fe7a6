package bot

import (
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// AnyDatabase stands for "any database of the cluster" in a choice's value
// (ChoiceValue): the form then asks for the database's name.
const AnyDatabase = "*"

// MaxReasonLength is the longest reason flows accepts. Forms cap their
// inputs at it so that people learn before they submit.
const MaxReasonLength = 500

// Selection is what a person has chosen so far in a request form: a kind,
// and a resource of that kind (a ChoiceValue), either possibly empty.
type Selection struct {
	Kind   flows.Kind `json:"kind,omitempty"`
	Choice string     `json:"choice,omitempty"`
}

// FormKind is a kind a form offers, as people read it.
type FormKind struct {
	Kind flows.Kind
	Name string // "Database user", "Atlas UI access", "Network access"
}

// Form is what a request form offers a person, given what they have chosen
// so far: the kinds they may ask for, the resources of the kind chosen,
// and, once a resource is chosen, its own roles and durations (never the
// union of every resource's: 8h is not offered on a 4h resource). The
// adapters lay it out; the server checks every answer again.
type Form struct {
	Kinds   []FormKind     // in the order flows lists them
	Kind    flows.Kind     // the kind chosen, or the first
	Choices []flows.Choice // the resources of Kind
	// Chosen is the resource chosen (the only one, when there is one); nil
	// until one is: the roles and durations wait for it.
	Chosen         *flows.Choice
	Roles          []string        // the chosen resource's, in its order
	Durations      []time.Duration // steps up to its maximum, with it and Default
	Default        time.Duration   // its default duration
	ReasonRequired bool            // its flow requires a reason
	AskDatabase    bool            // it is a cluster's AnyDatabase: ask which database
	AskCollection  bool            // it is a whole database: offer to narrow it to a collection
	AskAddress     bool            // the person types the address (network access)
}

// KindTitle names a kind for people, capitalised: "Database user".
func KindTitle(k flows.Kind) string { return capitalize(flows.KindName(k)) }

// NewForm lays out the choices a person has, as far as sel goes. A
// selection that is not among the choices (gone since, or forged) is
// ignored.
func NewForm(choices []flows.Choice, sel Selection) Form {
	var f Form
	for _, ch := range choices {
		k := kindOf(ch)
		if !slices.ContainsFunc(f.Kinds, func(fk FormKind) bool { return fk.Kind == k }) {
			f.Kinds = append(f.Kinds, FormKind{Kind: k, Name: KindTitle(k)})
		}
	}
	if len(f.Kinds) == 0 {
		return f
	}
	f.Kind = f.Kinds[0].Kind
	if k, _, ok := SplitChoiceValue(sel.Choice); ok && sel.Kind == "" {
		sel.Kind = k
	}
	if slices.ContainsFunc(f.Kinds, func(fk FormKind) bool { return fk.Kind == sel.Kind }) {
		f.Kind = sel.Kind
	}
	for _, ch := range choices {
		if kindOf(ch) == f.Kind {
			f.Choices = append(f.Choices, ch)
		}
	}
	i := slices.IndexFunc(f.Choices, func(ch flows.Choice) bool { return ChoiceValue(ch) == sel.Choice })
	if i < 0 && len(f.Choices) == 1 {
		i = 0
	}
	if i < 0 {
		return f
	}
	ch := f.Choices[i]
	f.Chosen = &ch
	f.Roles = slices.Clone(ch.Roles)
	f.Default = ch.DefaultDuration
	f.Durations = offeredDurations(ch.MaxDuration, ch.DefaultDuration)
	f.ReasonRequired = ch.RequireReason
	f.AskAddress = ch.AskAddress
	if ch.Resource.Cluster != "" {
		f.AskDatabase = ch.Resource.Database == ""
		f.AskCollection = ch.Resource.Collection == "" && targetParts(f.Kind) >= 3
	}
	return f
}

func kindOf(ch flows.Choice) flows.Kind {
	if ch.Kind == "" {
		return flows.KindDatabaseUser
	}
	return ch.Kind
}

// targetParts is how deep a kind's targets go (3 for a database user).
func targetParts(k flows.Kind) int {
	if spec, ok := flows.BuiltinKind(k); ok {
		return spec.TargetParts
	}
	return 0
}

// durationSteps are the durations offered, up to a choice's maximum.
func durationSteps() []time.Duration {
	return []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
		12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 3 * 24 * time.Hour, 5 * 24 * time.Hour}
}

// offeredDurations are the steps up to longest, plus longest and def when
// they are not steps. A default above longest is not offered: flows would
// refuse it.
func offeredDurations(longest, def time.Duration) []time.Duration {
	var out []time.Duration
	for _, d := range durationSteps() {
		if d <= longest {
			out = append(out, d)
		}
	}
	for _, d := range []time.Duration{longest, def} {
		if d > 0 && d <= longest && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// ChoiceValue is the value a form gives a choice: its kind, a colon, and
// its target (integration/[project/]cluster/AnyDatabase for any database of
// a cluster; the integration alone for network access, whose address is
// typed).
func ChoiceValue(ch flows.Choice) string {
	target := ch.Resource.String()
	if ch.Resource.Cluster != "" && ch.Resource.Database == "" {
		target += "/" + AnyDatabase
	}
	return string(kindOf(ch)) + ":" + target
}

// SplitChoiceValue reads a ChoiceValue back.
func SplitChoiceValue(v string) (flows.Kind, string, bool) {
	k, target, ok := strings.Cut(v, ":")
	if !ok || k == "" || target == "" {
		return "", "", false
	}
	return flows.Kind(k), target, true
}

// ChoiceGroup names where a choice is, for the adapters' groups and
// prefixes: integration · cluster, with the project between them in an
// organization-wide integration; the integration alone for a target above
// clusters.
func ChoiceGroup(ch flows.Choice) string {
	parts := []string{ch.Resource.Integration}
	if ch.Resource.Cluster != "" {
		if ch.Resource.Project != "" {
			parts = append(parts, ch.Resource.Project)
		}
		parts = append(parts, ch.Resource.Cluster)
	}
	return strings.Join(parts, " · ")
}

// ChoiceLabel names a choice within its group (ChoiceGroup).
func ChoiceLabel(ch flows.Choice) string {
	r := ch.Resource
	switch {
	case r.Cluster != "" && r.Database == "":
		return "any database (type its name below)"
	case r.Cluster != "" && r.Collection == "":
		return r.Database + " (whole database)"
	case r.Cluster != "":
		return r.Database + "." + r.Collection
	case r.Project != "":
		return "project " + r.Project
	case ch.AskAddress && targetParts(kindOf(ch)) == 0:
		return "an address you type below"
	case len(ch.Roles) > 0 && !slices.ContainsFunc(ch.Roles, func(role string) bool { return !flows.IsOrgRole(role) }):
		return "the organization"
	}
	return "the project"
}

// Inputs of a request form, as FormAnswer's errors name them.
const (
	FieldKind       = "kind"
	FieldResource   = "resource"
	FieldDatabase   = "database"
	FieldCollection = "collection"
	FieldAddress    = "address"
	FieldRole       = "role"
	FieldDuration   = "duration"
	FieldReason     = "reason"
)

// FormAnswer is what a submitted request form says, input by input, as
// typed or chosen (trimmed by the adapter or not).
type FormAnswer struct {
	Choice     string // a ChoiceValue
	Database   string
	Collection string
	Address    string
	Role       string
	Duration   string
	Reason     string
}

// ParseForm reads a submitted request form as the request command it
// stands for, by the chosen kind's own rules for targets and roles. It only
// reads (no policy, no Atlas: flows judges the command, whatever the form
// offered); errors map inputs (Field...) to what is wrong with them.
func ParseForm(a FormAnswer) (Command, map[string]string) {
	errs := map[string]string{}
	trim := strings.TrimSpace
	cmd := Command{Verb: VerbRequest}
	kind, target, ok := SplitChoiceValue(trim(a.Choice))
	spec, known := flows.BuiltinKind(kind)
	db, coll, addr := trim(a.Database), trim(a.Collection), trim(a.Address)
	switch {
	case trim(a.Choice) == "":
		errs[FieldResource] = "Choose what you need access to."
	case !ok || !known:
		errs[FieldResource] = "jitbot does not offer that here: open the form again and choose from its list."
	default:
		cmd.Kind = kind
		if kind == flows.KindDatabaseUser {
			cmd.Kind = "" // as a typed request names it: the default kind
		}
		cmd.Resource = parseFormTarget(spec, target, db, coll, addr, errs)
	}
	role := trim(a.Role)
	switch {
	case role == "":
		errs[FieldRole] = "Choose a role."
	case known:
		if err := checkFormRole(spec, role, cmd.Resource); err != nil {
			errs[FieldRole] = flows.ErrorMessage(err)
		}
	}
	cmd.Roles = []string{role}
	if d, err := flows.ParseDuration(trim(a.Duration)); err != nil {
		errs[FieldDuration] = flows.ErrorMessage(err)
	} else {
		cmd.Duration = d
	}
	cmd.Reason = trim(a.Reason)
	if len(cmd.Reason) > MaxReasonLength {
		errs[FieldReason] = "Keep the reason under 500 characters."
	}
	if len(errs) == 0 {
		return cmd, nil
	}
	return cmd, errs
}

// parseFormTarget completes a chosen target with what was typed beside it
// (a database for any database, a collection, an address) and reads it with
// the kind's own rules.
func parseFormTarget(spec flows.KindSpec, target, db, coll, addr string, errs map[string]string) flows.Resource {
	if spec.TargetParts < 2 && (db != "" || coll != "") {
		field := FieldDatabase
		if db == "" {
			field = FieldCollection
		}
		errs[field] = "Leave this empty: " + spec.Name + " is not to a database."
		return flows.Resource{}
	}
	if spec.TargetParts == 0 {
		// The target is the address (network access): integration/address.
		if addr == "" {
			errs[FieldAddress] = "Type the address you connect from, such as 203.0.113.7, or a range such as 203.0.113.0/28."
			return flows.Resource{}
		}
		res, err := spec.ParseTarget(target + "/" + addr)
		if err != nil {
			errs[FieldAddress] = flows.ErrorMessage(err)
		}
		return res
	}
	if spec.TargetParts >= 2 {
		switch {
		case strings.HasSuffix(target, "/"+AnyDatabase):
			if db == "" {
				errs[FieldDatabase] = "Type the name of the database you need."
				return flows.Resource{}
			}
			target = strings.TrimSuffix(target, AnyDatabase) + db
		case db != "":
			errs[FieldDatabase] = "Leave this empty: the resource you chose names its database."
			return flows.Resource{}
		}
	}
	res, err := spec.ParseTarget(target)
	if err != nil {
		field := FieldResource
		if db != "" {
			field = FieldDatabase
		}
		errs[field] = flows.ErrorMessage(err)
		return res
	}
	if coll != "" {
		if res.Collection != "" || spec.TargetParts < 3 {
			errs[FieldCollection] = "Leave this empty: the resource you chose is already a collection."
			return res
		}
		if res, err = spec.ParseTarget(target + "/" + coll); err != nil {
			errs[FieldCollection] = flows.ErrorMessage(err)
			return res
		}
	}
	if addr == "" && spec.FromAddress {
		errs[FieldAddress] = "Type the address it will be used from, such as 203.0.113.7, or a range such as 203.0.113.0/28: " + spec.Name + "s work only from there."
		return res
	}
	if addr != "" {
		// Used from an address (a programmatic credential): the kind says
		// whether it takes one.
		p, err := flows.ParseAddress(addr)
		if err != nil {
			errs[FieldAddress] = flows.ErrorMessage(err)
			return res
		}
		res.Address = p.String()
		if err := spec.ValidateTarget(res); err != nil {
			errs[FieldAddress] = flows.ErrorMessage(err)
		}
	}
	return res
}

// checkFormRole checks one role by the kind's rules, on the target when it
// was read.
func checkFormRole(spec flows.KindSpec, role string, t flows.Resource) error {
	if spec.ValidateRole != nil {
		if err := spec.ValidateRole(role); err != nil {
			return err
		}
	} else if !slices.Contains(spec.Roles, role) {
		return flows.Errorf(flows.EINVALID, "role %q is not one a %s gets: choose %s", role, spec.Name, strings.Join(spec.Roles, ", "))
	}
	if spec.CheckRoles != nil && t.Integration != "" {
		return spec.CheckRoles([]string{role}, t)
	}
	return nil
}
