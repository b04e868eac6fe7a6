package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
)

// The demo's programmatic grant and passwordless grant (issue 14): alice
// asks for a service account for a script, used from one address, and for
// a database user that signs in through the company's identity provider
// (OIDC), with no password in chat.

// saAddress is where alice's script runs; elsewhere is an address it does
// not run from.
const (
	saAddress = "203.0.113.7"
	elsewhere = "198.51.100.9"
	// demoIdP is the Atlas id of the project's workforce identity provider.
	demoIdP = "0oa1demo2idp3"
	// oidcResource is what alice asks for as an OIDC user.
	oidcResource = "prod/Cluster0/reports"
)

// kindFlows offer a service account in the project, used from the office
// range; olivia approves.
const kindFlows = `  - name: prod-scripts
    kind: service_account
    integration: prod
    requesters: ["*"]
    resources: ["*"]
    roles: [GROUP_READ_ONLY]
    allowed_cidrs: [203.0.113.0/24]
    default_duration: 1h
    max_duration: 4h
    approvers: [` + "olivia@example.com" + `]
    require_reason: true
`

// oidcFlow offers OIDC database users on the reports database. It is
// added with the identity provider it needs (useIdentityProvider): the
// configuration is not valid without both.
const oidcFlow = `  - name: prod-reports-oidc
    integration: prod
    requesters: ["*"]
    resources: ["Cluster0/reports"]
    roles: [read]
    auth: oidc
    default_duration: 1h
    max_duration: 4h
    approvers: [` + "olivia@example.com" + `]
    require_reason: true
`

// useIdentityProvider names the project's OIDC identity provider in
// jitbot's configuration and adds the flow of OIDC users, which needs it.
func (d *demo) useIdentityProvider() error {
	text, err := os.ReadFile(d.rig.ConfigPath)
	if err != nil {
		return err
	}
	const anchor = "    owner_tag: owner\n"
	if !strings.Contains(string(text), anchor) {
		return errors.New("the rig's configuration has no owner_tag to put the identity provider beside")
	}
	out := strings.Replace(string(text), anchor, anchor+"    oidc_identity_provider_id: "+demoIdP+"\n", 1)
	out = strings.TrimRight(out, "\n") + "\n" + oidcFlow // flows: is the configuration's last section
	if err := os.WriteFile(d.rig.ConfigPath, []byte(out), 0o600); err != nil {
		return err
	}
	_, err = d.rig.Config()
	return err
}

// askAndApprove has alice type text in Slack and olivia approve the card
// that says needle, and returns the request's id and alice's message once
// access is granted.
func (d *demo) askAndApprove(ctx context.Context, j *journey, about, text, needle string) (flows.RequestID, slacktest.Message, error) {
	form := d.rig.SlashForm(rig.Alice, text, d.rig.Slack.NewTriggerIDFor(rig.Alice.ID))
	d.said("alice", "Slack, #general", "/access "+text)
	if _, err := d.poster.Send(ctx, "/slack/commands", form); err != nil {
		return "", slacktest.Message{}, err
	}
	card, err := d.rig.WaitDM(ctx, rig.Olivia, needle, d.wait(0))
	if err != nil {
		return "", slacktest.Message{}, err
	}
	approve, ok := rig.Button(card, "approve:")
	if !ok {
		return "", slacktest.Message{}, fmt.Errorf("the card of %s has no Approve button", about)
	}
	id := flows.RequestID(strings.TrimPrefix(approve.Value, "approve:"))
	d.shown("olivia, in Slack", slackLines(card.Text, card.Blocks))
	j.slackCards = append(j.slackCards, slackCard{about, card})
	d.clicked("olivia", "Slack", "Approve")
	click, err := d.rig.ClickForm(rig.Olivia, approve.ActionID, approve.Value, card)
	if err != nil {
		return "", slacktest.Message{}, err
	}
	if _, err := d.poster.Send(ctx, "/slack/interactions", click); err != nil {
		return "", slacktest.Message{}, err
	}
	granted, err := d.rig.WaitDM(ctx, rig.Alice, "Access granted: request "+string(id), d.wait(0))
	return id, granted, err
}

// giveBack has alice press the revoke button of her message granted, and
// waits until gone says Atlas no longer holds the grant.
func (d *demo) giveBack(ctx context.Context, id flows.RequestID, granted slacktest.Message, gone func() bool) (slacktest.Message, error) {
	done, ok := rig.Button(granted, "revoke:")
	if !ok {
		return slacktest.Message{}, errors.New("alice's message has no revoke button")
	}
	d.clicked("alice", "Slack", done.Text.Text)
	click, err := d.rig.ClickForm(rig.Alice, done.ActionID, done.Value, granted)
	if err != nil {
		return slacktest.Message{}, err
	}
	if _, err := d.poster.Send(ctx, "/slack/interactions", click); err != nil {
		return slacktest.Message{}, err
	}
	var revoked slacktest.Message
	err = d.rig.WaitSlack(ctx, "the end of request "+string(id), d.wait(0), func() bool {
		m, ok := rig.LastWith(d.rig.Slack.DMs(rig.Alice.ID), "Access revoked: request "+string(id))
		revoked = m
		return ok && gone()
	})
	return revoked, err
}

