package flowstest

import (
	"testing"

	"github.com/jitbot/jitbot/flows"
)

func TestMemoryStore(t *testing.T) {
	StoreSuite(t, func(t *testing.T) (flows.Store, func() []flows.Event) {
		s := NewStore()
		return s, s.Events
	})
}
