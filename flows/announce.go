package flows

import (
	"context"
	"time"
)

// transition applies one state-machine step inside a store transaction and
// announces its event.
func (s *Service) transition(ctx context.Context, id RequestID, step func(r *Request, now time.Time) (Event, error)) (*Request, error) {
	var ev Event
	r, err := s.store.Update(ctx, id, func(r *Request) ([]Event, error) {
		e, err := step(r, s.clock.Now())
		if err != nil {
			return nil, err
		}
		ev = e
		return []Event{e}, nil
	})
	if err != nil {
		return nil, err
	}
	s.announce(ctx, ev, r)
	return r, nil
}

// step is transition for background work: failures are logged, not returned
// to a person.
func (s *Service) step(ctx context.Context, id RequestID, fn func(r *Request, now time.Time) (Event, error)) (*Request, error) {
	r, err := s.transition(ctx, id, fn)
	if err != nil && ErrorCode(err) != ECONFLICT {
		s.log.ErrorContext(ctx, "could not record a transition", "request_id", id, "err", err)
	}
	return r, err
}

// announce tells the Notifier of an event just committed, with the people
// the domain wants told. It decides no delivery: the outbox reads the
// committed event from the audit log, so nothing depends on this call, and a
// failure (a metrics observer's, say) is only logged.
func (s *Service) announce(ctx context.Context, ev Event, r *Request) {
	if s.notify == nil {
		return
	}
	if err := s.notify.Notify(ctx, Notice{Event: ev, Request: r, To: s.audience(ev, r)}); err != nil {
		s.log.WarnContext(ctx, "an observer failed a notice", "request_id", ev.RequestID, "event", string(ev.Type), "err", err)
	}
}

// keep hands the credentials issued to r (at r.CredentialsIssuedAt) to the
// secret keeper, and has ev, the event that announces them, name this
// replica as their keeper. It runs inside the transaction that records
// them, before the commit, so the dispatcher that reads the committed
// event never looks for them too early; a commit that then fails leaves a
// secret that no message names, forgotten when it expires.
func (s *Service) keep(r *Request, c Credentials, ev *Event) {
	s.secrets.Keep(r.ID, r.CredentialsIssuedAt, s.withInstructions(r, c))
	ev.Keeper = s.cfg.Replica
}

// audience decides who is told of an event directly.
//
// An approval tells the requester nothing by itself: the credentials follow
// within seconds and name the approvers, and a slow or failed set-up has its
// own message (EventApplyDelayed, EventProvisionFailed). One message instead
// of two keeps the approval click to the credentials on the shortest path
// (DESIGN §8: two chat calls) and Slack's one-post-per-second pacing out of it.
func (s *Service) audience(ev Event, r *Request) []string {
	admins := s.Policy().Admins()
	if r == nil {
		return admins
	}
	requester := []string{r.Requester}
	switch ev.Type {
	case EventSubmitted, EventExtensionRequested:
		return r.AwaitingApprovalFrom()
	case EventApproversReminded:
		// The approvers get one coalesced reminder each; the requester
		// hears that they were reminded.
		return dedupe(append(r.AwaitingApprovalFrom(), r.Requester))
	case EventEscalated:
		return dedupe(append(r.TierAdded(ev.Tier), r.Requester))
	case EventDenied, EventTimedOut, EventActivated, EventReminder,
		EventExtended, EventExtensionDenied, EventExpired, EventRevoked, EventApplyDelayed, EventCredentialsRotated:
		return requester
	case EventCancelled:
		if ev.Actor != r.Requester {
			return requester
		}
	case EventProvisionFailed, EventRevokeFailed:
		return dedupe(append(requester, admins...))
	case EventCredentialsUndelivered, EventOrphanDeleted, EventGrantMissing, EventGrantFinding:
		return admins
	case EventGuestLinkIssued, EventGuestSignedIn, EventGuestRefused, EventGuestRevealed, EventGuestLinkExpired:
		return guestAudience(r)
	}
	return s.breakGlassAudience(ev, r)
}
