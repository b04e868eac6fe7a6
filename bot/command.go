package bot

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jitbot/jitbot/flows"
)

// Verb is what a command asks jitbot to do.
type Verb string

// The verbs of the access command.
const (
	VerbForm    Verb = "form" // no text: open the request form
	VerbRequest Verb = "request"
	VerbNetwork Verb = "network" // temporary network access: an address on the project's access list
	VerbList    Verb = "list"
	VerbPending Verb = "pending"
	VerbCancel  Verb = "cancel"
	VerbRevoke  Verb = "revoke"
	VerbExtend  Verb = "extend"
	VerbRotate  Verb = "rotate"
	VerbAgain   Verb = "again" // submit what an ended request asked for, as a new request
	// VerbBreakGlass takes access at once through a break-glass flow
	// (flows/breakglass.go), with the request's syntax.
	VerbBreakGlass Verb = "breakglass"
	// VerbGuestLink has a one-time link made for a sponsored guest (guest.go).
	VerbGuestLink Verb = "guest-link"
	VerbHelp      Verb = "help"
)

// verbs lists the subcommands people type, in the order Usage explains them.
func verbs() []Verb {
	return []Verb{VerbRequest, VerbNetwork, VerbList, VerbPending, VerbCancel, VerbRevoke, VerbExtend, VerbRotate, VerbAgain, VerbBreakGlass, VerbGuestLink, VerbHelp}
}

// Command is one parsed access command. Only the fields its Verb uses are set.
type Command struct {
	Verb      Verb
	RequestID flows.RequestID // cancel, revoke, extend, rotate, again
	Kind      flows.Kind      // request (a database user; Atlas UI access), network (network access)
	Resource  flows.Resource  // request, network
	Roles     []string        // request: one, or several typed read,readWrite
	Duration  time.Duration   // request, network, extend
	Reason    string          // request, network, revoke (optional)
	// Identity is an Atlas identity typed in a request (an IAM ARN), which
	// flows refuses: identities come from the access flow.
	Identity string
	// StartAt is when a request starts, typed "at 2026-12-24T02:00
	// Europe/Berlin" after the duration (zero: when approved).
	StartAt time.Time
	// Guest is the email of someone outside the company the requester
	// sponsors, typed "for vendor@partner.com" (guest.go).
	Guest string
}

// MaxCommandLength bounds the text Parse accepts. Slack and Teams both allow
// a few thousand characters; a reason is capped at 500 by flows, so anything
// this long is a paste gone wrong.
const MaxCommandLength = 2000

// requestIDPattern is what a request id may look like. flows makes ids of ten
// lower-case letters and digits; the pattern is looser so that another store
// can choose differently, but never admits ':' (the separator of action ids)
// or spaces.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

const requestSyntax = `request <integration/cluster/database[/collection]> <role> <duration> [from <address>] [for <guest email>] [at <start> [zone]] [reason]`

const programmaticSyntax = `request service-account|api-key <integration/project | integration> <GROUP_... or ORG_... roles> <duration> from <address> [reason]`

const networkSyntax = `network <integration> <address> <duration> [reason]`

