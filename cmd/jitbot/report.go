package main

import (
	"context"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/app"
)

// report prints the access review: every grant held in a period, who held
// it, for how long, approved by whom, why, with MFA or not, break-glass or
// not; as CSV (for a spreadsheet) or JSON.
func (e *env) report(ctx context.Context, args []string) error {
	fs, path := e.flags("report")
	since := fs.String("since", "", "grants held at or after this time (RFC 3339) or this long ago (30d)")
	until := fs.String("until", "", "grants held before this time (RFC 3339) or this long ago")
	person := fs.String("person", "", "only this person's grants (their email)")
	resource := fs.String("resource", "", "only grants of this resource, or of resources matching this glob (prod/Cluster0/*)")
	flow := fs.String("flow", "", "only grants of this access flow")
	format := fs.String("format", "csv", "csv or json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "csv" && *format != "json" {
		return usageErr("report: -format %q: use csv or json", *format)
	}
	now := time.Now()
	f := app.ReportFilter{Person: *person, Resource: *resource, Flow: *flow}
	var err error
	if f.Since, err = app.ParseSince(*since, now); err != nil {
		return usageErr("%v", err)
	}
	if f.Until, err = app.ParseSince(*until, now); err != nil {
		return usageErr("-until %q: want an RFC 3339 time (2026-11-01T00:00:00Z) or a duration ago (24h, 7d)", *until)
	}
	if err := f.Check(); err != nil {
		return usageErr("report: %v", err)
	}
	cfg, err := e.load(*path)
	if err != nil {
		return err
	}
	var rows []app.ReportRow
	if c, err := e.server(ctx, cfg); err != nil {
		return err
	} else if c != nil {
		if rows, err = c.Report(ctx, f); err != nil {
			return err
		}
	} else {
		db, err := e.openStore(cfg, true)
		if err != nil {
			return err
		}
		defer db.Close()
		if rows, err = app.ReportOf(ctx, db, f, now); err != nil {
			return err
		}
	}
	if *format == "json" {
		return app.EncodeReportJSON(e.stdout, rows)
	}
	return app.WriteReportCSV(e.stdout, rows)
}
