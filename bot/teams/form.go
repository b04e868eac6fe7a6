package teams

import (
	"strings"
	"time"

	"github.com/jitbot/jitbot/bot"
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

// maxChoices bounds the resources offered; a longer list is unusable in a dropdown anyway.
const maxChoices = 100

// choiceTitle names a choice with its integration and cluster: Adaptive Cards have no option
// groups.
func choiceTitle(ch flows.Choice) string {
	return bot.ChoiceGroup(ch) + " · " + bot.ChoiceLabel(ch)
}

// requestForm is the request card: only what the person may ask for (resources, the roles and
// durations of those choices), an optional database and collection, and a reason.
func requestForm(choices []flows.Choice) adaptiveCard {
	choices = choices[:min(len(choices), maxChoices)]
	form := bot.NewForm(choices)
	var resources []choice
	for _, ch := range choices {
		resources = append(resources, choice{Title: choiceTitle(ch), Value: bot.ChoiceValue(ch)})
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
	if form.AskDatabase {
		body = append(body, element{Type: "Input.Text", ID: inputDatabase, Label: "Database (for “any database”)",
			Placeholder: "e.g. sales", MaxLength: 64})
	}
	if form.AskCollection {
		body = append(body, element{Type: "Input.Text", ID: inputCollection, Label: "Collection (optional)",
			Placeholder: "e.g. orders: limits access to one collection", MaxLength: 255})
	}

	role := element{Type: "Input.ChoiceSet", ID: inputRole, Label: "Role", Style: "compact", IsRequired: true,
		ErrorMessage: "Choose a role."}
	for _, r := range form.Roles {
		role.Choices = append(role.Choices, choice{Title: r, Value: r})
	}
	if len(form.Roles) == 1 {
		role.Value = form.Roles[0]
	}
	body = append(body, role)

	duration := element{Type: "Input.ChoiceSet", ID: inputDuration, Label: "Duration (counted from when access starts)",
		Style: "compact", IsRequired: true, ErrorMessage: "Choose how long."}
	for _, d := range form.Durations {
		duration.Choices = append(duration.Choices, choice{Title: flows.FormatDuration(d), Value: flows.FormatDuration(d)})
		if d == form.Default {
			duration.Value = flows.FormatDuration(d)
		}
	}
	body = append(body, duration)

	reasonLabel := "Reason: a ticket or incident id helps your approvers"
	if form.ReasonRequired {
		reasonLabel = "Reason (required for some resources): a ticket or incident id helps your approvers"
	}
	body = append(body, element{Type: "Input.Text", ID: inputReason, Label: reasonLabel,
		Placeholder: "e.g. INC-123: debugging the nightly export", IsMultiline: true, MaxLength: bot.MaxReasonLength})

	submit := actionButton{Type: "Action.Submit", Title: "Request", Style: "positive", Data: map[string]string{dataKey: formMarker}}
	return newCard("Request access", body, []actionButton{submit})
}

// parseRequestForm reads the inputs of a submitted request form as the request command they
// stand for, read but not yet judged: flows checks it. Errors are *flows.Error saying which
// input is wrong.
func parseRequestForm(value map[string]any) (bot.Command, error) {
	str := func(k string) string {
		s, _ := value[k].(string)
		return strings.TrimSpace(s)
	}
	res := str(inputResource)
	if res == "" {
		return bot.Command{}, flows.Errorf(flows.EINVALID, "choose a resource in the form")
	}
	if base, ok := strings.CutSuffix(res, "/"+bot.AnyDatabase); ok {
		db := str(inputDatabase)
		if db == "" {
			return bot.Command{}, flows.Errorf(flows.EINVALID, "%s offers any database: type the database's name in the form", base)
		}
		res = base + "/" + db
	}
	r, err := flows.ParseResource(res)
	if err != nil {
		return bot.Command{}, err
	}
	if coll := str(inputCollection); coll != "" {
		if r.Collection != "" && r.Collection != coll {
			return bot.Command{}, flows.Errorf(flows.EINVALID, "%s already names a collection; leave the collection empty", r)
		}
		if r.Collection == "" {
			if r, err = flows.ParseResource(r.String() + "/" + coll); err != nil {
				return bot.Command{}, err
			}
		}
	}
	role := str(inputRole)
	if err := flows.ValidateRole(role); err != nil {
		return bot.Command{}, err
	}
	var d time.Duration
	if s := str(inputDuration); s != "" {
		if d, err = flows.ParseDuration(s); err != nil {
			return bot.Command{}, err
		}
	}
	reason := str(inputReason)
	if len(reason) > bot.MaxReasonLength {
		return bot.Command{}, flows.Errorf(flows.EINVALID, "the reason is %d characters long; keep it under %d", len(reason), bot.MaxReasonLength)
	}
	return bot.Command{Verb: bot.VerbRequest, Resource: r, Roles: []string{role}, Duration: d, Reason: reason}, nil
}