// Usage explains the access command. It leaves out the command's own name,
// which differs by platform (/access in Slack, "access" to the Teams bot).
func Usage() string {
	return strings.Join([]string{
		"Ask for temporary access to a MongoDB Atlas database:",
		"• (no text): open the request form",
		"• " + requestSyntax,
		`    e.g. request prod/Cluster0/sales/orders read 1h "INC-123 debugging"`,
		`    e.g. request prod/Cluster0/sales read 1h from 203.0.113.7 "INC-123" (from: the address you connect from goes on the access list too, where the flow allows it)`,
		`    e.g. request prod/Cluster0/sales read 2h at 2026-12-24T02:00 Europe/Berlin "maintenance" (at: approved ahead, from that time, at most 7 days ahead)`,
		"• " + uiRequestSyntax + ": Atlas UI access for your own Atlas account",
		`    e.g. request acme/payments-prod GROUP_READ_ONLY 2h INC-1, or request acme ORG_READ_ONLY 1h INC-1`,
		"• " + programmaticSyntax + ": a temporary programmatic credential for scripts and tools",
		`    e.g. request service-account acme/payments-prod GROUP_READ_ONLY 2h from 203.0.113.7 INC-1`,
		"• " + networkSyntax + ": let an address (or a range) reach a project's clusters",
		`    e.g. network prod 203.0.113.7 2h "INC-123 from home"`,
		"• list: your requests and active access",
		"• pending: requests waiting for your approval",
		"• cancel <id>: withdraw a pending request",
		"• revoke <id> [reason]: end access now",
		"• extend <id> <duration>: keep access longer, e.g. extend abc123 30m",
		"• rotate <id>: get a new password if you lost the first message",
		`    request ... for vendor@partner.com "reason": access for someone outside the company you sponsor, where a flow allows it; once approved, guest-link <id> makes the one-time link they sign in with`,
		"• breakglass <integration/cluster/database[/collection]> <role> <duration> <reason>: in an emergency, access at once without approval where a break-glass flow allows it (alerted and reviewed)",
		"• again <id>: ask again for what an ended request asked for (the same resource, role, duration and reason)",
		"• help: this text",
		"Durations: 30m, 2h, 1h30m, 1d.",
	}, "\n")
}

// Parse reads the text typed after the access command. Empty text means
// "open the request form". Errors are *flows.Error with code EINVALID, and
// their messages say what is wrong and how to write it.
func Parse(text string) (Command, error) {
	if len(text) > MaxCommandLength {
		return Command{}, flows.Errorf(flows.EINVALID, "the command is %d characters long; keep it under %d", len(text), MaxCommandLength)
	}
	if !utf8.ValidString(text) {
		return Command{}, flows.Errorf(flows.EINVALID, "the command is not valid UTF-8 text")
	}
	word, rest := nextWord(text)
	if word == "" {
		return Command{Verb: VerbForm}, nil
	}
	verb := Verb(strings.ToLower(word))
	switch verb {
	case VerbRequest:
		return parseRequest(rest)
	case VerbBreakGlass:
		cmd, err := parseRequest(rest)
		cmd.Verb = VerbBreakGlass
		return cmd, err
	case VerbNetwork:
		return parseNetwork(rest)
	case VerbList, VerbPending:
		if err := noMore(verb, rest); err != nil {
			return Command{}, err
		}
		return Command{Verb: verb}, nil
	case VerbHelp, "?":
		return Command{Verb: VerbHelp}, nil
	case VerbCancel, VerbRotate, VerbAgain, VerbGuestLink:
		id, rest, err := requestID(verb, rest, string(verb)+" <id>")
		if err != nil {
			return Command{}, err
		}
		if err := noMore(verb, rest); err != nil {
			return Command{}, err
		}
		return Command{Verb: verb, RequestID: id}, nil
	case VerbRevoke:
		id, rest, err := requestID(verb, rest, "revoke <id> [reason]")
		if err != nil {
			return Command{}, err
		}
		reason, err := parseReason(rest)
		if err != nil {
			return Command{}, err
		}
		return Command{Verb: verb, RequestID: id, Reason: reason}, nil
	case VerbExtend:
		return parseExtend(rest)
	}
	return Command{}, unknownVerb(word)
}

