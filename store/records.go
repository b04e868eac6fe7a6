package store

import (
	"time"

	"github.com/jitbot/jitbot/flows"
)

// requestRecord is a request as stored. It mirrors flows.Request field by
// field; keeping it separate means a change to the domain type is a visible
// change here, with its own decision about old records.
type requestRecord struct {
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
	Role                string           `json:"role,omitempty"`
	Roles               []string         `json:"roles,omitempty"`
	Duration            time.Duration    `json:"duration"`
	Reason              string           `json:"reason,omitempty"`
	Origin              string           `json:"origin,omitempty"`
	Flow                string           `json:"flow"`
	PolicyHash          string           `json:"policy_hash,omitempty"` // empty in records written before it was kept
	Approvers           []string         `json:"approvers,omitempty"`
	Quorum              int              `json:"quorum"`
	MaxDuration         time.Duration    `json:"max_duration"`
	DenyReasonRequired  bool             `json:"deny_reason_required,omitempty"`
	ExtendNeedsApproval bool             `json:"extend_needs_approval,omitempty"`
	ApprovalsChannel    string           `json:"approvals_channel,omitempty"`
	State               string           `json:"state"`
	CreatedAt           time.Time        `json:"created_at"`
	UpdatedAt           time.Time        `json:"updated_at"`
	Approvals           []decisionRecord `json:"approvals,omitempty"`
	Denial              *decisionRecord  `json:"denial,omitempty"`
	PendingUntil        time.Time        `json:"pending_until,omitzero"`
	Principal           string           `json:"username,omitempty"` // the key of the days when every principal was a database user
	ActivatedAt         time.Time        `json:"activated_at,omitzero"`
	ExpiresAt           time.Time        `json:"expires_at,omitzero"`
	RemindAt            time.Time        `json:"remind_at,omitzero"`
	BackstopAt          time.Time        `json:"backstop_at,omitzero"`
	BackstopRefreshAt   time.Time        `json:"backstop_refresh_at,omitzero"`
	CredentialsIssuedAt time.Time        `json:"credentials_issued_at,omitzero"`
	Extension           *extensionRecord `json:"extension,omitempty"`
	Extensions          int              `json:"extensions,omitempty"`
	Attempts            int              `json:"attempts,omitempty"`
	NextAttemptAt       time.Time        `json:"next_attempt_at,omitzero"`
	LastError           string           `json:"last_error,omitempty"`
	EndState            string           `json:"end_state,omitempty"`
	EndedBy             string           `json:"ended_by,omitempty"`
	EndReason           string           `json:"end_reason,omitempty"`
	EndedAt             time.Time        `json:"ended_at,omitzero"`
	// GrantState is the provisioner's record of a grant of several Atlas
	// calls (flows.Journal); empty for every other.
	GrantState string `json:"grant_state,omitempty"`

	// Reminders and escalation while pending (flows/escalate.go); absent
	// in records written before them, which have none.
	RemindApproversEvery time.Duration      `json:"remind_approvers_every,omitempty"`
	RemindApproversAt    time.Time          `json:"remind_approvers_at,omitzero"`
	Escalation           []escalationRecord `json:"escalation,omitempty"`
	Tier                 int                `json:"tier,omitempty"`
	// Approvals needed from each of several groups (flows/conditions.go).
	Requirements []requirementRecord `json:"requirements,omitempty"`
}

type decisionRecord struct {
	By      string    `json:"by"`
	At      time.Time `json:"at"`
	Approve bool      `json:"approve"`
	Reason  string    `json:"reason,omitempty"`
	MFA     bool      `json:"mfa,omitempty"`
}

type requirementRecord struct {
	Group   string   `json:"group"`
	Count   int      `json:"count"`
	Members []string `json:"members,omitempty"`
}

func requirementsToRecords(rs []flows.Requirement) []requirementRecord {
	var out []requirementRecord
	for _, r := range rs {
		out = append(out, requirementRecord(r))
	}
	return out
}

func requirementsFromRecords(rs []requirementRecord) []flows.Requirement {
	var out []flows.Requirement
	for _, r := range rs {
		out = append(out, flows.Requirement(r))
	}
	return out
}

type escalationRecord struct {
	At        time.Time `json:"at"`
	Approvers []string  `json:"approvers,omitempty"`
	Channel   string    `json:"channel,omitempty"`
	Added     []string  `json:"added,omitempty"`
}

