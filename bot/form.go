package bot

import (
	"slices"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// AnyDatabase stands for "any database of the cluster" in a choice's value
// (ChoiceValue): the form then asks for the database's name.
const AnyDatabase = "*"

// MaxReasonLength is the longest reason flows accepts. Forms cap their
// inputs at it so that people learn before they submit.
const MaxReasonLength = 500

// Form is what a request form offers for a list of choices: the union of
// their roles and durations, and which inputs it needs. The adapters lay it
// out; the server checks every answer again.
type Form struct {
	Roles          []string        // sorted, each once
	Durations      []time.Duration // steps up to the longest choice's maximum, with it and Default
	Default        time.Duration   // the first choice's default duration
	ReasonRequired bool            // some choice's flow requires a reason
	AskDatabase    bool            // some choice is a cluster's AnyDatabase: ask which database
	AskCollection  bool            // some choice is a whole database: offer to narrow it to a collection
}

// NewForm sums up the choices a form offers.
func NewForm(choices []flows.Choice) Form {
	var f Form
	var longest time.Duration
	for _, ch := range choices {
		f.Roles = append(f.Roles, ch.Roles...)
		longest = max(longest, ch.MaxDuration)
		if f.Default == 0 {
			f.Default = ch.DefaultDuration
		}
		f.ReasonRequired = f.ReasonRequired || ch.RequireReason
		f.AskDatabase = f.AskDatabase || ch.Resource.Database == ""
		f.AskCollection = f.AskCollection || ch.Resource.Database == "" || ch.Resource.Collection == ""
	}
	slices.Sort(f.Roles)
	f.Roles = slices.Compact(f.Roles)
	f.Durations = offeredDurations(longest, f.Default)
	return f
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

// ChoiceValue is the value a form gives a choice: its resource, or
// integration/[project/]cluster/AnyDatabase for any database of a cluster.
func ChoiceValue(ch flows.Choice) string {
	if ch.Resource.Database == "" {
		return ch.Resource.String() + "/" + AnyDatabase
	}
	return ch.Resource.String()
}

// ChoiceGroup names the cluster of a choice, for the adapters' groups and
// prefixes: integration · cluster, with the project between them in an
// organization-wide integration.
func ChoiceGroup(ch flows.Choice) string {
	if ch.Resource.Project != "" {
		return ch.Resource.Integration + " · " + ch.Resource.Project + " · " + ch.Resource.Cluster
	}
	return ch.Resource.Integration + " · " + ch.Resource.Cluster
}

// ChoiceLabel names a choice within its integration and cluster, which the
// adapters show as a group or a prefix.
func ChoiceLabel(ch flows.Choice) string {
	switch {
	case ch.Resource.Database == "":
		return "any database (type its name below)"
	case ch.Resource.Collection == "":
		return ch.Resource.Database + " (whole database)"
	}
	return ch.Resource.Database + "." + ch.Resource.Collection
}
