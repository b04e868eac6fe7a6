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
//     with a cached client_credentials token (single- or multi-tenant app registration),
//     timeouts, bounded short retries and per-conversation pacing under Teams' rate limits. The
//     token goes only to service URLs on Microsoft's connector hosts (DefaultServiceHosts) or
//     the hosts configured instead. It waits out a Retry-After of a second at most: a longer
//     one (seconds or an HTTP date) ends the call at once with an APIError that carries it, a
//     bot.RateLimited, so the outbox's dispatcher holds the conversation rather than a worker
//     sleeping; 403, 404 and 413 are bot.PermanentError (the bot was removed or blocked, the
//     conversation or activity is gone, the message is too large) and the message is dropped.
//
// On top of them, Bot is jitbot's Teams platform, a narrow port of the chat engine in package
// bot: it hands what people do to the engine (Run, Click) and delivers its answers, and
// implements bot.Platform so that the engine can tell people what happened.
//
//   - Handler serves POST /teams/messages. The body is bounded, the delivery authenticated by
//     the adapter's ParseRequest on our validator (any failure, a library panic included, is a
//     401 that does nothing), redeliveries are recognised by activity id, and the activity is
//     answered 200 at once and processed afterwards on a detached, bounded context. Nothing
//     calls Atlas or the connector before the answer; only the validator may fetch signing
//     keys, when its cache is cold or meets an unknown key (rate-limited, single-flight).
//   - People are known by email, read with the connector's get-member call (email, else
//     userPrincipalName) and cached. The tenant is mandatory: activities from any tenant but
//     Config.TenantID, and member lookups answering for another, are refused, since every
//     tenant's admins can give their users any email (the app registration may still be
//     multi-tenant: that only changes where the bot token comes from). Within the tenant, an
//     email is bound to the first Entra object id seen with it; another account showing the same
//     mail or UPN is refused, logged as event=identity_conflict, and never takes the contact
//     over. The conversation reference of each person's 1:1 chat is stored (Store.PutContact)
//     with that binding on first contact, conversationUpdate and installationUpdate, so approval
//     cards and notices reach people after a restart. Group chats and channels are never stored
//     and never get anything about access. When an email moves to another Entra account, an
//     admin has Bot.ForgetContact drop the contact and its binding, in the store and in every
//     cache, so that the next account to show the email binds it (`jitbot contacts forget`).
//   - Typed commands ("access request ...", "access list", ...) are parsed by bot.Parse and run
//     by the engine; "access" alone answers with the request card. Cards are Adaptive Cards 1.4
//     rendered from package bot's views, all text in TextRuns (never Markdown, so nobody's
//     reason can fake a link), and what Teams does read as Markdown (a message's summary and
//     text, a card's fallback text) escaped; buttons are Action.Submit carrying opaque action ids, and every
//     click is authorized again by the domain as the person who clicked.
//   - As the engine's bot.Platform it reaches the people who have a 1:1 chat with the bot, sends
//     and updates cards there (credentials only ever to a personal conversation), and has no
//     approvals channel. Times are shown in the zone the person's client reported, else in
//     UTC, always with the zone's name.
//
// It must not import other adapters (atlas, store, bot/slack), nor may its tests: they run the
// engine on in-memory fakes, and journeys across platforms are cmd/jitbot's end-to-end tests.
// bot/teams/teamstest is imported only by tests and `jitbot demo`.
package teams
