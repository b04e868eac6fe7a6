package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/rig"
)

// The burst scenario (DESIGN §8's burst row, issue 12): `jitbot serve` in
// its own process (the jitbot binary) against the Atlas simulator and the
// Slack fake, both served from this process, and an open-loop load
// generator here sending `/access request ...` slash commands at a fixed
// rate, each timed from its scheduled send time (so a slow jitbot, or a
// generator falling behind, shows in the figures instead of lowering the
// rate).
//
//   - Requesters are distinct Slack users, each asking several times, for a
//     different cluster each time (far below the cap of live requests per
//     person).
//   - 50 approvers own 25 clusters two by two (the clusters' owner tags):
//     each request's approval card goes to the two direct messages of its
//     cluster's owners. No approvals channel: every card would be posted
//     there too, and one channel takes one post a second, so 24,000 cards
//     could not drain in 30 minutes (it would take 6 hours and 40 minutes);
//     50 approvers' DMs take 960 cards each at 800/s × 30 s, 16 minutes.
//   - The Slack fake enforces one chat.postMessage per second per channel:
//     a post sooner is refused with 429 Retry-After 1 and counted as a
//     violation.
//
// It measures the ack latency; the answer beyond the ack (the response_url
// post, replacing "Working on it…", that says the request waits for its
// approvers), from the scheduled send time to its arrival at the fake; the
// server's goroutines and heap, sampled from its /metrics; the time until
// its outbox is empty and every card has been posted; and, when asked, an
// fsync probe: this process commits a 300-byte update to a bbolt file of
// its own, in the directory of jitbot's store, every 50 ms, and times each
// commit, so the ack can be compared with what one fsync'd commit costs on
// the same disk at the same time.

// BurstOptions size a burst.
type BurstOptions struct {
	Rate       int           // slash commands per second
	Duration   time.Duration // how long they are sent
	Requesters int           // distinct Slack users asking
	// Probe runs the fsync probe during the run.
	Probe bool
	// Drain waits, at most DrainTimeout from the first request, for the
	// outbox to be empty and every approval card posted.
	Drain        bool
	DrainTimeout time.Duration
	// AnswerBudget is how long after its scheduled send time a requester's
	// answer may arrive (60 s); the scenario waits that long after the
	// last request for the last answers.
	AnswerBudget time.Duration
	// Etcd, when set, are the client URLs of an etcd cluster that jitbot
	// runs on (store.etcd, under Prefix) instead of a bbolt file.
	Etcd   []string
	Prefix string
}

// Latencies are the percentiles of N samples.
type Latencies struct {
	N             int
	P50, P99, Max time.Duration
}

func latencies(ds []time.Duration) Latencies {
	return Latencies{N: len(ds), P50: percentile(ds, 50), P99: percentile(ds, 99), Max: percentile(ds, 100)}
}

func (l Latencies) String() string {
	return fmt.Sprintf("p50 %s, p99 %s, max %s (n=%d)", l.P50.Round(10*time.Microsecond), l.P99.Round(10*time.Microsecond), l.Max.Round(10*time.Microsecond), l.N)
}

// BurstResult is what a burst measured.
type BurstResult struct {
	BurstOptions
	Approvers int
	Sent      int
	Status    map[int]int
	Errors    int // transport errors (no answer at all)
	Behind    int // requests sent more than 5 ms after they were due
	Ack       Latencies
	// Answer is from the scheduled send time to the response_url post's
	// arrival at the Slack fake, over the requests answered; Answered
	// counts those, Waiting those whose answer says the request waits
	// for approval, Late those answered after AnswerBudget.
	Answer                  Latencies
	Answered, Waiting, Late int
	RequesterAnswered       int // requesters all of whose requests were answered within AnswerBudget
	Pending                 int // pending requests in jitbot's store at the end of the burst (its /metrics)
	Samples                 int // /metrics scrapes during the run
	MaxGoroutines           int
	// Conns is the connections the generator opened to jitbot (kept
	// alive, reused): each holds one of jitbot's goroutines, so they are
	// the part of MaxGoroutines the platform's concurrency sets.
	Conns                    int
	MaxHeapInuse, MaxHeapAll uint64 // go_memstats_heap_inuse_bytes, heap_alloc_bytes
	// CPU is the server's CPU time (process_cpu_seconds_total) from its
	// start to the last answer.
	CPU time.Duration
	// Cards is the approval messages the fake took (chat.postMessage
	// accepted); CardsWanted is two per request.
	Cards, CardsWanted int
	// Drained says the outbox was empty and every card posted, Emptied
	// after how long from the first request's scheduled time.
	Drained          bool
	Emptied          time.Duration
	OutboxMax        int // the largest outbox depth sampled
	PacingViolations int // posts the fake refused: sooner than 1 s after the last to their channel
	SlackViolations  []string
	Probe            Latencies // the fsync probe's commits
	// Machine is the machine's busy CPU (every process's and the kernel's)
	// from the first request's send to the last ack.
	Machine         MachineCPU
	AtlasViolations []string
	Wall            time.Duration
}

