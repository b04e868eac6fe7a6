// Package bottest has fakes for testing the chat engine and its platforms:
// an in-memory message ref store (Refs), a recording chat platform
// (Platform) and a log sink safe for concurrent writers (Logs).
//
// It imports bot and flows only; tests, bot/slack's and bot/teams' among
// them, import it. Nothing else does.
package bottest
