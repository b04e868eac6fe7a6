package scenario

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	clientv3 "go.etcd.io/etcd/client/v3"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// The HA scenario (issue 15): three `jitbot serve` processes (the jitbot
// binary) on one etcd cluster of three members, embedded in this process
// (go.etcd.io/etcd/server/v3/embed, each member on its own loopback ports
// and data directory). The generator sends a steady stream of signed Slack
// requests, spread over the replicas in turn: slash commands asking for
// access for one minute, each with a reason of its own, and an Approve
// click on every request they made (found in the store), by the cluster's
// owner. A delivery no replica answers with a 200 (it was killed, or is
// restarting) is delivered again to the next replica, marked as Slack's
// retry, as Slack does. Grants recorded before the start expire one after
// another across the run, and the grants the run makes expire from a
// minute in. The leader is killed with SIGKILL every KillEvery and
// restarted at once; one etcd member may be stopped and restarted.
//
// It counts, never times: every acknowledged request made exactly once
// (its reason has one request), every acknowledged click recorded exactly
// once, no Atlas user created twice (the simulator counts the creates of
// each name: a deposed leader's late create after the revocation would be
// a second), no Atlas user left without a request holding it, no grant's
// user in Atlas longer than the failover bound past its deadline (watched
// every second), the audit chain intact, and messages posted twice into a
// conversation only when a change of leader fell between the copies and
// the store does not remember the first (chatlog.go). Its figures are the
// failover times (a leader's death to the next leader's first sweep), the
// etcd database's size, and the counts.

// HAOptions size an HA run.
type HAOptions struct {
	Duration time.Duration // how long the generator sends
	// Rate is the requests per second across the replicas (slash commands
	// and Approve clicks, about half each).
	Rate int
	// KillEvery is the period of the leader kills (SIGKILL, then a restart
	// at once), the first one period after the start.
	KillEvery time.Duration
	// EtcdStopAt stops one etcd member that long after the start, for
	// EtcdDownFor, then restarts it (0: no member is stopped).
	EtcdStopAt, EtcdDownFor time.Duration
	// Seeded grants are recorded before the start, due one after another
	// across Duration.
	Seeded int
	// Requesters ask in turn; none has more than max_live_requests under
	// way when each asks once every Requesters/(Rate/2) seconds, well
	// under the grants' minute.
	Requesters int
	// Settle is the most the end waits for what is under way to finish.
	Settle time.Duration
}

// HAResult is what an HA run found.
type HAResult struct {
	HAOptions
	Replicas, Members int
	// Submitted and Clicks are the acknowledged slash commands and Approve
	// clicks; Retries the deliveries sent again to another replica;
	// Unacked those no replica acknowledged (not followed).
	Submitted, Clicks, Retries, Unacked int
	Requests                            int // requests in the store at the end
	// LostRequests are acknowledged slash commands that made no request,
	// DuplicateRequests those that made more than one; LostClicks and
	// DuplicateClicks the same for the approvals of acknowledged clicks.
	LostRequests, DuplicateRequests, LostClicks, DuplicateClicks int
	// RefusedClicks were acknowledged over HTTP, as Slack requires, but
	// their approvers were told that jitbot could not record them and to
	// click again (the store could not be reached within the ack's time).
	RefusedClicks int
	// TimedOut are the generator's requests that timed out before an
	// approver clicked: clicks go to the oldest pending requests, so jitbot
	// falling behind shows here.
	TimedOut int
	// Granted are the requests that held access, Expired those that
	// expired, Creates the Atlas users created, DoubleCreates the names
	// created more than once, Orphans the managed Atlas users left without
	// a request holding them at the end.
	Granted, Expired, Creates, DoubleCreates, Orphans int
	// Watched are the grants whose Atlas user was watched against its
	// deadline; PastBound those still there more than HAFailoverBound
	// after it; MaxOverstay the longest any stayed past its deadline.
	Watched, PastBound int
	MaxOverstay        time.Duration
	// Messages are what jitbot posted in Slack; Repeats those posted twice
	// into a conversation, RepeatsExplained of them by a change of leader
	// between the copies, the first copy's delivery never committed.
	Messages, Repeats, RepeatsExplained int
	// CredentialsDue are the generator's grants that became active;
	// CredentialsSent those whose requester was posted their credentials
	// (a grant that ended first has its message dropped unsent).
	CredentialsDue, CredentialsSent int
	// Rotations are the secrets issued again (nobody asks in the scenario:
	// each is one the leader could not send, its replica killed, or made
	// by a replica that does not lead).
	Rotations    int
	Unexplained  []string
	AuditOK      bool
	AuditRecords uint64
	// Kills are the leaders killed; Failovers the times from each death
	// to the start of the next leader's first sweep (the failover bound
	// the issue states: to the next sweep), CatchUps to that sweep's end
	// (it revokes the grants that fell due meanwhile, hundreds);
	// LeaderChanges the changes of leader seen (every scrapeEvery).
	// InboxAge and OutboxAge are, for each minute of the run (the settle
	// included), the oldest age of a waiting item the replicas reported;
	// ExpandLag the most the leader's outbox expansion was behind the
	// audit log (jitbot_outbox_expand_lag_seconds).
	// InboxLag is the most any replica's inbox took from a delivery's
	// acknowledgement to its finish (jitbot_inbox_lag_seconds) each
	// minute, Yielded the share of that minute's scrapes in which the
	// leader's outbox yielded to it (jitbot_outbox_yielding).
	InboxAge, OutboxAge, ExpandLag, InboxLag []time.Duration
	Yielded                                  []float64
	yieldSamples                             []int // scrapes with a leader, per minute
	Kills                                    int
	Failovers                                []time.Duration
	Failover                                 Latencies
	CatchUps                                 []time.Duration
	CatchUp                                  Latencies
	LeaderChanges                            int
	EtcdStops                                int
	DBSize                                   int64 // the etcd database's size at the end (the largest member's file)
	Unsettled                                int   // requests still under way after Settle
	// InboxLeft and OutboxLeft are the acknowledged deliveries not yet
	// done and the messages not yet sent after Settle: what is still in
	// the inbox is not lost, but not checked either.
	InboxLeft, OutboxLeft int
	OutboxOldest          []string // the oldest messages left, described
	OutboxSends           []string // each replica's sends by outcome at the end of the settle
	Problems              []string
	Violations            []string // the Atlas simulator's spec violations
	Wall                  time.Duration
}

