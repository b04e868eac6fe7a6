package flows

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
)

// Conditions a flow sets on a request before it is routed. A reason
// pattern makes the reason name what the team tracks work by (a ticket
// key, an incident id): the request is refused, with the flow's message,
// when the reason does not match.

// maxReasonPattern bounds a reason pattern: Go's regexp runs in linear
// time, so the bound is on what a person can read, not on safety.
const maxReasonPattern = 200

// compileConditions validates a flow's conditions.
func (p *Policy) compileConditions(v *validator, at string, fs FlowSpec, f *Flow) {
	if fs.ReasonPattern == "" {
		if fs.ReasonMessage != "" {
			v.add(at+".reason_message", "a message without reason_pattern is never shown")
		}
		return
	}
	if len(fs.ReasonPattern) > maxReasonPattern {
		v.add(at+".reason_pattern", "%d characters; at most %d", len(fs.ReasonPattern), maxReasonPattern)
		return
	}
	re, err := regexp.Compile(fs.ReasonPattern)
	if err != nil {
		v.add(at+".reason_pattern", "%q is not a regular expression (Go RE2 syntax): %v", fs.ReasonPattern, unwrapRegexp(err))
		return
	}
	if re.MatchString("") {
		v.add(at+".reason_pattern", "%q matches an empty reason, so it requires nothing: anchor it (^) or ask for something, like ^[A-Z]+-[0-9]+", fs.ReasonPattern)
		return
	}
	f.ReasonPattern, f.ReasonMessage = re, fs.ReasonMessage
}

func unwrapRegexp(err error) string {
	if se := (*syntax.Error)(nil); errors.As(err, &se) {
		return fmt.Sprintf("%s: %q", se.Code, se.Expr)
	}
	return err.Error()
}

// checkReasonPattern refuses a reason the flow's pattern does not match.
func (f *Flow) checkReasonPattern(reason string) error {
	if f.ReasonPattern == nil || f.ReasonPattern.MatchString(reason) {
		return nil
	}
	msg := f.ReasonMessage
	if msg == "" {
		msg = "the reason must match " + f.ReasonPattern.String()
	}
	return Errorf(EINVALID, "access flow %s refuses this reason: %s", f.Name, msg)
}
