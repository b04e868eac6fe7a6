package record

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// EncodeRequest is r as both stores write it.
func EncodeRequest(r *flows.Request) ([]byte, error) {
	raw, err := json.Marshal(requestToRecord(r))
	if err != nil {
		return nil, fmt.Errorf("encode request %s: %w", r.ID, err)
	}
	return raw, nil
}

// DecodeRequest reads a request written by EncodeRequest, or by any
// release before it.
func DecodeRequest(raw []byte) (*flows.Request, error) {
	var rec request
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, err
	}
	return rec.request(), nil
}

// request is a request as stored. It mirrors flows.Request field by
// field.
type request struct {
	ID          string `json:"id"`
	Requester   string `json:"requester"`
	Kind        string `json:"kind,omitempty"` // empty in records written before kinds: a database user
	Integration string `json:"integration"`
	// Project and its id name the project in an organization-wide
	// integration; the ids (ProjectID, ClusterID) key the grant whatever
	// Atlas's names become. Empty in records written before them.
	Project    string `json:"project,omitempty"`
	ProjectID  string `json:"project_id,omitempty"`
	Cluster    string `json:"cluster"`
	ClusterID  string `json:"cluster_id,omitempty"`
	Database   string `json:"database"`
	Collection string `json:"collection,omitempty"`
	Address    string `json:"address,omitempty"` // network access: the address or range
	Auth       string `json:"auth,omitempty"`    // a database user without a password: oidc, aws_iam
	// A request with one role keeps it in role, as every record did before
	// requests had several (so a record reads the same to an older jitbot);
	// one with several keeps them in roles.
	Role                string        `json:"role,omitempty"`
	Roles               []string      `json:"roles,omitempty"`
	Duration            time.Duration `json:"duration"`
	Reason              string        `json:"reason,omitempty"`
	Origin              string        `json:"origin,omitempty"`
	Flow                string        `json:"flow"`
	PolicyHash          string        `json:"policy_hash,omitempty"` // empty in records written before it was kept
	Approvers           []string      `json:"approvers,omitempty"`
	Quorum              int           `json:"quorum"`
	MaxDuration         time.Duration `json:"max_duration"`
	DenyReasonRequired  bool          `json:"deny_reason_required,omitempty"`
	ExtendNeedsApproval bool          `json:"extend_needs_approval,omitempty"`
	ApprovalsChannel    string        `json:"approvals_channel,omitempty"`
	State               string        `json:"state"`
	CreatedAt           time.Time     `json:"created_at"`
	UpdatedAt           time.Time     `json:"updated_at"`
	Approvals           []decision    `json:"approvals,omitempty"`
	Denial              *decision     `json:"denial,omitempty"`
	PendingUntil        time.Time     `json:"pending_until,omitzero"`
	Principal           string        `json:"username,omitempty"` // the key of the days when every principal was a database user
	ActivatedAt         time.Time     `json:"activated_at,omitzero"`
	ExpiresAt           time.Time     `json:"expires_at,omitzero"`
	RemindAt            time.Time     `json:"remind_at,omitzero"`
	BackstopAt          time.Time     `json:"backstop_at,omitzero"`
	BackstopRefreshAt   time.Time     `json:"backstop_refresh_at,omitzero"`
	CredentialsIssuedAt time.Time     `json:"credentials_issued_at,omitzero"`
	Extension           *extension    `json:"extension,omitempty"`
	Extensions          int           `json:"extensions,omitempty"`
	Attempts            int           `json:"attempts,omitempty"`
	NextAttemptAt       time.Time     `json:"next_attempt_at,omitzero"`
	LastError           string        `json:"last_error,omitempty"`
	EndState            string        `json:"end_state,omitempty"`
	EndedBy             string        `json:"ended_by,omitempty"`
	EndReason           string        `json:"end_reason,omitempty"`
	EndedAt             time.Time     `json:"ended_at,omitzero"`
	// GrantState is the provisioner's record of a grant of several Atlas
	// calls (flows.Journal); empty for every other.
	GrantState string `json:"grant_state,omitempty"`

	// Reminders and escalation while pending (flows/escalate.go); absent
	// in records written before them, which have none.
	RemindApproversEvery time.Duration `json:"remind_approvers_every,omitempty"`
	RemindApproversAt    time.Time     `json:"remind_approvers_at,omitzero"`
	Escalation           []escalation  `json:"escalation,omitempty"`
	Tier                 int           `json:"tier,omitempty"`
	// Approvals needed from each of several groups (flows/conditions.go).
	Requirements []requirement `json:"requirements,omitempty"`
	// On-call routing, tickets and scheduled access (flows/oncall.go,
	// tickets.go, scheduled.go); absent in records written before them.
	// RoutingNote also says why working hours changed the route (hours.go).
	OnCallApprovers []string  `json:"oncall_approvers,omitempty"`
	RoutingNote     string    `json:"routing_note,omitempty"`
	Ticket          string    `json:"ticket,omitempty"`
	EndsWithTicket  bool      `json:"ends_with_ticket,omitempty"`
	TicketCheckAt   time.Time `json:"ticket_check_at,omitzero"`
	StartsAt        time.Time `json:"starts_at,omitzero"`
	// The review of a break-glass use (flows/breakglass.go).
	BreakGlass *review `json:"break_glass,omitempty"`
	// The guest a sponsor asked for (flows/thirdparty.go).
	Guest *guest `json:"guest,omitempty"`
}

