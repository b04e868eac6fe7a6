package flowstest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jitbot/jitbot/flows"
)

// Provisioner is a fake database-user provisioner with every optional
// capability (ApplyWaiter, Backstopper, Reissuer, Inventory): it keeps users
// in memory, records every call, and fails on demand.
type Provisioner struct {
	mu        sync.Mutex
	users     map[string]flows.Grant // by principal
	calls     []Call
	passwords int
	// Fail, when set, decides the error of each call (nil: succeed).
	Fail func(op string, g flows.Grant) error
	// OnCall, when set, runs at the start of each call, before Fail; tests use
	// it to interleave other work with a call in flight.
	OnCall func(op string, g flows.Grant)
}

// Call is one recorded provisioner call.
type Call struct {
	Op        string // create, wait, backstop, rotate, delete, list
	Principal string
	Grant     flows.Grant
}

var (
	_ flows.Provisioner = (*Provisioner)(nil)
	_ flows.ApplyWaiter = (*Provisioner)(nil)
	_ flows.Backstopper = (*Provisioner)(nil)
	_ flows.Reissuer    = (*Provisioner)(nil)
	_ flows.Inventory   = (*Provisioner)(nil)
)

// NewProvisioner returns a provisioner with no users.
func NewProvisioner() *Provisioner { return &Provisioner{users: map[string]flows.Grant{}} }

func (p *Provisioner) call(op string, g flows.Grant) error {
	if p.OnCall != nil {
		p.OnCall(op, g)
	}
	p.mu.Lock()
	p.calls = append(p.calls, Call{Op: op, Principal: g.Principal, Grant: g})
	fail := p.Fail
	p.mu.Unlock()
	if fail != nil {
		return fail(op, g)
	}
	return nil
}

func (p *Provisioner) credentials(g flows.Grant) flows.Credentials {
	// What the Atlas adapter hands out for the grants that carry no secret.
	switch {
	case g.Kind == flows.KindAccessListEntry:
		return flows.NetworkAccessCredentials(g.Principal, g.Integration, "")
	case g.Auth.Passwordless():
		return flows.PasswordlessCredentials(g.Auth, g.Principal, "mongodb+srv://"+strings.ToLower(g.Resource.Cluster)+".example.mongodb.net")
	}
	p.passwords++
	return flows.DatabaseUserCredentials(g.Principal, flows.NewSecret(fmt.Sprintf("pw-%s-%d", g.Principal, p.passwords)),
		"mongodb+srv://"+g.Resource.Cluster+".example.mongodb.net")
}

// Create implements flows.Provisioner.
func (p *Provisioner) Create(_ context.Context, g flows.Grant) (flows.Credentials, error) {
	if err := p.call("create", g); err != nil {
		return flows.Credentials{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[g.Principal] = g
	return p.credentials(g), nil
}

// WaitApplied implements flows.ApplyWaiter.
func (p *Provisioner) WaitApplied(_ context.Context, g flows.Grant) error { return p.call("wait", g) }

// SetBackstop implements flows.Backstopper.
func (p *Provisioner) SetBackstop(_ context.Context, g flows.Grant) error {
	if err := p.call("backstop", g); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.users[g.Principal]; ok {
		u.BackstopAt = g.BackstopAt
		p.users[g.Principal] = u
	}
	return nil
}

// Reissue implements flows.Reissuer (a rotation: its calls are "rotate").
func (p *Provisioner) Reissue(_ context.Context, g flows.Grant) (flows.Credentials, error) {
	if err := p.call("rotate", g); err != nil {
		return flows.Credentials{}, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.credentials(g), nil
}

// Delete implements flows.Provisioner.
func (p *Provisioner) Delete(_ context.Context, g flows.Grant) error {
	if err := p.call("delete", g); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.users, g.Principal)
	return nil
}

// ManagedGrants implements flows.Inventory.
func (p *Provisioner) ManagedGrants(_ context.Context, integration string) ([]flows.ManagedGrant, error) {
	if err := p.call("list", flows.Grant{Integration: integration}); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []flows.ManagedGrant
	for _, g := range p.users {
		if g.Integration == integration {
			out = append(out, flows.ManagedGrant{Principal: g.Principal, RequestID: g.RequestID})
		}
	}
	return out, nil
}

// AddUser puts a user in place as if created outside the service.
func (p *Provisioner) AddUser(g flows.Grant) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.users[g.Principal] = g
}

// User returns the user with the given name.
func (p *Provisioner) User(username string) (flows.Grant, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	g, ok := p.users[username]
	return g, ok
}

// Users returns the usernames present.
func (p *Provisioner) Users() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for u := range p.users {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Calls returns the calls made so far.
func (p *Provisioner) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// Count returns how many calls of op were made.
func (p *Provisioner) Count(op string) int {
	n := 0
	for _, c := range p.Calls() {
		if c.Op == op {
			n++
		}
	}
	return n
}

// Catalog is a fake flows.Catalog.
type Catalog struct {
	mu       sync.Mutex
	clusters map[string][]flows.Cluster
	Err      error
}

var _ flows.Catalog = (*Catalog)(nil)

// NewCatalog returns a catalog with the given clusters per integration.
func NewCatalog(clusters map[string][]flows.Cluster) *Catalog {
	return &Catalog{clusters: clusters}
}

// Set replaces the clusters of an integration (a project renamed, a
// cluster added).
func (c *Catalog) Set(integration string, clusters []flows.Cluster) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.clusters == nil {
		c.clusters = map[string][]flows.Cluster{}
	}
	c.clusters[integration] = slices.Clone(clusters)
}

// Clusters implements flows.Catalog.
func (c *Catalog) Clusters(_ context.Context, integration string) ([]flows.Cluster, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.Err != nil {
		return nil, c.Err
	}
	return slices.Clone(c.clusters[integration]), nil
}

// Notifier records every notice it is given.
type Notifier struct {
	mu      sync.Mutex
	notices []flows.Notice
	// Err, when set, is returned by Notify for notices of this event type.
	Err     error
	ErrType flows.EventType
}

var _ flows.Notifier = (*Notifier)(nil)

// Notify implements flows.Notifier.
func (n *Notifier) Notify(_ context.Context, notice flows.Notice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.notices = append(n.notices, notice)
	if n.Err != nil && (n.ErrType == "" || n.ErrType == notice.Event.Type) {
		return n.Err
	}
	return nil
}

// Notices returns the notices so far.
func (n *Notifier) Notices() []flows.Notice {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.notices)
}

// Of returns the notices of one event type.
func (n *Notifier) Of(t flows.EventType) []flows.Notice {
	var out []flows.Notice
	for _, x := range n.Notices() {
		if x.Event.Type == t {
			out = append(out, x)
		}
	}
	return out
}
