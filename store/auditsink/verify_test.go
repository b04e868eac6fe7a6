package auditsink_test

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/auditsink"
)

// history appends the same five events to b, the third one's message
// being third (a rewrite changes it and recomputes the chain after).
func history(t *testing.T, b flows.AuditLog, third string, n int) {
	t.Helper()
	for i := range n {
		msg := fmt.Sprintf("finding %d", i)
		if i == 2 {
			msg = third
		}
		ev := flows.Event{Type: flows.EventOrphanDeleted, Actor: flows.SystemActor, At: t0.Add(time.Duration(i) * time.Second), Message: msg}
		if err := b.AppendEvents(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

func against(t *testing.T, b flows.AuditLog, copy []byte) auditsink.Report {
	t.Helper()
	ctx := context.Background()
	if _, err := b.VerifyAudit(ctx); err != nil {
		t.Fatalf("the store's own chain: %v", err)
	}
	events, err := auditsink.ReadCopy(bytes.NewReader(copy))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := auditsink.VerifyAgainst(events, func(fn func(flows.AuditRecord) error) error { return b.Audit(ctx, time.Time{}, fn) })
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestVerifyAgainstASinksCopy(t *testing.T) {
	clock := flowstest.NewClock(t0)
	dir := t.TempDir()
	original := openDB(t, filepath.Join(dir, "original.db"))
	history(t, original, "the admin deleted user jit-mallory-1", 5)
	r := newReceiver(t, secret, clock)
	s := newStreamer(t, "siem", webhook(t, r, clock), original, original, clock)
	drain(t, s)
	copy := r.saved()

	t.Run("ok, with what was not sent yet counted", func(t *testing.T) {
		rep := against(t, original, copy)
		if !rep.OK() || rep.Compared != 5 || rep.NotSentYet != 0 {
			t.Fatalf("report %+v", rep)
		}
		appendN(t, original, 5, 2, t0.Add(time.Minute))
		rep = against(t, original, copy)
		if !rep.OK() || rep.Records != 7 || rep.Compared != 5 || rep.NotSentYet != 2 || !strings.Contains(rep.String(), "OK") {
			t.Fatalf("report %+v: %s", rep, rep)
		}
	})

	t.Run("repeats in the copy (at least once) are one event", func(t *testing.T) {
		doubled := append(bytes.Clone(copy), copy...)
		if rep := against(t, original, doubled); !rep.OK() || rep.Compared != 5 {
			t.Fatalf("report %+v", rep)
		}
	})

	t.Run("a store rewritten after streaming no longer verifies", func(t *testing.T) {
		// Record 3 changed and the chain recomputed from it on: the store
		// verifies on its own, and not against what was sent.
		forged := openDB(t, filepath.Join(dir, "forged.db"))
		history(t, forged, "nothing happened", 5)
		rep := against(t, forged, copy)
		if rep.OK() || rep.Mismatch != 3 || !strings.Contains(rep.String(), "first mismatch at record 3") {
			t.Fatalf("report %+v: %s", rep, rep)
		}
	})

	t.Run("records the store lost are missing", func(t *testing.T) {
		shorter := openDB(t, filepath.Join(dir, "shorter.db"))
		history(t, shorter, "the admin deleted user jit-mallory-1", 3)
		rep := against(t, shorter, copy)
		if rep.OK() || rep.Mismatch != 0 || fmt.Sprint(rep.MissingFromStore) != "[4-5]" || !strings.Contains(rep.String(), "missing from the store: 4-5") {
			t.Fatalf("report %+v: %s", rep, rep)
		}
	})

	t.Run("records missing from the copy are reported", func(t *testing.T) {
		var kept []string
		for _, line := range strings.SplitAfter(string(copy), "\n") {
			if !strings.Contains(line, `"seq":2,`) {
				kept = append(kept, line)
			}
		}
		rep := against(t, original, []byte(strings.Join(kept, "")))
		if rep.OK() || fmt.Sprint(rep.MissingFromCopy) != "[2]" || !strings.Contains(rep.String(), "missing from the copy: 2") {
			t.Fatalf("report %+v: %s", rep, rep)
		}
	})

	t.Run("another store's log does not verify", func(t *testing.T) {
		other := flowstest.NewStore()
		history(t, other, "x", 5)
		if rep := against(t, other, copy); rep.OK() || rep.Mismatch != 1 {
			t.Fatalf("report %+v", rep)
		}
	})
}

func TestReadCopy(t *testing.T) {
	for _, tt := range []struct {
		name, in, err string
		n             int
	}{
		{"json lines", `{"id":"c-1","seq":1,"hash":"a"}` + "\n" + `{"id":"c-2","seq":2,"hash":"b"}` + "\n", "", 2},
		{"saved webhook bodies", `{"events":[{"id":"c-1","seq":1,"hash":"a"},{"id":"c-2","seq":2,"hash":"b"}]}`, "", 2},
		{"two events with one number", `{"id":"c-1","seq":1,"hash":"a"} {"id":"c-1","seq":1,"hash":"z"}`, "two different events numbered 1", 0},
		{"not an event", `{"hello":"world"}`, "no seq or hash", 0},
		{"not JSON", `seq=1`, "the copy's value 1", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := auditsink.ReadCopy(strings.NewReader(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(got) != tt.n {
				t.Fatalf("%d events, %v; want %d", len(got), err, tt.n)
			}
		})
	}
}
