// Command jitbot-bench runs the scenarios of cmd/internal/scenario at full
// size and prints DESIGN §8's budget as one table: what was measured, the
// figure, the budget, and whether it holds. It runs jitbot in this process
// and as a child process (the jitbot binary: the crash and scale
// scenarios), against the simulators, on loopback. It is a command of its
// own so that none of it is linked into the jitbot binary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/scenario"
	"github.com/jitbot/jitbot/flows"
)

// benchOptions are the sizes of one bench run.
type benchOptions struct {
	quick     bool
	crashRuns int
	loadFor   time.Duration
	clicks    int
	scaleReqs int
	scaleEvts int
	only      []string // scenario names; empty: all
	jitbot    string   // the jitbot binary for the scenarios that run `jitbot serve`
}

func (o benchOptions) wants(name string) bool {
	return len(o.only) == 0 || slices.Contains(o.only, name)
}

var benchScenarios = []string{"load", "click", "duplicates", "expiry", "downtime", "crash", "scale", "burst", "outage", "ha"}

// verdict of a row: a budget held or broken, or a figure with no budget.
type verdict int

const (
	pass verdict = iota
	fail
	info
)

func (v verdict) String() string {
	return [...]string{"ok", "BROKEN", "-"}[v]
}

// benchRow is one line of the table.
type benchRow struct {
	what, figure, budget string
	verdict              verdict
}

