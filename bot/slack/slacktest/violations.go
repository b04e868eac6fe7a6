package slacktest

import (
	"slices"
	"time"
)

// Rule names a Slack limit the bot broke.
type Rule string

// The limits the fake watches.
const (
	// RulePacing: more than one chat.postMessage per channel within the
	// WithPacing gap.
	RulePacing Rule = "channel_pacing"
	// RuleTriggerID: views.open or views.push with an unknown, already used
	// or expired trigger_id.
	RuleTriggerID Rule = "trigger_id"
	// RuleResponseURL: a post to an unknown, expired or exhausted response_url.
	RuleResponseURL Rule = "response_url"
	// RuleAckDeadline: a Socket Mode envelope acked later than AckDeadline.
	RuleAckDeadline Rule = "ack_deadline"
)

// AckDeadline is how long Slack waits for an ack before it shows the user a
// timeout error.
const AckDeadline = 3 * time.Second

// Violation is one breach of a Slack limit.
type Violation struct {
	Rule    Rule
	Method  string
	Channel string
	Detail  string
	At      time.Time
}

// Violations returns every recorded breach, oldest first. Tests that exercise
// the happy path can require it to be empty.
func (s *Server) Violations() []Violation {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.violations)
}

func (s *Server) violateLocked(v Violation) {
	s.violations = append(s.violations, v)
	s.log.Debug("slacktest violation", "rule", string(v.Rule), "method", v.Method, "detail", v.Detail)
}
