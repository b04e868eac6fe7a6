package app

import (
	"github.com/jitbot/jitbot/cmd/internal/jira"
	"github.com/jitbot/jitbot/cmd/internal/pagerduty"
	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
)

// integrations builds the ports to PagerDuty and Jira the configuration
// names (nil when it names neither: flows then refuses a policy that
// needs them).
func integrations(cfg *config.Config) (flows.OnCall, flows.Tickets, error) {
	var oncall flows.OnCall
	var tickets flows.Tickets
	if cfg.PagerDuty != nil {
		c, err := pagerduty.New(*cfg.PagerDuty)
		if err != nil {
			return nil, nil, err
		}
		oncall = c
	}
	if cfg.Jira != nil {
		c, err := jira.New(*cfg.Jira)
		if err != nil {
			return nil, nil, err
		}
		tickets = c
	}
	return oncall, tickets, nil
}
