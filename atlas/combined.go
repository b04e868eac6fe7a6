package atlas

import (
	"context"

	"github.com/jitbot/jitbot/flows"
)

// A combined grant is a database user asked for from an address (`from
// 198.51.100.7`, Resource.Address): approved together, the address goes on
// the project's IP access list with the user and comes off with it. The
// entry follows every rule of network access (accesslist.go): it is shared
// with the other live grants of the address, network access or combined
// (Grant.Holders, which the service reads across both kinds), its
// deleteAfterDate the latest of their backstops, and an entry that was there
// before jitbot is used as it is and never removed.

// entryGrant is the access-list side of a combined grant.
func entryGrant(g flows.Grant) flows.Grant {
	e := g
	e.Kind, e.Principal = flows.KindAccessListEntry, g.Resource.Address
	e.Resource = flows.Resource{Integration: g.Integration, Address: g.Resource.Address}
	e.Roles = []string{flows.RoleConnect}
	return e
}

// addEntry puts a combined grant's address on the access list, adding what
// the requester should know of it to the user's credentials.
func (p *Provisioner) addEntry(ctx context.Context, g flows.Grant, creds flows.Credentials) (flows.Credentials, error) {
	if g.Resource.Address == "" {
		return creds, nil
	}
	if _, err := p.accessList.Create(ctx, entryGrant(g)); err != nil {
		return flows.Credentials{}, err
	}
	creds.Fields = append(creds.Fields, flows.CredentialField{Key: flows.FieldAddress, Label: "From", Value: g.Resource.Address, Mono: true})
	note := "Atlas accepts connections from " + g.Resource.Address + " until this access ends; connections already open may stay open for a while after."
	if creds.Instructions == "" {
		creds.Instructions = note
	} else {
		creds.Instructions = note + "\n\n" + creds.Instructions
	}
	return creds, nil
}