const (
	burstApprovers = 50
	burstClusters  = burstApprovers / 2
)

func burstApprover(i int) slacktest.User {
	return slacktest.User{ID: fmt.Sprintf("U0APPR%02d", i), Name: fmt.Sprintf("approver%02d", i), Email: fmt.Sprintf("approver%02d@example.com", i), TZ: "UTC"}
}

// burstFlow: anyone asks for read on a cluster's sales collections; the
// cluster's owners approve; requests wait a day, past any run.
const burstFlow = `  - name: burst
    integration: prod
    requesters: ["*"]
    resources: ["C*/sales/*"]
    roles: [read]
    max_duration: 8h
    approvers: [owners]
    require_reason: true
    pending_ttl: 24h
`

// Burst runs the burst against exe (the jitbot binary) as `jitbot serve`.
func Burst(ctx context.Context, exe string, o BurstOptions, reporter atlastest.Reporter) (BurstResult, error) {
	if o.AnswerBudget == 0 {
		o.AnswerBudget = time.Minute
	}
	if o.DrainTimeout == 0 {
		o.DrainTimeout = 30 * time.Minute
	}
	res := BurstResult{BurstOptions: o, Approvers: burstApprovers, Status: map[int]int{}}
	if exe == "" {
		return res, errors.New("burst: no jitbot binary to run")
	}
	if o.Rate <= 0 || o.Duration <= 0 || o.Requesters <= 0 {
		return res, errors.New("burst: a rate, a duration and requesters are required")
	}
	began := time.Now()
	addr, err := rig.FreeAddr()
	if err != nil {
		return res, err
	}
	users := make([]slacktest.User, 0, o.Requesters+burstApprovers)
	for i := range o.Requesters {
		users = append(users, rig.Requester(i))
	}
	var clusters []atlastest.Cluster
	for i := range burstApprovers {
		users = append(users, burstApprover(i))
	}
	for c := range burstClusters {
		owners := burstApprover(2*c).Email + "," + burstApprover(2*c+1).Email
		clusters = append(clusters, atlastest.Cluster{Name: loadCluster(c), Tags: []atlastest.Tag{{Key: "owner", Value: owners}}})
	}
	r, err := rig.New(rig.Options{Slack: true, SlackUsers: users, SlackOptions: []slacktest.Option{slacktest.WithPacingLimit(time.Second)},
		Clusters: clusters, Flows: burstFlow, Listen: addr, Reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.Close()
	if len(o.Etcd) > 0 {
		if err := useEtcd(r.ConfigPath, o.Etcd, o.Prefix); err != nil {
			return res, err
		}
	}

	// Every request is built before the first is sent: the generator's
	// loop only waits and sends.
	total := int(o.Duration.Seconds() * float64(o.Rate))
	bodies := make([][]byte, total)
	byURL := make(map[string]int, total)
	for i := range total {
		u := rig.Requester(i % o.Requesters)
		round := i / o.Requesters // a requester's rounds ask for different clusters
		text := fmt.Sprintf("request prod/%s/sales/orders read 1h BURST-%d", loadCluster((i%o.Requesters+round)%burstClusters), i)
		form := r.SlashForm(u, text, fmt.Sprintf("burst.%d", i))
		byURL[form.Get("response_url")] = i
		bodies[i] = []byte(form.Encode())
	}

	logPath := filepath.Join(r.Dir, "serve.log")
	p, err := serve(ctx, r, exe, addr, logPath)
	if err != nil {
		return res, err
	}
	defer p.Kill()
	metricsURL := "http://" + addr + "/metrics"

	// The sampler reads the server's /metrics every 250 ms until stopped.
	var (
		smu      sync.Mutex
		outboxAt float64 = -1 // the last depth read
	)
	sampleCtx, stopSampling := context.WithCancel(ctx)
	var background sync.WaitGroup
	background.Go(func() {
		for sampleCtx.Err() == nil {
			m, err := scrapeLabelled(metricsURL)
			if err == nil {
				smu.Lock()
				res.Samples++
				res.MaxGoroutines = max(res.MaxGoroutines, int(m["go_goroutines"]))
				res.MaxHeapInuse = max(res.MaxHeapInuse, uint64(m["go_memstats_heap_inuse_bytes"]))
				res.MaxHeapAll = max(res.MaxHeapAll, uint64(m["go_memstats_heap_alloc_bytes"]))
				res.OutboxMax = max(res.OutboxMax, int(m["jitbot_outbox_depth"]))
				outboxAt = m["jitbot_outbox_depth"]
				res.Pending = int(m[`jitbot_requests{state="pending"}`])
				smu.Unlock()
			}
			select {
			case <-sampleCtx.Done():
			case <-time.After(250 * time.Millisecond):
			}
		}
	})
	defer func() { stopSampling(); background.Wait() }()

	var probe []time.Duration
	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan error, 1)
	if o.Probe {
		go func() { probeDone <- fsyncProbe(probeCtx, filepath.Join(r.Dir, "probe.db"), &probe) }()
	} else {
		probeDone <- nil
	}

	poster := rig.NewPoster(addr)
	defer poster.Close()
	var conns atomic.Int64
	sendCtx := httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(c httptrace.GotConnInfo) {
		if !c.Reused {
			conns.Add(1)
		}
	}})
	var (
		mu   sync.Mutex
		acks = make([]time.Duration, 0, total)
		wg   sync.WaitGroup
	)
	interval := time.Second / time.Duration(o.Rate)
	endMachine := machineWindow()
	start := time.Now()
	if prefix := os.Getenv("BURST_PROFILE"); prefix != "" {
		// One set per store and second: the bench runs several bursts.
		store := "bbolt"
		if len(o.Etcd) > 0 {
			store = "etcd"
		}
		prefix = fmt.Sprintf("%s.%s.%d", prefix, store, start.Unix())
		background.Go(func() { profileBurst(sampleCtx, addr, prefix, o.Duration) })
	}
	dues := make([]time.Time, total)
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		dues[i] = due
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		} else if -wait > 5*time.Millisecond {
			res.Behind++
		}
		res.Sent++
		wg.Go(func() {
			status, _, err := poster.Post(sendCtx, "/slack/commands", "application/x-www-form-urlencoded", bodies[i], 0)
			took := time.Since(due)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Errors++
				return
			}
			res.Status[status]++
			acks = append(acks, took)
		})
	}
	wg.Wait()
	res.Machine = endMachine()
	res.Ack = latencies(acks)
	res.Conns = int(conns.Load())
	stopProbe()
	if err := <-probeDone; err != nil {
		return res, fmt.Errorf("the fsync probe: %w", err)
	}
	res.Probe = latencies(probe)

	// The answers: every one, or the budget after the last request.
	last := dues[total-1]
	for r.Slack.CountResponsePosts() < total && time.Now().Before(last.Add(o.AnswerBudget)) {
		time.Sleep(100 * time.Millisecond)
	}
	var answers []time.Duration
	late := map[int]bool{} // requesters with an answer missing or late
	seen := make([]bool, total)
	for _, post := range r.Slack.ResponsePosts("") {
		i, ok := byURL[post.URL]
		if !ok || post.Error != "" || seen[i] {
			continue
		}
		seen[i] = true
		took := post.At.Sub(dues[i])
		answers = append(answers, took)
		res.Answered++
		if strings.Contains(post.AllText(), "Waiting for") {
			res.Waiting++
		}
		if took > o.AnswerBudget {
			res.Late++
			late[i%o.Requesters] = true
		}
	}
	for i, ok := range seen {
		if !ok {
			late[i%o.Requesters] = true
		}
	}
	res.RequesterAnswered = min(o.Requesters, total) - len(late)
	res.Answer = latencies(answers)
	if m, err := scrapeLabelled(metricsURL); err == nil {
		res.CPU = time.Duration(m["process_cpu_seconds_total"] * float64(time.Second))
	}
	res.CardsWanted = 2 * total

	if o.Drain {
		deadline := start.Add(o.DrainTimeout)
		for {
			smu.Lock()
			depth := outboxAt
			smu.Unlock()
			res.Cards = r.Slack.CountMessages()
			if depth == 0 && res.Cards >= res.CardsWanted {
				res.Drained, res.Emptied = true, time.Since(start)
				break
			}
			if time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
	}
	res.Cards = r.Slack.CountMessages()
	stopSampling()
	background.Wait()
	for _, v := range r.Slack.Violations() {
		if v.Rule == slacktest.RulePacing {
			res.PacingViolations++
		} else if len(res.SlackViolations) < 10 {
			res.SlackViolations = append(res.SlackViolations, fmt.Sprintf("%s %s %s: %s", v.Rule, v.Method, v.Channel, v.Detail))
		}
	}
	res.AtlasViolations = r.Atlas.SpecViolations()
	err = p.Stop()
	if keep := os.Getenv("BURST_DEBUG"); keep != "" {
		// jitbot's log, and the rig's (the simulators'), for a look afterwards.
		for from, to := range map[string]string{logPath: keep, filepath.Join(r.Dir, "jitbot.log"): keep + ".rig"} {
			if raw, rerr := os.ReadFile(from); rerr == nil {
				_ = os.WriteFile(to, raw, 0o600)
			}
		}
	}
	if err != nil {
		return res, fmt.Errorf("burst: stop jitbot: %w\n%s", err, rig.TailFile(logPath, 2000))
	}
	res.Wall = time.Since(began)
	return res, nil
}

