// Package storetest builds store files for benchmarks and jitbot-bench: a
// store with a long history, built once per machine and reused.
//
// It imports store and flows, never the adapters. Only tests, benchmarks
// and jitbot-bench's scenarios import it.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store"
)

// T0 is the time the history ends at: every request finished before it and
// nothing in the file is due at or after it.
var T0 = time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)

// History returns the path of a store file in dir holding requests finished
// requests and events audit records in all (a submission per request, then
// expiries), building it on first use (bbolt without fsync: minutes for a
// million records) and reusing it afterwards. Open it read-only, or copy it,
// if the benchmark writes.
func History(dir string, requests, events int) (string, error) {
	if requests < 1 || events < requests {
		return "", errors.New("storetest: want at least one request and at least as many events as requests")
	}
	path := filepath.Join(dir, fmt.Sprintf("jitbot-history-%d-%d.db", requests, events))
	if ok, err := complete(path, requests); err != nil || ok {
		return path, err
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	if err := build(tmp, requests, events); err != nil {
		_ = os.Remove(tmp)
		return "", err
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("storetest: %w", err)
	}
	return path, nil
}

// complete reports whether path is a readable store with the history asked
// for (one built by an older jitbot, with an earlier schema, is rebuilt, so
// that benchmarks of start-up do not measure a migration).
func complete(path string, requests int) (bool, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	db, err := store.Open(path, store.Options{ReadOnly: true})
	if err != nil {
		return false, os.Remove(path)
	}
	counts, err := db.CountByState(context.Background())
	current := db.Version() == store.SchemaVersion
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil || !current || counts[flows.StateExpired] != requests {
		return false, os.Remove(path)
	}
	return true, nil
}

// Request is the finished request number i of a history of n.
func Request(i, n int) *flows.Request {
	created := T0.Add(-time.Duration(n-i) * time.Minute)
	id := fmt.Sprintf("h%09d", i)
	return &flows.Request{
		ID: flows.RequestID(id), Requester: fmt.Sprintf("user%d@example.com", i%500),
		Resource: flows.Resource{Integration: "prod", Cluster: "Cluster0", Database: "sales", Collection: "orders"},
		Kind:     flows.KindDatabaseUser, Roles: []string{"read"}, Duration: time.Hour, Reason: "INC-1", Origin: "slack", Flow: "prod-read",
		Approvers: []string{"owner@example.com", "dba@example.com"}, Quorum: 1, MaxDuration: 8 * time.Hour,
		State: flows.StateExpired, CreatedAt: created, UpdatedAt: created, PendingUntil: created.Add(time.Hour),
		Principal: "jit-user-" + id, EndedAt: created.Add(time.Hour),
	}
}

func build(path string, n, m int) error {
	db, err := store.Open(path, store.Options{NoSync: true})
	if err != nil {
		return err
	}
	ctx := context.Background()
	for i := range n {
		r := Request(i, n)
		ev := flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: r.CreatedAt, To: flows.StatePending}
		if _, _, err := db.Create(ctx, r, ev, ""); err != nil {
			return errors.Join(err, db.Close())
		}
	}
	evs := make([]flows.Event, 0, 10000)
	for i := n; i < m; i++ {
		evs = append(evs, flows.Event{Type: flows.EventExpired, RequestID: flows.RequestID(fmt.Sprintf("h%09d", i%n)), Actor: flows.SystemActor,
			At: T0, From: flows.StateRevoking, To: flows.StateExpired, Principal: "jit-user"})
		if len(evs) == cap(evs) || i == m-1 {
			if err := db.AppendEvents(ctx, evs...); err != nil {
				return errors.Join(err, db.Close())
			}
			evs = evs[:0]
		}
	}
	return db.Close()
}