// HAFailoverBound is the documented failover bound (README): the leader's
// lease (etcdstore.MaxLeaderTTL, 10 s), a campaign, the new leader's first
// sweep, one sweep tick and a round trip: 20 s. No grant's user may stay
// longer than that past its deadline.
const HAFailoverBound = 20 * time.Second

// Failed reports whether a count the scenario asserts is off.
func (h HAResult) Failed() bool {
	return h.LostRequests > 0 || h.DuplicateRequests > 0 || h.LostClicks > 0 || h.DuplicateClicks > 0 || h.DoubleCreates > 0 ||
		h.Orphans > 0 || h.PastBound > 0 || !h.AuditOK || h.Repeats != h.RepeatsExplained || h.Unsettled > 0 || h.InboxLeft > 0 || len(h.Problems) > 0 || len(h.Violations) > 0
}

const (
	haReplicas = 3
	haMembers  = 3
	// haApprovers own one cluster each, so the cards spread over as many
	// direct messages, each paced at Slack's one post a second. 100 at
	// 100 requests a second kept every approver's conversation busy all
	// the time (a queue with no slack: its backlog grows without bound
	// whatever jitbot does; the outbox ended thousands behind); 200 keep
	// it half busy.
	haApprovers = 200
	haMarker    = "HA-"
	haSeedMark  = "ha-seed"
)

// haFlow: one-minute grants, so that the run's own grants expire during
// it; pending requests time out after two minutes, past any click.
const haFlow = `  - name: ha
    integration: prod
    requesters: ["*"]
    resources: ["H*/sales/*"]
    roles: [read]
    default_duration: 1m
    max_duration: 3m
    approvers: [owners]
    require_reason: true
    pending_ttl: 2m
`

func haApprover(i int) slacktest.User {
	return slacktest.User{ID: fmt.Sprintf("U0HAAPPR%03d", i), Name: fmt.Sprintf("haapprover%03d", i), Email: fmt.Sprintf("haapprover%03d@example.com", i), TZ: "UTC"}
}

func haCluster(i int) string { return fmt.Sprintf("H%03d", i) }

// haReplica is one `jitbot serve` process.
type haReplica struct {
	i                 int
	addr, config, log string
	poster            *rig.Poster
	mu                sync.Mutex
	proc              *rig.Proc // nil while down
}

type haRun struct {
	o        HAOptions
	r        *rig.Rig
	cluster  *etcdtest.Cluster
	st       *etcdstore.Store
	exe      string
	res      *HAResult
	replicas []*haReplica
	people   map[string]slacktest.User // approvers by email

	mu       sync.Mutex
	submits  map[string]bool          // acknowledged reasons
	clicks   map[string]string        // acknowledged Approve clicks: request id -> approver
	answers  map[string]string        // each acknowledged click's response_url, by request id
	queued   map[flows.RequestID]bool // requests whose click is queued or sent
	queue    []*flows.Request         // pending requests to click Approve on, as read
	changes  []time.Time              // when the leader changed (a kill, a lost lease)
	deadline map[string]time.Time
	overstay map[string]bool
	retries  atomic.Int64
	unacked  atomic.Int64
	problems []string
}