func parseRequest(rest string) (Command, error) {
	identity, rest := typedIdentity(rest)
	programmatic, rest := programmaticKind(rest)
	resText, rest := nextTarget(rest)
	roleText, rest := nextWord(rest)
	durText, rest := nextWord(rest)
	if durText == "" {
		if programmatic != "" {
			return Command{}, flows.Errorf(flows.EINVALID,
				"request %s needs a project (or the organization), roles, a duration and the address it is used from: %s", kindWord(programmatic), programmaticSyntax)
		}
		return Command{}, flows.Errorf(flows.EINVALID,
			"request needs a resource, a role and a duration: %s, e.g. request prod/Cluster0/sales/orders read 1h \"INC-123\"", requestSyntax)
	}
	// flows quotes what it refuses; a pasted paragraph would drown the
	// message, so overlong words are refused here with a short quote.
	if err := maxWord("resource", resText, maxResourceLength); err != nil {
		return Command{}, err
	}
	address, rest, err := parseFrom(rest)
	if err != nil {
		return Command{}, err
	}
	if programmatic != "" || flows.LooksLikeAtlasRole(roleText) {
		cmd, err := parseUIRequest(resText, roleText, durText, rest)
		if programmatic != "" {
			cmd.Kind = programmatic
		}
		cmd.Resource.Address = address // refused by flows where the kind takes none (Atlas UI access)
		cmd.Identity = identity        // refused by flows, as for any kind
		return cmd, err
	}
	res, err := flows.ParseResource(resText)
	if err != nil {
		return Command{}, err
	}
	roles, err := parseRoles(roleText)
	if err != nil {
		return Command{}, err
	}
	d, err := parseDuration(durText)
	if err != nil {
		return Command{}, err
	}
	guest, rest, err := parseFor(rest)
	if err != nil {
		return Command{}, err
	}
	start, rest, err := parseStart(rest)
	if err != nil {
		return Command{}, err
	}
	reason, err := parseReason(rest)
	if err != nil {
		return Command{}, err
	}
	res.Address = address // a combined grant: flows checks it against the flow's network rules
	return Command{Verb: VerbRequest, Resource: res, Roles: roles, Duration: d, Reason: reason, Identity: identity, StartAt: start, Guest: guest}, nil
}

// parseFrom reads "from <address>" where it may stand, right after the
// duration: the address a grant is used from (a database user's combined
// grant, a programmatic credential), in canonical form. Only its form is
// checked here; whether a flow allows it is flows' to say.
func parseFrom(rest string) (address, after string, err error) {
	word, after := nextWord(rest)
	if !strings.EqualFold(word, "from") {
		return "", rest, nil
	}
	addrText, after := nextWord(after)
	if addrText == "" {
		return "", "", flows.Errorf(flows.EINVALID, "from needs the address you connect from, one IP or a range: ... 1h from 203.0.113.7 \"INC-123\"")
	}
	if err := maxWord("address", addrText, maxResourceLength); err != nil {
		return "", "", err
	}
	p, err := flows.ParseAddress(addrText)
	if err != nil {
		return "", "", flows.WrapError(flows.EINVALID, err,
			"%s (after from comes the address you connect from; to begin a reason with the word from, quote the reason)", flows.ErrorMessage(err))
	}
	return p.String(), after, nil
}

// typedIdentity takes an AWS IAM ARN out of a request's words: jitbot names
// the identity a flow grants by the flow's template, so flows refuses one
// typed (saying which it would grant), whatever position it was typed in.
func typedIdentity(rest string) (identity, others string) {
	words := strings.Fields(rest)
	for i, w := range words {
		if len(w) > 4 && strings.EqualFold(w[:4], "arn:") {
			return w, strings.Join(append(words[:i:i], words[i+1:]...), " ")
		}
	}
	return "", rest
}

// parseNetwork reads network <integration> <address> <duration> [reason];
// integration/address as one word reads as well.
func parseNetwork(rest string) (Command, error) {
	inText, rest := nextWord(rest)
	addrText := ""
	if !strings.Contains(inText, "/") {
		addrText, rest = nextWord(rest)
	}
	durText, rest := nextWord(rest)
	if durText == "" {
		return Command{}, flows.Errorf(flows.EINVALID,
			"network needs an integration, an address and a duration: %s, e.g. network prod 203.0.113.7 2h \"INC-123\"", networkSyntax)
	}
	if err := maxWord("address", inText+addrText, maxResourceLength); err != nil {
		return Command{}, err
	}
	target := inText
	if addrText != "" {
		target = inText + "/" + addrText
	}
	res, err := flows.ParseAddressTarget(target)
	if err != nil {
		return Command{}, err
	}
	d, err := parseDuration(durText)
	if err != nil {
		return Command{}, err
	}
	reason, err := parseReason(rest)
	if err != nil {
		return Command{}, err
	}
	return Command{Verb: VerbNetwork, Kind: flows.KindAccessListEntry, Resource: res, Duration: d, Reason: reason}, nil
}