func check(ok bool) verdict {
	if ok {
		return pass
	}
	return fail
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `jitbot-bench: DESIGN §8's budget, measured

Usage (in jitbot's source tree):
  go run ./cmd/jitbot-bench [-quick] [-runs 200] [-only load,click,duplicates,expiry,downtime,crash,scale,burst,outage,ha] [-jitbot path]

The crash, scale, burst and ha scenarios run the jitbot binary as ` + "`jitbot serve`" + `: it is
built from ./cmd/jitbot with the go tool at the start, unless -jitbot names one.
The table goes to stdout, progress to stderr; the exit status is 1 when a
figure breaks its budget, 2 for a bad flag.
`

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string {
	return e.msg + "\nRun 'go run ./cmd/jitbot-bench -help' for usage."
}

// run runs one command line and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := bench(ctx, args, stdout, stderr)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "jitbot-bench: "+err.Error())
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

func bench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("jitbot-bench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	quick := fs.Bool("quick", false, "smaller runs (about a minute): fewer crash runs, a shorter load, a smaller store")
	runs := fs.Int("runs", 0, "kill -9 runs of the crash scenario (default 200, or 50 with -quick)")
	only := fs.String("only", "", "run only these scenarios, separated by commas: "+strings.Join(benchScenarios, ","))
	exe := fs.String("jitbot", "", "the jitbot binary the crash, scale, burst and ha scenarios run (default: built from ./cmd/jitbot)")
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(stdout, usage)
		return nil
	} else if err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("unexpected arguments %q", fs.Args())}
	}
	o := benchOptions{quick: *quick, crashRuns: 200, loadFor: 30 * time.Second, clicks: 10, scaleReqs: 100_000, scaleEvts: 1_000_000}
	if *quick {
		o.crashRuns, o.loadFor, o.clicks, o.scaleReqs, o.scaleEvts = 50, 5*time.Second, 3, 10_000, 100_000
	}
	if *runs < 0 {
		return usageError{"-runs must be positive"}
	}
	if *runs > 0 {
		o.crashRuns = *runs
	}
	if *only != "" {
		for _, name := range strings.Split(*only, ",") {
			if !slices.Contains(benchScenarios, name) {
				return usageError{fmt.Sprintf("-only: unknown scenario %q; choose from %s", name, strings.Join(benchScenarios, ","))}
			}
			o.only = append(o.only, name)
		}
	}
	fmt.Fprintf(stderr, "jitbot-bench: %d CPUs, %s %s/%s; progress on stderr, the table on stdout\n", runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	o.jitbot = *exe
	if o.jitbot == "" && (o.wants("crash") || o.wants("scale") || o.wants("burst") || o.wants("ha")) {
		dir, err := os.MkdirTemp("", "jitbot-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		fmt.Fprintf(stderr, "  building jitbot (go build %s; -jitbot names another binary)\n", rig.JitbotPackage)
		if o.jitbot, err = rig.BuildJitbot(ctx, dir, false); err != nil {
			return err
		}
	}
	rows, err := runBench(ctx, o, stderr)
	printBench(stdout, o, rows)
	if err != nil {
		return err
	}
	for _, r := range rows {
		if r.verdict == fail {
			return errors.New("a budget is broken")
		}
	}
	return nil
}

// runBench runs the scenarios o asks for and returns the table's rows.
// progress receives a line as each scenario starts. A scenario that cannot
// run at all stops the bench with the rows so far.
func runBench(ctx context.Context, o benchOptions, progress io.Writer) ([]benchRow, error) {
	var rows []benchRow
	var violations []string
	add := func(r ...benchRow) { rows = append(rows, r...) }
	step := func(name, what string) bool {
		if !o.wants(name) {
			return false
		}
		fmt.Fprintf(progress, "  %s: %s\n", name, what)
		return true
	}
	ms := func(d time.Duration) string { return fmtDuration(d) }

	if step("load", fmt.Sprintf("200 requests/s for %s", o.loadFor)) {
		res, err := scenario.Load(ctx, 200, o.loadFor, nil)
		if err != nil {
			return rows, fmt.Errorf("load: %w", err)
		}
		violations = append(violations, res.Violations...)
		add(benchRow{fmt.Sprintf("ack, %d req/s × %s (%d slash commands, clicks)", res.Rate, res.Duration, res.Sent),
			fmt.Sprintf("p50 %s, p99 %s, max %s", ms(res.P50), ms(res.P99), ms(res.Max)), "p99 < 100ms", check(res.P99 < 100*time.Millisecond)},
			benchRow{"  answers", fmt.Sprintf("%d × 200, %d 5xx, %d unanswered, %d sent late", res.Status[200], res.Server5xx(), res.Errors, res.Behind),
				"no 5xx", check(res.Server5xx() == 0 && res.Errors == 0 && res.Status[200] == res.Sent)},
			benchRow{fmt.Sprintf("  duplicates (%d new, %d replays, %d approved)", res.ByKind["request"], res.ByKind["request replay"]+res.ByKind["click replay"], res.Approved),
				fmt.Sprintf("%d duplicate requests, %d Atlas creates", res.Duplicates, res.Creates), "0 duplicates",
				check(res.Duplicates == 0 && res.Requests <= res.ByKind["request"] && res.Creates == res.Approved)})
	}

	if step("click", fmt.Sprintf("%d approvals with 50ms per Atlas call", 2*o.clicks)) {
		for _, apply := range []time.Duration{3 * time.Second, 0} {
			res, err := scenario.ClickToCredentials(ctx, o.clicks, 50*time.Millisecond, apply, nil)
			if err != nil {
				return rows, fmt.Errorf("click to credentials: %w", err)
			}
			violations = append(violations, res.Violations...)
			when := "apply " + ms(apply)
			if apply == 0 {
				when = "applied at once"
			}
			budget := "max < 3L = " + ms(res.Budget())
			if apply > 0 {
				budget = "max < 2L + apply + 300ms = " + ms(res.Budget())
			}
			add(benchRow{fmt.Sprintf("click → credentials DM, L=50ms, %s (%d)", when, res.Grants),
				fmt.Sprintf("p50 %s, max %s", ms(res.P50), ms(res.Max)), budget, check(res.Max < res.Budget())},
				benchRow{"  chat calls to the requester, click → DM", fmt.Sprintf("max %d, p50 %d (%s)", res.SlackCallsMax, res.SlackCalls, strings.Join(res.SlackMethods, ", ")), "≤ 2", check(res.SlackCallsMax <= 2)})
			if apply > 0 {
				add(benchRow{"Atlas calls per grant", fmt.Sprintf("%.0f create, %.0f delete, %.1f status polls, %.0f lists, %.1f other", res.Creates, res.Deletes, res.Polls, res.Lists, res.OtherAtlas),
					fmt.Sprintf("1 create, 1 delete, 0 lists, ≤ %d polls", scenario.MaxStatusPolls),
					check(res.Creates == 1 && res.Deletes == 1 && res.Lists == 0 && res.Polls <= scenario.MaxStatusPolls)})
			}
		}
	}

	if step("duplicates", "every delivery 4 times, 10 concurrent Approve clicks") {
		res, err := scenario.Duplicates(ctx, nil)
		if err != nil {
			return rows, fmt.Errorf("duplicates: %w", err)
		}
		violations = append(violations, res.Violations...)
		ok := res.Non200 == 0 && res.Requests == 2 && res.Creates == 2 && res.AtlasUsers == 2 && res.CredentialDMs == 2 && res.HomePublishes == 1 && res.MaxPerTransition == 1
		add(benchRow{fmt.Sprintf("duplicate delivery ×4, 10 concurrent Approves (%d deliveries)", res.Deliveries),
			fmt.Sprintf("%d requests, %d creates, %d credential DMs, %d Home tab, ≤ %d audit record per transition", res.Requests, res.Creates, res.CredentialDMs, res.HomePublishes, res.MaxPerTransition),
			"1 create, 1 audit per transition", check(ok)})
	}

	if step("expiry", "100 grants due in the same second, Atlas bucket 10 + 5/min (simulated time)") {
		res, err := scenario.Expiry(ctx, 100, 10, 5, time.Minute, true, nil)
		if err != nil {
			return rows, fmt.Errorf("expiry: %w", err)
		}
		violations = append(violations, res.Violations...)
		add(benchRow{fmt.Sprintf("expiry: %d due in one second, bucket %d + %d/%s: max overstay", res.Grants, res.Capacity, res.Refill, flows.FormatDuration(res.Per)),
			fmt.Sprintf("%s (%d expired, %d users left, %d × 429)", signed(res.MaxOverstay), res.Expired, res.UsersLeft, res.RateLimited),
			"≤ 1 tick (5s) + 1 round trip", check(res.MaxOverstay <= scenario.SweepTick && res.UsersLeft == 0 && res.Expired == res.Grants)},
			benchRow{"  earliest revocation start", fmt.Sprintf("%s before the deadline (%d sweeps in %s)", res.EarliestStart, res.Sweeps, ms(res.Wall)), "", info})
		cmp, err := scenario.Expiry(ctx, 100, 10, 5, time.Minute, false, nil)
		if err != nil {
			return rows, fmt.Errorf("expiry without the planner: %w", err)
		}
		add(benchRow{"  without atlas.rate_limit (comparison)",
			fmt.Sprintf("max overstay %s, %d × 429", signed(cmp.MaxOverstay), cmp.RateLimited), "", info})
	}

	if step("downtime", "50 grants expire while jitbot is down") {
		res, err := scenario.Downtime(ctx, 50, nil)
		if err != nil {
			return rows, fmt.Errorf("downtime: %w", err)
		}
		violations = append(violations, res.Violations...)
		add(benchRow{fmt.Sprintf("downtime: %d grants expire, down %s", res.Grants, res.Downtime),
			fmt.Sprintf("%d deleted by %d sweep, %d left, restart to done %s", res.Deletes, res.Sweeps, res.UsersLeft, ms(res.StartToDone)),
			"all within 1 sweep + 1 round trip", check(res.Sweeps == 1 && res.UsersLeft == 0 && res.Expired == res.Grants)})
	}

	if step("crash", fmt.Sprintf("kill -9 × %d", o.crashRuns)) {
		// A settle of up to 3 minutes: what the last processes had taken from
		// the inbox waits out its lease (35 s) after the last kill.
		res, err := scenario.Crash(ctx, o.jitbot, o.crashRuns, 400*time.Millisecond, 3*time.Minute, uint64(time.Now().UnixNano()), nil)
		if err != nil {
			return rows, fmt.Errorf("crash: %w", err)
		}
		violations = append(violations, res.Violations...)
		for _, r := range res.Explained {
			fmt.Fprintf(progress, "    repeat: %s\n", r)
		}
		var states []string
		for _, s := range []string{"active", "expired", "revoked", "denied", "cancelled", "timed_out", "failed", "pending"} {
			if n := res.ByState[flows.State(s)]; n > 0 {
				states = append(states, fmt.Sprintf("%d %s", n, s))
			}
		}
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(res.ByKind)) {
			kinds = append(kinds, fmt.Sprintf("%s %d (%d granted)", k, res.ByKind[k], res.GrantedByKind[k]))
		}
		add(benchRow{fmt.Sprintf("crash: kill -9 × %d (%d checks); %s", res.Runs, res.Checks, strings.Join(kinds, ", ")),
			fmt.Sprintf("%d orphans (users, UI roles, access-list entries), %d past deadline + tick, %d active without them", res.Orphans, res.PastDeadline, res.Missing),
			"0 orphans, 0 past deadline", check(res.Orphans == 0 && res.PastDeadline == 0 && res.Missing == 0)},
			benchRow{fmt.Sprintf("  %d requests (%s)", res.Requests, strings.Join(states, ", ")),
				fmt.Sprintf("audit chain of %d verified=%v, %d inconsistent, %d unsettled", res.AuditRecords, res.AuditOK, len(res.Problems), res.Unsettled),
				"0 lost audit events", check(res.AuditOK && len(res.Problems) == 0 && res.Unsettled == 0)})
		add(crashAckRows(res)...)                                                                // issue 12
		add(benchRow{"  workflows: reminders and escalation tiers, scheduled starts (issue 17)", // crash_workflows.go
			fmt.Sprintf("%d reminders and tiers due: %d lost or late, %d unplanned; %d scheduled starts: %d lost or late", res.Nudges, res.LostNudges, res.ExtraNudges, res.Starts, res.LostStarts),
			"0 lost reminders, 0 lost starts", check(res.Nudges > 0 && res.Starts > 0 && res.LostNudges == 0 && res.ExtraNudges == 0 && res.LostStarts == 0)})
	}

	if step("outage", "every chat call 429 Retry-After 60 for 10 min while 100 grants expire (simulated time)") { // issue 12
		res, err := scenario.Outage(ctx, 100, 10*time.Minute, time.Minute, nil)
		if err != nil {
			return rows, fmt.Errorf("outage: %w", err)
		}
		violations = append(violations, res.Violations...)
		add(outageRows(res)...)
	}

	if step("scale", fmt.Sprintf("%d requests and %d audit records (the store is built once and kept in %s)", o.scaleReqs, o.scaleEvts, os.TempDir())) {
		res, err := scenario.Scale(ctx, o.jitbot, os.TempDir(), o.scaleReqs, o.scaleEvts, 200, nil)
		if err != nil {
			return rows, fmt.Errorf("scale: %w", err)
		}
		size := fmt.Sprintf("%s requests, %s audit", count(res.Requests), count(res.Events))
		if o.quick {
			size += " (-quick)"
		}
		add(benchRow{"scale, " + size + ": start-up to ready", ms(res.StartToReady), "< 1s", check(res.StartToReady < time.Second)},
			benchRow{"  `jitbot serve`, exec to first sweep", ms(res.ServeToReady), "< 1s", check(res.ServeToReady < time.Second)},
			benchRow{"  Go heap of `jitbot serve` (heap_alloc)", fmt.Sprintf("%.1f MB", float64(res.ServeHeap)/(1<<20)), "< 64 MB", check(res.ServeHeap > 0 && res.ServeHeap < 64<<20)},
			benchRow{fmt.Sprintf("  sweep, nothing due (p50, max of %d)", res.Sweeps), fmt.Sprintf("%s, %s", ms(res.SweepP50), ms(res.SweepMax)), "< 1ms", check(res.SweepP50 < time.Millisecond && res.Due == 0)})
	}

	if step("burst", "200 and 800 slash commands/s to `jitbot serve` (the 800/s run waits for its outbox to drain: about 16 minutes, 2 with -quick)") {
		r, v, err := burstRows(ctx, o, progress)
		add(r...)
		violations = append(violations, v...)
		if err != nil {
			return rows, err
		}
	}

	if step("ha", "the ack at 200/s on bbolt and on etcd, two pairs with a 1-member etcd beside each (5 minutes, 2 with -quick); then 3 `jitbot serve` on a 3-member etcd, 100 requests/s, the leader killed every 30s, an etcd member stopped (5 minutes and a settle of up to 3; 90 s and 2 with -quick)") { // issue 15
		r, v, err := haRows(ctx, o, progress)
		add(r...)
		violations = append(violations, v...)
		if err != nil {
			return rows, err
		}
	}

	add(benchRow{"Atlas calls and answers off the OpenAPI spec", fmt.Sprint(len(violations)), "0", check(len(violations) == 0)})
	return rows, nil
}