// guest is the external person of a third-party request (flows.Guest);
// absent for every other request.
type guest struct {
	Email     string   `json:"email"`
	AMR       []string `json:"amr,omitempty"`
	ACRValues []string `json:"acr_values,omitempty"`
}

func guestToRecord(g *flows.Guest) *guest {
	if g == nil {
		return nil
	}
	return &guest{Email: g.Email, AMR: g.AMR, ACRValues: g.ACRValues}
}

func (rec *guest) guest() *flows.Guest {
	if rec == nil {
		return nil
	}
	return &flows.Guest{Email: rec.Email, AMR: rec.AMR, ACRValues: rec.ACRValues}
}

type decision struct {
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Approve bool      `json:"approve"`
	Reason  string    `json:"reason,omitempty"`
	MFA     bool      `json:"mfa,omitempty"`
}

type requirement struct {
	Group   string   `json:"group"`
	Count   int      `json:"count"`
	Members []string `json:"members,omitempty"`
}

type escalation struct {
	At        time.Time `json:"at"`
	Approvers []string  `json:"approvers,omitempty"`
	Channel   string    `json:"channel,omitempty"`
	Added     []string  `json:"added,omitempty"`
}

type extension struct {
	Number      int           `json:"number"`
	By          string        `json:"by"`
	Duration    time.Duration `json:"duration"`
	RequestedAt time.Time     `json:"requested_at"`
	Approvals   []decision    `json:"approvals,omitempty"`
}

// review is the review of a break-glass use (flows.Review); absent for
// every other request.
type review struct {
	Reviewers   []string      `json:"reviewers,omitempty"`
	Channel     string        `json:"channel,omitempty"`
	Due         time.Time     `json:"due"`
	RemindEvery time.Duration `json:"remind_every,omitempty"`
	MFA         bool          `json:"mfa,omitempty"`
	RemindAt    time.Time     `json:"remind_at,omitzero"`
	Escalation  []escalation  `json:"escalation,omitempty"`
	Tier        int           `json:"tier,omitempty"`
	Overdue     bool          `json:"overdue,omitempty"`
	ReviewedBy  string        `json:"reviewed_by,omitempty"`
	ReviewedAt  time.Time     `json:"reviewed_at,omitzero"`
	Note        string        `json:"note,omitempty"`
}

