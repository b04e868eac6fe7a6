package app

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// The access review (jitbot report, GET /admin/report): who had which
// access, for how long, approved by whom, why, with MFA or not,
// break-glass or not. It reads the requests, which keep every grant's
// whole story (its approvals and how it ended) for as long as the store
// keeps them.

// ReportFilter selects the grants of a report.
type ReportFilter struct {
	// Since and Until select grants held at some time in [Since, Until)
	// (zero: unbounded).
	Since, Until time.Time
	Person       string // the requester's email
	// Resource is a resource or a glob of resources (prod/*/sales): a
	// grant matches when its resource, or one it is part of, does.
	Resource string
	Flow     string
}

// ReportRow is one grant in a report.
type ReportRow struct {
	RequestID  string   `json:"request_id"`
	Person     string   `json:"person"`
	Kind       string   `json:"kind"`
	Resource   string   `json:"resource"`
	Roles      string   `json:"roles"`
	Flow       string   `json:"flow"`
	Reason     string   `json:"reason"`
	ApprovedBy []string `json:"approved_by"`
	Auto       bool     `json:"auto_approved"`
	MFA        bool     `json:"mfa"`
	BreakGlass bool     `json:"break_glass"`
	// Review is a break-glass use's review: open, overdue or reviewed
	// (empty for other grants), and who acknowledged it.
	Review     string    `json:"break_glass_review,omitempty"`
	ReviewedBy string    `json:"reviewed_by,omitempty"`
	Granted    time.Time `json:"granted_at"`
	Ended      time.Time `json:"ended_at,omitzero"`
	// HeldSeconds is how long it was held: to its end, or to the report's
	// time while it is still held.
	HeldSeconds int64  `json:"held_seconds"`
	State       string `json:"state"`
	EndedBy     string `json:"ended_by,omitempty"`
	EndReason   string `json:"end_reason,omitempty"`
	Extensions  int    `json:"extensions"`
}

// Report builds the rows of the grants rs holds that f selects, at now,
// oldest grant first. Requests never granted (pending, denied, cancelled,
// failed) gave nobody access and are left out.
func Report(rs []*flows.Request, f ReportFilter, now time.Time) []ReportRow {
	rows := []ReportRow{}
	for _, r := range rs {
		if r.ActivatedAt.IsZero() || !f.selects(r) {
			continue
		}
		end := r.EndedAt
		if r.State == flows.StateActive || end.IsZero() {
			end = time.Time{}
		}
		if !f.Until.IsZero() && !r.ActivatedAt.Before(f.Until) || !f.Since.IsZero() && !end.IsZero() && !end.After(f.Since) {
			continue
		}
		row := ReportRow{
			RequestID: string(r.ID), Person: r.Requester, Kind: string(r.Kind), Resource: r.Resource.String(), Roles: flows.FormatRoles(r.Roles),
			Flow: r.Flow, Reason: r.Reason, Granted: r.ActivatedAt, Ended: end, State: string(r.State),
			EndedBy: r.EndedBy, EndReason: r.EndReason, Extensions: r.Extensions, ApprovedBy: []string{},
		}
		if row.Kind == "" {
			row.Kind = string(flows.KindDatabaseUser)
		}
		for _, d := range r.Approvals {
			row.ApprovedBy = append(row.ApprovedBy, d.By)
		}
		row.BreakGlass = r.BreakGlass != nil
		if row.BreakGlass {
			row.Review, row.ReviewedBy = r.BreakGlass.ReviewState(now), r.BreakGlass.ReviewedBy
		}
		row.Auto = len(r.Approvals) == 0 && !row.BreakGlass
		row.MFA = len(r.Approvals) > 0 && !slices.ContainsFunc(r.Approvals, func(d flows.Decision) bool { return !d.MFA })
		if row.BreakGlass {
			row.MFA = r.BreakGlass.MFA // taken with a fresh MFA sign-in (step-up)
		}
		until := end
		if until.IsZero() {
			until = now
		}
		row.HeldSeconds = int64(max(until.Sub(r.ActivatedAt), 0) / time.Second)
		rows = append(rows, row)
	}
	slices.SortStableFunc(rows, func(a, b ReportRow) int { return a.Granted.Compare(b.Granted) })
	return rows
}

