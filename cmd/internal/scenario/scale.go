package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/store/storetest"
)

// ScaleResult is what the scale scenario measured.
type ScaleResult struct {
	Requests, Events int
	// StartToReady is the wall time from New to the end of the start-up
	// sweep: store open, the Atlas check, wiring, Resume's search for
	// interrupted work and the first sweep.
	StartToReady time.Duration
	// ServeToReady is the same for `jitbot serve` as a process: from its
	// start to the end of its first sweep (seen in /metrics).
	ServeToReady time.Duration
	// ServeHeap is that process's Go heap once ready (go_memstats_heap_alloc_bytes:
	// live objects and garbage not yet collected, so an upper bound).
	ServeHeap uint64
	// SweepP50 and SweepMax time a sweep when nothing is due.
	SweepP50, SweepMax time.Duration
	Sweeps             int
	Due                int // items the sweeps found due (none should be)
}

// Scale starts jitbot on a store with a long history (requests
// finished requests and events audit records, built once in dir and kept):
// in this process, to time start-up and sweeps with nothing due, then as
// `jitbot serve` (exe, the jitbot binary), to read its heap away from the
// simulators' own.
func Scale(ctx context.Context, exe, dir string, requests, events, sweeps int, reporter atlastest.Reporter) (ScaleResult, error) {
	res := ScaleResult{Requests: requests, Events: events}
	if exe == "" {
		return res, errors.New("scale: no jitbot binary to run")
	}
	path, err := storetest.History(dir, requests, events)
	if err != nil {
		return res, err
	}
	addr, err := rig.FreeAddr()
	if err != nil {
		return res, err
	}
	r, err := rig.New(rig.Options{Slack: true, NobodyInSlack: true, Flows: autoApproveFlow, StorePath: path, Listen: addr, Reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.Close()
	began := time.Now()
	if err := r.Start(ctx, app.Options{NoScheduler: true}); err != nil {
		return res, err
	}
	res.StartToReady = time.Since(began)
	var took []time.Duration
	for range sweeps {
		t := time.Now()
		rep, err := r.Main.Service().Sweep(ctx, time.Now())
		took = append(took, time.Since(t))
		if err != nil {
			return res, fmt.Errorf("sweep: %w", err)
		}
		res.Sweeps++
		res.Due += rep.Due
	}
	res.SweepP50, res.SweepMax = percentile(took, 50), percentile(took, 100)
	if err := r.Stop(); err != nil {
		return res, err
	}

	logPath := filepath.Join(r.Dir, "serve.log")
	began = time.Now()
	p, err := serve(ctx, r, exe, addr, logPath)
	if err != nil {
		return res, err
	}
	defer p.Kill()
	for deadline := time.Now().Add(time.Minute); ; {
		m, err := scrape("http://" + addr + "/metrics")
		if err != nil {
			return res, err
		}
		if m["jitbot_sweep_duration_seconds_count"] >= 1 {
			res.ServeToReady = time.Since(began)
			res.ServeHeap = uint64(m["go_memstats_heap_alloc_bytes"])
			break
		}
		if time.Now().After(deadline) {
			return res, fmt.Errorf("jitbot serve did not sweep within a minute:\n%s", rig.TailFile(logPath, 2000))
		}
		time.Sleep(2 * time.Millisecond)
	}
	return res, p.Stop()
}

// scrape reads the unlabelled samples of a Prometheus text exposition.
func scrape(url string) (map[string]float64, error) {
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
	for _, line := range strings.Split(string(raw), "\n") {
		name, value, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || strings.Contains(name, "{") {
			continue
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil {
			out[name] = v
		}
	}
	return out, nil
}