// convert maps a slice of one struct type onto another of the same
// fields, keeping nil nil.
func convert[T, U any](s []T, f func(T) U) []U {
	if s == nil {
		return nil
	}
	out := make([]U, len(s))
	for i, v := range s {
		out[i] = f(v)
	}
	return out
}

func requestToRecord(r *flows.Request) request {
	rec := request{
		ID: string(r.ID), Requester: r.Requester, Kind: string(r.Kind), Integration: r.Resource.Integration, Cluster: r.Resource.Cluster,
		Project: r.Resource.Project, ProjectID: r.Resource.ProjectID, ClusterID: r.Resource.ClusterID,
		Database: r.Resource.Database, Collection: r.Resource.Collection, Address: r.Resource.Address, Auth: string(r.Auth), Duration: r.Duration,
		Reason: r.Reason, Origin: r.Origin, Flow: r.Flow, PolicyHash: r.PolicyHash, Approvers: r.Approvers, Quorum: r.Quorum,
		MaxDuration: r.MaxDuration, DenyReasonRequired: r.DenyReasonRequired, ExtendNeedsApproval: r.ExtendNeedsApproval,
		ApprovalsChannel: r.ApprovalsChannel, State: string(r.State), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Approvals: convert(r.Approvals, toDecision), PendingUntil: r.PendingUntil, Principal: r.Principal,
		ActivatedAt: r.ActivatedAt, ExpiresAt: r.ExpiresAt, RemindAt: r.RemindAt, BackstopAt: r.BackstopAt,
		BackstopRefreshAt: r.BackstopRefreshAt, CredentialsIssuedAt: r.CredentialsIssuedAt, Extensions: r.Extensions,
		Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt, LastError: r.LastError, EndState: string(r.EndState),
		EndedBy: r.EndedBy, EndReason: r.EndReason, EndedAt: r.EndedAt, GrantState: r.GrantState,
		RemindApproversEvery: r.RemindApproversEvery, RemindApproversAt: r.RemindApproversAt,
		Escalation: convert(r.Escalation, toEscalation), Tier: r.Tier, Requirements: requirementsToRecords(r.Requirements),
		OnCallApprovers: r.OnCallApprovers, RoutingNote: r.RoutingNote, Ticket: r.Ticket, EndsWithTicket: r.EndsWithTicket,
		TicketCheckAt: r.TicketCheckAt, StartsAt: r.StartsAt, BreakGlass: reviewToRecord(r.BreakGlass),
		Guest: guestToRecord(r.Guest),
	}
	if len(r.Roles) == 1 {
		rec.Role = r.Roles[0]
	} else {
		rec.Roles = r.Roles
	}
	if r.Denial != nil {
		d := decision(*r.Denial)
		rec.Denial = &d
	}
	if e := r.Extension; e != nil {
		rec.Extension = &extension{Number: e.Number, By: e.By, Duration: e.Duration, RequestedAt: e.RequestedAt, Approvals: convert(e.Approvals, toDecision)}
	}
	return rec
}

