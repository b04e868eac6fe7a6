package flows

import (
	"context"
	"fmt"
	"sync"
)

// Journal is where a provisioner whose grant takes several Atlas calls
// writes down, on the grant's request, what it is about to do before it does
// it, and what it found: its state (Request.GrantState) survives a crash, so
// the Create or Delete that Resume runs next knows what the last one did or
// may have done. The service hands one to every call of a request's grant
// (Grant.Journal).
type Journal interface {
	// Record replaces the grant's state on its request, in its own store
	// transaction, and returns once it is stored.
	Record(ctx context.Context, state string) error
	// Report tells the admins, and the audit log, what the provisioner
	// found of the grant (EventGrantFinding).
	Report(ctx context.Context, finding string) error
}

// Record stores state through g's journal; a grant of no request (an
// orphan reconcile removes) has none, and nothing is stored.
func (g Grant) Record(ctx context.Context, state string) error {
	if g.Journal == nil {
		return nil
	}
	return g.Journal.Record(ctx, state)
}

// Report tells the admins what the provisioner found of g, through its
// journal or, for a grant of no request, with no request named.
func (g Grant) Report(ctx context.Context, finding string) error {
	if g.Journal == nil {
		return nil
	}
	return g.Journal.Report(ctx, finding)
}

// Checker is a provisioner that can tell at submission, before anyone is
// asked to approve, that a grant cannot be made (the person has no Atlas
// account in the organization, or holds the roles already). Submit refuses
// the request with its words; a check Atlas could not answer (EUNAVAILABLE,
// EINTERNAL) lets the request through, and Create decides.
type Checker interface {
	CheckGrant(ctx context.Context, g Grant) error
}

// maxFinding bounds what one finding says: it goes to chat and to the
// audit log.
const maxFinding = 2000

// requestJournal records on one request. Each grant the service hands out
// gets its own, knowing the state the grant was read with: a Record finding
// another state stored (an attempt that took this one's expired lease over
// has recorded since) fails with ECONFLICT and writes nothing, so an
// attempt never overwrites what a later one recorded.
type requestJournal struct {
	s  *Service
	id RequestID

	mu   sync.Mutex
	last string // the state this grant's caller last saw stored
}

func (s *Service) journal(r *Request) Journal {
	return &requestJournal{s: s, id: r.ID, last: r.GrantState}
}

func (j *requestJournal) Record(ctx context.Context, state string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, err := j.s.store.Update(ctx, j.id, func(r *Request) ([]Event, error) {
		if r.GrantState != j.last {
			return nil, Errorf(ECONFLICT, "the state of the grant of request %s changed since this attempt read it", j.id)
		}
		r.GrantState = state
		return nil, nil
	})
	if err != nil {
		return fmt.Errorf("flows: record the state of the grant of request %s: %w", j.id, err)
	}
	j.last = state
	return nil
}

func (j *requestJournal) Report(ctx context.Context, finding string) error {
	s := j.s
	r, err := s.store.Get(ctx, j.id)
	if err != nil {
		return fmt.Errorf("flows: report a finding of request %s: %w", j.id, err)
	}
	ev := Event{Type: EventGrantFinding, RequestID: r.ID, Actor: SystemActor, At: s.clock.Now(), From: r.State, To: r.State,
		Principal: r.Principal, Message: excerptN(finding, maxFinding)}
	if err := s.store.AppendEvents(ctx, ev); err != nil {
		return fmt.Errorf("flows: report a finding of request %s: %w", j.id, err)
	}
	s.log.WarnContext(ctx, "grant finding", "request_id", r.ID, "kind", string(r.Kind), "finding", ev.Message)
	s.announce(ctx, ev, r)
	return nil
}

// excerptN is s cut to at most n bytes (not splitting a character), marked
// with an ellipsis when cut.
func excerptN(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}

// checkGrant asks the kind's provisioner, when it is a Checker, whether the
// grant a request asks for can be made at all.
func (s *Service) checkGrant(ctx context.Context, kind KindSpec, requester string, t Resource, roles []string) error {
	c, ok := s.provs[kind.Kind].(Checker)
	if !ok {
		return nil
	}
	g := Grant{Kind: kind.Kind, Integration: t.Integration, Requester: requester, Principal: kind.Principal(requester, ""),
		Resource: t, Roles: roles}
	err := c.CheckGrant(ctx, g)
	switch ErrorCode(err) {
	case "":
		return nil
	case EUNAVAILABLE, EINTERNAL:
		s.log.WarnContext(ctx, "could not check the grant with Atlas; the request goes ahead", "requester", requester,
			"kind", string(kind.Kind), "resource", t.String(), "err", err)
		return nil
	}
	return err
}