// fsyncProbe commits a 300-byte update to a bbolt file of its own at path
// every 50 ms until ctx ends, and appends each commit's duration to took.
func fsyncProbe(ctx context.Context, path string, took *[]time.Duration) error {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		return err
	}
	defer db.Close()
	value := make([]byte, 300)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		copy(value, strconv.Itoa(n))
		t := time.Now()
		if err := db.Update(func(tx *bolt.Tx) error {
			b, err := tx.CreateBucketIfNotExists([]byte("probe"))
			if err != nil {
				return err
			}
			return b.Put([]byte("key"), value)
		}); err != nil {
			return err
		}
		*took = append(*took, time.Since(t))
	}
}

// scrapeLabelled reads every sample of a Prometheus text exposition, keyed
// by its name with its labels as written (`jitbot_requests{state="pending"}`).
func scrapeLabelled(url string) (map[string]float64, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
			out[line[:i]] = v
		}
	}
	return out, nil
}

// profileBurst, when BURST_PROFILE names a file prefix, takes a CPU profile
// of jitbot (through its admin endpoint) and one of this process (the
// generator, the simulators and, on etcd, the members) over the burst's
// middle: where the time goes decides the next change, not a guess.
func profileBurst(ctx context.Context, addr, prefix string, d time.Duration) {
	sleepCtx(ctx, d/4)
	span := d / 2
	done := make(chan error, 1)
	go func() {
		done <- fetchProfile(ctx, addr, fmt.Sprintf("profile?seconds=%d", int(span.Seconds())), prefix+".jitbot.pprof")
	}()
	if f, err := os.Create(prefix + ".scenario.pprof"); err == nil {
		if pprof.StartCPUProfile(f) == nil {
			sleepCtx(ctx, span)
			pprof.StopCPUProfile()
		}
		f.Close()
	}
	if err := <-done; err != nil {
		fmt.Fprintf(os.Stderr, "burst: profile of jitbot: %v\n", err)
	}
}
