// Package bottest has fakes and helpers for testing the chat engine and its
// platforms: an in-memory message ref store (Refs), a recording chat
// platform (Platform), a log sink safe for concurrent writers (Logs), golden
// files (Golden, with the -update flag) and a walk over rendered JSON
// (Objects).
//
// It imports bot and flows only; tests, bot/slack's and bot/teams' among
// them, import it. Nothing else does.
package bottest
