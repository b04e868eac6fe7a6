package bot

import (
	"strings"

	"github.com/jitbot/jitbot/flows"
)

// What the views say of Atlas UI access (beside kinds.go): ending it takes
// roles away from the person's own account, and its findings go to the
// admins.

// uiAccess reports whether r gives Atlas UI access: roles of the
// requester's own Atlas account, which ending takes away (no identity is
// deleted).
func uiAccess(r *flows.Request) bool { return r.Kind == flows.KindAtlasUI }

// stuckText says what remains while a removal keeps failing.
func stuckText(r *flows.Request, v Viewer) (subtitle, text string) {
	if uiAccess(r) {
		return "the roles jitbot gave " + r.Principal + " are still in Atlas",
			"jitbot keeps retrying. Atlas has no expiry of its own for roles: if jitbot cannot remove " + flows.FormatRoles(r.Roles) + ", remove them in the Atlas UI."
	}
	return "the " + atlasNoun(r) + " " + r.Principal + " still exists",
		"jitbot keeps retrying. Atlas deletes " + atlasPronoun(r) + " by itself at " + v.FormatTime(r.BackstopAt) + " at the latest."
}

// missingText says what reconcile found gone of an active grant.
func missingText(r *flows.Request) (title, subtitle, text string) {
	if uiAccess(r) {
		return "Atlas UI roles missing: request " + string(r.ID),
			"the roles jitbot gave " + r.Principal + " are gone from Atlas",
			"Someone removed them outside jitbot. The requester has lost the access."
	}
	return capitalize(atlasNoun(r)) + " missing: request " + string(r.ID),
		"the active grant's " + strings.TrimPrefix(atlasNoun(r), "Atlas ") + " " + r.Principal + " is gone from Atlas",
		"Someone deleted it outside jitbot, or Atlas removed it early. The requester has lost access."
}

// findingCard tells the admins what a provisioner found of a grant (a role
// kept at its end, what a person created with a standing-access role).
func findingCard(r *flows.Request, ev flows.Event, v Viewer) Card {
	c := Card{
		Title:  "What jitbot found: request " + string(ev.RequestID),
		Text:   ev.Message,
		Status: "Found at " + v.FormatTime(ev.At),
		Tone:   ToneWarning,
	}
	if r != nil {
		c.Subtitle = flows.DescribeAccess(r) + " for " + r.Requester
		c.Fields = alertFields(r, flows.Event{})
	}
	return c
}

// orphanTitle heads the message about something reconcile removed: a
// database user, or roles of a person's own Atlas account.
func orphanTitle(ev flows.Event) (title, label string) {
	if strings.Contains(ev.Principal, "@") {
		return "Removed Atlas UI roles no grant explains", "Atlas account"
	}
	return "Deleted an orphaned Atlas user", "Atlas user"
}
