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

func openMemory(*testing.T) Backend { return NewStore() }

func TestMemoryAudit(t *testing.T) {
	AuditSuite(t, openMemory, func(_ *testing.T, b Backend, seq uint64) { b.(*Store).TamperAudit(seq) })
}

func TestMemoryChatState(t *testing.T) { ChatStateSuite(t, openMemory) }

func TestMemoryInbox(t *testing.T) { InboxSuite(t, openMemory, nil) }

func TestMemoryOutbox(t *testing.T) { OutboxSuite(t, openMemory, nil) }

func TestMemoryAuditReader(t *testing.T) { AuditReaderSuite(t, openMemory) }

func TestMemorySinkCursors(t *testing.T) {
	SinkCursorSuite(t, func(*testing.T) SinkCursors { return NewStore() }, nil)
}

func TestMemorySignIns(t *testing.T) {
	SignInSuite(t, func(*testing.T) SignIns { return NewStore() }, nil)
}
