package bot

import (
	"fmt"
	"strings"

	"github.com/jitbot/jitbot/flows"
)

// What the views say that depends on the kind of access: a card names the
// kind of any access jitbot grants but the database user (which every card
// without a kind has always been), and says what ending it does.

// kindLabel is how a card names the kind of r's access: "" for a database
// user, and for a kind jitbot does not grant itself (a test's).
func kindLabel(k flows.Kind) string {
	if spec, ok := flows.Builtin(k); ok && spec.Kind != flows.KindDatabaseUser {
		return spec.Name
	}
	return ""
}

// asked is what r asks for: "read on prod/Cluster0/sales", or with its
// kind, "Atlas UI access: GROUP_READ_ONLY on acme/payments-prod".
func asked(r *flows.Request) string {
	s := flows.FormatRoles(r.Roles) + " on " + r.Resource.String()
	if label := kindLabel(r.Kind); label != "" {
		return label + ": " + s
	}
	return s
}

// kindFields is the field that names the kind, where a card names it.
func kindFields(r *flows.Request) []Field {
	if label := kindLabel(r.Kind); label != "" {
		return []Field{{Label: "Access", Value: label}}
	}
	return nil
}

// uiAccess reports whether r gives Atlas UI access: roles of the
// requester's own Atlas account, which ending takes away (no identity is
// deleted).
func uiAccess(r *flows.Request) bool { return r.Kind == flows.KindAtlasUI }

// endingText is what a Revoke button asks to confirm.
func endingText(r *flows.Request) string {
	if uiAccess(r) {
		return fmt.Sprintf("End access to %s now? jitbot removes the roles it gave %s (%s); what they held before stays.", r.Resource, r.Principal, flows.FormatRoles(r.Roles))
	}
	return fmt.Sprintf("End access to %s now? The %s %s is deleted and open connections stop working.", r.Resource, flows.KindName(r.Kind), r.Principal)
}

// endedText says what the end of access did.
func endedText(r *flows.Request) string {
	if uiAccess(r) {
		return "jitbot removed the roles it gave " + r.Principal + " in " + r.Resource.String() + "; what they held before stays."
	}
	return "The " + flows.KindName(r.Kind) + " " + r.Principal + " was deleted."
}

// stuckText says what remains while a removal keeps failing.
func stuckText(r *flows.Request, v Viewer) (subtitle, text string) {
	if uiAccess(r) {
		return "the roles jitbot gave " + r.Principal + " are still in Atlas",
			"jitbot keeps retrying. Atlas has no expiry of its own for roles: if jitbot cannot remove " + flows.FormatRoles(r.Roles) + ", remove them in the Atlas UI."
	}
	return "the Atlas user " + r.Principal + " still exists",
		"jitbot keeps retrying. Atlas deletes the user by itself at " + v.FormatTime(r.BackstopAt) + " at the latest."
}

// missingText says what reconcile found gone of an active grant.
func missingText(r *flows.Request) (title, subtitle, text string) {
	if uiAccess(r) {
		return "Atlas UI roles missing: request " + string(r.ID),
			"the roles jitbot gave " + r.Principal + " are gone from Atlas",
			"Someone removed them outside jitbot. The requester has lost the access."
	}
	return "Atlas user missing: request " + string(r.ID),
		"the active grant's user " + r.Principal + " is gone from Atlas",
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
		c.Subtitle = asked(r) + " for " + r.Requester
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
