package atlas

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"

	"github.com/jitbot/jitbot/flows"
)

// checkDatabase is the database the write dry run grants read on; nothing is
// ever written to it.
const checkDatabase = "jitbot_check"

// Ping proves the integration's project answers, cheaply, for readiness
// probes. For an organization-wide integration it reads the organization,
// and fails while the catalog's last refresh did (the last good catalog is
// still served: Ping says how old it is).
func (p *Provisioner) Ping(ctx context.Context, integration string) error {
	pr, err := p.project(integration)
	if err != nil {
		return fmt.Errorf("atlas: ping: %w", err)
	}
	if pr.OrgWide() {
		err = p.do(ctx, pr, "getOrg", func(ctx context.Context) (*http.Response, error) {
			_, resp, err := pr.api.OrganizationsApi.GetOrg(ctx, pr.OrganizationID).Execute()
			return resp, err
		})
		if err == nil {
			h, _ := p.catalog.Health(integration)
			err = h.problem(p.clock.Now())
		}
	} else {
		err = p.getGroup(ctx, pr)
	}
	if err != nil {
		return fmt.Errorf("atlas: ping %s: %w", integration, err)
	}
	return nil
}

func (p *Provisioner) getGroup(ctx context.Context, pr *project) error {
	return p.do(ctx, pr, "getGroup", func(ctx context.Context) (*http.Response, error) {
		_, resp, err := pr.api.ProjectsApi.GetGroup(ctx, pr.ProjectID).Execute()
		return resp, err
	})
}

// Check proves that the integration's credentials work and carry the roles
// jitbot needs (for `jitbot check -online`): it reads the project, its
// clusters and its database users, then creates a user that can do nothing
// harmful and deletes it again. The test user has a one-hour deleteAfterDate,
// so even a failed delete leaves nothing behind for long.
func (p *Provisioner) Check(ctx context.Context, integration string) error {
	pr, err := p.project(integration)
	if err != nil {
		return fmt.Errorf("atlas: check: %w", err)
	}
	step := func(what string, err error) error {
		return fmt.Errorf("atlas: check %s: %s: %w", integration, what, err)
	}
	if pr.OrgWide() {
		// The organization's projects and clusters, as a refresh reads them
		// (Organization Read Only); then the user checks below in one of its
		// projects with clusters.
		if err := p.catalog.Refresh(ctx, integration); err != nil {
			return step("discover the organization's projects and clusters", err)
		}
		snap, err := p.catalog.snapshot(ctx, integration, false)
		if err != nil {
			return step("discover the organization's projects and clusters", err)
		}
		if len(snap.clusters) == 0 {
			p.log.InfoContext(ctx, "atlas check passed: the organization has no cluster to check database users in", "integration", integration,
				"projects", len(snap.projects))
			return nil
		}
		first := snap.clusters[0]
		pr = p.view(pr, first.ProjectID)
		integration = fmt.Sprintf("%s (project %s)", integration, first.Project)
	}
	if err := p.getGroup(ctx, pr); err != nil {
		return step("read the project", err)
	}
	var clusters []admin.ClusterDescription20240805
	err = p.do(ctx, pr, "listClusters", func(ctx context.Context) (*http.Response, error) {
		res, resp, err := pr.api.ClustersApi.ListClusters(ctx, pr.ProjectID).ItemsPerPage(clustersPerPage).Execute()
		clusters = res.GetResults()
		return resp, err
	})
	if err != nil {
		return step("list clusters", err)
	}
	err = p.do(ctx, pr, "listDatabaseUsers", func(ctx context.Context) (*http.Response, error) {
		_, resp, err := pr.api.DatabaseUsersApi.ListDatabaseUsers(ctx, pr.ProjectID).ItemsPerPage(1).Execute()
		return resp, err
	})
	if err != nil {
		return step("list database users", err)
	}

	username := usernamePrefix + "check-" + strings.ToLower(newPassword()[:10])
	u := admin.NewCloudDatabaseUser(authDatabase, pr.ProjectID,
		[]admin.DatabaseUserRole{{RoleName: "read", DatabaseName: checkDatabase}}, username)
	u.Password = admin.PtrString(newPassword())
	if len(clusters) > 0 {
		// Scoped to one cluster so the user could reach as little as possible.
		u.Scopes = &[]admin.UserScope{{Name: clusters[0].GetName(), Type: scopeTypeCluster}}
	}
	u.Labels = labels(LabelManagedBy, ManagedByValue, labelCheck, "true")
	u.Description = admin.PtrString("jitbot check: proves jitbot may manage users; deleted at once")
	at := p.clock.Now().Add(time.Hour).UTC().Truncate(time.Second)
	u.DeleteAfterDate = &at
	err = p.do(ctx, pr, "createDatabaseUser", func(ctx context.Context) (*http.Response, error) {
		_, resp, err := pr.api.DatabaseUsersApi.CreateDatabaseUser(ctx, pr.ProjectID, u).Execute()
		return resp, err
	})
	if err != nil {
		return step("create a test database user", err)
	}
	if err := p.delete(ctx, flows.Grant{Kind: flows.KindDatabaseUser, Integration: pr.Name, Principal: username,
		Resource: flows.Resource{ProjectID: pr.ProjectID}}); err != nil {
		return step(fmt.Sprintf("delete test user %s (Atlas removes it within the hour)", username), err)
	}
	p.log.InfoContext(ctx, "atlas check passed", "integration", integration, "clusters", len(clusters))
	return nil
}
