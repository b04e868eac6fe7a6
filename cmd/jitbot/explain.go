package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
)

// explain is `jitbot explain <person> <resource> [role]`: how the policy
// treats that person asking for that resource, from the configuration file
// alone (no secret, no call to Atlas or Slack), so that a CI job can test a
// policy change before it ships. It exits 1 when the request would be
// refused, so that a test can expect either.
func (e *env) explain(args []string) error {
	fs, path := e.flags("explain")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 2 || fs.NArg() > 3 {
		return usageErr("explain: want <person> <resource> [role], such as alice@example.com prod/Cluster0/sales readWrite")
	}
	policy, err := config.LoadPolicy(*path, e.lookup)
	if err != nil {
		return loadError(*path, err)
	}
	var roles []string
	if fs.NArg() == 3 {
		roles = flows.ParseRoles(fs.Arg(2))
	}
	// An address (prod/203.0.113.7) asks about network access, Atlas roles
	// (GROUP_READ_ONLY) about Atlas UI access; anything else, a database user.
	var kind flows.Kind
	if _, err := flows.ParseAddressTarget(fs.Arg(1)); err == nil {
		kind = flows.KindAccessListEntry
	} else if fs.NArg() == 3 && flows.LooksLikeAtlasRole(fs.Arg(2)) {
		kind = flows.KindAtlasUI
	}
	ex, err := policy.Explain(fs.Arg(0), kind, fs.Arg(1), roles)
	if err != nil {
		return fmt.Errorf("explain: %s", flows.ErrorMessage(err))
	}
	writeExplanation(e.stdout, ex)
	if ex.Refused != "" {
		what := "anything"
		if len(ex.Roles) > 0 {
			what = flows.FormatRoles(ex.Roles)
		}
		return fmt.Errorf("%s may not ask for %s on %s", ex.Person, what, ex.Target)
	}
	return nil
}

// writeExplanation prints ex for people.
func writeExplanation(w io.Writer, ex *flows.Explanation) {
	asked := "any role"
	if len(ex.Roles) > 0 {
		asked = flows.FormatRoles(ex.Roles)
	}
	kind := "a " + ex.Kind.Name
	if strings.HasSuffix(ex.Kind.Name, " access") {
		kind = ex.Kind.Name // network access, Atlas UI access
	}
	fmt.Fprintf(w, "%s asking for %s on %s (%s)\n", ex.Person, asked, ex.Target, kind)
	if ex.Admin {
		fmt.Fprintf(w, "%s is an admin: they may revoke any grant, and ask for access as anyone may.\n", ex.Person)
	}

	fmt.Fprintln(w)
	if len(ex.Covering) == 0 {
		fmt.Fprintf(w, "No access flow covers %s.\n", ex.Target)
	} else {
		fmt.Fprintf(w, "Access flows that cover %s:\n", ex.Target)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, c := range ex.Covering {
			who := "not among its requesters"
			switch {
			case c.Admits != "":
				who = "a requester (" + c.Admits + ")"
			case len(c.MayAdmit) > 0:
				who = "a requester only if Slack puts them in " + strings.Join(c.MayAdmit, " or ")
			}
			fmt.Fprintf(tw, "  %s\tvia %s\troles %s\t%s\n", c.Flow.Name, c.Pattern, strings.Join(c.Flow.Roles, ", "), who)
		}
		_ = tw.Flush()
		for _, c := range ex.Covering {
			if bg := flows.DescribeBreakGlass(c.Flow); bg != "" {
				fmt.Fprintf(w, "  %s is a %s\n", c.Flow.Name, bg)
			}
		}
	}

	for _, rt := range ex.Routes {
		f := rt.Flow
		fmt.Fprintf(w, "\n%s goes through access flow %s:\n", flows.FormatRoles(rt.Roles), f.Name)
		if f.AutoApprove {
			fmt.Fprintln(w, "  approved at once (auto_approve): nobody is asked")
		} else {
			if len(rt.Approvers) > 0 {
				fmt.Fprintf(w, "  %d approval(s), from:\n", f.Approvals)
			}
			for _, a := range rt.Approvers {
				fmt.Fprintf(w, "    %s\n", approverLine(a))
			}
			if len(rt.Groups) > 0 {
				fmt.Fprintln(w, "  approvals from each group (one person counts once, toward one group):")
			}
			for _, g := range rt.Groups {
				fmt.Fprintf(w, "    %s\n", groupLine(g))
			}
			if rt.SelfExcluded {
				fmt.Fprintf(w, "  %s is among them, but nobody approves their own request\n", ex.Person)
			}
		}
		line := fmt.Sprintf("  for %s unless asked otherwise, at most %s; pending at most %s", flows.FormatDuration(f.DefaultDuration),
			flows.FormatDuration(f.MaxDuration), flows.FormatDuration(f.PendingTTL))
		if f.RequireReason {
			line += "; a reason is required"
		}
		if f.ExtendRequiresApproval && !f.AutoApprove {
			line += "; extending needs approval"
		}
		fmt.Fprintln(w, line)
		if h := flows.DescribeHours(f); h != "" {
			fmt.Fprintln(w, "  "+h)
		}
		for _, l := range flows.DescribeEscalation(f) {
			fmt.Fprintln(w, "  "+l)
		}
	}

	fmt.Fprintln(w)
	if ex.Refused != "" {
		fmt.Fprintf(w, "Refused: %s\n", ex.Refused)
		return
	}
	var may []string
	for _, rt := range ex.Routes {
		may = append(may, fmt.Sprintf("%s (%s)", flows.FormatRoles(rt.Roles), rt.Flow.Name))
	}
	fmt.Fprintf(w, "%s may ask for, on %s: %s\n", ex.Person, ex.Target, strings.Join(may, ", "))
}

// approverLine says who an approver rule names, as far as the policy
// knows: the owner tag and Slack user groups are read while jitbot runs.
func approverLine(a flows.ApproverRule) string {
	people := "nobody the policy names"
	if len(a.People) > 0 {
		people = strings.Join(a.People, ", ")
	}
	slack := ""
	if len(a.SlackGroups) > 0 {
		slack = ", and the members of Slack user group(s) @" + strings.Join(a.SlackGroups, ", @") + " (read from Slack while jitbot runs)"
	}
	switch a.Rule.Kind {
	case flows.Owners:
		return fmt.Sprintf("owners: whoever the cluster's %q tag names, else the integration's owners: %s%s", a.OwnerTag, people, slack)
	case flows.IntegrationOwners:
		return fmt.Sprintf("integration-owners: %s%s", people, slack)
	}
	return fmt.Sprintf("%s: %s%s", a.Rule, people, slack)
}

// groupLine says what one approvals_from group must give, and who is in it.
func groupLine(g flows.GroupRule) string {
	people := "nobody the policy names"
	if len(g.People) > 0 {
		people = strings.Join(g.People, ", ")
	}
	if len(g.SlackGroups) > 0 {
		people += ", and the members of Slack user group(s) @" + strings.Join(g.SlackGroups, ", @") + " (read from Slack while jitbot runs)"
	}
	return fmt.Sprintf("%d from group %s: %s", g.Count, g.Group, people)
}
