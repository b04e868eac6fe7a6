// Package identity binds chat accounts to the people the company's
// identity provider knows, through OpenID Connect (the authorization code
// flow with PKCE, github.com/coreos/go-oidc/v3 and golang.org/x/oauth2),
// and serves the small web surface that needs: a one-time link page, the
// sign-in callback, a confirming form, and the admins' review of a binding
// whose emails differ.
//
// With identity configured, the chat engine asks it (bot.Gate) before it
// acts for anyone: a chat account is trusted only once its person signed
// in and confirmed, and then as the email that was proven then, whatever
// the chat profile says later. Bindings are re-verified every
// reverify_days; a person the provider refuses loses the binding and their
// live grants.
//
// It also serves third-party access (guest.go): a sponsor's one-time link
// for a guest outside the company, who signs in afresh with MFA as the
// guest's verified email and confirms before a password is set and shown
// to them, once; guest links may go by mail through a relay (smtp.go).
//
// It lives beside the platforms (it imports bot and flows, as bot/slack
// does) because it is one more way in from outside that the engine trusts,
// not part of the domain: flows knows nothing of OpenID Connect. All its
// state (links, sign-ins under way, web sessions, bindings) is in the
// store, behind Records, declared here and implemented by store (bbolt) and
// flows/flowstest (memory), so that any replica finishes a sign-in another
// started. It must not import store, atlas or a chat platform.
package identity
