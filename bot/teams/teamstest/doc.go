// Package teamstest is a fake Microsoft Bot Framework for tests, end-to-end tests and
// `jitbot demo`.
//
// One httptest server plays every Microsoft endpoint the Teams adapter talks to:
//
//   - the OpenID metadata document (MetadataURL) and the JWKS it points to, served from
//     in-memory RSA keys that can be rotated (RotateKey, DropKey);
//   - the Entra ID token endpoint (TokenURL) for the bot's client_credentials grant, which
//     checks the app id and password and counts what it issues;
//   - a recording connector (ServiceURL) under /v3/conversations/...: send, reply, update and
//     delete activities, get member, with faults on demand (Fail).
//
// MintToken and its variants sign the JWTs the Bot Framework would put in the Authorization
// header of an incoming activity, and NewActivityRequest builds that request, so the real
// validator can be exercised with real signatures and no network.
//
// Non-test code here must not import "testing" (it is linked into the jitbot binary for the
// demo) nor github.com/jitbot/jitbot/bot/teams (whose tests import this package). Only tests
// and `jitbot demo` import it.
package teamstest
