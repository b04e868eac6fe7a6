package main

import (
	"context"
	"fmt"
	"runtime"
	rtmetrics "runtime/metrics"
	"time"

	"github.com/jitbot/jitbot/atlas/atlastest"
	"github.com/jitbot/jitbot/store/storetest"
)

// ScaleResult is what the scale scenario measured.
type ScaleResult struct {
	Requests, Events int
	// StartToReady is the wall time from New to the end of the start-up
	// sweep: store open, the Atlas check, wiring, Resume's search for
	// interrupted work and the first sweep.
	StartToReady time.Duration
	// Heap is the Go heap (live objects, after a GC) that the running jitbot
	// added: the simulators' share is measured before it starts and left out.
	Heap uint64
	// SweepP50 and SweepMax time a sweep when nothing is due.
	SweepP50, SweepMax time.Duration
	Sweeps             int
	Due                int // items the sweeps found due (none should be)
}

// proveScale starts jitbot on a store with a long history (requests
// finished requests and events audit records, built once in dir and kept)
// and measures start-up, the heap and a sweep with nothing due.
func proveScale(ctx context.Context, dir string, requests, events, sweeps int, reporter atlastest.Reporter) (ScaleResult, error) {
	res := ScaleResult{Requests: requests, Events: events}
	path, err := storetest.History(dir, requests, events)
	if err != nil {
		return res, err
	}
	r, err := newRig(rigOptions{slack: true, nobodyInSlack: true, flows: autoApproveFlow, storePath: path, reporter: reporter})
	if err != nil {
		return res, err
	}
	defer r.close()
	before := liveHeap()
	began := time.Now()
	if err := r.start(ctx, Options{NoScheduler: true}); err != nil {
		return res, err
	}
	res.StartToReady = time.Since(began)
	if after := liveHeap(); after > before {
		res.Heap = after - before
	}
	var took []time.Duration
	for range sweeps {
		t := time.Now()
		rep, err := r.main.svc.Sweep(ctx, r.main.clock.Now())
		took = append(took, time.Since(t))
		if err != nil {
			return res, fmt.Errorf("sweep: %w", err)
		}
		res.Sweeps++
		res.Due += rep.Due
	}
	res.SweepP50, res.SweepMax = percentile(took, 50), percentile(took, 100)
	return res, r.stop()
}

// liveHeap is the Go heap's live objects after a collection.
func liveHeap() uint64 {
	runtime.GC()
	s := []rtmetrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}
