package app_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/jitbot/jitbot/bot/slack/slacktest"
	"github.com/jitbot/jitbot/cmd/internal/app"
	"github.com/jitbot/jitbot/cmd/internal/rig"
	"github.com/jitbot/jitbot/cmd/internal/rig/rigtest"
	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// metric is the value of the sample of /metrics that starts with prefix
// ("" when there is none).
func metric(t *testing.T, h *rigtest.Harness, prefix string) string {
	t.Helper()
	_, body := get(t, "http://"+h.Main.AdminAddr()+"/metrics", "")
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, prefix+" "); ok {
			return v
		}
	}
	return ""
}

func storeAlarms(t *testing.T, h *rigtest.Harness) []flows.Event {
	t.Helper()
	var out []flows.Event
	if err := h.Main.Store().Audit(h.Ctx, time.Time{}, func(r flows.AuditRecord) error {
		if r.Event.Type == flows.EventStoreAlarm {
			out = append(out, r.Event)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// countDMs counts the DMs to user whose text holds needle.
func countDMs(h *rigtest.Harness, user slacktest.User, needle string) int {
	n := 0
	for _, m := range h.Slack.DMs(user.ID) {
		if strings.Contains(m.AllText(), needle) {
			n++
		}
	}
	return n
}

// On etcd, /metrics says the database's size and alarms; when etcd runs
// out of space (NOSPACE) the leader warns once in the log and tells the
// admins at once, outside the outbox (which etcd's refusal of every write
// closes too), once per raise; once etcd takes writes again the admins
// hear, once and through the outbox, how long the store took no writes.
func TestEtcdOutOfSpace(t *testing.T) {
	c := etcdtest.StartWith(t, etcdtest.Options{Members: 1, QuotaBytes: 2 << 20})
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := rigtest.New(t, clock)
	h.EditConfig("store: {path: "+h.StorePath()+"}",
		fmt.Sprintf("store: {etcd: {endpoints: [%q], prefix: /full/, request_timeout: 10s}}", c.Endpoints()[0]))
	h.Start()
	<-h.Main.Started()

	if v := metric(t, h, `jitbot_etcd_alarm{alarm="NOSPACE"}`); v != "0" {
		t.Fatalf("NOSPACE before: %q", v)
	}
	if v := metric(t, h, "jitbot_etcd_db_size_bytes"); v == "" || v == "0" {
		t.Fatalf("db size: %q", v)
	}
	if v := metric(t, h, "jitbot_etcd_db_quota_bytes"); v != "2.097152e+06" {
		t.Fatalf("quota: %q", v)
	}
	if err := h.Main.CheckStoreAlarm(h.Ctx); err != nil || len(storeAlarms(t, h)) != 0 {
		t.Fatalf("a check with room to spare: %v %v", err, storeAlarms(t, h))
	}

	// Something else fills the cluster.
	cli := c.Client()
	var err error
	for i := 0; err == nil && i < 200; i++ {
		_, err = cli.Put(h.Ctx, fmt.Sprintf("/filler/%d", i), strings.Repeat("x", 64<<10))
	}
	if !errors.Is(err, rpctypes.ErrNoSpace) {
		t.Fatalf("filling the cluster: %v", err)
	}
	for range 3 {
		clock.Advance(30 * time.Second)
		if err := h.Main.CheckStoreAlarm(h.Ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(h.Logs(), "etcd raised its NOSPACE alarm"); n != 1 {
		t.Fatalf("%d warnings for one raise, want 1", n)
	}
	if v := metric(t, h, `jitbot_etcd_alarm{alarm="NOSPACE"}`); v != "1" {
		t.Fatalf("NOSPACE while raised: %q", v)
	}
	if got := storeAlarms(t, h); len(got) != 0 {
		t.Fatalf("a notice written while etcd takes no writes: %v", got)
	}
	// The admins were told at once, outside the outbox, and once only.
	if n := countDMs(h, rig.Dana, "etcd is out of space"); n != 1 {
		t.Fatalf("%d direct notices to an admin over three checks, want 1:\n%s", n, rigtest.Dump(h.Slack.DMs(rig.Dana.ID)))
	}
	if n := countDMs(h, rig.Alice, "out of space"); n != 0 {
		t.Fatalf("a requester was told of the store alarm")
	}

	// The operator frees space and disarms the alarm.
	if _, err := cli.Delete(h.Ctx, "/filler/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	rev, _ := cli.Get(h.Ctx, "/filler/")
	// Physical: the defragmentation must not run before the compaction has
	// freed the pages (on a loaded machine it did, and the next write found
	// the database still over its quota).
	if _, err := cli.Compact(h.Ctx, rev.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Defragment(h.Ctx, c.Endpoints()[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AlarmDisarm(h.Ctx, &clientv3.AlarmMember{}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		clock.Advance(30 * time.Second)
		if err := h.Main.CheckStoreAlarm(h.Ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := storeAlarms(t, h)
	if len(got) != 1 || !strings.Contains(got[0].Message, "was out of space (its NOSPACE alarm) from") {
		t.Fatalf("the notices once etcd takes writes again: %+v", got)
	}
	dm := h.WaitDM(rig.Dana, "was out of space")
	if !strings.Contains(dm.AllText(), "Store alarm") {
		t.Fatalf("the admins' notice:\n%s", dm.AllText())
	}
	if v := metric(t, h, `jitbot_etcd_alarm{alarm="NOSPACE"}`); v != "0" {
		t.Fatalf("NOSPACE once cleared: %q", v)
	}
}

// The leader compacts on the configured retention: a revision read more
// than the retention ago is gone, the store serves on.
func TestEtcdCompaction(t *testing.T) {
	c := etcdtest.Start(t, 1)
	clock := flowstest.NewClock(time.Now().UTC().Truncate(time.Second))
	h := rigtest.New(t, clock)
	h.EditConfig("store: {path: "+h.StorePath()+"}",
		fmt.Sprintf("store: {etcd: {endpoints: [%q], prefix: /c/, compaction: 10m}}", c.Endpoints()[0]))
	h.Start()
	<-h.Main.Started()
	cli := c.Client()
	put := func() int64 {
		resp, err := cli.Put(h.Ctx, "/other/k", clock.Now().String())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Header.Revision
	}
	old := put()
	put()
	if err := h.Main.CompactStore(h.Ctx); err != nil {
		t.Fatal(err)
	}
	put()
	clock.Advance(5 * time.Minute)
	if err := h.Main.CompactStore(h.Ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(h.Ctx, "/other/k", clientv3.WithRev(old)); err != nil {
		t.Fatalf("within the retention: %v", err)
	}
	clock.Advance(5 * time.Minute)
	if err := h.Main.CompactStore(h.Ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(h.Ctx, "/other/k", clientv3.WithRev(old)); !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("past the retention: %v, want compacted", err)
	}
	if code, body := get(t, h.URL("/readyz"), ""); code != 200 {
		t.Fatalf("readyz after compaction: %d %s", code, body)
	}
	if got, want := app.CompactionSchedule(5*time.Minute), "@every 30s"; got != want {
		t.Fatalf("schedule: %s, want %s", got, want)
	}
	if got, want := app.CompactionSchedule(24*time.Hour), "@every 10m0s"; got != want {
		t.Fatalf("schedule: %s, want %s", got, want)
	}
}
