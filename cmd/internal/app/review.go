package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// reviewSchedule sends the admins last month's access review: 08:00 UTC
// on the first of each month.
const reviewSchedule = "0 0 8 1 * *"

// errReviewed stops the audit walk once this month's review is found.
var errReviewed = errors.New("reviewed already")

// monthlyReview tells the admins (an access_review event about no
// request, delivered through the outbox) what last month's grants were:
// how many, to whom, how many approved with MFA, the longest held; the
// rows are `jitbot report`'s. It runs once a month: a review recorded this
// month already (another replica, a restart) is not sent again.
func monthlyReview(ctx context.Context, db Backend, clock flows.Clock, log *slog.Logger) error {
	now := clock.Now().UTC()
	until := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	since := until.AddDate(0, -1, 0)
	err := db.Audit(ctx, until, func(r flows.AuditRecord) error {
		if r.Event.Type == flows.EventAccessReview {
			return errReviewed
		}
		return nil
	})
	switch {
	case errors.Is(err, errReviewed):
		return nil
	case err != nil:
		return fmt.Errorf("access review: read the audit log: %w", err)
	}
	rows, err := ReportOf(ctx, db, ReportFilter{Since: since, Until: until}, now)
	if err != nil {
		return err
	}
	msg := reviewText(rows, since, until)
	if err := db.AppendEvents(ctx, flows.Event{Type: flows.EventAccessReview, Actor: flows.SystemActor, At: now, Message: msg}); err != nil {
		return fmt.Errorf("access review: record it: %w", err)
	}
	log.InfoContext(ctx, "access review sent to the admins", "month", since.Format("2006-01"), "grants", len(rows))
	return nil
}

// reviewText is the review's message.
func reviewText(rows []ReportRow, since, until time.Time) string {
	month := since.Format("January 2006")
	cmd := "jitbot report -since " + since.Format(time.RFC3339) + " -until " + until.Format(time.RFC3339)
	if len(rows) == 0 {
		return "Access review for " + month + ": nobody held a grant. (" + cmd + ")"
	}
	held := map[string]int64{}
	var mfa, auto, live int
	for _, r := range rows {
		held[r.Person] += r.HeldSeconds
		switch {
		case r.MFA:
			mfa++
		case r.Auto:
			auto++
		}
		if r.Ended.IsZero() {
			live++
		}
	}
	people := make([]string, 0, len(held))
	for p := range held {
		people = append(people, p)
	}
	slices.SortFunc(people, func(a, b string) int {
		if held[a] != held[b] {
			return int(held[b] - held[a])
		}
		return strings.Compare(a, b)
	})
	var top []string
	for _, p := range people[:min(5, len(people))] {
		top = append(top, p+" "+flows.FormatDuration(time.Duration(held[p])*time.Second))
	}
	return fmt.Sprintf("Access review for %s: %s to %s; %d approved with MFA, %d approved without, %d automatic; %d still held. "+
		"Longest held: %s. Every grant, with who approved it and why: %s",
		month, count(len(rows), "grant", "grants"), count(len(people), "person", "people"), mfa, len(rows)-mfa-auto, auto, live, strings.Join(top, ", "), cmd)
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
