package etcdstore_test

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
	"github.com/jitbot/jitbot/store/etcdstore"
	"github.com/jitbot/jitbot/store/etcdstore/etcdtest"
)

// leaderIndex is the member that leads c now, -1 when none does.
func leaderIndex(t *testing.T, c *etcdtest.Cluster) int {
	t.Helper()
	cli := c.Client()
	for i, m := range c.Members {
		if !c.Running(i) {
			continue
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		st, err := cli.Status(ctx, m.ClientURL)
		cancel()
		if err == nil && st.Leader == st.Header.MemberId {
			return i
		}
	}
	return -1
}

// A store opened on a 3-member cluster sends its reads and writes to the
// leader's client URL, and follows the leadership when the leader stops:
// its writes go on, to the new leader.
func TestTheStoreFollowsEtcdsLeader(t *testing.T) {
	c := etcdtest.Start(t, 3)
	ctx := t.Context()
	s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints(), RequestTimeout: "10s", DialTimeout: "2s"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	first := leaderIndex(t, c)
	if first < 0 {
		t.Fatal("no leader")
	}
	if got := s.KVAimedAt(); !slices.Equal(got, []string{c.Members[first].ClientURL}) {
		t.Fatalf("the store's KV goes to %v, want the leader's %s", got, c.Members[first].ClientURL)
	}
	create := func(id flows.RequestID) {
		t.Helper()
		r := flowstest.NewRequest(id, "alice@example.com", flowstest.T0)
		if _, _, err := s.Create(ctx, r, flows.Event{Type: flows.EventSubmitted, RequestID: r.ID, Actor: r.Requester, At: flowstest.T0}, ""); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
	create("lead1")

	c.Stop(first)
	create("lead2") // retried by the store until the new leader takes it
	waitFor(t, "the store's KV aimed at the new leader", func() bool {
		next := leaderIndex(t, c)
		return next >= 0 && slices.Equal(s.KVAimedAt(), []string{c.Members[next].ClientURL})
	})
	create("lead3")
	if got, err := s.Find(ctx, flows.Query{Requester: "alice@example.com"}); err != nil || len(got) != 3 {
		t.Fatalf("requests: %d, %v", len(got), err)
	}
}

// serviceProxy stands for a Kubernetes Service in front of the members:
// each connection it accepts goes to the next member in turn.
func serviceProxy(t *testing.T, c *etcdtest.Cluster) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	var next atomic.Int64
	go func() {
		for {
			in, err := l.Accept()
			if err != nil {
				return
			}
			m := c.Members[int(next.Add(1))%len(c.Members)]
			out, err := net.Dial("tcp", strings.TrimPrefix(m.ClientURL, "http://"))
			if err != nil {
				_ = in.Close()
				continue
			}
			go func() { _, _ = io.Copy(out, in); _ = out.Close() }()
			go func() { _, _ = io.Copy(in, out); _ = in.Close() }()
		}
	}()
	return "http://" + l.Addr().String()
}

// Configured with one endpoint that hands each connection to any member
// (a Service), the store finds the leader's own client URL and goes
// there.
func TestTheStoreFindsTheLeaderBehindAService(t *testing.T) {
	c := etcdtest.Start(t, 3)
	s, err := etcdstore.Open(t.Context(), etcdstore.Config{Endpoints: []string{serviceProxy(t, c)}, RequestTimeout: "10s", DialTimeout: "2s"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waitFor(t, "the store's KV aimed at the leader", func() bool {
		i := leaderIndex(t, c)
		return i >= 0 && slices.Equal(s.KVAimedAt(), []string{c.Members[i].ClientURL})
	})
}

// A store Open made may be closed twice (a test's crash, then its
// cleanup).
func TestAStoreClosesTwice(t *testing.T) {
	c := etcdtest.Start(t, 1)
	s, err := etcdstore.Open(t.Context(), etcdstore.Config{Endpoints: c.Endpoints(), RequestTimeout: "2s", DialTimeout: "2s"})
	if err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	_ = s.Close() // panicked: the leader's looks were stopped twice
	if _, err := s.Get(context.Background(), "any"); err == nil {
		t.Fatal("a closed store answered a read")
	}
}
