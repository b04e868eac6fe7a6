package store

import (
	"time"

	"github.com/jitbot/jitbot/flows"
)

// reviewRecord is the review of a break-glass use (flows.Review); absent
// for every other request.
type reviewRecord struct {
	Reviewers   []string           `json:"reviewers,omitempty"`
	Channel     string             `json:"channel,omitempty"`
	Due         time.Time          `json:"due"`
	RemindEvery time.Duration      `json:"remind_every,omitempty"`
	RemindAt    time.Time          `json:"remind_at,omitzero"`
	Escalation  []escalationRecord `json:"escalation,omitempty"`
	Tier        int                `json:"tier,omitempty"`
	Overdue     bool               `json:"overdue,omitempty"`
	ReviewedBy  string             `json:"reviewed_by,omitempty"`
	ReviewedAt  time.Time          `json:"reviewed_at,omitzero"`
	Note        string             `json:"note,omitempty"`
}

func reviewToRecord(v *flows.Review) *reviewRecord {
	if v == nil {
		return nil
	}
	return &reviewRecord{Reviewers: v.Reviewers, Channel: v.Channel, Due: v.Due, RemindEvery: v.RemindEvery, RemindAt: v.RemindAt,
		Escalation: escalationToRecords(v.Escalation), Tier: v.Tier, Overdue: v.Overdue, ReviewedBy: v.ReviewedBy, ReviewedAt: v.ReviewedAt, Note: v.Note}
}

func (rec *reviewRecord) review() *flows.Review {
	if rec == nil {
		return nil
	}
	return &flows.Review{Reviewers: rec.Reviewers, Channel: rec.Channel, Due: rec.Due, RemindEvery: rec.RemindEvery, RemindAt: rec.RemindAt,
		Escalation: escalationFromRecords(rec.Escalation), Tier: rec.Tier, Overdue: rec.Overdue, ReviewedBy: rec.ReviewedBy, ReviewedAt: rec.ReviewedAt, Note: rec.Note}
}
