package scenario

import (
	"context"
	"fmt"
	"net/url"
	"sync"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
)

// The load generator: signed Slack slash commands and block_actions
// interactions sent open-loop at a fixed rate (one every 1/rate seconds,
// whether or not earlier ones were answered) to jitbot on loopback, each
// timed from when it was due to when its answer was read, so a slow jitbot
// (or a generator falling behind) shows in the figures rather than lowering
// the rate.
//
// The traffic, per 20 requests:
//   - 4 `/access request ...`, each with its own trigger id, for new
//     requests (one requester and cluster per request, so they are real
//     submissions that reach the approvers);
//   - 1 replay of the latest of those, same trigger id, X-Slack-Retry-Num: 1;
//   - 4 clicks following up an earlier request: Cancel by its requester, or
//     (one in ten, up to maxApprovals) Approve by its cluster's owner, which
//     provisions an Atlas user;
//   - 1 replay of the latest click;
//   - 10 `/access list` or `/access pending`.

// LoadResult is what a load run measured.
type LoadResult struct {
	Rate       int
	Duration   time.Duration
	Sent       int
	ByKind     map[string]int
	Status     map[int]int
	Errors     int // transport errors (no answer at all)
	P50, P99   time.Duration
	Max        time.Duration
	Behind     int // requests sent more than 5 ms after they were due (the generator fell behind)
	Requests   int // requests in the store after the run (all made by the new-request commands)
	Duplicates int // requests beyond the first for a new-request command (its reason seen again)
	Approved   int // requests approved by the clicks
	Creates    int // Atlas users created (one per approved request)
	Violations []string
}

// Server5xx counts answers of 500 and above.
func (l LoadResult) Server5xx() int {
	n := 0
	for code, c := range l.Status {
		if code >= 500 {
			n += c
		}
	}
	return n
}

const (
	loadOwners       = 50
	loadUsers        = 2000
	loadMaxApprovals = 80 // well inside Atlas's 100 users per project
)

func loadOwner(i int) slacktest.User {
	return slacktest.User{ID: fmt.Sprintf("U0OWNER%02d", i), Name: fmt.Sprintf("owner%02d", i), Email: fmt.Sprintf("owner%02d@example.com", i), TZ: "UTC"}
}

func loadCluster(i int) string { return fmt.Sprintf("C%02d", i) }

// loadFlow routes each cluster's requests to its owner, so approval cards
// spread over many DM channels as they would in a real organisation.
const loadFlow = `  - name: load
    integration: prod
    requesters: ["*"]
    resources: ["C*/sales/*"]
    roles: [read]
    max_duration: 8h
    approvers: [owners]
    require_reason: true
`

// loadJob is one request of the run.
type loadJob struct {
	kind  string
	path  string
	form  url.Values
	retry int
}

// submission is a new-request command whose follow-up click is pending.
type submission struct {
	n       int
	user    slacktest.User
	owner   slacktest.User
	trigger string
}