// crashAckRows are the crash scenario's rows of issue 12: the kills right
// after an ack, what was acknowledged, and what was said.
func crashAckRows(res scenario.CrashResult) []benchRow {
	var kinds []string
	n := 0
	for _, k := range scenario.AckKinds {
		kinds = append(kinds, fmt.Sprintf("%d %s", res.AckKills[k], k))
		n += res.AckKills[k]
	}
	return []benchRow{
		{fmt.Sprintf("  acknowledged; %d kills right after an ack (%s; %d clicks fell back to a command)", n, strings.Join(kinds, ", "), res.ClickFallbacks),
			fmt.Sprintf("%d requests and clicks (%d right before a kill): %d lost, %d done twice; %d (%d) refused and answered",
				res.Acked, res.AckedAfterKill, res.LostRequests, res.DuplicateRequests, res.Refused, res.RefusedAfterKill),
			"0 lost, 0 duplicates", check(res.Acked > 0 && res.LostRequests == 0 && res.DuplicateRequests == 0)},
		{"  messages posted into conversations", fmt.Sprintf("%d: %d lost, %d repeats (%d on Slack, %d on Teams; %d inside a kill's send-to-commit window, %d unexplained; %d approval cards left offering a decision: posted as jitbot was killed, never recorded)",
			res.Messages, res.LostMessages, res.Repeats, res.RepeatsOn["slack"], res.RepeatsOn["teams"], res.RepeatsExplained, res.Repeats-res.RepeatsExplained, res.StaleCopies),
			"0 lost, none repeated on Slack, repeats only in a window", check(res.Messages > 0 && res.LostMessages == 0 && res.Repeats == res.RepeatsExplained && res.RepeatsOn["slack"] == 0)},
	}
}

