package app

import (
	"github.com/jitbot/jitbot/atlas"
	"github.com/jitbot/jitbot/flows"
)

// provisioners registers the provisioner of every kind jitbot grants over
// one Atlas adapter: database users, and Atlas UI access over the same
// clients.
func provisioners(p *atlas.Provisioner) flows.Provisioners {
	return flows.Provisioners{
		flows.KindDatabaseUser: p,
		flows.KindAtlasUI:      atlas.NewUIAccess(p, atlas.UIConfig{}),
	}
}