// Load runs the load at rate requests per second for d against an
// in-process jitbot with the Slack fake and the Atlas simulator.
func Load(ctx context.Context, rate int, d time.Duration, reporter atlastest.Reporter) (LoadResult, error) {
	res := LoadResult{Rate: rate, Duration: d, ByKind: map[string]int{}, Status: map[int]int{}}
	users := make([]slacktest.User, 0, loadUsers+loadOwners)
	for i := range loadUsers {
		users = append(users, rig.Requester(i))
	}
	var clusters []atlastest.Cluster
	for i := range loadOwners {
		users = append(users, loadOwner(i))
		clusters = append(clusters, atlastest.Cluster{Name: loadCluster(i), Tags: []atlastest.Tag{{Key: "owner", Value: loadOwner(i).Email}}})
	}
	r, err := rig.New(rig.Options{Slack: true, SlackUsers: users, Clusters: clusters, Flows: loadFlow, Reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.Close()
	if err := r.Start(ctx, app.Options{}); err != nil {
		return res, err
	}
	p := rig.NewPoster(r.Addr())
	defer p.Close()
	db := r.Main.Store()

	var (
		mu          sync.Mutex
		latencies   []time.Duration
		pending     []submission // new requests awaiting their follow-up click
		lastRequest *loadJob
		lastClick   *loadJob
		approvals   int
		submissions []submission
	)
	// next builds job i of the run; it runs in the generator's loop, so it
	// must stay cheap.
	next := func(i int) loadJob {
		slot := i % 20
		switch {
		case slot < 4:
			n := len(submissions)
			u := rig.Requester(n % loadUsers)
			c := (n % loadUsers) % loadOwners
			trigger := r.Slack.NewTriggerIDFor(u.ID)
			text := fmt.Sprintf("request prod/%s/sales/orders read 1h LOAD-%d", loadCluster(c), n)
			job := loadJob{kind: "request", path: "/slack/commands", form: r.SlashForm(u, text, trigger)}
			s := submission{n: n, user: u, owner: loadOwner(c), trigger: trigger}
			submissions = append(submissions, s)
			pending = append(pending, s)
			lastRequest = &job
			return job
		case slot == 4 && lastRequest != nil:
			return loadJob{kind: "request replay", path: lastRequest.path, form: lastRequest.form, retry: 1}
		case slot < 9:
			for len(pending) > 0 {
				s := pending[0]
				rs, err := db.Find(ctx, flows.Query{IdempotencyKey: "slack:trigger:" + s.trigger})
				if err != nil || len(rs) == 0 {
					break // not made yet: try again at the next follow-up slot
				}
				pending = pending[1:]
				if rs[0].State != flows.StatePending {
					continue
				}
				who, value, kind := s.user, "cancel:"+rs[0].ID, "click cancel"
				if s.n%10 == 0 && approvals < loadMaxApprovals {
					who, value, kind = s.owner, "approve:"+rs[0].ID, "click approve"
					approvals++
				}
				form, err := r.ClickForm(who, string(value), string(value), slacktest.Message{})
				if err != nil {
					break
				}
				job := loadJob{kind: kind, path: "/slack/interactions", form: form}
				lastClick = &job
				return job
			}
		case slot == 9 && lastClick != nil:
			return loadJob{kind: "click replay", path: lastClick.path, form: lastClick.form, retry: 1}
		}
		if i%2 == 0 {
			u := rig.Requester(i % loadUsers)
			return loadJob{kind: "list", path: "/slack/commands", form: r.SlashForm(u, "list", r.Slack.NewTriggerIDFor(u.ID))}
		}
		o := loadOwner(i % loadOwners)
		return loadJob{kind: "pending", path: "/slack/commands", form: r.SlashForm(o, "pending", r.Slack.NewTriggerIDFor(o.ID))}
	}

	total := int(d.Seconds() * float64(rate))
	interval := time.Second / time.Duration(rate)
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		} else if -wait > 5*time.Millisecond {
			res.Behind++
		}
		job := next(i)
		res.Sent++
		res.ByKind[job.kind]++
		wg.Go(func() {
			status, err := p.Form(ctx, job.path, job.form, job.retry)
			took := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors++
				return
			}
			res.Status[status]++
			latencies = append(latencies, took)
		})
	}
	wg.Wait()
	res.P50, res.P99, res.Max = percentile(latencies, 50), percentile(latencies, 99), percentile(latencies, 100)

	// Let the work started by the acknowledgements finish: nothing
	// half-provisioned, and the number of requests steady for a second.
	settled, last := time.Now().Add(60*time.Second), -1
	for {
		counts, err := db.CountByState(ctx)
		if err != nil {
			return res, err
		}
		n := 0
		for _, c := range counts {
			n += c
		}
		if n == last && counts[flows.StateApproved]+counts[flows.StateProvisioning] == 0 {
			break
		}
		if time.Now().After(settled) {
			return res, fmt.Errorf("the load's detached work did not settle within a minute: %v", counts)
		}
		last = n
		time.Sleep(time.Second)
	}
	// Every request in the store, not those found by a submission's trigger
	// id: a duplicate made under another key is counted too. Each new-request
	// command has its own reason (LOAD-n), so a reason seen twice is a
	// duplicate.
	all, err := db.Find(ctx, flows.Query{})
	if err != nil {
		return res, err
	}
	res.Requests = len(all)
	byReason := map[string]int{}
	for _, rq := range all {
		byReason[rq.Reason]++
		if !rq.ActivatedAt.IsZero() {
			res.Approved++
		}
	}
	for _, n := range byReason {
		res.Duplicates += n - 1
	}
	res.Creates = r.Atlas.CountCalls("createDatabaseUser")
	res.Violations = r.Atlas.SpecViolations()
	return res, r.Stop()
}
