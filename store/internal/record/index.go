package record

import (
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Index is one of the request indexes both stores keep. Which requests
// an index holds is decided here, once (Entries); each store only spells
// an entry as its key: [Group 0] [At] id, the parts the index has
// (Grouped, Timed), with times big-endian so that keys sort in time order.
type Index string

const (
	IndexRequester Index = "requester" // requester 0 created id
	IndexState     Index = "state"     // state 0 created id
	IndexLive      Index = "live"      // requester 0 created id, while the request is not over
	IndexApprover  Index = "approver"  // approver 0 id, while a decision is awaited
	IndexDue       Index = "due"       // due id: when the sweeper must next look (flows.Request.DueAt)
	IndexExpiry    Index = "expiry"    // expires id, active grants only
)

// Grouped says whether the index's keys start with a group (a requester,
// a state, an approver) and a 0 byte.
func (i Index) Grouped() bool { return i != IndexDue && i != IndexExpiry }

// Timed says whether the index's keys hold a time after the group.
func (i Index) Timed() bool { return i != IndexApprover }

// Entry is one index entry of a request, whose id ends its key.
type Entry struct {
	Index Index
	Group string    // when Index.Grouped
	At    time.Time // when Index.Timed
}

// Entries lists r's index entries. The due entry is at r.DueAt, which
// covers every time the sweeper must act on r (pending TTL, reminders and
// escalation, retries, scheduled starts, ticket checks, expiry, backstop
// refreshes, break-glass reviews), so a restart loses none.
func Entries(r *flows.Request) []Entry {
	out := []Entry{
		{Index: IndexRequester, Group: r.Requester, At: r.CreatedAt},
		{Index: IndexState, Group: string(r.State), At: r.CreatedAt},
	}
	if !r.State.Terminal() {
		out = append(out, Entry{Index: IndexLive, Group: r.Requester, At: r.CreatedAt})
	}
	if r.State == flows.StatePending || r.State == flows.StateActive && r.Extension != nil {
		for _, a := range r.Approvers {
			out = append(out, Entry{Index: IndexApprover, Group: a})
		}
	}
	if due := r.DueAt(); !due.IsZero() {
		out = append(out, Entry{Index: IndexDue, At: due})
	}
	if r.State == flows.StateActive {
		out = append(out, Entry{Index: IndexExpiry, At: r.ExpiresAt})
	}
	return out
}
