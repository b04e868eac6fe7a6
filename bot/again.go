package bot

import (
	"context"
	"slices"

	"github.com/jitbot/jitbot/flows"
)

// Request again: ended access (an expiry or revoke message, list, the
// Slack App Home) offers a button that opens the request form filled in
// as the old request was (the same resource, role, duration and reason,
// all editable), and `again <id>` submits the same at once. Either way it
// is a new request, judged by the policy in force; only the old request's
// requester may (flows.Service.Again), anyone else is answered as for an
// unknown id.

// Prefill is what a request form opens with: the resource chosen, and the
// inputs beside it by field (Field...).
type Prefill struct {
	Selection Selection
	Values    map[string]string
}

// againButton offers to request r again.
func againButton(r *flows.Request) Button {
	return Button{Label: "Request again", ActionID: Action{Kind: ActionAgain, RequestID: r.ID}.ID()}
}

// offersAgain reports whether v is shown "Request again" on r: its
// requester, once its access has ended.
func offersAgain(r *flows.Request, v Viewer) bool {
	return v.Email != "" && v.Email == r.Requester && (r.State == flows.StateExpired || r.State == flows.StateRevoked)
}

// againForm answers a click on Request again: the request form, filled in
// as the old request was, among what the person may ask for now.
func (e *Engine) againForm(ctx context.Context, svc Service, who Actor, id flows.RequestID) (Reply, error) {
	in, err := svc.Again(ctx, id, who.Email)
	if err != nil {
		return Reply{}, err
	}
	choices, err := svc.Options(ctx, who.Email)
	if err != nil {
		return Reply{}, err
	}
	p, ok := PrefillFor(choices, in)
	if !ok {
		what := flows.DescribeAccess(&flows.Request{Kind: in.Kind, Resource: in.Resource, Roles: in.Roles})
		return Reply{}, flows.Errorf(flows.EFORBIDDEN, "you may no longer ask for %s (request %s): the access policy changed since; open the request form to see what you may ask for", what, id)
	}
	return Reply{Form: choices, Prefill: &p}, nil
}

// PrefillFor finds among choices the one that covers what in asks for
// (the target itself, else its database, else its cluster's any database)
// and fills the inputs beside it: the database, collection or address
// typed, the role, the duration and the reason. ok is false when no
// choice covers it.
func PrefillFor(choices []flows.Choice, in flows.SubmitInput) (Prefill, bool) {
	t := in.Resource
	kind := in.Kind
	if kind == "" {
		kind = flows.KindDatabaseUser
	}
	same := func(a, b flows.Resource) bool {
		return a.Integration == b.Integration && a.Project == b.Project && a.Cluster == b.Cluster && a.Database == b.Database && a.Collection == b.Collection
	}
	values := map[string]string{}
	best, rank := -1, 0
	for i, ch := range choices {
		if kindOf(ch) != kind || ch.Resource.Integration != t.Integration {
			continue
		}
		onTarget := t
		onTarget.Address = ""
		r := 0
		switch c := ch.Resource; {
		case targetParts(kind) == 0 && ch.AskAddress:
			r = 3 // network access: the address is typed
		case same(c, onTarget):
			r = 3
		case t.Collection != "" && c.Collection == "" && c.Database == t.Database && same(c, flows.Resource{Integration: t.Integration, Project: t.Project, Cluster: t.Cluster, Database: t.Database}):
			r = 2 // the whole database, narrowed to the collection
		case c.Cluster != "" && c.Database == "" && same(c, flows.Resource{Integration: t.Integration, Project: t.Project, Cluster: t.Cluster}):
			r = 1 // any database of the cluster, named
		}
		if r > rank && (len(in.Roles) != 1 || slices.Contains(ch.Roles, in.Roles[0])) {
			best, rank = i, r
		}
	}
	if best < 0 {
		return Prefill{}, false
	}
	ch := choices[best]
	switch rank {
	case 1:
		values[FieldDatabase] = t.Database
		values[FieldCollection] = t.Collection
	case 2:
		values[FieldCollection] = t.Collection
	}
	if t.Address != "" {
		values[FieldAddress] = t.Address
	}
	if len(in.Roles) == 1 {
		values[FieldRole] = in.Roles[0]
	}
	if in.Duration > 0 && in.Duration <= ch.MaxDuration {
		values[FieldDuration] = flows.FormatDuration(in.Duration)
	}
	values[FieldReason] = in.Reason
	for k, v := range values {
		if v == "" {
			delete(values, k)
		}
	}
	return Prefill{Selection: Selection{Kind: kind, Choice: ChoiceValue(ch)}, Values: values}, true
}
