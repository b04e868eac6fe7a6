// Package teams connects jitbot to Microsoft Teams through the Bot Framework, using
// msbotbuilder-go for the activity schema and the adapter.
//
// The library's own token validator and connector client are not used (they fetch metadata on
// every request, never refresh keys, panic on missing claims or a failed token fetch, have no
// timeouts and only know the botframework.com tenant). This package supplies both, plugged into
// core.BotFrameworkAdapter:
//
//   - TokenValidator authenticates incoming requests: cached OpenID metadata and JWKS with
//     periodic, rate-limited and single-flight refresh; every claim checked; specific errors
//     that the HTTP layer turns into 401.
//   - Connector sends, updates and deletes activities and looks up members (for email and UPN),
//     with a cached client_credentials token (single- or multi-tenant), timeouts, bounded
//     retries and per-conversation pacing under Teams' rate limits.
//
// It must not import other adapters (atlas, store, bot/slack); bot/teams/teamstest is imported
// only by tests.
package teams
