package slack

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	slackgo "github.com/slack-go/slack"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Callback ids of jitbot's modals.
const (
	requestCallback = "jit_request"
	denyCallback    = "jit_deny"
)

// Block and action ids of the request form; each input's action id is its
// block id.
const (
	fieldResource   = "resource"
	fieldDatabase   = "database"
	fieldCollection = "collection"
	fieldRole       = "role"
	fieldDuration   = "duration"
	fieldReason     = "reason"
)

// Slack's modal and option limits.
const (
	maxOptions       = 100
	maxOptionValue   = 150
	maxOptionText    = 75
	reasonFlagPrefix = "!" // marks an option whose flow requires a reason
	maxErrorText     = 300 // keeps an error next to an input readable
)

func modal(title string, blocks ...slackgo.Block) slackgo.ModalViewRequest {
	return slackgo.ModalViewRequest{
		Type:   slackgo.VTModal,
		Title:  plain(title, 24),
		Close:  plain("Close", 24),
		Blocks: slackgo.Blocks{BlockSet: blocks},
	}
}

// loadingModal opens at once, inside the trigger's 3 seconds; the form
// replaces it when the choices (which may need Atlas) are known.
func loadingModal() slackgo.ModalViewRequest {
	v := modal("Request access", slackgo.NewSectionBlock(mrkdwn(":hourglass_flowing_sand: Finding what you can ask for…", maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID("loading")))
	v.CallbackID = requestCallback
	return v
}

// messageModal replaces the form when there is nothing to ask for.
func messageModal(title, text string) slackgo.ModalViewRequest {
	v := modal(title, slackgo.NewSectionBlock(mrkdwn(escape(text), maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID("message")))
	v.CallbackID = requestCallback
	return v
}

// choiceValue encodes a choice as an option value: bot.ChoiceValue,
// prefixed by ! when its flow requires a reason. The server checks
// everything again on submit; the flag only lets the form ask for the
// reason before it closes.
func choiceValue(ch flows.Choice) string {
	if ch.RequireReason {
		return reasonFlagPrefix + bot.ChoiceValue(ch)
	}
	return bot.ChoiceValue(ch)
}

// requestModal is the request form, offering only what the person may ask
// for: resources grouped by integration and cluster, the roles and the
// durations (steps up to the longest allowed) of those choices, and a
// reason, required when any choice's flow requires one.
func requestModal(choices []flows.Choice) slackgo.ModalViewRequest {
	var groups []*slackgo.OptionGroupBlockObject
	var groupKeys []string
	var offered []flows.Choice
	for _, ch := range choices {
		value := choiceValue(ch)
		if len(offered) == maxOptions || len(value) > maxOptionValue {
			continue
		}
		offered = append(offered, ch)
		key := bot.ChoiceGroup(ch)
		i := slices.Index(groupKeys, key)
		if i < 0 {
			groupKeys = append(groupKeys, key)
			groups = append(groups, slackgo.NewOptionGroupBlockElement(plain(key, maxOptionText)))
			i = len(groups) - 1
		}
		groups[i].Options = append(groups[i].Options, slackgo.NewOptionBlockObject(value, plain(bot.ChoiceLabel(ch), maxOptionText), nil))
	}

	if len(offered) == 0 {
		return messageModal("Request access", "What you may ask for cannot be shown in a form. Ask with the command instead: request <integration/cluster/database[/collection]> <role> <duration> [reason].")
	}
	resource := slackgo.NewOptionsGroupSelectBlockElement(slackgo.OptTypeStatic, plain("Choose a database or collection", maxOptionText), fieldResource, groups...)
	blocks := []slackgo.Block{
		slackgo.NewSectionBlock(mrkdwn("Ask for temporary access to a MongoDB Atlas database. Your approvers see everything below; access starts when they approve and ends by itself.", maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID("intro")),
		slackgo.NewInputBlock(fieldResource, plain("Resource", 2000), nil, resource),
	}
	form := bot.NewForm(offered)
	if form.AskDatabase {
		input := slackgo.NewPlainTextInputBlockElement(plain("e.g. sales", 150), fieldDatabase)
		input.MaxLength = 63 // MongoDB's limit for database names
		in := slackgo.NewInputBlock(fieldDatabase, plain("Database", 2000), plain("Only for a cluster offered as “any database”.", 2000), input)
		in.Optional = true
		blocks = append(blocks, in)
	}
	if form.AskCollection {
		input := slackgo.NewPlainTextInputBlockElement(plain("e.g. orders", 150), fieldCollection)
		input.MaxLength = 255 // MongoDB's limit for collection names
		in := slackgo.NewInputBlock(fieldCollection, plain("Collection", 2000), plain("Optional: limit access to one collection of the database.", 2000), input)
		in.Optional = true
		blocks = append(blocks, in)
	}

	var roleOptions []*slackgo.OptionBlockObject
	for _, r := range form.Roles {
		roleOptions = append(roleOptions, slackgo.NewOptionBlockObject(r, plain(r, maxOptionText), nil))
	}
	role := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeStatic, plain("Choose a role", maxOptionText), fieldRole, roleOptions...)
	if len(roleOptions) == 1 {
		role.InitialOption = roleOptions[0]
	}
	blocks = append(blocks, slackgo.NewInputBlock(fieldRole, plain("Role", 2000), plain("Read-only roles are approved faster.", 2000), role))

	var durOptions []*slackgo.OptionBlockObject
	var initial *slackgo.OptionBlockObject
	for _, d := range form.Durations {
		o := slackgo.NewOptionBlockObject(flows.FormatDuration(d), plain(flows.FormatDuration(d), maxOptionText), nil)
		durOptions = append(durOptions, o)
		if d == form.Default {
			initial = o
		}
	}
	duration := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeStatic, plain("How long", maxOptionText), fieldDuration, durOptions...)
	duration.InitialOption = initial
	blocks = append(blocks, slackgo.NewInputBlock(fieldDuration, plain("Duration", 2000), plain("Counted from when access starts, not from now.", 2000), duration))

	reasonInput := slackgo.NewPlainTextInputBlockElement(plain("e.g. INC-123: debugging the nightly export", 150), fieldReason)
	reasonInput.Multiline = true
	reasonInput.MaxLength = bot.MaxReasonLength
	hint := "A ticket or incident id helps your approvers."
	if form.ReasonRequired {
		hint = "Required for some resources. " + hint
	}
	reason := slackgo.NewInputBlock(fieldReason, plain("Reason", 2000), plain(hint, 2000), reasonInput)
	reason.Optional = true // checked on submit, per resource
	blocks = append(blocks, reason)

	v := modal("Request access", blocks...)
	v.Submit = plain("Request", 24)
	v.CallbackID = requestCallback
	return v
}

// parseRequestForm reads a submitted request form as the request command it
// stands for. It only parses (no policy, no Atlas): errors map block ids to
// what is wrong, for Slack to show next to the inputs.
func parseRequestForm(state *slackgo.ViewState) (bot.Command, map[string]string) {
	errs := map[string]string{}
	value := func(block string) string {
		if state == nil {
			return ""
		}
		a := state.Values[block][block]
		if a.SelectedOption.Value != "" {
			return a.SelectedOption.Value
		}
		return strings.TrimSpace(a.Value)
	}
	f := bot.Command{Verb: bot.VerbRequest}
	choice := value(fieldResource)
	needReason := strings.HasPrefix(choice, reasonFlagPrefix)
	choice = strings.TrimPrefix(choice, reasonFlagPrefix)
	db, coll := value(fieldDatabase), value(fieldCollection)
	switch {
	case choice == "":
		errs[fieldResource] = "Choose what you need access to."
	case strings.HasSuffix(choice, "/"+bot.AnyDatabase):
		if db == "" {
			errs[fieldDatabase] = "Type the name of the database you need."
			break
		}
		choice = strings.TrimSuffix(choice, bot.AnyDatabase) + db
	case db != "":
		errs[fieldDatabase] = "Leave this empty: the resource you chose names its database."
	}
	if _, ok := errs[fieldDatabase]; !ok && choice != "" && coll != "" {
		if strings.Count(choice, "/") >= 3 {
			errs[fieldCollection] = "Leave this empty: the resource you chose is already a collection."
		} else {
			choice += "/" + coll
		}
	}
	if len(errs) == 0 {
		res, err := flows.ParseResource(choice)
		if err != nil {
			block := fieldResource
			if coll != "" && strings.Contains(flows.ErrorMessage(err), "collection") {
				block = fieldCollection
			} else if db != "" {
				block = fieldDatabase
			}
			errs[block] = flows.ErrorMessage(err)
		}
		f.Resource = res
	}
	role := value(fieldRole)
	f.Roles = []string{role}
	if role == "" {
		errs[fieldRole] = "Choose a role."
	} else if err := flows.ValidateRole(role); err != nil {
		errs[fieldRole] = flows.ErrorMessage(err)
	}
	if d, err := flows.ParseDuration(value(fieldDuration)); err != nil {
		errs[fieldDuration] = flows.ErrorMessage(err)
	} else {
		f.Duration = d
	}
	f.Reason = value(fieldReason)
	switch {
	case needReason && f.Reason == "":
		errs[fieldReason] = "Say why you need access: this resource's access flow requires a reason."
	case len(f.Reason) > bot.MaxReasonLength:
		errs[fieldReason] = "Keep the reason under 500 characters."
	}
	if len(errs) == 0 {
		return f, nil
	}
	for k, msg := range errs {
		errs[k] = bot.Truncate(msg, maxErrorText)
	}
	return f, errs
}

// denyState travels in the deny form's private_metadata: what the click was
// about and where to answer the approver.
type denyState struct {
	Action      string `json:"a"`
	ResponseURL string `json:"u,omitempty"`
	Channel     string `json:"c,omitempty"`
	Required    bool   `json:"q,omitempty"`
	FromHome    bool   `json:"h,omitempty"`
}

// denyModal asks an approver why they deny a request (or an extension).
// The reason is optional for Slack's client only when the flow does not
// require it; the server checks either way.
func denyModal(st denyState, summary string) slackgo.ModalViewRequest {
	input := slackgo.NewPlainTextInputBlockElement(plain("e.g. use the read replica instead", 150), fieldReason)
	input.Multiline = true
	input.MaxLength = bot.MaxReasonLength
	hint := "The requester sees your reason."
	reason := slackgo.NewInputBlock(fieldReason, plain("Reason", 2000), plain(hint, 2000), input)
	reason.Optional = !st.Required
	v := modal("Deny access",
		slackgo.NewSectionBlock(mrkdwn(escape(summary), maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID("summary")),
		reason)
	v.Submit = plain("Deny", 24)
	v.CallbackID = denyCallback
	raw, _ := json.Marshal(st) // a struct of strings and bools always encodes
	v.PrivateMetadata = string(raw)
	return v
}

// denySummary says what the deny form is about.
func denySummary(r *flows.Request, a bot.Action) string {
	if a.Kind == bot.ActionDenyExtension {
		return "Deny extension " + strconv.Itoa(a.Extension) + " of request " + string(r.ID) + ": " + r.Requester + " asks to keep " + flows.FormatRoles(r.Roles) + " on " + r.Resource.String() + " longer."
	}
	return "Deny request " + string(r.ID) + ": " + r.Requester + " asks for " + flows.FormatRoles(r.Roles) + " on " + r.Resource.String() + " for " + flows.FormatDuration(r.Duration) + "."
}
