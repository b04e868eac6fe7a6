package bot

import (
	"strings"

	"github.com/jitbot/jitbot/flows"
)

const uiRequestSyntax = `request <integration/project | integration> <GROUP_... or ORG_... roles> <duration> [reason]`

// parseUIRequest reads a request of Atlas UI access: roles written the way
// Atlas names them (GROUP_READ_ONLY, ORG_READ_ONLY) say that the target is
// a project (integration/project; the integration alone when it is one
// project) or the organization (the integration alone).
func parseUIRequest(resText, roleText, durText, rest string) (Command, error) {
	target, err := flows.ParseUITarget(resText)
	if err != nil {
		return Command{}, err
	}
	if err := maxWord("role", roleText, maxRolesLength); err != nil {
		return Command{}, err
	}
	kind := flows.AtlasUI()
	roles := flows.ParseRoles(roleText)
	for _, role := range roles {
		if err := maxWord("role", role, maxRoleLength); err != nil {
			return Command{}, err
		}
		if err := kind.ValidateRole(role); err != nil {
			return Command{}, err
		}
	}
	d, err := parseDuration(durText)
	if err != nil {
		return Command{}, err
	}
	reason, err := parseReason(rest)
	if err != nil {
		return Command{}, err
	}
	return Command{Verb: VerbRequest, Kind: flows.KindAtlasUI, Resource: target, Roles: roles, Duration: d, Reason: reason}, nil
}

// programmaticKind takes the kind word of a programmatic credential off the
// front of a request (request service-account ..., request api-key ...):
// its target and roles are written as Atlas UI access's, so only the word
// tells them apart.
func programmaticKind(rest string) (flows.Kind, string) {
	word, after := nextWord(rest)
	switch strings.ToLower(strings.ReplaceAll(word, "_", "-")) {
	case "service-account":
		return flows.KindServiceAccount, after
	case "api-key":
		return flows.KindAPIKey, after
	}
	return "", rest
}

// kindWord is how a request names a programmatic kind.
func kindWord(k flows.Kind) string { return strings.ReplaceAll(string(k), "_", "-") }