// HA runs the HA scenario with exe (the jitbot binary).
func HA(ctx context.Context, exe string, o HAOptions, reporter atlastest.Reporter) (HAResult, error) {
	res := HAResult{HAOptions: o, Replicas: haReplicas, Members: haMembers}
	if exe == "" {
		return res, errors.New("ha: no jitbot binary to run")
	}
	if o.Rate <= 0 || o.Duration <= 0 || o.Requesters <= 0 || o.KillEvery <= 0 {
		return res, errors.New("ha: a rate, a duration, requesters and a kill period are required")
	}
	began := time.Now()
	users := []slacktest.User{}
	for i := range o.Requesters + o.Seeded {
		users = append(users, rig.Requester(i))
	}
	var clusters []atlastest.Cluster
	people := map[string]slacktest.User{}
	for i := range haApprovers {
		a := haApprover(i)
		users = append(users, a)
		people[a.Email] = a
		clusters = append(clusters, atlastest.Cluster{Name: haCluster(i), Tags: []atlastest.Tag{{Key: "owner", Value: a.Email}}})
	}
	r, err := rig.New(rig.Options{Slack: true, SlackUsers: users, Clusters: clusters, Flows: haFlow, Reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.Close()
	// A minute of grants at the rate: more than Atlas's 100 users a project.
	r.Atlas.SetUserCap(1_000_000)
	cluster, err := etcdtest.Launch(etcdtest.Options{Members: haMembers}, filepath.Join(r.Dir, "etcd"))
	if err != nil {
		return res, fmt.Errorf("ha: start etcd: %w", err)
	}
	defer cluster.Close()
	// The scenario's own reads list thousands of requests on a loaded
	// machine: a longer timeout than jitbot's.
	st, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: cluster.Endpoints(), RequestTimeout: "30s"})
	if err != nil {
		return res, fmt.Errorf("ha: open the store: %w", err)
	}
	defer st.Close()
	h := &haRun{o: o, r: r, cluster: cluster, st: st, exe: exe, res: &res, people: people,
		submits: map[string]bool{}, clicks: map[string]string{}, answers: map[string]string{}, queued: map[flows.RequestID]bool{},
		deadline: map[string]time.Time{}, overstay: map[string]bool{}}
	if err := h.configure(); err != nil {
		return res, err
	}
	defer func() {
		for _, rep := range h.replicas {
			rep.poster.Close()
			if p := rep.current(); p != nil {
				p.Kill()
			}
		}
		if keep := os.Getenv("HA_DEBUG"); keep != "" {
			for _, rep := range h.replicas {
				raw, _ := os.ReadFile(rep.log)
				_ = os.WriteFile(fmt.Sprintf("%s.%d", keep, rep.i), raw, 0o600)
			}
		}
	}()
	// The replicas take a second or two to start: the first seeded grant
	// is due a little after.
	if err := h.seed(ctx, time.Now().Add(5*time.Second)); err != nil {
		return res, fmt.Errorf("ha: seed: %w", err)
	}
	for _, rep := range h.replicas {
		if err := h.start(ctx, rep); err != nil {
			return res, err
		}
	}

	start := time.Now()
	watchCtx, stopWatching := context.WithCancel(ctx)
	var bg sync.WaitGroup
	bg.Go(func() { h.watchLeader(watchCtx, start) })
	bg.Go(func() { h.watchDeadlines(watchCtx) })
	bg.Go(func() { h.feedClicks(watchCtx) })
	bg.Go(func() { h.profileAt(watchCtx, start, h.o.KillEvery/2, h.o.KillEvery*3/2, h.o.Duration+h.o.KillEvery/2) })
	chaosCtx, stopChaos := context.WithCancel(ctx)
	chaosDone := make(chan error, 1)
	go func() { chaosDone <- h.chaos(chaosCtx, start) }()
	h.generate(ctx, start)
	stopChaos()
	chaosErr := <-chaosDone
	if chaosErr == nil {
		// Every replica up for the end (a restart the chaos left under way).
		for _, rep := range h.replicas {
			if rep.current() == nil {
				if chaosErr = h.start(ctx, rep); chaosErr != nil {
					break
				}
			}
		}
	}
	if chaosErr == nil {
		chaosErr = h.settle(ctx)
	}
	stopWatching()
	bg.Wait()
	for _, rep := range h.replicas {
		if p := rep.current(); p != nil {
			if err := p.Stop(); err != nil && chaosErr == nil {
				chaosErr = fmt.Errorf("ha: stop replica %d: %w:\n%s", rep.i, err, rig.TailFile(rep.log, 4000))
			}
		}
	}
	if chaosErr != nil {
		return res, chaosErr
	}
	if err := h.check(ctx); err != nil {
		return res, err
	}
	res.Violations = r.Atlas.SpecViolations()
	res.Wall = time.Since(began)
	return res, nil
}

var (
	listenLine = regexp.MustCompile(`(?m)^listen: .*$`)
	storeLine  = regexp.MustCompile(`(?m)^store: .*$`)
)

// etcdStore is the configuration text with its store section swapped for
// the etcd cluster at endpoints, under prefix (etcdstore's default when
// empty).
func etcdStore(text string, endpoints []string, prefix string) string {
	if prefix == "" {
		prefix = etcdstore.DefaultPrefix
	}
	list := `"` + strings.Join(endpoints, `", "`) + `"`
	return storeLine.ReplaceAllLiteralString(text, fmt.Sprintf("store: {etcd: {endpoints: [%s], prefix: %q}}", list, prefix))
}

// useEtcd rewrites the configuration at path to run on etcd.
func useEtcd(path string, endpoints []string, prefix string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(etcdStore(string(raw), endpoints, prefix)), 0o600)
}

// configure writes each replica's jitbot.yaml: the rig's, on its own
// address, with the etcd cluster as its store.
func (h *haRun) configure() error {
	raw, err := os.ReadFile(h.r.ConfigPath)
	if err != nil {
		return err
	}
	text := etcdStore(string(raw), h.cluster.Endpoints(), "")
	for i := range haReplicas {
		addr, err := rig.FreeAddr()
		if err != nil {
			return err
		}
		rep := &haReplica{i: i, addr: addr, config: filepath.Join(h.r.Dir, fmt.Sprintf("jitbot-%d.yaml", i)),
			log: filepath.Join(h.r.Dir, fmt.Sprintf("serve-%d.log", i)), poster: rig.NewPoster(addr)}
		if err := os.WriteFile(rep.config, []byte(listenLine.ReplaceAllLiteralString(text, fmt.Sprintf("listen: %q", addr))), 0o600); err != nil {
			return err
		}
		h.replicas = append(h.replicas, rep)
	}
	return nil
}

func (rep *haReplica) current() *rig.Proc {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	return rep.proc
}

