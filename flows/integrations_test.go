package flows_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jitbot/jitbot/flows"
	"github.com/jitbot/jitbot/flows/flowstest"
)

// fakeOnCall answers who is on call, or fails while down.
type fakeOnCall struct {
	mu     sync.Mutex
	people []string
	down   bool
	calls  int
}

func (o *fakeOnCall) OnCall(ctx context.Context, q flows.OnCallQuery) ([]string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls++
	if o.down {
		return nil, flows.Errorf(flows.EUNAVAILABLE, "pagerduty: 503")
	}
	return append([]string(nil), o.people...), nil
}

func (o *fakeOnCall) set(down bool, people ...string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.down, o.people = down, people
}

// fakeTickets answers from a map of tickets, or fails while down.
type fakeTickets struct {
	mu      sync.Mutex
	tickets map[string]flows.Ticket
	down    bool
	calls   int
}

func (j *fakeTickets) Ticket(ctx context.Context, key string) (flows.Ticket, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.calls++
	if j.down {
		return flows.Ticket{}, flows.Errorf(flows.EUNAVAILABLE, "jira: 503")
	}
	t, ok := j.tickets[key]
	if !ok {
		return flows.Ticket{Key: key}, nil
	}
	t.Key, t.Exists = key, true
	return t, nil
}

func (j *fakeTickets) set(key string, t flows.Ticket) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.tickets[key] = t
}

// newIntegratedFixture is newFixture with PagerDuty and Jira behind the
// ports.
func newIntegratedFixture(t testing.TB, mutate ...func(*flows.PolicySpec, *flows.Config)) (*fixture, *fakeOnCall, *fakeTickets) {
	t.Helper()
	spec := testPolicy()
	cfg := flows.Config{}
	for _, m := range mutate {
		m(&spec, &cfg)
	}
	p, err := flows.Compile(spec)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	cfg.Policy = p
	oc := &fakeOnCall{}
	tk := &fakeTickets{tickets: map[string]flows.Ticket{}}
	tt, _ := t.(*testing.T)
	f := &fixture{
		t: tt, ctx: context.Background(), clock: flowstest.NewClock(t0), store: flowstest.NewStore(),
		prov: flowstest.NewProvisioner(), catalog: testCatalog(), notes: &flowstest.Notifier{}, secrets: &flowstest.Secrets{},
	}
	svc, err := flows.NewService(cfg, flows.Deps{
		Store: f.store, Provisioners: flows.Provisioners{flows.KindDatabaseUser: f.prov}, Catalog: f.catalog, Secrets: f.secrets, Notifier: f.notes, Clock: f.clock,
		OnCall: oc, Tickets: tk,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f, oc, tk
}