func (rec request) request() *flows.Request {
	r := &flows.Request{
		ID: flows.RequestID(rec.ID), Requester: rec.Requester, Kind: flows.Kind(rec.Kind), Roles: rec.Roles, Duration: rec.Duration, Reason: rec.Reason, Origin: rec.Origin,
		Resource: flows.Resource{Integration: rec.Integration, Project: rec.Project, Cluster: rec.Cluster, Database: rec.Database,
			Collection: rec.Collection, ProjectID: rec.ProjectID, ClusterID: rec.ClusterID, Address: rec.Address},
		Auth: flows.DatabaseAuth(rec.Auth),
		Flow: rec.Flow, PolicyHash: rec.PolicyHash, Approvers: rec.Approvers, Quorum: rec.Quorum, MaxDuration: rec.MaxDuration,
		DenyReasonRequired: rec.DenyReasonRequired, ExtendNeedsApproval: rec.ExtendNeedsApproval, ApprovalsChannel: rec.ApprovalsChannel,
		State: flows.State(rec.State), CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, Approvals: convert(rec.Approvals, fromDecision),
		PendingUntil: rec.PendingUntil, Principal: rec.Principal, ActivatedAt: rec.ActivatedAt, ExpiresAt: rec.ExpiresAt,
		RemindAt: rec.RemindAt, BackstopAt: rec.BackstopAt, BackstopRefreshAt: rec.BackstopRefreshAt,
		CredentialsIssuedAt: rec.CredentialsIssuedAt, Extensions: rec.Extensions, Attempts: rec.Attempts,
		NextAttemptAt: rec.NextAttemptAt, LastError: rec.LastError, EndState: flows.State(rec.EndState),
		EndedBy: rec.EndedBy, EndReason: rec.EndReason, EndedAt: rec.EndedAt, GrantState: rec.GrantState,
		RemindApproversEvery: rec.RemindApproversEvery, RemindApproversAt: rec.RemindApproversAt,
		Escalation: convert(rec.Escalation, fromEscalation), Tier: rec.Tier, Requirements: requirementsFromRecords(rec.Requirements),
		OnCallApprovers: rec.OnCallApprovers, RoutingNote: rec.RoutingNote, Ticket: rec.Ticket, EndsWithTicket: rec.EndsWithTicket,
		TicketCheckAt: rec.TicketCheckAt, StartsAt: rec.StartsAt, BreakGlass: rec.BreakGlass.review(),
		Guest: rec.Guest.guest(),
	}
	if r.Kind == "" {
		r.Kind = flows.KindDatabaseUser
	}
	if len(r.Roles) == 0 && rec.Role != "" {
		r.Roles = []string{rec.Role}
	}
	if rec.Denial != nil {
		d := flows.Decision(*rec.Denial)
		r.Denial = &d
	}
	if e := rec.Extension; e != nil {
		r.Extension = &flows.Extension{Number: e.Number, By: e.By, Duration: e.Duration, RequestedAt: e.RequestedAt, Approvals: convert(e.Approvals, fromDecision)}
	}
	return r
}

func toDecision(d flows.Decision) decision           { return decision(d) }
func fromDecision(d decision) flows.Decision         { return flows.Decision(d) }
func toEscalation(s flows.EscalationStep) escalation { return escalation(s) }
func fromEscalation(s escalation) flows.EscalationStep {
	return flows.EscalationStep(s)
}

// Requirements were kept as appended, one by one: an empty list is no
// list, as it always was.
func requirementsToRecords(rs []flows.Requirement) []requirement {
	var out []requirement
	for _, r := range rs {
		out = append(out, requirement(r))
	}
	return out
}

func requirementsFromRecords(rs []requirement) []flows.Requirement {
	var out []flows.Requirement
	for _, r := range rs {
		out = append(out, flows.Requirement(r))
	}
	return out
}

func reviewToRecord(v *flows.Review) *review {
	if v == nil {
		return nil
	}
	return &review{Reviewers: v.Reviewers, Channel: v.Channel, Due: v.Due, RemindEvery: v.RemindEvery, RemindAt: v.RemindAt,
		Escalation: convert(v.Escalation, toEscalation), Tier: v.Tier, Overdue: v.Overdue, MFA: v.MFA, ReviewedBy: v.ReviewedBy, ReviewedAt: v.ReviewedAt, Note: v.Note}
}

func (rec *review) review() *flows.Review {
	if rec == nil {
		return nil
	}
	return &flows.Review{Reviewers: rec.Reviewers, Channel: rec.Channel, Due: rec.Due, RemindEvery: rec.RemindEvery, RemindAt: rec.RemindAt,
		Escalation: convert(rec.Escalation, fromEscalation), Tier: rec.Tier, Overdue: rec.Overdue, MFA: rec.MFA, ReviewedBy: rec.ReviewedBy, ReviewedAt: rec.ReviewedAt, Note: rec.Note}
}