// start starts rep's process and waits until it answers.
func (h *haRun) start(ctx context.Context, rep *haReplica) error {
	logf, err := os.OpenFile(rep.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	p, err := rig.Serve(ctx, h.exe, rep.config, rep.addr, logf)
	if err != nil {
		return fmt.Errorf("ha: start replica %d: %w:\n%s", rep.i, err, rig.TailFile(rep.log, 3000))
	}
	rep.mu.Lock()
	rep.proc = p
	rep.mu.Unlock()
	return nil
}

// seed records o.Seeded grants made a minute before their deadlines, due
// one after another from first across four fifths of Duration, with their
// Atlas users, as jitbot would have.
func (h *haRun) seed(ctx context.Context, first time.Time) error {
	approver := haApprover(0).Email
	for i := range h.o.Seeded {
		u := rig.Requester(h.o.Requesters + i)
		due := first.Add(time.Duration(i) * h.o.Duration * 4 / 5 / time.Duration(h.o.Seeded))
		activated := due.Add(-time.Minute)
		created := activated.Add(-time.Second)
		r := &flows.Request{
			ID: flows.RequestID(fmt.Sprintf("%s%04d", haSeedMark, i)), Requester: u.Email, Resource: flows.Resource{Integration: "prod", Cluster: haCluster(0), Database: "sales", Collection: "orders"},
			Kind: flows.KindDatabaseUser, Roles: []string{"read"}, Duration: time.Minute, Reason: "seeded", Origin: "slack", Flow: "ha", Approvers: []string{approver},
			Quorum: 1, MaxDuration: 3 * time.Minute, DenyReasonRequired: true, State: flows.StatePending,
			CreatedAt: created, UpdatedAt: created, PendingUntil: created.Add(2 * time.Minute),
		}
		ev := flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: created, To: flows.StatePending, Message: r.Reason, Duration: r.Duration}
		if _, _, err := h.st.Create(ctx, r, ev, ""); err != nil {
			return err
		}
		username := flows.DatabaseUser().Principal(r.Requester, r.ID)
		backstop := activated.Add(time.Minute + time.Hour).Truncate(time.Second)
		steps := []func(r *flows.Request) (flows.Event, error){
			func(r *flows.Request) (flows.Event, error) { return r.Approve(approver, created) },
			func(r *flows.Request) (flows.Event, error) {
				return r.StartProvisioning(created, created.Add(2*time.Minute), username, backstop, time.Time{})
			},
			func(r *flows.Request) (flows.Event, error) { return r.Activate(activated, 15*time.Minute) },
		}
		for _, step := range steps {
			if _, err := h.st.Update(ctx, r.ID, func(r *flows.Request) ([]flows.Event, error) {
				ev, err := step(r)
				return []flows.Event{ev}, err
			}); err != nil {
				return err
			}
		}
		if err := h.r.Atlas.AddUser(rig.Project, atlastest.User{
			Username: username, Roles: []atlastest.Role{{RoleName: "read", DatabaseName: "sales", CollectionName: "orders"}},
			Scopes: []atlastest.Scope{{Name: haCluster(0), Type: "CLUSTER"}}, DeleteAfterDate: backstop,
			Labels: []atlastest.Label{{Key: "managed-by", Value: "jitbot"}, {Key: "jitbot-request", Value: string(r.ID)}},
		}, "seeded-password"); err != nil {
			return err
		}
	}
	return nil
}

func (h *haRun) problem(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.problems) < 20 {
		h.problems = append(h.problems, fmt.Sprintf(format, args...))
	}
}

// generate sends o.Rate requests a second for o.Duration: an Approve click
// when one is queued, else a slash command asking for access; the nth to
// replica n mod 3 (the next ones when it does not acknowledge).
func (h *haRun) generate(ctx context.Context, start time.Time) {
	interval := time.Second / time.Duration(h.o.Rate)
	total := int(h.o.Duration / interval)
	var sends sync.WaitGroup
	submitted := 0
	for n := range total {
		if wait := time.Until(start.Add(time.Duration(n) * interval)); wait > 0 {
			time.Sleep(wait)
		}
		if ctx.Err() != nil {
			break
		}
		h.mu.Lock()
		var req *flows.Request
		if len(h.queue) > 0 {
			req, h.queue = h.queue[0], h.queue[1:]
		}
		h.mu.Unlock()
		if req != nil {
			sends.Go(func() { h.click(ctx, n, req) })
			continue
		}
		k := submitted
		submitted++
		sends.Go(func() { h.submit(ctx, n, k) })
	}
	sends.Wait()
}

// submit asks for access as requester k mod Requesters, to a collection
// nobody asked for, with the reason HA-k.
func (h *haRun) submit(ctx context.Context, n, k int) {
	u := rig.Requester(k % h.o.Requesters)
	reason := fmt.Sprintf("%s%d", haMarker, k)
	text := fmt.Sprintf("request prod/%s/sales/h%d read 1m %s", haCluster(k%haApprovers), k, reason)
	form := h.r.SlashForm(u, text, fmt.Sprintf("ha.%d", k))
	if h.deliver(ctx, n, "/slack/commands", form) {
		h.mu.Lock()
		h.submits[reason] = true
		h.mu.Unlock()
	}
}

// click presses Approve on id as its approver.
func (h *haRun) click(ctx context.Context, n int, req *flows.Request) {
	id := req.ID
	if len(req.Approvers) == 0 {
		h.problem("no approver for %s", id)
		return
	}
	if time.Until(req.PendingUntil) < clickMargin {
		return // its card says it is about to time out: the approver lets it
	}
	u, ok := h.people[req.Approvers[0]]
	if !ok {
		h.problem("request %s: approver %s is nobody the scenario knows", id, req.Approvers[0])
		return
	}
	answer := h.r.Slack.NewResponseURL()
	form, err := slacktest.InteractionForm(slacktest.BlockActions(slacktest.Click{
		UserID: u.ID, UserName: u.Name, TeamID: h.r.Slack.TeamID(), ActionID: "approve:" + string(id), Value: "approve:" + string(id),
		ResponseURL: answer, TriggerID: h.r.Slack.NewTriggerIDFor(u.ID),
	}))
	if err != nil {
		h.problem("click on %s: %v", id, err)
		return
	}
	if h.deliver(ctx, n, "/slack/interactions", form) {
		h.mu.Lock()
		h.clicks[string(id)], h.answers[string(id)] = u.Email, answer
		h.mu.Unlock()
	}
}

