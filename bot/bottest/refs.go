package bottest

import (
	"context"
	"slices"
	"sync"

	"github.com/jitbot/jitbot/bot"
	"github.com/jitbot/jitbot/flows"
)

// Refs is an in-memory bot.MessageRefs. The zero value is ready to use.
type Refs struct {
	mu   sync.Mutex
	refs map[flows.RequestID][]flows.MessageRef
	// Fail, when set, is returned by every call instead of doing it.
	Fail error
}

var _ bot.MessageRefs = (*Refs)(nil)

// AddMessageRef implements bot.MessageRefs.
func (r *Refs) AddMessageRef(_ context.Context, requestID flows.RequestID, ref flows.MessageRef) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail != nil {
		return r.Fail
	}
	if r.refs == nil {
		r.refs = map[flows.RequestID][]flows.MessageRef{}
	}
	r.refs[requestID] = append(r.refs[requestID], ref)
	return nil
}

// MessageRefs implements bot.MessageRefs.
func (r *Refs) MessageRefs(_ context.Context, requestID flows.RequestID) ([]flows.MessageRef, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.Fail != nil {
		return nil, r.Fail
	}
	return slices.Clone(r.refs[requestID]), nil
}