// outageRows are the chat outage's rows (issue 12), in simulated time.
func outageRows(res scenario.OutageResult) []benchRow {
	return []benchRow{
		{fmt.Sprintf("chat outage: 429 Retry-After %s for %s, %d grants expire (simulated)", fmtDuration(res.RetryAfter), fmtDuration(res.Outage), res.Grants),
			fmt.Sprintf("max overstay %s (%d expired, %d users left)", signed(res.MaxOverstay), res.Expired, res.UsersLeft),
			"0s past deadline", check(res.MaxOverstay <= 0 && res.Expired == res.Grants && res.UsersLeft == 0)},
		{fmt.Sprintf("  chat calls during the outage (%d grants asked in Slack, %d in Teams)", res.InSlack, res.InTeams),
			fmt.Sprintf("%d Slack + %d Teams answered 429, %d went through", res.SlackRefused, res.TeamsRefused, res.Through), "", info},
		{"  after the outage", fmt.Sprintf("%d/%d expiry notices, %d/%d passwords removed, %d lost, %d repeats; caught up %s after its end (wall %s)",
			res.Notices, res.Grants, res.Scrubbed, res.Grants, res.Lost, res.Repeats, fmtDuration(res.CaughtUp), fmtDuration(res.Wall)),
			"every message delivered", check(!res.Failed())},
	}
}

func printBench(w io.Writer, o benchOptions, rows []benchRow) {
	title := "jitbot-bench"
	if o.quick {
		title += " -quick"
	}
	fmt.Fprintf(w, "%s: DESIGN §8 measured on %d CPUs (%s, %s/%s)\n\n", title, runtime.NumCPU(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHAT\tFIGURE\tBUDGET\tRESULT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.what, r.figure, r.budget, r.verdict)
	}
	_ = tw.Flush()
}

// fmtDuration prints a duration with three significant figures or so.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Minute:
		return d.Round(time.Second).String()
	case d >= time.Second:
		return d.Round(10 * time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	case d >= time.Microsecond:
		return d.Round(10 * time.Nanosecond).String()
	}
	return d.String()
}

func signed(d time.Duration) string {
	if d > 0 {
		return "+" + fmtDuration(d)
	}
	if d < 0 {
		return "-" + fmtDuration(-d)
	}
	return "0s"
}

func count(n int) string {
	if n >= 1_000_000 && n%1_000_000 == 0 {
		return fmt.Sprintf("%dM", n/1_000_000)
	}
	if n >= 1000 && n%1000 == 0 {
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}
