package auditsink

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/jitbot/jitbot/flows"
)

// Report is what VerifyAgainst found comparing a store's audit chain with a
// sink's copy of it.
type Report struct {
	// Records is how many records the store holds; Compared how many of
	// them the copy holds too.
	Records, Compared uint64
	// Mismatch is the first record whose hash (the chain up to it) differs
	// between the store and the copy, 0 when none; MismatchReason says how.
	// Every record after it differs too: the chain carries the change.
	Mismatch       uint64
	MismatchReason string
	// MissingFromStore are records the copy holds and the store does not
	// (the store lost its tail, or was replaced by an older one).
	MissingFromStore []Range
	// MissingFromCopy are records the store holds, up to the copy's last,
	// that the copy does not (the sink's copy is incomplete).
	MissingFromCopy []Range
	// NotSentYet counts the store's records after the copy's last: the sink
	// had not received them when the copy was taken.
	NotSentYet uint64
}

// Range is a run of sequence numbers, both ends included.
type Range struct{ From, To uint64 }

func (r Range) String() string {
	if r.From == r.To {
		return fmt.Sprint(r.From)
	}
	return fmt.Sprintf("%d-%d", r.From, r.To)
}

// OK is true when the copy and the store agree on every record they both
// hold and neither lacks one the other has (records not sent yet aside).
func (r Report) OK() bool {
	return r.Mismatch == 0 && len(r.MissingFromStore) == 0 && len(r.MissingFromCopy) == 0
}

// String says what the report found, in a sentence or a few.
func (r Report) String() string {
	var b strings.Builder
	if r.OK() {
		fmt.Fprintf(&b, "audit log OK against the copy: %d of %d records compared", r.Compared, r.Records)
		if r.NotSentYet > 0 {
			fmt.Fprintf(&b, " (%d after the copy's last were not sent yet)", r.NotSentYet)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "audit log does NOT match the copy")
	if r.Mismatch > 0 {
		fmt.Fprintf(&b, "; first mismatch at record %d: %s", r.Mismatch, r.MismatchReason)
	}
	if len(r.MissingFromStore) > 0 {
		fmt.Fprintf(&b, "; records in the copy missing from the store: %s", ranges(r.MissingFromStore))
	}
	if len(r.MissingFromCopy) > 0 {
		fmt.Fprintf(&b, "; records missing from the copy: %s", ranges(r.MissingFromCopy))
	}
	return b.String()
}

func ranges(rs []Range) string {
	const most = 20
	parts := make([]string, 0, min(len(rs), most))
	for i, r := range rs {
		if i == most {
			parts = append(parts, fmt.Sprintf("and %d more runs", len(rs)-most))
			break
		}
		parts = append(parts, r.String())
	}
	return strings.Join(parts, ", ")
}

// addSeq appends seq to rs, extending the last run when it follows it.
func addSeq(rs []Range, seq uint64) []Range {
	if n := len(rs); n > 0 && rs[n-1].To+1 == seq {
		rs[n-1].To = seq
		return rs
	}
	return append(rs, Range{seq, seq})
}

// ReadCopy reads a sink's copy: JSON events one after the other (JSON
// lines, as a webhook receiver saves them; a saved webhook body, {"events":
// [...]}, counts as its events). Repeats (at-least-once) collapse into one
// when they are the same event; two different events with one sequence
// number are an error.
func ReadCopy(r io.Reader) (map[uint64]Event, error) {
	out := map[uint64]Event{}
	dec := json.NewDecoder(r)
	add := func(ev Event) error {
		if ev.Seq == 0 || ev.Hash == "" {
			return fmt.Errorf("event %q has no seq or hash: not a streamed audit event", ev.ID)
		}
		if prior, ok := out[ev.Seq]; ok && prior != ev {
			return fmt.Errorf("the copy holds two different events numbered %d (hashes %s and %s)", ev.Seq, prior.Hash, ev.Hash)
		}
		out[ev.Seq] = ev
		return nil
	}
	for n := 1; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("auditsink: the copy's value %d: %w", n, err)
		}
		var batch Batch
		if bytes.Contains(raw, []byte(`"events"`)) && json.Unmarshal(raw, &batch) == nil && batch.Events != nil {
			for _, ev := range batch.Events {
				if err := add(ev); err != nil {
					return nil, fmt.Errorf("auditsink: the copy's value %d: %w", n, err)
				}
			}
			continue
		}
		var ev Event
		if err := json.Unmarshal(raw, &ev); err != nil {
			return nil, fmt.Errorf("auditsink: the copy's value %d: %w", n, err)
		}
		if err := add(ev); err != nil {
			return nil, fmt.Errorf("auditsink: the copy's value %d: %w", n, err)
		}
	}
}

// VerifyAgainst compares the store's chain, walked in order by walk (for
// example AuditLog.Audit from the start), with a sink's copy (ReadCopy).
// The store's own chain must verify first (AuditLog.VerifyAudit): then a
// record whose hash differs from the one sent means the store was
// rewritten after it was sent (or the copy was).
func VerifyAgainst(copy map[uint64]Event, walk func(fn func(flows.AuditRecord) error) error) (Report, error) {
	var rep Report
	var last uint64
	for seq := range copy {
		last = max(last, seq)
	}
	genesis := ""
	seen := uint64(0)
	err := walk(func(rec flows.AuditRecord) error {
		if rec.Seq != seen+1 {
			return fmt.Errorf("auditsink: the store's records jump from %d to %d: verify the store's chain first", seen, rec.Seq)
		}
		seen = rec.Seq
		rep.Records++
		if rec.Seq == 1 {
			genesis = rec.Hash
		}
		if rec.Seq > last {
			rep.NotSentYet++
			return nil
		}
		ev, ok := copy[rec.Seq]
		if !ok {
			rep.MissingFromCopy = addSeq(rep.MissingFromCopy, rec.Seq)
			return nil
		}
		rep.Compared++
		if rep.Mismatch != 0 {
			return nil
		}
		switch {
		case ev.Hash != rec.Hash:
			rep.Mismatch, rep.MismatchReason = rec.Seq, fmt.Sprintf("the store's hash is %s, the copy's %s (the store, or the copy, was rewritten from here on)", rec.Hash, ev.Hash)
		case ev.PrevHash != rec.PrevHash:
			rep.Mismatch, rep.MismatchReason = rec.Seq, fmt.Sprintf("it links to %s in the store and to %s in the copy", rec.PrevHash, ev.PrevHash)
		case ev.Chain != genesis:
			rep.Mismatch, rep.MismatchReason = rec.Seq, fmt.Sprintf("the copy's event is of chain %s, the store's chain is %s (another jitbot's log?)", ev.Chain, genesis)
		}
		return nil
	})
	if err != nil {
		return Report{}, err
	}
	for _, seq := range slices.Sorted(maps.Keys(copy)) {
		if seq > seen {
			rep.MissingFromStore = addSeq(rep.MissingFromStore, seq)
		}
	}
	return rep, nil
}