func escalationToRecords(s []flows.EscalationStep) []escalationRecord {
	if s == nil {
		return nil
	}
	out := make([]escalationRecord, len(s))
	for i, st := range s {
		out[i] = escalationRecord(st)
	}
	return out
}

func escalationFromRecords(s []escalationRecord) []flows.EscalationStep {
	if s == nil {
		return nil
	}
	out := make([]flows.EscalationStep, len(s))
	for i, st := range s {
		out[i] = flows.EscalationStep(st)
	}
	return out
}

type extensionRecord struct {
	Number      int              `json:"number"`
	By          string           `json:"by"`
	Duration    time.Duration    `json:"duration"`
	RequestedAt time.Time        `json:"requested_at"`
	Approvals   []decisionRecord `json:"approvals,omitempty"`
}

func decisionsToRecords(ds []flows.Decision) []decisionRecord {
	if ds == nil {
		return nil
	}
	out := make([]decisionRecord, len(ds))
	for i, d := range ds {
		out[i] = decisionRecord(d)
	}
	return out
}

func decisionsFromRecords(ds []decisionRecord) []flows.Decision {
	if ds == nil {
		return nil
	}
	out := make([]flows.Decision, len(ds))
	for i, d := range ds {
		out[i] = flows.Decision(d)
	}
	return out
}

func toRecord(r *flows.Request) requestRecord {
	rec := requestRecord{
		ID: string(r.ID), Requester: r.Requester, Kind: string(r.Kind), Integration: r.Resource.Integration, Cluster: r.Resource.Cluster,
		Project: r.Resource.Project, ProjectID: r.Resource.ProjectID, ClusterID: r.Resource.ClusterID,
		Database: r.Resource.Database, Collection: r.Resource.Collection, Address: r.Resource.Address, Auth: string(r.Auth), Duration: r.Duration,
		Reason: r.Reason, Origin: r.Origin, Flow: r.Flow, PolicyHash: r.PolicyHash, Approvers: r.Approvers, Quorum: r.Quorum,
		MaxDuration: r.MaxDuration, DenyReasonRequired: r.DenyReasonRequired, ExtendNeedsApproval: r.ExtendNeedsApproval,
		ApprovalsChannel: r.ApprovalsChannel, State: string(r.State), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		Approvals: decisionsToRecords(r.Approvals), PendingUntil: r.PendingUntil, Principal: r.Principal,
		ActivatedAt: r.ActivatedAt, ExpiresAt: r.ExpiresAt, RemindAt: r.RemindAt, BackstopAt: r.BackstopAt,
		BackstopRefreshAt: r.BackstopRefreshAt, CredentialsIssuedAt: r.CredentialsIssuedAt, Extensions: r.Extensions,
		Attempts: r.Attempts, NextAttemptAt: r.NextAttemptAt, LastError: r.LastError, EndState: string(r.EndState),
		EndedBy: r.EndedBy, EndReason: r.EndReason, EndedAt: r.EndedAt, GrantState: r.GrantState,
		RemindApproversEvery: r.RemindApproversEvery, RemindApproversAt: r.RemindApproversAt,
		Escalation: escalationToRecords(r.Escalation), Tier: r.Tier, Requirements: requirementsToRecords(r.Requirements),
	}
	if len(r.Roles) == 1 {
		rec.Role = r.Roles[0]
	} else {
		rec.Roles = r.Roles
	}
	if r.Denial != nil {
		d := decisionRecord(*r.Denial)
		rec.Denial = &d
	}
	if e := r.Extension; e != nil {
		rec.Extension = &extensionRecord{Number: e.Number, By: e.By, Duration: e.Duration, RequestedAt: e.RequestedAt, Approvals: decisionsToRecords(e.Approvals)}
	}
	return rec
}

