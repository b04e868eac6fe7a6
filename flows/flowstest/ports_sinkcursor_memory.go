package flowstest

import (
	"context"
	"errors"
)

var _ SinkCursors = (*Store)(nil)

// SinkCursor implements store/auditsink.Cursors (SinkCursors here).
func (s *Store) SinkCursor(ctx context.Context, sink string) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fx.sinks[sink], ctx.Err()
}

// AdvanceSinkCursor implements store/auditsink.Cursors: it moves forward
// only.
func (s *Store) AdvanceSinkCursor(ctx context.Context, sink string, seq uint64) error {
	if sink == "" {
		return errors.New("flowstest: advance a sink cursor: the sink has no name")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fx.sinks == nil {
		s.fx.sinks = map[string]uint64{}
	}
	s.fx.sinks[sink] = max(s.fx.sinks[sink], seq)
	return ctx.Err()
}
