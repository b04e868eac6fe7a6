package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/jitbot/jitbot/flows"
)

// Break-glass in the audit export (`jitbot audit export -break-glass
// STATE`): the events of break-glass uses (flows/breakglass.go: the use,
// the review's reminders, tiers, overdue notice and the review), each
// line with the use's review state as the audit records it: open,
// overdue (the sweep recorded the deadline passing) or reviewed. STATE
// selects the uses: all, open, overdue or reviewed.

var breakGlassStates = []string{"all", "open", "overdue", "reviewed"}

func checkBreakGlassState(s string) error {
	for _, ok := range breakGlassStates {
		if s == ok {
			return nil
		}
	}
	return fmt.Errorf("-break-glass %q: want one of %s", s, strings.Join(breakGlassStates, ", "))
}

// filterBreakGlass copies from in to out the break-glass events of the
// uses in state want, each with its use's review_state. The export is read
// whole first: a use's state is known from the events after it.
func filterBreakGlass(in io.Reader, out io.Writer, want string) error {
	type line struct {
		raw       []byte
		typ, id   string
		breakpart bool
	}
	var lines []line
	state := map[string]string{} // request id -> review state; present: a use
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var l struct {
			Type      string `json:"type"`
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(raw, &l); err != nil {
			return fmt.Errorf("audit export: a line that is not JSON: %w", err)
		}
		switch flows.EventType(l.Type) {
		case flows.EventBrokeGlass:
			if state[l.RequestID] == "" {
				state[l.RequestID] = "open"
			}
		case flows.EventReviewOverdue:
			if state[l.RequestID] != "reviewed" {
				state[l.RequestID] = "overdue"
			}
		case flows.EventReviewed:
			state[l.RequestID] = "reviewed"
		}
		lines = append(lines, line{raw: bytes.Clone(raw), typ: l.Type, id: l.RequestID, breakpart: strings.HasPrefix(l.Type, string(flows.EventBrokeGlass))})
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("audit export: %w", err)
	}
	w := bufio.NewWriter(out)
	for _, l := range lines {
		st, use := state[l.id]
		if !use || !l.breakpart || (want != "all" && st != want) {
			continue
		}
		// The line as exported, with the state added last.
		w.Write(l.raw[:len(l.raw)-1])
		fmt.Fprintf(w, ",\"review_state\":%q}\n", st)
	}
	return w.Flush()
}
