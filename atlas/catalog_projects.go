package atlas

import (
	"context"
	"fmt"
	"slices"

	"github.com/jitbot/jitbot/flows"
)

var _ flows.ProjectCatalog = (*Catalog)(nil)

// Projects implements flows.ProjectCatalog: the projects of an
// organization-wide integration, clusters or not, with their tags and the
// owners their owner tag names, from the catalog (no call when it is
// fresh). An integration of one project lists none: its targets name no
// project.
func (c *Catalog) Projects(ctx context.Context, integration string) ([]flows.Project, error) {
	pr, err := c.p.project(integration)
	if err != nil {
		return nil, fmt.Errorf("atlas: list projects: %w", err)
	}
	if !pr.OrgWide() {
		return nil, nil
	}
	snap, err := c.snapshot(ctx, integration, false)
	if err != nil {
		return nil, fmt.Errorf("atlas: list projects of %s: %w", integration, err)
	}
	out := make([]flows.Project, 0, len(snap.projects))
	for _, id := range sortedKeys(snap.projects) {
		info := snap.projects[id]
		out = append(out, flows.Project{Name: info.name, ID: id, Tags: slices.Clone(info.tags), Owners: flowsOwnerTokens(info.tags, pr.OwnerTag)})
	}
	return out, nil
}