func (d *demo) aliceAsksForAServiceAccount(ctx context.Context, j *journey) error {
	d.step("alice asks for a service account for a script that runs on %s; it works from there only, and goes when she is done", saAddress)
	text := "request service-account prod GROUP_READ_ONLY 1h from " + saAddress + " INC-124 nightly export script"
	id, granted, err := d.askAndApprove(ctx, j, "alice's service account", text, "a service account with GROUP_READ_ONLY")
	if err != nil {
		return err
	}
	j.saID = id
	accounts := d.rig.Atlas.ServiceAccounts(atlastest.DefaultOrgID)
	if len(accounts) != 1 {
		return fmt.Errorf("want one service account in Atlas, found %d", len(accounts))
	}
	sa := accounts[0]
	if roles := sa.Projects[rig.Project]; len(roles) != 1 || roles[0] != "GROUP_READ_ONLY" || len(sa.AccessList) != 1 || sa.AccessList[0] != saAddress+"/32" {
		return fmt.Errorf("the service account in Atlas: roles %v in the project, access list %v", sa.Projects[rig.Project], sa.AccessList)
	}
	d.say("jitbot creates the service account %s in the project with GROUP_READ_ONLY (createGroupServiceAccount)", sa.Name)
	d.say("and puts %s/32 on its own access list; its secret expires in Atlas by itself at %s UTC.", saAddress,
		sa.Secrets[0].ExpiresAt.UTC().Format("Mon 2 Jan 15:04"))
	lines := slackLines(granted.Text, granted.Blocks)
	clientID, secret := "", ""
	for i, line := range lines {
		label, value, ok := strings.Cut(line, ": ")
		switch {
		case ok && label == "Client id":
			clientID = value
		case ok && label == "Client secret":
			secret = value
			lines[i] = "Client secret: " + strings.Repeat("•", 12) + " (hidden in this transcript)"
		}
	}
	d.shown("alice, in Slack (privately, once)", lines)
	clientID, secret = strings.Trim(clientID, "`"), strings.Trim(secret, "`")
	if err := d.rig.Atlas.VerifyServiceAccount(clientID, secret, netip.MustParseAddr(saAddress)); err != nil {
		return fmt.Errorf("the client id and secret in the DM do not work from %s: %w", saAddress, err)
	}
	if err := d.rig.Atlas.VerifyServiceAccount(clientID, secret, netip.MustParseAddr(elsewhere)); err == nil {
		return fmt.Errorf("the service account works from %s too", elsewhere)
	}
	d.say("✓ checked: that client id and secret get a token from %s, and not from %s.", saAddress, elsewhere)

	revoked, err := d.giveBack(ctx, id, granted, func() bool {
		return d.rig.Atlas.VerifyServiceAccount(clientID, secret, netip.MustParseAddr(saAddress)) != nil
	})
	if err != nil {
		return err
	}
	left := d.rig.Atlas.ServiceAccounts(atlastest.DefaultOrgID)
	for _, a := range left {
		if a.ClientID == clientID && (len(a.Secrets) != 0 || len(a.Projects) != 0) {
			return fmt.Errorf("after the revocation the service account keeps secrets %v and projects %v", a.Secrets, a.Projects)
		}
	}
	d.say("jitbot deletes its secrets and takes it out of the project (deleteGroupServiceAccount): it works nowhere now.")
	if len(left) != 0 {
		d.say("(Deleting it from the organization takes Organization Owner, which this jitbot does not hold: it stays there, secretless.)")
	}
	d.shown("alice, in Slack", slackLines(revoked.Text, revoked.Blocks))
	return nil
}

func (d *demo) aliceAsksAsHerself(ctx context.Context, j *journey) error {
	d.step("alice asks for a database user that signs in through the company's identity provider: no password in chat")
	text := "request " + oidcResource + " read 1h INC-125 quarterly report"
	id, granted, err := d.askAndApprove(ctx, j, "alice's OIDC user", text, "signing in with OIDC")
	if err != nil {
		return err
	}
	j.oidcID = id
	username := demoIdP + "/" + rig.Alice.Email
	u, ok := d.rig.Atlas.User(rig.Project, username)
	if !ok || u.OIDCAuthType != "USER" || u.DatabaseName != "$external" {
		return fmt.Errorf("no OIDC user %s in Atlas (found %v: %+v)", username, ok, u)
	}
	d.say("jitbot creates the Atlas database user %s (oidcAuthType USER, in $external): the name comes", username)
	d.say("from the flow and alice's email, never from what she types, and there is no password to send.")
	d.shown("alice, in Slack", slackLines(granted.Text, granted.Blocks))
	if all := granted.AllText(); strings.Contains(all, "Password") || !strings.Contains(all, "MONGODB-OIDC") {
		return errors.New("alice's OIDC message carries a password, or no MONGODB-OIDC instructions")
	}
	d.say("✓ checked: no password in the message; it says how to sign in (MONGODB-OIDC).")
	revoked, err := d.giveBack(ctx, id, granted, func() bool {
		_, still := d.rig.Atlas.User(rig.Project, username)
		return !still
	})
	if err != nil {
		return err
	}
	d.say("jitbot deletes the OIDC user; alice's identity provider account is hers, untouched.")
	d.shown("alice, in Slack", slackLines(revoked.Text, revoked.Blocks))
	return nil
}
