package teams

import (
	"strings"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Input ids of the request form. The form has two steps, Adaptive Cards
// having no way to change one input when another changes: the first card
// offers the kinds and their resources, the second the roles and durations
// of the resource chosen (and what it needs typed).
const (
	inputResource   = bot.FieldResource
	inputDatabase   = bot.FieldDatabase
	inputCollection = bot.FieldCollection
	inputAddress    = bot.FieldAddress
	inputRole       = bot.FieldRole
	inputDuration   = bot.FieldDuration

	// nextMarker is the first card's button: it sends the resource chosen.
	nextMarker = "request-next"
	// dataKind and dataChoice travel in the buttons' data: the kind whose
	// resource list was submitted (first card), the resource the second
	// card was made for. Both are checked again on the server.
	dataKind   = "kind"
	dataChoice = "choice"
)

// maxChoices bounds the resources offered; a longer list is unusable in a dropdown anyway.
const maxChoices = 100

// choiceTitle names a choice with its group: Adaptive Cards have no option groups.
func choiceTitle(ch flows.Choice) string {
	return bot.ChoiceGroup(ch) + " · " + bot.ChoiceLabel(ch)
}

// resourceInput is the id of a kind's resource list in the first card.
func resourceInput(k flows.Kind, several bool) string {
	if several {
		return inputResource + "_" + string(k)
	}
	return inputResource
}

func formHeader(text string) element {
	title := run("Request access")
	title.Weight, title.Size = "Bolder", "Medium"
	return element{Type: "Container", Style: "emphasis", Bleed: true, Items: []element{richText(title), richText(run(text))}}
}

// requestForm is the first card of the request form: what the person may
// ask for, kind by kind (a button per kind when there are several, showing
// its resources), and Next. A person with one resource in all skips it
// (the second card comes at once).
func requestForm(choices []flows.Choice) adaptiveCard {
	form := bot.NewForm(choices, bot.Selection{})
	if len(form.Kinds) == 1 && form.Chosen != nil {
		return requestDetails(form, nil, nil)
	}
	intro := "Ask for temporary access to MongoDB Atlas. Choose what you need; its roles and durations come next. " +
		"Your approvers see everything; access starts when they approve and ends by itself."
	list := func(k flows.Kind, several bool) []element {
		var resources []choice
		for _, ch := range choices {
			if ch.Kind == k || (ch.Kind == "" && k == flows.KindDatabaseUser) {
				if len(resources) < maxChoices {
					resources = append(resources, choice{Title: choiceTitle(ch), Value: bot.ChoiceValue(ch)})
				}
			}
		}
		in := element{Type: "Input.ChoiceSet", ID: resourceInput(k, several), Label: bot.KindTitle(k) + ": resource", Style: "compact",
			Choices: resources, IsRequired: true, ErrorMessage: "Choose what you need access to."}
		if len(resources) == 1 {
			in.Value = resources[0].Value
		}
		return []element{in}
	}
	next := func(k flows.Kind) actionButton {
		return actionButton{Type: "Action.Submit", Title: "Next", Style: "positive", Data: map[string]string{dataKey: nextMarker, dataKind: string(k)}}
	}
	if len(form.Kinds) == 1 {
		body := append([]element{formHeader(intro)}, list(form.Kind, false)...)
		return newCard("Request access", body, []actionButton{next(form.Kind)})
	}
	// A button per kind: the kind selector, each showing its own list.
	var actions []actionButton
	for _, k := range form.Kinds[:min(len(form.Kinds), maxTopActions)] {
		inner := adaptiveCard{Type: "AdaptiveCard", Body: list(k.Kind, true), Actions: []actionButton{next(k.Kind)}}
		actions = append(actions, actionButton{Type: "Action.ShowCard", Title: k.Name, Card: &inner})
	}
	return newCard("Request access", []element{formHeader(intro + " First, which kind of access?")}, actions)
}

// requestDetails is the second card: the resource chosen, what it needs
// typed (a database, a collection, an address), its own roles and
// durations, and a reason. values refill the inputs and errs are shown
// under them, when a submission is sent back.
func requestDetails(form bot.Form, values, errs map[string]string) adaptiveCard {
	ch := *form.Chosen
	body := []element{formHeader(bot.KindTitle(form.Kind) + ": " + choiceTitle(ch) + ". Your approvers see everything below; access starts when they approve and ends by itself.")}
	add := func(e element) {
		e.Value = values[e.ID]
		if e.Value == "" && len(e.Choices) == 1 {
			e.Value = e.Choices[0].Value
		}
		body = append(body, e)
		if msg := errs[e.ID]; msg != "" {
			r := run(bot.Truncate(msg, 300))
			r.Color = "Attention"
			body = append(body, richText(r))
		}
	}
	if form.AskDatabase {
		add(element{Type: "Input.Text", ID: inputDatabase, Label: "Database", Placeholder: "e.g. sales", MaxLength: 64, IsRequired: true,
			ErrorMessage: "Type the name of the database you need."})
	}
	if form.AskCollection {
		add(element{Type: "Input.Text", ID: inputCollection, Label: "Collection (optional)",
			Placeholder: "e.g. orders: limits access to one collection", MaxLength: 255})
	}
	if form.AskAddress {
		add(element{Type: "Input.Text", ID: inputAddress, Label: "Address (the public address or range you connect from)",
			Placeholder: "e.g. 203.0.113.7 or 203.0.113.0/28", MaxLength: 49, IsRequired: true, ErrorMessage: "Type an address."})
	}
	role := element{Type: "Input.ChoiceSet", ID: inputRole, Label: "Role", Style: "compact", IsRequired: true, ErrorMessage: "Choose a role."}
	for _, r := range form.Roles {
		role.Choices = append(role.Choices, choice{Title: r, Value: r})
	}
	add(role)
	duration := element{Type: "Input.ChoiceSet", ID: inputDuration, Label: "Duration (counted from when access starts)",
		Style: "compact", IsRequired: true, ErrorMessage: "Choose how long."}
	for _, d := range form.Durations {
		duration.Choices = append(duration.Choices, choice{Title: flows.FormatDuration(d), Value: flows.FormatDuration(d)})
	}
	if values[inputDuration] == "" {
		values = withValue(values, inputDuration, flows.FormatDuration(form.Default))
	}
	add(duration)
	reason := element{Type: "Input.Text", ID: inputReason, Label: "Reason: a ticket or incident id helps your approvers",
		Placeholder: "e.g. INC-123: debugging the nightly export", IsMultiline: true, MaxLength: bot.MaxReasonLength}
	if form.ReasonRequired {
		reason.Label, reason.IsRequired, reason.ErrorMessage = "Reason (required): a ticket or incident id helps your approvers", true, "Say why you need access."
	}
	add(reason)
	submit := actionButton{Type: "Action.Submit", Title: "Request", Style: "positive",
		Data: map[string]string{dataKey: formMarker, dataChoice: bot.ChoiceValue(ch)}}
	return newCard("Request access", body, []actionButton{submit})
}

func withValue(m map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for a, b := range m {
		if a != k {
			out[a] = b
		}
	}
	return out
}

// formValues reads a submitted card's values as strings.
func formValues(value map[string]any) map[string]string {
	out := map[string]string{}
	for k, v := range value {
		if s, ok := v.(string); ok {
			out[k] = strings.TrimSpace(s)
		}
	}
	return out
}

// selectionOf reads the first card's submission: the kind of the button
// and the resource chosen in its list.
func selectionOf(values map[string]string) bot.Selection {
	k := flows.Kind(values[dataKind])
	choice := values[resourceInput(k, true)]
	if choice == "" {
		choice = values[inputResource]
	}
	return bot.Selection{Kind: k, Choice: choice}
}

// parseRequestForm reads the second card's submission as the request command it stands for
// (bot.ParseForm: by the chosen kind's own rules, not yet judged: flows checks it); errors map
// input ids to what is wrong.
func parseRequestForm(values map[string]string) (bot.Command, map[string]string) {
	return bot.ParseForm(bot.FormAnswer{
		Choice: values[dataChoice], Database: values[inputDatabase], Collection: values[inputCollection], Address: values[inputAddress],
		Role: values[inputRole], Duration: values[inputDuration], Reason: values[inputReason],
	})
}
