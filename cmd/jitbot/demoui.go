package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
)

// The demo's Atlas UI grant: after her database user, alice asks for the
// project's GROUP_READ_ONLY role for her own Atlas account, to look at the
// cluster's metrics. She is in the Atlas organization but not in the
// project, so jitbot adds her to it with that role and removes her at the
// end.

// uiFlow offers Atlas UI access to the project, approved by olivia.
const uiFlow = `  - name: prod-ui
    kind: atlas_ui
    integration: prod
    requesters: ["*"]
    resources: ["*"]
    roles: [GROUP_READ_ONLY]
    default_duration: 1h
    max_duration: 4h
    approvers: [` + "olivia@example.com" + `]
    require_reason: true
`

const uiRole = "GROUP_READ_ONLY"

// demoAtlasRoles are the roles of the demo's service account: database
// users and discovery (Project Database Access Admin, Project Read Only),
// and for Atlas UI access Organization Read Only (find the person, read the
// event logs) and Project Access Manager (project members and their roles).
// Service accounts of the project need Project Owner (demokinds.go).
var demoAtlasRoles = []string{atlastest.RoleDatabaseAccessAdmin, atlastest.RoleReadOnly, atlastest.RoleOrgReadOnly, "GROUP_ACCESS_MANAGER", atlastest.RoleProjectOwner}

// addAliceToAtlas makes alice a member of the project's Atlas organization,
// with no role in the project: what Atlas UI access needs.
func (d *demo) addAliceToAtlas() error {
	_, err := d.rig.Atlas.AddOrgUser(atlastest.DefaultOrgID, atlastest.OrgUser{Username: rig.Alice.Email})
	return err
}

func (d *demo) aliceAsksForTheUI(ctx context.Context, j *journey) error {
	d.step("alice asks for Atlas UI access to the project (her own Atlas account), olivia approves, alice gives it back")
	if roles := d.rig.Atlas.ProjectRoles(rig.Project, rig.Alice.Email); len(roles) != 0 {
		return fmt.Errorf("alice holds %v in the project before asking", roles)
	}
	d.say("alice is in the Atlas organization but not in the project: she cannot see its metrics.")
	text := "request prod " + uiRole + " 1h INC-123 look at the cluster's metrics"
	form := d.rig.SlashForm(rig.Alice, text, d.rig.Slack.NewTriggerIDFor(rig.Alice.ID))
	d.said("alice", "Slack, #general", "/access "+text)
	if _, err := d.poster.Send(ctx, "/slack/commands", form); err != nil {
		return err
	}
	card, err := d.rig.WaitDM(ctx, rig.Olivia, "Atlas UI access", d.wait(0))
	if err != nil {
		return err
	}
	approve, ok := rig.Button(card, "approve:")
	if !ok {
		return errors.New("the Atlas UI access card has no Approve button")
	}
	j.uiID = flows.RequestID(strings.TrimPrefix(approve.Value, "approve:"))
	d.shown("olivia, in Slack", slackLines(card.Text, card.Blocks))
	j.slackCards = append(j.slackCards, slackCard{"alice's UI access", card})

	d.clicked("olivia", "Slack", "Approve")
	click, err := d.rig.ClickForm(rig.Olivia, approve.ActionID, approve.Value, card)
	if err != nil {
		return err
	}
	if _, err := d.poster.Send(ctx, "/slack/interactions", click); err != nil {
		return err
	}
	granted, err := d.rig.WaitDM(ctx, rig.Alice, "Access granted: request "+string(j.uiID), d.wait(0))
	if err != nil {
		return err
	}
	roles := d.rig.Atlas.ProjectRoles(rig.Project, rig.Alice.Email)
	if !slices.Equal(roles, []string{uiRole}) {
		return fmt.Errorf("after approval alice holds %v in the project, want [%s]", roles, uiRole)
	}
	d.say("jitbot adds alice's Atlas account to the project with %s (addGroupUsers); no password,", uiRole)
	d.say("no database user: she signs in to the Atlas UI as herself.")
	d.shown("alice, in Slack", slackLines(granted.Text, granted.Blocks))

	done, ok := rig.Button(granted, "revoke:")
	if !ok {
		return errors.New("alice's Atlas UI access message has no revoke button")
	}
	d.clicked("alice", "Slack", done.Text.Text)
	click, err = d.rig.ClickForm(rig.Alice, done.ActionID, done.Value, granted)
	if err != nil {
		return err
	}
	if _, err := d.poster.Send(ctx, "/slack/interactions", click); err != nil {
		return err
	}
	var revoked slacktest.Message
	if err := d.rig.WaitSlack(ctx, "the end of alice's Atlas UI access", d.wait(0), func() bool {
		m, ok := rig.LastWith(d.rig.Slack.DMs(rig.Alice.ID), "Access revoked: request "+string(j.uiID))
		revoked = m
		return ok && len(d.rig.Atlas.ProjectRoles(rig.Project, rig.Alice.Email)) == 0
	}); err != nil {
		return err
	}
	if _, still := d.rig.Atlas.OrgUser(atlastest.DefaultOrgID, rig.Alice.Email); !still {
		return errors.New("alice left the organization: jitbot took more than it gave")
	}
	d.say("jitbot removes alice from the project (removeGroupUser: %s was her only role there, and Atlas", uiRole)
	d.say("keeps every member at least one role); she stays in the organization, as before. Her roles in the project now: none.")
	d.shown("alice, in Slack", slackLines(revoked.Text, revoked.Blocks))
	return nil
}
