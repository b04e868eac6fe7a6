package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// Status is what the cluster says of itself, for metrics and alerts: etcd
// keeps every revision of every key until it is compacted, and stops
// taking writes once its database reaches its quota (the NOSPACE alarm).
type Status struct {
	// DBSize is the largest database file among the members reached, and
	// DBSizeInUse the part of it holding data (the rest is free pages a
	// defragmentation returns).
	DBSize, DBSizeInUse int64
	// Quota is the smallest --quota-backend-bytes among them: past it,
	// etcd raises NOSPACE and takes no more writes (0: not said).
	Quota int64
	// Revision is the cluster's current revision; Members how many
	// members answered.
	Revision int64
	Members  int
	// Alarms are the cluster's raised alarms ("NOSPACE on member 8e9e…").
	Alarms []string
}

// Raised reports whether the alarm named (NOSPACE, CORRUPT) is raised on
// any member.
func (st Status) Raised(alarm string) bool {
	for _, a := range st.Alarms {
		if strings.HasPrefix(a, alarm+" ") {
			return true
		}
	}
	return false
}

// Status asks every endpoint for its status and the cluster for its
// alarms. A member that does not answer is left out; none answering is an
// error.
func (s *Store) Status(ctx context.Context) (Status, error) {
	var st Status
	err := s.read(ctx, "cluster status", func(ctx context.Context) error {
		st = Status{}
		var lastErr error
		for _, ep := range s.cli.Endpoints() {
			resp, err := s.cli.Status(ctx, ep)
			if err != nil {
				lastErr = err
				continue
			}
			st.Members++
			st.DBSize = max(st.DBSize, resp.DbSize)
			st.DBSizeInUse = max(st.DBSizeInUse, resp.DbSizeInUse)
			if q := resp.DbSizeQuota; q > 0 && (st.Quota == 0 || q < st.Quota) {
				st.Quota = q
			}
			st.Revision = max(st.Revision, resp.Header.Revision)
		}
		if st.Members == 0 {
			return fmt.Errorf("no member answered: %w", lastErr)
		}
		alarms, err := s.cli.AlarmList(ctx)
		if err != nil {
			return err
		}
		for _, a := range alarms.Alarms {
			st.Alarms = append(st.Alarms, fmt.Sprintf("%s on member %x", a.Alarm, a.MemberID))
		}
		return nil
	})
	return st, err
}

// Compact discards the history older than keep revisions: etcd keeps
// every version of every key until compacted, and jitbot rewrites its keys
// all the time. It returns the revision compacted to (0: nothing to do).
// Run it from one replica (the leader), or leave it to etcd's own
// --auto-compaction-retention; reads the store pinned to a compacted
// revision are read again.
func (s *Store) Compact(ctx context.Context, keep int64) (int64, error) {
	var target int64
	err := s.read(ctx, "compact", func(ctx context.Context) error {
		resp, err := s.cli.Get(ctx, s.p+"schema")
		if err != nil {
			return err
		}
		target = resp.Header.Revision - keep
		if target <= 0 {
			target = 0
			return nil
		}
		_, err = s.cli.Compact(ctx, target)
		if errors.Is(err, rpctypes.ErrCompacted) {
			target = 0 // compacted that far already
			return nil
		}
		return err
	})
	return target, err
}