// deliver posts form to replica n mod 3 and, until one answers 200, to the
// next ones, each time as Slack's next retry, at most 4 deliveries.
func (h *haRun) deliver(ctx context.Context, n int, path string, form url.Values) bool {
	body := []byte(form.Encode())
	for attempt := range 4 {
		rep := h.replicas[(n+attempt)%haReplicas]
		if attempt > 0 {
			h.retries.Add(1)
			select {
			case <-ctx.Done():
				return false
			case <-time.After(time.Second):
			}
		}
		status, answer, err := rep.poster.Post(ctx, path, "application/x-www-form-urlencoded", body, attempt)
		if err == nil && status == http.StatusOK && !notTaken(answer) {
			return true
		}
	}
	h.unacked.Add(1)
	return false
}

// notTaken says whether an answer is jitbot's refusal to take a delivery
// it could not record (bot.NotTaken): acknowledged over HTTP, but its
// sender is told that nothing was done and to send it again, as the
// generator does.
func notTaken(answer []byte) bool {
	return bytes.Contains(answer, []byte("cannot take requests right now")) || bytes.Contains(answer, []byte("could not take that"))
}

// toldNotTaken says whether jitbot answered through url that it could not
// take the delivery (bot.NotTaken).
func (h *haRun) toldNotTaken(url string) bool {
	for _, p := range h.r.Slack.ResponsePosts(url) {
		if notTaken(p.Body) {
			return true
		}
	}
	return false
}

// clickWindow is how many of the oldest pending requests feedClicks looks
// at each time; clickMargin how long before a request times out its
// approver leaves it (a click then would be refused as too late).
const (
	clickWindow = 256
	clickMargin = 10 * time.Second
)

