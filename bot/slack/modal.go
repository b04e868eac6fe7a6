package slack

import (
	"crypto/sha256"
	"encoding/hex"
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
// block id. The resource, role and duration blocks carry a suffix
// (blockFor) that changes with what they offer, so that Slack, which keeps
// an input's value across views.update while its block id stays, never
// keeps a role or a duration the new choice does not offer.
const (
	fieldKind       = bot.FieldKind
	fieldResource   = bot.FieldResource
	fieldDatabase   = bot.FieldDatabase
	fieldCollection = bot.FieldCollection
	fieldAddress    = bot.FieldAddress
	fieldRole       = bot.FieldRole
	fieldDuration   = bot.FieldDuration
	fieldReason     = bot.FieldReason
)

// Slack's modal and option limits.
const (
	maxOptions     = 100
	maxOptionValue = 150
	maxOptionText  = 75
	maxErrorText   = 300 // keeps an error next to an input readable
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

// formState travels in the request form's private_metadata: what the
// form was laid out for. It only lets the form ask for a required reason
// before it closes; the server checks everything again on submit.
type formState struct {
	bot.Selection
	ReasonRequired bool `json:"reason,omitempty"`
}

// blockFor is the block id of a field whose options depend on what they
// were laid out for (key): the field, a colon, a short hash of key.
func blockFor(field, key string) string {
	sum := sha256.Sum256([]byte(key))
	return field + ":" + hex.EncodeToString(sum[:4])
}

// stateValue finds a field's block in a submitted or dispatched state (its
// block id is the field, or the field and a suffix: blockFor) and its value.
func stateValue(state *slackgo.ViewState, field string) (block, value string) {
	if state == nil {
		return "", ""
	}
	for id, actions := range state.Values {
		if id != field && !strings.HasPrefix(id, field+":") {
			continue
		}
		a := actions[id]
		if a.SelectedOption.Value != "" {
			return id, a.SelectedOption.Value
		}
		return id, strings.TrimSpace(a.Value)
	}
	return "", ""
}

// requestModal is the request form, offering only what the person may ask
// for: a kind (when they may ask for several), the resources of that kind
// grouped by integration and cluster, and, once a resource is chosen, its
// own roles and durations, the inputs it needs (a database, a collection,
// an address), and a reason, required when its flow requires one. Choosing
// a kind or a resource dispatches an action that lays the form out again
// (views.update).
func requestModal(choices []flows.Choice, sel bot.Selection) slackgo.ModalViewRequest {
	return filledModal(choices, sel, nil)
}

// prefilledModal is the request form filled in (request again): the
// resource chosen and its inputs, all editable.
func prefilledModal(choices []flows.Choice, p bot.Prefill) slackgo.ModalViewRequest {
	return filledModal(choices, p.Selection, p.Values)
}

// filledModal is the request form with the inputs of the resource chosen
// holding values (by bot.Field...), when they are among its options.
func filledModal(choices []flows.Choice, sel bot.Selection, values map[string]string) slackgo.ModalViewRequest {
	var offered []flows.Choice
	for _, ch := range choices {
		if len(bot.ChoiceValue(ch)) <= maxOptionValue {
			offered = append(offered, ch)
		}
	}
	form := bot.NewForm(offered, sel)
	if len(form.Kinds) == 0 {
		return messageModal("Request access", "What you may ask for cannot be shown in a form. Ask with the command instead: request <integration/cluster/database[/collection]> <role> <duration> [reason].")
	}
	blocks := []slackgo.Block{
		slackgo.NewSectionBlock(mrkdwn("Ask for temporary access to MongoDB Atlas. Your approvers see everything below; access starts when they approve and ends by itself.", maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID("intro")),
	}
	if len(form.Kinds) > 1 {
		var opts []*slackgo.OptionBlockObject
		var initial *slackgo.OptionBlockObject
		for _, k := range form.Kinds {
			o := slackgo.NewOptionBlockObject(string(k.Kind), plain(k.Name, maxOptionText), nil)
			opts = append(opts, o)
			if k.Kind == form.Kind {
				initial = o
			}
		}
		kind := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeStatic, plain("Choose a kind of access", maxOptionText), fieldKind, opts...)
		kind.InitialOption = initial
		in := slackgo.NewInputBlock(fieldKind, plain("Kind of access", 2000), nil, kind)
		in.DispatchAction = true
		blocks = append(blocks, in)
	}

	var groups []*slackgo.OptionGroupBlockObject
	var groupKeys []string
	var initial *slackgo.OptionBlockObject
	for _, ch := range form.Choices[:min(len(form.Choices), maxOptions)] {
		key := bot.ChoiceGroup(ch)
		i := slices.Index(groupKeys, key)
		if i < 0 {
			groupKeys = append(groupKeys, key)
			groups = append(groups, slackgo.NewOptionGroupBlockElement(plain(key, maxOptionText)))
			i = len(groups) - 1
		}
		o := slackgo.NewOptionBlockObject(bot.ChoiceValue(ch), plain(bot.ChoiceLabel(ch), maxOptionText), nil)
		if form.Chosen != nil && bot.ChoiceValue(*form.Chosen) == o.Value {
			initial = o
		}
		groups[i].Options = append(groups[i].Options, o)
	}
	resBlock := blockFor(fieldResource, string(form.Kind))
	resource := slackgo.NewOptionsGroupSelectBlockElement(slackgo.OptTypeStatic, plain("Choose what you need", maxOptionText), resBlock, groups...)
	resource.InitialOption = initial
	resIn := slackgo.NewInputBlock(resBlock, plain(bot.KindTitle(form.Kind)+": resource", 2000), nil, resource)
	resIn.DispatchAction = true
	blocks = append(blocks, resIn)

	st := formState{Selection: bot.Selection{Kind: form.Kind}}
	if form.Chosen == nil {
		blocks = append(blocks, slackgo.NewContextBlock("choose", mrkdwn("Choose a resource: its roles and durations follow.", maxSectionText)))
	} else {
		value := bot.ChoiceValue(*form.Chosen)
		st.Choice, st.ReasonRequired = value, form.ReasonRequired
		blocks = append(blocks, choiceBlocks(form, value, values)...)
	}

	v := modal("Request access", blocks...)
	v.Submit = plain("Request", 24)
	v.CallbackID = requestCallback
	raw, _ := json.Marshal(st) // strings and a bool always encode
	v.PrivateMetadata = string(raw)
	return v
}

// choiceBlocks are the inputs of the resource chosen (value): what it
// needs typed, its roles, its durations and the reason.
func choiceBlocks(form bot.Form, value string, values map[string]string) []slackgo.Block {
	var blocks []slackgo.Block
	if form.AskDatabase {
		input := slackgo.NewPlainTextInputBlockElement(plain("e.g. sales", 150), fieldDatabase)
		input.MaxLength = 63 // MongoDB's limit for database names
		input.InitialValue = values[bot.FieldDatabase]
		blocks = append(blocks, slackgo.NewInputBlock(fieldDatabase, plain("Database", 2000), plain("The cluster's flows cover any database: name the one you need.", 2000), input))
	}
	if form.AskCollection {
		input := slackgo.NewPlainTextInputBlockElement(plain("e.g. orders", 150), fieldCollection)
		input.MaxLength = 255 // MongoDB's limit for collection names
		input.InitialValue = values[bot.FieldCollection]
		in := slackgo.NewInputBlock(fieldCollection, plain("Collection", 2000), plain("Optional: limit access to one collection of the database.", 2000), input)
		in.Optional = true
		blocks = append(blocks, in)
	}
	if form.AskAddress {
		input := slackgo.NewPlainTextInputBlockElement(plain("e.g. 203.0.113.7 or 203.0.113.0/28", 150), fieldAddress)
		input.MaxLength = 49 // the longest IPv6 range
		input.InitialValue = values[bot.FieldAddress]
		blocks = append(blocks, slackgo.NewInputBlock(fieldAddress, plain("Address", 2000), plain("The public address (or range) you connect from.", 2000), input))
	}

	roleBlock := blockFor(fieldRole, value)
	var roleOptions []*slackgo.OptionBlockObject
	for _, r := range form.Roles {
		roleOptions = append(roleOptions, slackgo.NewOptionBlockObject(r, plain(r, maxOptionText), nil))
	}
	role := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeStatic, plain("Choose a role", maxOptionText), roleBlock, roleOptions...)
	for _, o := range roleOptions {
		if len(roleOptions) == 1 || o.Value == values[bot.FieldRole] {
			role.InitialOption = o
		}
	}
	blocks = append(blocks, slackgo.NewInputBlock(roleBlock, plain("Role", 2000), plain("Read-only roles are approved faster.", 2000), role))

	durBlock := blockFor(fieldDuration, value)
	var durOptions []*slackgo.OptionBlockObject
	var initial *slackgo.OptionBlockObject
	for _, d := range form.Durations {
		o := slackgo.NewOptionBlockObject(flows.FormatDuration(d), plain(flows.FormatDuration(d), maxOptionText), nil)
		durOptions = append(durOptions, o)
		if (d == form.Default && initial == nil) || o.Value == values[bot.FieldDuration] {
			initial = o
		}
	}
	duration := slackgo.NewOptionsSelectBlockElement(slackgo.OptTypeStatic, plain("How long", maxOptionText), durBlock, durOptions...)
	duration.InitialOption = initial
	blocks = append(blocks, slackgo.NewInputBlock(durBlock, plain("Duration", 2000), plain("Counted from when access starts, not from now.", 2000), duration))

	reasonInput := slackgo.NewPlainTextInputBlockElement(plain("e.g. INC-123: debugging the nightly export", 150), fieldReason)
	reasonInput.Multiline = true
	reasonInput.MaxLength = bot.MaxReasonLength
	reasonInput.InitialValue = values[bot.FieldReason]
	hint := "A ticket or incident id helps your approvers."
	if form.ReasonRequired {
		hint = "Required for this resource. " + hint
	}
	reason := slackgo.NewInputBlock(fieldReason, plain("Reason", 2000), plain(hint, 2000), reasonInput)
	reason.Optional = !form.ReasonRequired
	return append(blocks, reason)
}

// selectionOf reads what a dispatched action of the request form chose:
// the kind and the resource as the form's state holds them. A new kind
// drops the resource of the old one.
func selectionOf(cb *slackgo.InteractionCallback) bot.Selection {
	_, kind := stateValue(cb.View.State, fieldKind)
	_, choice := stateValue(cb.View.State, fieldResource)
	for _, act := range cb.ActionCallback.BlockActions {
		switch {
		case act.ActionID == fieldKind:
			kind = act.SelectedOption.Value
		case strings.HasPrefix(act.ActionID, fieldResource+":"):
			choice = act.SelectedOption.Value
		}
	}
	if k, _, ok := bot.SplitChoiceValue(choice); ok && kind != "" && string(k) != kind {
		choice = ""
	}
	return bot.Selection{Kind: flows.Kind(kind), Choice: choice}
}

// parseRequestForm reads a submitted request form as the request command it
// stands for (bot.ParseForm: by the chosen kind's rules, no policy, no
// Atlas): errors map block ids to what is wrong, for Slack to show next to
// the inputs.
func parseRequestForm(state *slackgo.ViewState, metadata string) (bot.Command, map[string]string) {
	var st formState
	_ = json.Unmarshal([]byte(metadata), &st) // unreadable: nothing is known to be required
	blocks := map[string]string{}
	value := func(field string) string {
		block, v := stateValue(state, field)
		if block != "" {
			blocks[field] = block
		}
		return v
	}
	a := bot.FormAnswer{
		Choice: value(fieldResource), Database: value(fieldDatabase), Collection: value(fieldCollection),
		Address: value(fieldAddress), Role: value(fieldRole), Duration: value(fieldDuration), Reason: value(fieldReason),
	}
	f, fieldErrs := bot.ParseForm(a)
	if st.ReasonRequired && st.Choice == a.Choice && strings.TrimSpace(a.Reason) == "" {
		if fieldErrs == nil {
			fieldErrs = map[string]string{}
		}
		fieldErrs[fieldReason] = "Say why you need access: this resource's access flow requires a reason."
	}
	if len(fieldErrs) == 0 {
		return f, nil
	}
	errs := map[string]string{}
	for field, msg := range fieldErrs {
		block, ok := blocks[field]
		if !ok {
			// An input the form does not show (yet): the resource's block
			// says what to do.
			block, msg = blocks[fieldResource], "Choose a resource and wait for its roles and durations: "+msg
			if block == "" {
				block = fieldResource
			}
		}
		if prev, ok := errs[block]; ok {
			msg = prev + " " + msg
		}
		errs[block] = bot.Truncate(msg, maxErrorText)
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
	hint, label, title, submit := "The requester sees your reason.", "Reason", "Deny access", "Deny"
	if a, err := bot.ParseAction(st.Action); err == nil && a.Kind == bot.ActionReview {
		// A break-glass review (flows/breakglass.go) asks for its note here.
		hint, label, title, submit = "What you checked, and what you found: kept in the audit.", "Note", "Review break-glass", "Reviewed"
		input.Placeholder = plain("e.g. checked the session: the failover of INC-9", 150)
	}
	reason := slackgo.NewInputBlock(fieldReason, plain(label, 2000), plain(hint, 2000), input)
	reason.Optional = !st.Required
	v := modal(title,
		slackgo.NewSectionBlock(mrkdwn(escape(summary), maxSectionText), nil, nil, slackgo.SectionBlockOptionBlockID("summary")),
		reason)
	v.Submit = plain(submit, 24)
	v.CallbackID = denyCallback
	raw, _ := json.Marshal(st) // a struct of strings and bools always encodes
	v.PrivateMetadata = string(raw)
	return v
}

// denySummary says what the deny form is about.
func denySummary(r *flows.Request, a bot.Action) string {
	if a.Kind == bot.ActionReview {
		return "Review break-glass request " + string(r.ID) + ": " + r.Requester + " took " + flows.FormatRoles(r.Roles) + " on " + r.Resource.String() +
			" for " + flows.FormatDuration(r.Duration) + " without approval. Reason: " + r.Reason
	}
	if a.Kind == bot.ActionDenyExtension {
		return "Deny extension " + strconv.Itoa(a.Extension) + " of request " + string(r.ID) + ": " + r.Requester + " asks to keep " + flows.FormatRoles(r.Roles) + " on " + r.Resource.String() + " longer."
	}
	return "Deny request " + string(r.ID) + ": " + r.Requester + " asks for " + flows.FormatRoles(r.Roles) + " on " + r.Resource.String() + " for " + flows.FormatDuration(r.Duration) + "."
}
