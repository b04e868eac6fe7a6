package scenario

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/jitbot/jitbot/cmd/internal/rig"
)

// profileAt, when HA_PROFILE names a file prefix, takes CPU profiles of
// every replica up (through its admin endpoint) and of this process (the
// etcd members, the simulators, the generator) for profileFor, at each of
// the given times into the run: where a 2-core machine's time goes under
// the load is what decides the next change, not a guess.
func (h *haRun) profileAt(ctx context.Context, start time.Time, at ...time.Duration) {
	prefix := os.Getenv("HA_PROFILE")
	if prefix == "" {
		return
	}
	const profileFor = 15 * time.Second
	for _, t := range at {
		sleepCtx(ctx, time.Until(start.Add(t)))
		if ctx.Err() != nil {
			return
		}
		lead, _ := h.leader()
		done := make(chan struct{}, len(h.replicas))
		for _, rep := range h.replicas {
			role := "follower"
			if rep.i == lead {
				role = "leader"
			}
			go func() {
				defer func() { done <- struct{}{} }()
				file := fmt.Sprintf("%s.%ds.%d.%s.pprof", prefix, int(t.Seconds()), rep.i, role)
				if err := fetchProfile(ctx, rep.addr, "goroutine?debug=1", strings.TrimSuffix(file, ".pprof")+".goroutines.txt"); err != nil {
					fmt.Fprintf(os.Stderr, "ha: goroutines of replica %d: %v\n", rep.i, err)
				}
				if err := fetchProfile(ctx, rep.addr, fmt.Sprintf("profile?seconds=%d", int(profileFor.Seconds())), file); err != nil {
					fmt.Fprintf(os.Stderr, "ha: profile of replica %d: %v\n", rep.i, err)
				}
			}()
		}
		if f, err := os.Create(fmt.Sprintf("%s.%ds.scenario.pprof", prefix, int(t.Seconds()))); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				sleepCtx(ctx, profileFor)
				pprof.StopCPUProfile()
			}
			f.Close()
		}
		for range h.replicas {
			<-done
		}
	}
}

func fetchProfile(ctx context.Context, addr, what, file string) error {
	url := fmt.Sprintf("http://%s/admin/debug/pprof/%s", addr, what)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+rig.AdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", url, resp.Status)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