func (rec requestRecord) request() *flows.Request {
	r := &flows.Request{
		ID: flows.RequestID(rec.ID), Requester: rec.Requester, Kind: flows.Kind(rec.Kind), Roles: rec.Roles, Duration: rec.Duration, Reason: rec.Reason, Origin: rec.Origin,
		Resource: flows.Resource{Integration: rec.Integration, Project: rec.Project, Cluster: rec.Cluster, Database: rec.Database,
			Collection: rec.Collection, ProjectID: rec.ProjectID, ClusterID: rec.ClusterID, Address: rec.Address},
		Auth: flows.DatabaseAuth(rec.Auth),
		Flow: rec.Flow, PolicyHash: rec.PolicyHash, Approvers: rec.Approvers, Quorum: rec.Quorum, MaxDuration: rec.MaxDuration,
		DenyReasonRequired: rec.DenyReasonRequired, ExtendNeedsApproval: rec.ExtendNeedsApproval, ApprovalsChannel: rec.ApprovalsChannel,
		State: flows.State(rec.State), CreatedAt: rec.CreatedAt, UpdatedAt: rec.UpdatedAt, Approvals: decisionsFromRecords(rec.Approvals),
		PendingUntil: rec.PendingUntil, Principal: rec.Principal, ActivatedAt: rec.ActivatedAt, ExpiresAt: rec.ExpiresAt,
		RemindAt: rec.RemindAt, BackstopAt: rec.BackstopAt, BackstopRefreshAt: rec.BackstopRefreshAt,
		CredentialsIssuedAt: rec.CredentialsIssuedAt, Extensions: rec.Extensions, Attempts: rec.Attempts,
		NextAttemptAt: rec.NextAttemptAt, LastError: rec.LastError, EndState: flows.State(rec.EndState),
		EndedBy: rec.EndedBy, EndReason: rec.EndReason, EndedAt: rec.EndedAt, GrantState: rec.GrantState,
		RemindApproversEvery: rec.RemindApproversEvery, RemindApproversAt: rec.RemindApproversAt,
		Escalation: escalationFromRecords(rec.Escalation), Tier: rec.Tier, Requirements: requirementsFromRecords(rec.Requirements),
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
		r.Extension = &flows.Extension{Number: e.Number, By: e.By, Duration: e.Duration, RequestedAt: e.RequestedAt, Approvals: decisionsFromRecords(e.Approvals)}
	}
	return r
}

// auditRecord is one audit log entry. Hash is the SHA-256 of the record's
// JSON with Hash empty; PrevHash links it to the entry before.
type auditRecord struct {
	Seq       uint64        `json:"seq"`
	At        time.Time     `json:"at"`
	Type      string        `json:"type"`
	RequestID string        `json:"request_id,omitempty"`
	Actor     string        `json:"actor"`
	From      string        `json:"from,omitempty"`
	To        string        `json:"to,omitempty"`
	Message   string        `json:"message,omitempty"`
	Duration  time.Duration `json:"duration,omitempty"`
	Extension int           `json:"extension,omitempty"`
	Attempt   int           `json:"attempt,omitempty"`
	Tier      int           `json:"tier,omitempty"`     // absent (as in records before tiers) unless an escalation
	Principal string        `json:"username,omitempty"` // named before principals other than database users existed; the chain's hashes cover the name
	PrevHash  string        `json:"prev_hash"`
	Hash      string        `json:"hash"`
}

func auditFromEvent(ev flows.Event) auditRecord {
	return auditRecord{
		At: ev.At, Type: string(ev.Type), RequestID: string(ev.RequestID), Actor: ev.Actor, From: string(ev.From), To: string(ev.To),
		Message: ev.Message, Duration: ev.Duration, Extension: ev.Extension, Attempt: ev.Attempt, Tier: ev.Tier, Principal: ev.Principal,
	}
}

func (a auditRecord) record() flows.AuditRecord {
	return flows.AuditRecord{
		Seq: a.Seq, PrevHash: a.PrevHash, Hash: a.Hash,
		Event: flows.Event{
			Type: flows.EventType(a.Type), RequestID: flows.RequestID(a.RequestID), Actor: a.Actor, At: a.At, From: flows.State(a.From),
			To: flows.State(a.To), Message: a.Message, Duration: a.Duration, Extension: a.Extension, Attempt: a.Attempt, Tier: a.Tier, Principal: a.Principal,
		},
	}
}

type messageRefRecord struct {
	Platform     string `json:"platform"`
	Conversation string `json:"conversation"`
	ID           string `json:"id"`
	Recipient    string `json:"recipient,omitempty"`
	Kind         string `json:"kind,omitempty"`
	ServiceURL   string `json:"service_url,omitempty"`
}