func (f ReportFilter) selects(r *flows.Request) bool {
	if f.Person != "" && !strings.EqualFold(r.Requester, f.Person) {
		return false
	}
	if f.Flow != "" && r.Flow != f.Flow {
		return false
	}
	return f.Resource == "" || underGlob(f.Resource, r.Resource.String())
}

// underGlob reports whether res, or a resource it is part of, matches glob:
// prod/Cluster0 and prod/Cluster0/* both select prod/Cluster0/sales/orders.
func underGlob(glob, res string) bool {
	glob = strings.TrimSuffix(glob, "/")
	parts := strings.Split(res, "/")
	for i := range parts {
		if ok, _ := path.Match(glob, strings.Join(parts[:i+1], "/")); ok {
			return true
		}
	}
	return false
}

// Check says what is wrong with a filter, for a usage error.
func (f ReportFilter) Check() error {
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return fmt.Errorf("-since %s is not before -until %s", f.Since.UTC().Format(time.RFC3339), f.Until.UTC().Format(time.RFC3339))
	}
	if _, err := path.Match(f.Resource, ""); err != nil {
		return fmt.Errorf("-resource %q: %v", f.Resource, err)
	}
	return nil
}

// reportColumns are the CSV's header.
var reportColumns = []string{"request_id", "person", "kind", "resource", "roles", "flow", "reason", "approved_by", "auto_approved", "mfa", "break_glass",
	"break_glass_review", "reviewed_by", "granted_at", "ended_at", "held_seconds", "state", "ended_by", "end_reason", "extensions"}

// WriteReportCSV writes rows as CSV with a header. Cells that a
// spreadsheet would run as a formula are quoted with a leading apostrophe.
func WriteReportCSV(w io.Writer, rows []ReportRow) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(reportColumns); err != nil {
		return err
	}
	at := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, r := range rows {
		rec := []string{r.RequestID, r.Person, r.Kind, r.Resource, r.Roles, r.Flow, r.Reason, strings.Join(r.ApprovedBy, ";"),
			strconv.FormatBool(r.Auto), strconv.FormatBool(r.MFA), strconv.FormatBool(r.BreakGlass),
			r.Review, r.ReviewedBy, at(r.Granted), at(r.Ended), strconv.FormatInt(r.HeldSeconds, 10), r.State, r.EndedBy, r.EndReason, strconv.Itoa(r.Extensions)}
		for i, c := range rec {
			if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
				rec[i] = "'" + c
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// reportQuery is f as the admin API's query.
func (f ReportFilter) query() string {
	q := url.Values{}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339Nano))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339Nano))
	}
	for k, v := range map[string]string{"person": f.Person, "resource": f.Resource, "flow": f.Flow} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

func reportFilterOf(q url.Values) (ReportFilter, error) {
	f := ReportFilter{Person: q.Get("person"), Resource: q.Get("resource"), Flow: q.Get("flow")}
	for k, t := range map[string]*time.Time{"since": &f.Since, "until": &f.Until} {
		if s := q.Get(k); s != "" {
			v, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return f, fmt.Errorf("%s %q: want an RFC 3339 time", k, s)
			}
			*t = v
		}
	}
	return f, f.Check()
}

// ReportOf reads every request of db and reports on them.
func ReportOf(ctx context.Context, db flows.Store, f ReportFilter, now time.Time) ([]ReportRow, error) {
	rs, err := db.Find(ctx, flows.Query{})
	if err != nil {
		return nil, fmt.Errorf("report: read the requests: %w", err)
	}
	return Report(rs, f, now), nil
}

// report is GET /admin/report.
func (a *adminAPI) report(w http.ResponseWriter, r *http.Request) {
	f, err := reportFilterOf(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rows, err := ReportOf(r.Context(), a.db, f, a.clock.Now())
	if err != nil {
		a.log.Error("admin API: report", "err", err)
		http.Error(w, "could not read the requests", http.StatusInternalServerError)
		return
	}
	writeJSON(w, http.StatusOK, rows)
}

// Report asks the running server for a report.
func (c *AdminClient) Report(ctx context.Context, f ReportFilter) ([]ReportRow, error) {
	var rows []ReportRow
	err := c.do(ctx, http.MethodGet, "/admin/report?"+f.query(), nil, &rows)
	return rows, err
}

// EncodeReportJSON writes rows as a JSON array.
func EncodeReportJSON(w io.Writer, rows []ReportRow) error {
	if rows == nil {
		rows = []ReportRow{}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rows)
}