// feedClicks queues an Approve click for the oldest pending requests the
// generator asked for. Approvers act on the cards they got, they do not
// read the store: the scenario reads the keys of etcd's pending index, the
// oldest first, and the new ones' requests together (GetMany), not every
// pending request (a Find of thousands once jitbot fell behind, twice a
// second, put more load on the etcd members than the replicas did), nor
// one request per click (the generator's reads queued behind each other
// and its clicks came minutes late).
func (h *haRun) feedClicks(ctx context.Context) {
	prefix := h.st.Prefix() + "idx/state/" + string(flows.StatePending) + "\x00"
	seen := "" // the last index key read: those up to it are queued or not the generator's
	for ctx.Err() == nil {
		// From the oldest that an approver may still click (created less
		// than the flow's pending_ttl, 2 minutes, ago, less a margin) not
		// read before: requests clicked and still pending (jitbot behind)
		// would otherwise fill the window, and the approvers stop.
		from := max(prefix+fmt.Sprintf("%016x", uint64(time.Now().Add(-2*time.Minute+clickMargin).UnixNano())), seen)
		resp, err := h.st.Client().Get(ctx, from, clientv3.WithRange(clientv3.GetPrefixRangeEnd(prefix)), clientv3.WithKeysOnly(), clientv3.WithLimit(clickWindow))
		var fresh []flows.RequestID
		next := seen
		if err == nil {
			if n := len(resp.Kvs); n > 0 {
				next = string(resp.Kvs[n-1].Key) + "\x00"
			}
			h.mu.Lock()
			for _, kv := range resp.Kvs {
				if k := string(kv.Key); len(k) > len(prefix)+16 {
					if id := flows.RequestID(k[len(prefix)+16:]); !h.queued[id] {
						fresh = append(fresh, id)
					}
				}
			}
			h.mu.Unlock()
		}
		if len(fresh) == 0 {
			seen = next
		} else if rs, err := h.st.GetMany(ctx, fresh); err == nil {
			seen = next
			h.mu.Lock()
			for _, r := range rs {
				if r != nil && r.State == flows.StatePending && strings.HasPrefix(r.Reason, haMarker) && !h.queued[r.ID] {
					h.queued[r.ID] = true
					h.queue = append(h.queue, r)
				}
			}
			h.mu.Unlock()
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// haMetrics is what one replica's /metrics says of its leadership.
type haMetrics struct {
	up, leading bool
	sweeps      float64
	sweepStart  time.Time // when its last sweep of expiries started
	// inboxAge and outboxAge are the oldest waiting items' ages.
	inboxAge, outboxAge time.Duration
	expandLag           time.Duration
	inboxLag            time.Duration
	yielding            bool
}

func (h *haRun) scrape(rep *haReplica) haMetrics {
	if rep.current() == nil {
		return haMetrics{}
	}
	m, err := scrapeLabelled("http://" + rep.addr + "/metrics")
	if err != nil {
		return haMetrics{}
	}
	return haMetrics{up: true, leading: m["jitbot_leader"] == 1, sweeps: m["jitbot_sweep_duration_seconds_count"],
		sweepStart: time.Unix(0, int64(m["jitbot_sweep_last_start_timestamp_seconds"]*1e9)),
		inboxAge:   time.Duration(m["jitbot_inbox_oldest_age_seconds"] * float64(time.Second)),
		outboxAge:  time.Duration(m["jitbot_outbox_oldest_age_seconds"] * float64(time.Second)),
		expandLag:  time.Duration(m["jitbot_outbox_expand_lag_seconds"] * float64(time.Second)),
		inboxLag:   time.Duration(m["jitbot_inbox_lag_seconds"] * float64(time.Second)),
		yielding:   m["jitbot_outbox_yielding"] == 1}
}

// leader is the replica that says it leads, -1 when none does.
func (h *haRun) leader() (int, []haMetrics) {
	ms := make([]haMetrics, len(h.replicas))
	lead := -1
	for i, rep := range h.replicas {
		ms[i] = h.scrape(rep)
		if ms[i].leading {
			lead = i
		}
	}
	return lead, ms
}

// watchLeader notes every change of leader (a kill, a lost lease), polled
// every scrapeEvery (kills are noted when made), to explain messages
// posted twice.
func (h *haRun) watchLeader(ctx context.Context, start time.Time) {
	last := -2
	for ctx.Err() == nil {
		lead, ms := h.leader()
		h.noteQueues(ms, time.Since(start))
		if lead != last {
			h.mu.Lock()
			h.changes = append(h.changes, time.Now())
			h.mu.Unlock()
			if last != -2 && lead >= 0 {
				h.res.LeaderChanges++
			}
			last = lead
		}
		sleepCtx(ctx, scrapeEvery)
	}
}

// noteQueues keeps, for each minute of the run, the oldest age the
// replicas' gauges gave the inbox and the outbox (both are the store's:
// any replica tells).
func (h *haRun) noteQueues(ms []haMetrics, since time.Duration) {
	minute := int(since / time.Minute)
	h.mu.Lock()
	defer h.mu.Unlock()
	for len(h.res.InboxAge) <= minute {
		h.res.InboxAge = append(h.res.InboxAge, 0)
		h.res.OutboxAge = append(h.res.OutboxAge, 0)
		h.res.ExpandLag = append(h.res.ExpandLag, 0)
		h.res.InboxLag = append(h.res.InboxLag, 0)
		h.res.Yielded = append(h.res.Yielded, 0)
		h.res.yieldSamples = append(h.res.yieldSamples, 0)
	}
	for _, m := range ms {
		h.res.InboxAge[minute] = max(h.res.InboxAge[minute], m.inboxAge)
		h.res.OutboxAge[minute] = max(h.res.OutboxAge[minute], m.outboxAge)
		h.res.ExpandLag[minute] = max(h.res.ExpandLag[minute], m.expandLag)
		h.res.InboxLag[minute] = max(h.res.InboxLag[minute], m.inboxLag)
		if m.leading {
			// The running share: (share·n + this) / (n+1).
			n := float64(h.res.yieldSamples[minute])
			this := 0.0
			if m.yielding {
				this = 1
			}
			h.res.Yielded[minute] = (h.res.Yielded[minute]*n + this) / (n + 1)
			h.res.yieldSamples[minute]++
		}
	}
}

// scrapeEvery is how often the scenario reads the replicas' /metrics to
// follow the leadership. Each scrape has a replica count its queues and
// requests by state in etcd, ranges that grow to tens of thousands of
// keys: three replicas scraped every 100 ms (and every 50 ms after a
// kill) became more of etcd's load than jitbot's own work, and the
// replicas fell further behind as the ranges grew. Prometheus scrapes
// every 15 s or so. A failover is timed by the new leader's own metric
// (when its first sweep started), whenever it is read; a second is
// precise enough for the rest (a change of leader that was no kill, the
// end of a catch-up sweep).
const scrapeEvery = time.Second

// chaos kills the leader every KillEvery (and restarts it) and stops an
// etcd member at EtcdStopAt for EtcdDownFor, until ctx ends.
func (h *haRun) chaos(ctx context.Context, start time.Time) error {
	type event struct {
		at   time.Duration
		what string
	}
	var events []event
	for at := h.o.KillEvery; at < h.o.Duration; at += h.o.KillEvery {
		events = append(events, event{at, "kill"})
	}
	if h.o.EtcdStopAt > 0 {
		events = append(events, event{h.o.EtcdStopAt, "etcd-stop"}, event{h.o.EtcdStopAt + h.o.EtcdDownFor, "etcd-restart"})
	}
	slices.SortStableFunc(events, func(a, b event) int { return int(a.at - b.at) })
	var measures sync.WaitGroup
	defer measures.Wait()
	const member = 1
	for _, ev := range events {
		sleepCtx(ctx, time.Until(start.Add(ev.at)))
		if ctx.Err() != nil {
			if !h.cluster.Running(member) {
				// A member stopped near the end comes back for the checks.
				return h.cluster.RestartMember(member)
			}
			return nil
		}
		switch ev.what {
		case "etcd-stop":
			h.cluster.Stop(member)
			h.res.EtcdStops++
		case "etcd-restart":
			if err := h.cluster.RestartMember(member); err != nil {
				return fmt.Errorf("ha: %w", err)
			}
		case "kill":
			if err := h.killLeader(ctx, &measures); err != nil {
				return err
			}
		}
	}
	return nil
}

// killLeader kills the replica that leads (waiting up to a lease for one
// to), restarts it, and measures the time from its death to the next
// leader's first sweep.
func (h *haRun) killLeader(ctx context.Context, measures *sync.WaitGroup) error {
	var (
		lead int
		ms   []haMetrics
	)
	for wait := time.Now().Add(2 * etcdstore.MaxLeaderTTL); ; {
		if lead, ms = h.leader(); lead >= 0 || time.Now().After(wait) || ctx.Err() != nil {
			break
		}
		sleepCtx(ctx, 100*time.Millisecond)
	}
	if lead < 0 {
		if ctx.Err() != nil {
			return nil
		}
		h.problem("no replica led for %s: no kill", 2*etcdstore.MaxLeaderTTL)
		return nil
	}
	rep := h.replicas[lead]
	p := rep.current()
	rep.mu.Lock()
	rep.proc = nil
	rep.mu.Unlock()
	p.Kill()
	died := time.Now()
	h.res.Kills++
	h.mu.Lock()
	h.changes = append(h.changes, died)
	h.mu.Unlock()
	baseline := make([]float64, len(ms))
	for i, m := range ms {
		baseline[i] = m.sweeps
	}
	baseline[lead] = 0 // a new process counts from 0
	measures.Go(func() {
		// The start as the new leader's metric says (to the nanosecond,
		// whenever it is scraped), the end as scraped.
		started := false
		for time.Since(died) < 10*HAFailoverBound {
			l, now := h.leader()
			if l >= 0 && !started && now[l].sweepStart.After(died) {
				started = true
				h.mu.Lock()
				h.res.Failovers = append(h.res.Failovers, now[l].sweepStart.Sub(died))
				h.mu.Unlock()
			}
			if l >= 0 && started && now[l].sweeps > baseline[l] {
				took := time.Since(died)
				h.mu.Lock()
				h.res.CatchUps = append(h.res.CatchUps, took)
				h.mu.Unlock()
				return
			}
			time.Sleep(scrapeEvery)
		}
		h.problem("no leader swept within %s of a kill", 10*HAFailoverBound)
	})
	// The restart, at once, as a Deployment would.
	if err := h.start(context.WithoutCancel(ctx), rep); err != nil {
		return err
	}
	return nil
}

// watchDeadlines notes, every second, each managed Atlas user still there
// past its grant's deadline, and counts those past it by more than the
// failover bound.
func (h *haRun) watchDeadlines(ctx context.Context) {
	for ctx.Err() == nil {
		now := time.Now()
		for _, u := range h.r.ManagedUsers() {
			id, _ := u.Label("jitbot-request")
			h.mu.Lock()
			due, known := h.deadline[id]
			h.mu.Unlock()
			if !known {
				req, err := h.st.Get(ctx, flows.RequestID(id))
				if err != nil || req.ExpiresAt.IsZero() {
					continue // not yet active, or the store not reached: next time
				}
				due = req.ExpiresAt
				h.mu.Lock()
				h.deadline[id] = due
				h.res.Watched++
				h.mu.Unlock()
			}
			over := now.Sub(due)
			h.mu.Lock()
			h.res.MaxOverstay = max(h.res.MaxOverstay, over)
			if over > HAFailoverBound && !h.overstay[id] {
				h.overstay[id] = true
				h.res.PastBound++
				h.mu.Unlock()
				h.problem("user %s of request %s still in Atlas %s after its deadline", u.Username, id, over.Round(time.Millisecond))
				continue
			}
			h.mu.Unlock()
		}
		sleepCtx(ctx, time.Second)
	}
}

// settle waits, at most o.Settle, until what the run left under way is
// done: every acknowledged click's request out of pending, every grant due
// by the end of the load revoked, and nothing granted or revoked since
// then still on its way. (Grants due later keep expiring meanwhile; they
// are not waited for.)
func (h *haRun) settle(ctx context.Context) error {
	end := time.Now()
	until := end.Add(h.o.Settle)
	for {
		rs, err := h.st.Find(ctx, flows.Query{States: []flows.State{flows.StatePending, flows.StateApproved, flows.StateProvisioning,
			flows.StateActive, flows.StateRevoking, flows.StateRevokeFailed}})
		if err != nil {
			// The store not reached in time (a loaded machine): again.
			if time.Now().After(until) {
				return fmt.Errorf("ha: settle: %w", err)
			}
			sleepCtx(ctx, time.Second)
			continue
		}
		inbox, _, err := h.st.InboxDepth(ctx)
		if err != nil {
			inbox = 1 // not known: not settled
		}
		h.res.InboxLeft = inbox
		var stuck []*flows.Request
		h.mu.Lock()
		for _, r := range rs {
			switch r.State {
			case flows.StatePending:
				// Clicked, unless its approver was told that the click
				// was not taken (they are to click again; the generator
				// does not): that request waits for its time-out.
				if h.clicks[string(r.ID)] != "" && !h.toldNotTaken(h.answers[string(r.ID)]) {
					stuck = append(stuck, r)
				}
			case flows.StateActive:
				if r.ExpiresAt.Before(end) {
					stuck = append(stuck, r)
				}
			default:
				if r.UpdatedAt.Before(end) {
					stuck = append(stuck, r)
				}
			}
		}
		h.mu.Unlock()
		busy := len(stuck)
		if (busy == 0 && inbox == 0) || time.Now().After(until) {
			for _, r := range stuck {
				h.problem("request %s still %s after the settle (updated %s, expires %s, %d attempts)",
					r.ID, r.State, r.UpdatedAt.Format(time.RFC3339Nano), r.ExpiresAt.Format(time.RFC3339Nano), r.Attempts)
			}
			h.res.Unsettled = busy
			h.res.OutboxSends = h.sends()
			return nil
		}
		sleepCtx(ctx, 250*time.Millisecond)
	}
}

// sends is what each replica up did with the messages it tried, as its
// metrics count them (since it started): the leader's dispatcher sends
// everything but the credentials another replica keeps, which that
// replica sends.
func (h *haRun) sends() []string {
	var out []string
	for _, rep := range h.replicas {
		if rep.current() == nil {
			continue
		}
		m, err := scrapeLabelled("http://" + rep.addr + "/metrics")
		if err != nil {
			continue
		}
		role := "replica"
		if m["jitbot_leader"] == 1 {
			role = "leader"
		}
		var lines []string
		for k, v := range m {
			if strings.HasPrefix(k, "jitbot_outbox_sends_total") && v > 0 {
				lines = append(lines, fmt.Sprintf("%s %d: %s %.0f", role, rep.i, strings.TrimPrefix(k, "jitbot_outbox_sends_total"), v))
			}
		}
		slices.Sort(lines)
		out = append(out, lines...)
	}
	return out
}

// check counts, with every replica stopped, what the store, Atlas and
// Slack say.
func (h *haRun) check(ctx context.Context) error {
	res := h.res
	res.Retries, res.Unacked = int(h.retries.Load()), int(h.unacked.Load())
	res.Submitted, res.Clicks = len(h.submits), len(h.clicks)
	sum, err := h.st.VerifyAudit(ctx)
	res.AuditOK, res.AuditRecords = err == nil, sum.Records
	if err != nil {
		h.problem("the audit chain: %v", err)
	}
	rs, err := h.st.Find(ctx, flows.Query{})
	if err != nil {
		return fmt.Errorf("ha: list the requests: %w", err)
	}
	res.Requests = len(rs)
	byReason := map[string]int{}
	byID := map[string]*flows.Request{}
	ids := make([]flows.RequestID, 0, len(rs))
	for _, r := range rs {
		byReason[r.Reason]++
		byID[string(r.ID)] = r
		ids = append(ids, r.ID)
		if !r.ActivatedAt.IsZero() {
			res.Granted++
		}
		if r.State == flows.StateExpired {
			res.Expired++
		}
		if r.State == flows.StateTimedOut && strings.HasPrefix(r.Reason, haMarker) {
			res.TimedOut++
		}
	}
	for reason := range h.submits {
		switch n := byReason[reason]; {
		case n == 0:
			res.LostRequests++
			h.problem("acknowledged request %q was never made", reason)
		case n > 1:
			res.DuplicateRequests++
			h.problem("acknowledged request %q made %d times", reason, n)
		}
	}
	for reason, n := range byReason {
		if n > 1 && strings.HasPrefix(reason, haMarker) && !h.submits[reason] {
			res.DuplicateRequests++
			h.problem("request %q (never acknowledged) made %d times", reason, n)
		}
	}
	approvals := map[string]int{} // request id and approver -> approval records
	if err := h.st.Audit(ctx, time.Time{}, func(rec flows.AuditRecord) error {
		switch ev := rec.Event; ev.Type {
		case flows.EventApproved, flows.EventApprovalRecorded:
			approvals[string(ev.RequestID)+" "+ev.Actor]++
		case flows.EventCredentialsRotated:
			res.Rotations++
		}
		return nil
	}); err != nil {
		return fmt.Errorf("ha: read the audit log: %w", err)
	}
	for id, who := range h.clicks {
		switch n := approvals[id+" "+who]; {
		case n == 0 && h.toldNotTaken(h.answers[id]):
			// Acknowledged, but its approver was told that nothing was
			// recorded and to click again (bot.NotTaken): refused, not
			// lost.
			res.RefusedClicks++
		case n == 0:
			res.LostClicks++
			state := "gone"
			if r := byID[id]; r != nil {
				state = string(r.State)
			}
			h.problem("acknowledged Approve on %s by %s never recorded (%s)", id, who, state)
		case n > 1:
			res.DuplicateClicks++
			h.problem("acknowledged Approve on %s by %s recorded %d times", id, who, n)
		}
	}
	for name, n := range h.r.Atlas.Creates(rig.Project) {
		res.Creates += n
		if n > 1 {
			res.DoubleCreates++
			h.problem("Atlas user %s created %d times", name, n)
		}
	}
	for _, u := range h.r.ManagedUsers() {
		id, _ := u.Label("jitbot-request")
		if r := byID[id]; r == nil || !r.State.HoldsAccess() || r.Principal != u.Username {
			res.Orphans++
			h.problem("orphan: Atlas user %s of request %s", u.Username, id)
		}
	}
	chat := readChat(h.r.Slack, nil)
	res.Messages = chat.count()
	sent := chat.credentialed()
	for _, r := range rs {
		if !r.ActivatedAt.IsZero() && strings.HasPrefix(r.Reason, haMarker) {
			res.CredentialsDue++
			if sent[string(r.ID)] {
				res.CredentialsSent++
			}
		}
	}
	refs, err := storedRefs(ctx, h.st, ids)
	if err != nil {
		return fmt.Errorf("ha: message references: %w", err)
	}
	h.mu.Lock()
	changes := slices.Clone(h.changes)
	h.mu.Unlock()
	slices.SortFunc(changes, func(a, b time.Time) int { return a.Compare(b) })
	for _, rep := range chat.repeats(deaths(changes), refs) {
		res.Repeats++
		if rep.Explained {
			res.RepeatsExplained++
		} else if len(res.Unexplained) < 10 {
			res.Unexplained = append(res.Unexplained, rep.String())
		}
	}
	if ds, err := h.st.Pending(ctx, 0); err == nil {
		res.OutboxLeft = len(ds)
		slices.SortFunc(ds, func(a, b flows.Delivery) int { return a.CreatedAt.Compare(b.CreatedAt) })
		for _, d := range ds[:min(5, len(ds))] {
			res.OutboxOldest = append(res.OutboxOldest, fmt.Sprintf("%d %s to %s (request %s, priority %d), made %s, %d attempts, not before %s",
				d.ID, d.What, d.Conversation, d.RequestID, d.Priority, d.CreatedAt.Format(time.TimeOnly), d.Attempts, d.NotBefore.Format(time.TimeOnly)))
		}
	}
	if n, _, err := h.st.InboxDepth(ctx); err == nil {
		res.InboxLeft = n
	}
	if stat, err := h.st.Status(ctx); err == nil {
		res.DBSize = stat.DBSize
	}
	slices.Sort(res.Failovers)
	res.Failover = latencies(slices.Clone(res.Failovers))
	slices.Sort(res.CatchUps)
	res.CatchUp = latencies(slices.Clone(res.CatchUps))
	res.Problems = h.problems
	return nil
}
