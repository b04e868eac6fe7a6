package etcdstore

import (
	"context"
	"fmt"
	"net/url"
	"strconv"

	"github.com/jitbot/jitbot/flows"
)

// The audit sinks' cursors (auditsink.Cursors): one key per sink holding
// the last sequence number it acknowledged, moved forward only, by a
// compare-and-swap on the key's revision.

func (s *Store) sinkCursorKey(sink string) string { return s.p + "auditsink/" + url.PathEscape(sink) }

// SinkCursor returns the last seq sink acknowledged (0: none).
func (s *Store) SinkCursor(ctx context.Context, sink string) (uint64, error) {
	var cur uint64
	err := s.read(ctx, "audit sink cursor "+sink, func(ctx context.Context) error {
		kvs, err := s.getAll(ctx, 0, s.sinkCursorKey(sink))
		if err != nil {
			return err
		}
		cur, err = decodeUint(kvs[0])
		return err
	})
	return cur, err
}

// AdvanceSinkCursor records that sink acknowledged every record up to seq;
// a seq at or below the one recorded changes nothing.
func (s *Store) AdvanceSinkCursor(ctx context.Context, sink string, seq uint64) error {
	if sink == "" {
		return flows.Errorf(flows.EINVALID, "an audit sink needs a name")
	}
	return s.retry(ctx, fmt.Sprintf("advance audit sink cursor %s to %d", sink, seq), func(ctx context.Context) (bool, error) {
		k := s.sinkCursorKey(sink)
		kvs, err := s.getAll(ctx, 0, k)
		if err != nil {
			return false, err
		}
		cur, err := decodeUint(kvs[0])
		if err != nil {
			return false, err
		}
		if seq <= cur {
			return true, nil
		}
		c := &change{}
		c.unchanged(k, kvs[0])
		c.put(k, strconv.FormatUint(seq, 10))
		return s.commit(ctx, c)
	})
}
