// Package idptest is a real OpenID provider for tests, built on
// github.com/zitadel/oidc/v3's op package: discovery, the authorization
// endpoint (with PKCE), the token endpoint and signed ID tokens carrying
// auth_time, amr and acr. Its login page signs in whoever the test chose
// (SignInAs), with the factors and the time the test says, or refuses a
// disabled person as a provider does (error=access_denied).
//
// Imported by tests only (bot/identity, cmd/internal/app), never by jitbot.
package idptest