// parseRoles reads the roles of a database user: one, or several separated
// by commas (read,readWrite), each checked by flows.ValidateRole.
func parseRoles(text string) ([]string, error) {
	if err := maxWord("role", text, maxRolesLength); err != nil {
		return nil, err
	}
	roles := flows.ParseRoles(text)
	if len(roles) == 0 {
		return nil, flows.ValidateRole(text) // says what a role name looks like
	}
	for _, role := range roles {
		if err := maxWord("role", role, maxRoleLength); err != nil {
			return nil, err
		}
		if err := flows.ValidateRole(role); err != nil {
			return nil, err
		}
	}
	return roles, nil
}

func parseExtend(rest string) (Command, error) {
	id, rest, err := requestID(VerbExtend, rest, "extend <id> <duration>, e.g. extend abc123 1h")
	if err != nil {
		return Command{}, err
	}
	durText, rest := nextWord(rest)
	if durText == "" {
		return Command{}, flows.Errorf(flows.EINVALID, "extend needs a duration after the request id: extend %s <duration>, e.g. extend %s 1h", id, id)
	}
	d, err := parseDuration(durText)
	if err != nil {
		return Command{}, err
	}
	if err := noMore(VerbExtend, rest); err != nil {
		return Command{}, err
	}
	return Command{Verb: VerbExtend, RequestID: id, Duration: d}, nil
}

// The longest words Parse hands to flows: a resource is at most
// 64+64+63+255 characters and three slashes, a role 64 (and four of them,
// with commas, are more than any request needs); no sensible duration comes
// near 32.
const (
	maxResourceLength = 450
	maxRoleLength     = 64
	maxRolesLength    = 4 * (maxRoleLength + 1)
	maxDurationLength = 32
)

func maxWord(what, word string, limit int) error {
	if len(word) > limit {
		return flows.Errorf(flows.EINVALID, "the %s %s is %d characters long; at most %d", what, quote(word), len(word), limit)
	}
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if err := maxWord("duration", s, maxDurationLength); err != nil {
		return 0, err
	}
	return flows.ParseDuration(s)
}

// requestID reads the request id that cancel, revoke, extend and rotate need.
func requestID(verb Verb, rest, syntax string) (flows.RequestID, string, error) {
	id, after := nextWord(rest)
	if id == "" {
		return "", "", flows.Errorf(flows.EINVALID, "%s needs a request id: %s (list shows your requests and their ids)", verb, syntax)
	}
	if !ValidRequestID(id) {
		return "", "", flows.Errorf(flows.EINVALID, "%s is not a request id: ids are letters and digits, like abc23def45", quote(id))
	}
	return flows.RequestID(id), after, nil
}

// ValidRequestID reports whether s can be a request id.
func ValidRequestID(s string) bool { return requestIDPattern.MatchString(s) }

func noMore(verb Verb, rest string) error {
	if extra, _ := nextWord(rest); extra != "" {
		what := "no arguments"
		switch verb {
		case VerbCancel, VerbRotate, VerbGuestLink:
			what = "only a request id"
		case VerbExtend:
			what = "a request id and a duration"
		}
		return flows.Errorf(flows.EINVALID, "%s takes %s; unexpected %s", verb, what, quote(extra))
	}
	return nil
}

// parseReason reads the rest of the line as a reason. A reason wrapped in
// quotes loses them; one that opens a quote and never closes it is refused,
// since the person probably lost the end of it.
func parseReason(rest string) (string, error) {
	rest = strings.TrimFunc(rest, unicode.IsSpace)
	if rest == "" {
		return "", nil
	}
	open, size := utf8.DecodeRuneInString(rest)
	closers, quoted := quotePairs(open)
	if !quoted {
		return rest, nil
	}
	body := rest[size:]
	end := strings.IndexFunc(body, func(r rune) bool { return strings.ContainsRune(closers, r) })
	if end < 0 {
		return "", flows.Errorf(flows.EINVALID, "the reason opens a quote (%c) but never closes it", open)
	}
	_, closeSize := utf8.DecodeRuneInString(body[end:])
	if strings.TrimFunc(body[end+closeSize:], unicode.IsSpace) != "" {
		// Text after the closing quote: the quotes were part of the reason,
		// as in "INC-1" and "INC-2" both broke.
		return rest, nil
	}
	return strings.TrimFunc(body[:end], unicode.IsSpace), nil
}

