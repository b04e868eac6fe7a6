package bot

import (
	"unicode"
	"unicode/utf8"

	"github.com/jitbot/jitbot/flows"
)

// What the views say of a grant that depends on its kind: a database user
// (with or without a password) is an Atlas user that is deleted; network
// access is an entry of the project's access list, which other grants of
// the same address may still hold. The words of a database user with a
// password are those the views always had.

// kindFields are the fields a request card adds for its kind: which kind
// of access it is (Database user, Atlas UI access, Network access, Service
// account, Programmatic API key), and how a passwordless user signs in.
func kindFields(r *flows.Request) []Field {
	fs := []Field{{Label: "Access", Value: KindTitle(r.Kind)}}
	if r.Auth.Passwordless() {
		fs = append(fs, Field{Label: "Sign in with", Value: r.Auth.String() + " (no password)"})
	}
	return fs
}

// targetText is where a grant is, as people read it: a grant used from an
// address (a service account, an API key) is in its project or the
// organization, the address being where it is used from (the description
// says so), while network access's target is the address.
func targetText(r *flows.Request) string {
	t := r.Resource
	if spec, ok := flows.BuiltinKind(r.Kind); ok && spec.FromAddress {
		t.Address = ""
	}
	return t.String()
}

// accessNamed says what a grant gives, naming its kind: a kind that
// describes itself (Atlas UI access, network access, a service account...)
// says so already; a database user's roles on a database do not.
func accessNamed(r *flows.Request) string {
	if spec, ok := flows.BuiltinKind(r.Kind); ok && spec.Describe == nil {
		return KindTitle(r.Kind) + ": " + flows.DescribeAccess(r)
	}
	return flows.DescribeAccess(r)
}

// atlasNoun names what the grant made in Atlas: "Atlas user",
// "access-list entry".
func atlasNoun(r *flows.Request) string {
	if r.Kind == flows.KindAccessListEntry {
		return "access-list entry"
	}
	return "Atlas user"
}

func atlasPronoun(r *flows.Request) string {
	if r.Kind == flows.KindAccessListEntry {
		return "the entry"
	}
	return "the user"
}

func capitalize(s string) string {
	c, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(c)) + s[n:]
}

// revokeConfirm is what a Revoke button asks before it ends access.
func revokeConfirm(r *flows.Request) string {
	if r.Kind == flows.KindAtlasUI {
		return "End access to " + r.Resource.String() + " now? jitbot removes the roles it gave " + r.Principal + " (" + flows.FormatRoles(r.Roles) + "); what they held before stays."
	}
	if r.Kind == flows.KindAccessListEntry {
		return "End network access from " + r.Resource.Address + " to " + r.Resource.Integration + " now? " +
			"New connections from it are refused (unless another grant holds the address); open ones may last a while."
	}
	return "End access to " + targetText(r) + " now? The " + flows.KindName(r.Kind) + " " + r.Principal + " is deleted and open connections stop working."
}

// endedText says what became of the grant once access ended.
func endedText(r *flows.Request) string {
	if r.Kind == flows.KindAtlasUI {
		return "jitbot removed the roles it gave " + r.Principal + " in " + r.Resource.String() + "; what they held before stays."
	}
	if r.Kind == flows.KindAccessListEntry {
		return "Atlas no longer accepts connections from " + r.Resource.Address + " through your grant; jitbot removed the access-list entry, unless another live grant of the address still holds it."
	}
	return "The " + flows.KindName(r.Kind) + " " + r.Principal + " was deleted."
}

// applyDelayedText tells a requester that Atlas is still applying a grant.
func applyDelayedText(r *flows.Request) string {
	if r.Kind == flows.KindAccessListEntry {
		return "Atlas has added " + r.Resource.Address + " to the access list but has not finished applying it, so connections may still be refused. You are told here as soon as it is ready; there is nothing to do."
	}
	return "Atlas has created your " + flows.KindName(r.Kind) + " but has not finished applying it, so it cannot log in yet. Your credentials follow here as soon as it is ready; there is nothing to do."
}

// undeliveredText tells admins that a requester was not told of a grant.
func undeliveredText(r *flows.Request) string {
	if !flows.HandsOutSecret(r) {
		return "The grant is active but its requester was not told how to use it. Tell them, or revoke it."
	}
	return "The grant is active but its requester did not get the " + flows.SecretName(r.Kind) + ". They can get a new one with rotate " + string(r.ID) + ", or revoke it."
}
