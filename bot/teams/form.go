package teams

import (
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Input ids of the request form.
const (
	inputResource   = "resource"
	inputDatabase   = "database"
	inputCollection = "collection"
	inputRole       = "role"
	inputDuration   = "duration"
)

const (
	// maxChoices bounds the resources offered; a longer list is unusable in a dropdown anyway.
	maxChoices = 100
	// anyDatabase stands for "any database of the cluster" in a resource choice's value.
	anyDatabase = "*"
)

// durationSteps are the durations offered, up to a choice's maximum.
func durationSteps() []time.Duration {
	return []time.Duration{15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour,
		12 * time.Hour, 24 * time.Hour, 2 * 24 * time.Hour, 3 * 24 * time.Hour, 5 * 24 * time.Hour}
}

// offeredDurations are the steps up to longest, plus longest and def when they are not steps.
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

func choiceValue(ch flows.Choice) string {
	if ch.Resource.Database == "" {
		return ch.Resource.Integration + "/" + ch.Resource.Cluster + "/" + anyDatabase
	}
	return ch.Resource.String()
}

func choiceTitle(ch flows.Choice) string {
	where := ch.Resource.Integration + " · " + ch.Resource.Cluster + " · "
	switch {
	case ch.Resource.Database == "":
		return where + "any database (type its name below)"
	case ch.Resource.Collection == "":
		return where + ch.Resource.Database + " (whole database)"
	}
	return where + ch.Resource.Database + "." + ch.Resource.Collection
}

// requestForm is the request card: only what the person may ask for (resources, the roles and
// durations of those choices), an optional database and collection, and a reason.
func requestForm(choices []flows.Choice) adaptiveCard {
	var resources []choice
	roles := map[string]bool{}
	var longest, def time.Duration
	reasonRequired, anyDB, dbLevel := false, false, false
	for _, ch := range choices {
		if len(resources) == maxChoices {
			break
		}
		resources = append(resources, choice{Title: choiceTitle(ch), Value: choiceValue(ch)})
		for _, r := range ch.Roles {
			roles[r] = true
		}
		longest = max(longest, ch.MaxDuration)
		if def == 0 {
			def = ch.DefaultDuration
		}
		reasonRequired = reasonRequired || ch.RequireReason
		anyDB = anyDB || ch.Resource.Database == ""
		dbLevel = dbLevel || (ch.Resource.Database != "" && ch.Resource.Collection == "")
	}

	title := run("Request access")
	title.Weight, title.Size = "Bolder", "Medium"
	intro := richText(run("Ask for temporary access to a MongoDB Atlas database. Your approvers see everything below; " +
		"access starts when they approve and ends by itself."))
	body := []element{
		{Type: "Container", Style: "emphasis", Bleed: true, Items: []element{richText(title), intro}},
		{Type: "Input.ChoiceSet", ID: inputResource, Label: "Resource", Style: "compact", Choices: resources,
			IsRequired: true, ErrorMessage: "Choose what you need access to."},
	}
	if len(resources) == 1 {
		body[1].Value = resources[0].Value
	}
	if anyDB {
		body = append(body, element{Type: "Input.Text", ID: inputDatabase, Label: "Database (for “any database”)",
			Placeholder: "e.g. sales", MaxLength: 64})
	}
	if anyDB || dbLevel {
		body = append(body, element{Type: "Input.Text", ID: inputCollection, Label: "Collection (optional)",
			Placeholder: "e.g. orders: limits access to one collection", MaxLength: 255})
	}

	roleNames := make([]string, 0, len(roles))
	for r := range roles {
		roleNames = append(roleNames, r)
	}
	slices.Sort(roleNames)
	role := element{Type: "Input.ChoiceSet", ID: inputRole, Label: "Role", Style: "compact", IsRequired: true,
		ErrorMessage: "Choose a role."}
	for _, r := range roleNames {
		role.Choices = append(role.Choices, choice{Title: r, Value: r})
	}
	if len(roleNames) == 1 {
		role.Value = roleNames[0]
	}
	body = append(body, role)

	duration := element{Type: "Input.ChoiceSet", ID: inputDuration, Label: "Duration (counted from when access starts)",
		Style: "compact", IsRequired: true, ErrorMessage: "Choose how long."}
	for _, d := range offeredDurations(longest, def) {
		duration.Choices = append(duration.Choices, choice{Title: flows.FormatDuration(d), Value: flows.FormatDuration(d)})
		if d == def {
			duration.Value = flows.FormatDuration(d)
		}
	}
	body = append(body, duration)

	reasonLabel := "Reason: a ticket or incident id helps your approvers"
	if reasonRequired {
		reasonLabel = "Reason (required for some resources): a ticket or incident id helps your approvers"
	}
	body = append(body, element{Type: "Input.Text", ID: inputReason, Label: reasonLabel,
		Placeholder: "e.g. INC-123: debugging the nightly export", IsMultiline: true, MaxLength: maxReasonLength})

	submit := actionButton{Type: "Action.Submit", Title: "Request", Style: "positive", Data: map[string]string{dataKey: formMarker}}
	return newCard("Request access", body, []actionButton{submit})
}

// requestFormInput is a submitted request form, read but not yet judged: flows checks it.
type requestFormInput struct {
	Resource flows.Resource
	Role     string
	Duration time.Duration
	Reason   string
}

// parseRequestForm reads the inputs of a submitted request form. Errors are *flows.Error
// saying which input is wrong.
func parseRequestForm(value map[string]any) (requestFormInput, error) {
	str := func(k string) string {
		s, _ := value[k].(string)
		return strings.TrimSpace(s)
	}
	res := str(inputResource)
	if res == "" {
		return requestFormInput{}, flows.Errorf(flows.EINVALID, "choose a resource in the form")
	}
	if base, ok := strings.CutSuffix(res, "/"+anyDatabase); ok {
		db := str(inputDatabase)
		if db == "" {
			return requestFormInput{}, flows.Errorf(flows.EINVALID, "%s offers any database: type the database's name in the form", base)
		}
		res = base + "/" + db
	}
	r, err := flows.ParseResource(res)
	if err != nil {
		return requestFormInput{}, err
	}
	if coll := str(inputCollection); coll != "" {
		if r.Collection != "" && r.Collection != coll {
			return requestFormInput{}, flows.Errorf(flows.EINVALID, "%s already names a collection; leave the collection empty", r)
		}
		if r.Collection == "" {
			if r, err = flows.ParseResource(r.String() + "/" + coll); err != nil {
				return requestFormInput{}, err
			}
		}
	}
	role := str(inputRole)
	if err := flows.ValidateRole(role); err != nil {
		return requestFormInput{}, err
	}
	var d time.Duration
	if s := str(inputDuration); s != "" {
		if d, err = flows.ParseDuration(s); err != nil {
			return requestFormInput{}, err
		}
	}
	reason := str(inputReason)
	if len(reason) > maxReasonLength {
		return requestFormInput{}, flows.Errorf(flows.EINVALID, "the reason is %d characters long; keep it under %d", len(reason), maxReasonLength)
	}
	return requestFormInput{Resource: r, Role: role, Duration: d, Reason: reason}, nil
}