// quotePairs returns the runes that may close a quote opened by r. Chat
// clients often turn straight quotes into typographic ones, so either form
// closes either.
func quotePairs(r rune) (closers string, ok bool) {
	switch r {
	case '"', '“', '”':
		return "\"”“", true
	case '\'', '‘', '’':
		return "'’‘", true
	}
	return "", false
}

// nextTarget splits off a resource, whose names may hold spaces inside
// double quotes (acme/"Project 0"/Cluster0/sales): a space outside quotes
// ends it. An unclosed quote runs to the end, and the resource's own
// parser refuses what it makes of it.
func nextTarget(s string) (word, rest string) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	quoted := false
	for i, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case unicode.IsSpace(r) && !quoted:
			return s[:i], s[i:]
		}
	}
	return s, ""
}

// nextWord splits off the first whitespace-separated word.
func nextWord(s string) (word, rest string) {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	i := strings.IndexFunc(s, unicode.IsSpace)
	if i < 0 {
		return s, ""
	}
	return s[:i], s[i:]
}

func unknownVerb(word string) error {
	if s := suggest(strings.ToLower(word)); s != "" {
		return flows.Errorf(flows.EINVALID, "unknown subcommand %s; did you mean %s?", quote(word), s)
	}
	vs := verbs()
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = string(v)
	}
	return flows.Errorf(flows.EINVALID, "unknown subcommand %s; use %s or %s",
		quote(word), strings.Join(names[:len(names)-1], ", "), names[len(names)-1])
}

// suggest returns the subcommand the person most likely meant: the only one
// starting with what they typed, or the closest within two typos.
func suggest(word string) string {
	var prefixed []Verb
	for _, v := range verbs() {
		if len(word) >= 2 && strings.HasPrefix(string(v), word) {
			prefixed = append(prefixed, v)
		}
	}
	if len(prefixed) == 1 {
		return string(prefixed[0])
	}
	best, bestDist := "", 3
	for _, v := range verbs() {
		if d := editDistance(word, string(v)); d < bestDist {
			best, bestDist = string(v), d
		}
	}
	return best
}

// editDistance is the Levenshtein distance, bounded to keep fuzzed input cheap.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 32 || len(rb) > 32 {
		return 1 << 10
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// quote quotes what a person typed for an error message, shortened so a
// pasted paragraph does not drown the message.
func quote(s string) string {
	const limit = 40
	if utf8.RuneCountInString(s) > limit {
		s = string([]rune(s)[:limit]) + "…"
	}
	return fmt.Sprintf("%q", s)
}

// startLayout is how a start time is typed: a date and a time of day, in
// the time zone named after it (UTC when none is).
const startLayout = "2006-01-02T15:04"

// parseStart reads "at <date>T<time> [zone]" at the start of rest, if it
// is there; flows judges the time itself (in the future, at most a week
// ahead).
func parseStart(rest string) (time.Time, string, error) {
	word, after := nextWord(rest)
	if !strings.EqualFold(word, "at") {
		return time.Time{}, rest, nil
	}
	when, after := nextWord(after)
	if when == "" || when[0] < '0' || when[0] > '9' {
		return time.Time{}, rest, nil // a reason that begins with "at"
	}
	if err := maxWord("start", when, len(startLayout)+3); err != nil {
		return time.Time{}, "", err
	}
	loc := time.UTC
	if zone, more := nextWord(after); zone == "UTC" || strings.Contains(zone, "/") && !strings.HasPrefix(zone, "\"") {
		l, err := time.LoadLocation(zone)
		if err != nil || len(zone) > 64 {
			return time.Time{}, "", flows.Errorf(flows.EINVALID, "%q is not a time zone: use a name such as Europe/Berlin or UTC", excerptWord(zone))
		}
		loc, after = l, more
	}
	t, err := time.ParseInLocation(startLayout, when, loc)
	if err != nil {
		return time.Time{}, "", flows.Errorf(flows.EINVALID, "%q is not a start time: write at 2026-12-24T02:00 Europe/Berlin (a date, T, the time of day, then a time zone)", excerptWord(when))
	}
	return t, after, nil
}

// excerptWord bounds a typed word quoted back.
func excerptWord(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
