package flows

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Tickets: a flow may require the reason to name a ticket (a Jira issue
// key, OPS-123), checked when the request is made: the issue exists, its
// project is one the flow allows, and it is not resolved. A grant may also
// end when its ticket is resolved, checked on the sweep's schedule. When
// Jira cannot answer, the requester is told so, and the flow's on_outage
// says whether the request is refused or goes on unchecked.

// TicketKey finds a ticket key in a reason.
var TicketKey = regexp.MustCompile(`\b[A-Z][A-Z0-9]+-[0-9]+\b`)

// Ticket is what the ticket system says of one key.
type Ticket struct {
	Key      string
	Exists   bool
	Project  string // the project's key (OPS)
	Resolved bool
}

// Tickets reads tickets (Jira's REST API, in cmd/internal/jira). A key
// that names no issue is Exists false, not an error; an error means the
// ticket system could not answer.
type Tickets interface {
	Ticket(ctx context.Context, key string) (Ticket, error)
}

// TicketSpec is a flow's ticket rule as written.
type TicketSpec struct {
	Required        bool
	Projects        []string
	OnOutage        string // refuse (the default) or allow
	EndWhenResolved bool
}

// TicketRule is a validated ticket rule.
type TicketRule struct {
	Required        bool
	Projects        []string
	AllowOnOutage   bool
	EndWhenResolved bool
}

// Ticket outage rules.
const (
	TicketOutageRefuse = "refuse"
	TicketOutageAllow  = "allow"
)

var jiraProjectKey = regexp.MustCompile(`^[A-Z][A-Z0-9]{1,9}$`)

// ticketTimeout bounds one lookup.
const ticketTimeout = 5 * time.Second

// TicketCheckEvery is how often an active grant that ends with its ticket
// has the ticket looked at, and TicketTTL how long an answer is reused.
const (
	TicketCheckEvery = time.Minute
	TicketTTL        = 30 * time.Second
	ticketBatch      = 100 // keys looked up per sweep, at most
)

func (p *Policy) compileTicket(v *validator, at string, fs FlowSpec, f *Flow) {
	spec := fs.Ticket
	if spec == nil {
		return
	}
	at += ".ticket"
	rule := &TicketRule{Required: spec.Required, EndWhenResolved: spec.EndWhenResolved}
	for i, pk := range spec.Projects {
		if !jiraProjectKey.MatchString(pk) {
			v.add(fmt.Sprintf("%s.projects[%d]", at, i), "%q is not a Jira project key (upper-case letters and digits, starting with a letter, like OPS)", excerpt(pk))
			continue
		}
		if !slices.Contains(rule.Projects, pk) { // in the order written
			rule.Projects = append(rule.Projects, pk)
		}
	}
	switch spec.OnOutage {
	case "", TicketOutageRefuse:
	case TicketOutageAllow:
		rule.AllowOnOutage = true
	default:
		v.add(at+".on_outage", "%q: use refuse (the default: no request while Jira cannot check it) or allow", excerpt(spec.OnOutage))
	}
	if spec.EndWhenResolved && !spec.Required {
		v.add(at+".end_when_resolved", "a grant can end with its ticket only if every request names one: set required: true")
	}
	f.Ticket = rule
}

// ticketCache keeps answers about tickets for TicketTTL.
type ticketCache struct {
	mu      sync.Mutex
	entries map[string]ticketEntry
}

type ticketEntry struct {
	t  Ticket
	at time.Time
}

// ticket reads key, from the cache when its answer is fresh.
func (s *Service) ticket(ctx context.Context, key string) (Ticket, error) {
	if s.tickets == nil {
		return Ticket{}, Errorf(EUNAVAILABLE, "jira is not configured")
	}
	now := s.clock.Now()
	s.ticketCache.mu.Lock()
	e, hit := s.ticketCache.entries[key]
	s.ticketCache.mu.Unlock()
	if hit && now.Sub(e.at) < TicketTTL && !now.Before(e.at) {
		return e.t, nil
	}
	ctx, cancel := context.WithTimeout(ctx, ticketTimeout)
	defer cancel()
	t, err := s.tickets.Ticket(ctx, key)
	if err != nil {
		return Ticket{}, err
	}
	t.Key = key
	s.ticketCache.mu.Lock()
	if s.ticketCache.entries == nil {
		s.ticketCache.entries = map[string]ticketEntry{}
	}
	s.ticketCache.entries[key] = ticketEntry{t: t, at: now}
	s.ticketCache.mu.Unlock()
	return t, nil
}

// checkTicket applies a flow's ticket rule to a reason at submission. It
// returns the key the request goes on with ("" when none is named) and a
// note for the cards when Jira could not check it.
func (s *Service) checkTicket(ctx context.Context, f *Flow, reason string) (key, note string, err error) {
	rule := f.Ticket
	if rule == nil {
		return "", "", nil
	}
	key = TicketKey.FindString(reason)
	if key == "" {
		if rule.Required {
			example := "OPS-123"
			if len(rule.Projects) > 0 {
				example = rule.Projects[0] + "-123"
			}
			return "", "", Errorf(EINVALID, "access flow %s requires a Jira ticket in the reason, like %q", f.Name, example+" deploy hotfix")
		}
		return "", "", nil
	}
	project, _, _ := strings.Cut(key, "-")
	if len(rule.Projects) > 0 && !slices.Contains(rule.Projects, project) {
		return "", "", Errorf(EINVALID, "ticket %s is in project %s; access flow %s takes tickets of %s", key, project, f.Name, strings.Join(rule.Projects, ", "))
	}
	t, err := s.ticket(ctx, key)
	if err != nil {
		s.log.WarnContext(ctx, "could not check a ticket", "ticket", key, "flow", f.Name, "err", err)
		if rule.AllowOnOutage {
			return key, "Jira could not be reached: ticket " + key + " was not checked", nil
		}
		return "", "", WrapError(EUNAVAILABLE, err, "Jira could not be reached to check ticket %s, and access flow %s takes no request it cannot check: try again in a few minutes", key, f.Name)
	}
	switch {
	case !t.Exists:
		return "", "", Errorf(EINVALID, "there is no Jira issue %s (or jitbot may not see it): name an open ticket", key)
	case len(rule.Projects) > 0 && t.Project != "" && !slices.Contains(rule.Projects, t.Project):
		return "", "", Errorf(EINVALID, "ticket %s is in project %s; access flow %s takes tickets of %s", key, t.Project, f.Name, strings.Join(rule.Projects, ", "))
	case t.Resolved:
		return "", "", Errorf(EINVALID, "ticket %s is resolved: name a ticket that is still open", key)
	}
	return key, "", nil
}

// ticketChecks looks at the tickets of the active grants in ids that end
// with their ticket, each key once, and ends those whose ticket is
// resolved; the others are looked at again in TicketCheckEvery. It runs on
// a sweep's worker, after the sweep's own revocations were queued: a slow
// Jira never holds back an expiry.
func (s *Service) ticketChecks(ctx context.Context, now time.Time, due []*Request) {
	resolved := map[string]bool{}
	for _, r := range due {
		if _, seen := resolved[r.Ticket]; seen || len(resolved) >= ticketBatch {
			continue
		}
		t, err := s.ticket(ctx, r.Ticket)
		if err != nil {
			s.log.WarnContext(ctx, "could not check whether a ticket is resolved; trying again later", "ticket", r.Ticket, "err", err)
			resolved[r.Ticket] = false
			continue
		}
		resolved[r.Ticket] = t.Resolved || !t.Exists
	}
	ids := make([]RequestID, len(due))
	for i, r := range due {
		ids[i] = r.ID
	}
	events := make(map[RequestID]Event, len(ids))
	updated, errs, err := s.store.UpdateMany(ctx, ids, func(r *Request) ([]Event, error) {
		delete(events, r.ID)
		clock := s.clock.Now()
		if r.State != StateActive || r.TicketCheckAt.IsZero() || now.Before(r.TicketCheckAt) {
			return nil, Errorf(ECONFLICT, "no ticket check is due for request %s", r.ID)
		}
		done, looked := resolved[r.Ticket]
		if !looked || !done {
			r.TicketCheckAt = now.Add(TicketCheckEvery)
			return nil, nil
		}
		ev, err := r.StartRevoking(clock, SystemActor, StateExpired, "ticket "+r.Ticket+" was resolved")
		if err != nil {
			return nil, err
		}
		if err := r.ClaimRevocation(clock, clock.Add(s.cfg.RevokeLease)); err != nil {
			return nil, err
		}
		events[r.ID] = ev
		return []Event{ev}, nil
	})
	if err != nil {
		s.log.ErrorContext(ctx, "sweep: could not record the ticket checks", "requests", len(ids), "err", err)
		return
	}
	outcomes := make(chan revokeOutcome, len(ids))
	n := 0
	for i, id := range ids {
		ev, ended := events[id]
		if errs[i] != nil || !ended {
			continue
		}
		s.announce(ctx, ev, updated[i])
		n++
		outcomes <- s.deleteClaimed(ctx, updated[i])
	}
	s.commitOutcomes(ctx, outcomes, n)
}
