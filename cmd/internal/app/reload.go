package app

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/jitbot/jitbot/cmd/jitbot/config"
	"github.com/jitbot/jitbot/flows"
)

// Groups and flows (the access policy: admins, groups, the integrations'
// owners and access details, flows) change while jitbot runs: on SIGHUP
// (Options.Reload) and when the configuration file changes (a ConfigMap
// update), jitbot reads the file again through the loader serve started
// with, and puts the new policy in force if the file is valid. An invalid
// file changes nothing: the running policy stays, and why is logged, shown
// in the admin status and counted in /metrics. Everything else (listeners,
// the store, Slack, Teams, the Atlas integrations and their credentials)
// is wired once, at start: a change to it is logged as waiting for a
// restart. A change to the set of integrations refuses the whole reload,
// since the policy's integrations must be those the Atlas adapter serves.

// DefaultPolicyPoll is how often the configuration file is looked at for a
// change (Options.PolicyPoll). Kubernetes updates a mounted ConfigMap within
// a minute or so; a few seconds more do not matter, and reading a small file
// costs nothing.
const DefaultPolicyPoll = 5 * time.Second

// PolicyStatus is the policy in force and the last reload (GET
// /admin/status).
type PolicyStatus struct {
	// Hash identifies the policy in force (flows.Policy.Hash); each request
	// records the one it was routed under.
	Hash     string    `json:"hash"`
	LoadedAt time.Time `json:"loaded_at"`
	Flows    int       `json:"flows"`
	// ReloadError says why the last reload was refused, the running policy
	// kept (empty once a reload succeeds).
	ReloadError    string    `json:"reload_error,omitempty"`
	ReloadFailedAt time.Time `json:"reload_failed_at,omitzero"`
	// RestartNeeded lists what the file changes that only a restart applies
	// (listen, slack, integrations...).
	RestartNeeded []string `json:"restart_needed,omitempty"`
}

// policyState is what the reloads found.
type policyState struct {
	mu     sync.Mutex
	status PolicyStatus
	// fileSum is the hash of the file as last read, to see it change.
	fileSum [sha256.Size]byte
	// settling is the hash of a changed file seen at the last poll and not
	// read yet: a change is read once two polls in a row see the same bytes,
	// so a file caught half-written (an editor saving in place) is never
	// refused for what it held for a moment.
	settling [sha256.Size]byte
	errors   int64 // refused reloads
}

func (p *policyState) snapshot() (PolicyStatus, int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.status
	s.RestartNeeded = slices.Clone(s.RestartNeeded)
	return s, p.errors
}

// initPolicy records the policy serve started with.
func (m *Main) initPolicy() {
	p := m.cfg.Policy
	m.policy.status = PolicyStatus{Hash: p.Hash(), LoadedAt: m.clock.Now(), Flows: len(p.Flows())}
	if raw, err := os.ReadFile(m.cfg.Path); err == nil {
		m.policy.fileSum = sha256.Sum256(raw)
	}
	for _, w := range m.cfg.Warnings {
		m.log.Warn("configuration: this can never take effect", "problem", w.String())
	}
}

// watchPolicy reloads the policy on each request (Options.Reload) and when
// the file changes, until ctx is done.
func (m *Main) watchPolicy(ctx context.Context) {
	var tick <-chan time.Time
	if m.opts.PolicyPoll > 0 && m.cfg.Path != "" {
		t := time.NewTicker(m.opts.PolicyPoll)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.opts.Reload:
			_ = m.ReloadPolicy(ctx, "asked (SIGHUP)")
		case <-tick:
			m.reloadIfChanged(ctx)
		}
	}
}

// reloadIfChanged reloads when the file's bytes changed since last read and
// stayed so for one poll.
func (m *Main) reloadIfChanged(ctx context.Context) {
	raw, err := os.ReadFile(m.cfg.Path)
	sum := sha256.Sum256(raw)
	m.policy.mu.Lock()
	changed := err == nil && sum != m.policy.fileSum && sum == m.policy.settling
	if err == nil {
		m.policy.settling = sum
	}
	// A file that cannot be read is said once, not at every poll.
	unread := err != nil && m.policy.status.ReloadError != readError(err)
	m.policy.mu.Unlock()
	switch {
	case unread:
		m.refusePolicy(ctx, "the file cannot be read", errors.New(readError(err)))
	case changed:
		m.reload(ctx, "the file changed", raw)
	}
}

func readError(err error) string { return fmt.Sprintf("cannot read the configuration: %v", err) }

// ReloadPolicy reads the configuration file again and puts its policy in
// force if it is valid; why is for the log. It returns why the file was
// refused (the running policy then stays), or nil.
func (m *Main) ReloadPolicy(ctx context.Context, why string) error {
	raw, err := os.ReadFile(m.cfg.Path)
	if err != nil {
		err = errors.New(readError(err))
		m.refusePolicy(ctx, why, err)
		return err
	}
	return m.reload(ctx, why, raw)
}

func (m *Main) reload(ctx context.Context, why string, raw []byte) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	m.policy.mu.Lock()
	m.policy.fileSum = sha256.Sum256(raw)
	m.policy.mu.Unlock()

	env := m.opts.Env
	if env == nil {
		env = os.LookupEnv
	}
	cfg, err := config.Parse(m.cfg.Path, raw, env)
	if err != nil {
		var ps config.Problems
		if errors.As(err, &ps) {
			err = fmt.Errorf("%s in the configuration:\n%w", ps.Summary(), ps)
		}
		m.refusePolicy(ctx, why, err)
		return err
	}
	if err := sameIntegrations(m.cfg.Policy, cfg.Policy); err != nil {
		m.refusePolicy(ctx, why, err)
		return err
	}
	restart := restartNeeded(m.cfg, cfg)
	old, next := m.svc.Policy(), cfg.Policy
	if next.Hash() != old.Hash() {
		next.KeepSyncedMembers(old)
		if err := m.svc.SetPolicy(next); err != nil {
			m.refusePolicy(ctx, why, err)
			return err
		}
		m.log.InfoContext(ctx, "policy reloaded: new requests are routed by it, and every approval is checked against it",
			"why", why, "hash", next.Hash(), "previous_hash", old.Hash(), "flows", len(next.Flows()))
		for _, w := range cfg.Warnings {
			m.log.WarnContext(ctx, "configuration: this can never take effect", "problem", w.String())
		}
		if m.syncGroups != nil {
			m.bg.Go(m.syncGroups) // the new groups' Slack members, now
		}
	}
	m.policy.mu.Lock()
	if next.Hash() != old.Hash() {
		m.policy.status.Hash, m.policy.status.LoadedAt, m.policy.status.Flows = next.Hash(), m.clock.Now(), len(next.Flows())
	}
	m.policy.status.ReloadError, m.policy.status.ReloadFailedAt = "", time.Time{}
	changedRestart := !slices.Equal(restart, m.policy.status.RestartNeeded)
	m.policy.status.RestartNeeded = restart
	m.policy.mu.Unlock()
	if changedRestart && len(restart) > 0 {
		m.log.WarnContext(ctx, "the configuration changed where only a restart applies it: the running values stay until jitbot restarts",
			"changed", restart)
	}
	return nil
}

// refusePolicy records a refused reload: the policy in force stays. The
// log line is written first: whoever sees the refusal in the status or
// the metrics finds it in the log too.
func (m *Main) refusePolicy(ctx context.Context, why string, err error) {
	m.log.ErrorContext(ctx, "policy reload refused: the running policy stays", "why", why, "hash", m.svc.Policy().Hash(), "err", err)
	m.policy.mu.Lock()
	m.policy.status.ReloadError, m.policy.status.ReloadFailedAt = err.Error(), m.clock.Now()
	m.policy.errors++
	m.policy.mu.Unlock()
}

// sameIntegrations refuses a policy whose integrations are not those the
// Atlas adapter was started with: its flows would route requests to
// projects jitbot cannot reach, or away from ones it still serves.
func sameIntegrations(running, next *flows.Policy) error {
	ids := func(p *flows.Policy) []string {
		var out []string
		for _, in := range p.Integrations() {
			out = append(out, in.Name+" "+in.ProjectID)
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(ids(running), ids(next)) {
		return errors.New("the integrations (names or project ids) changed: they apply only on restart, and so do the groups and flows written with them; restart jitbot")
	}
	return nil
}

// restartNeeded lists the parts of the configuration that differ between
// the running one and next, other than the policy: those only a restart
// applies.
func restartNeeded(running, next *config.Config) []string {
	var out []string
	for _, part := range []struct {
		name string
		a, b any
	}{
		{"listen", running.Listen, next.Listen},
		{"admin_listen", running.AdminListen, next.AdminListen},
		{"log_format", running.LogFormat, next.LogFormat},
		{"store", []any{running.StorePath, running.StoreEtcd}, []any{next.StorePath, next.StoreEtcd}},
		{"admin_token", running.AdminToken, next.AdminToken},
		{"reminder_before", running.ReminderBefore, next.ReminderBefore},
		{"backstop_grace", running.BackstopGrace, next.BackstopGrace},
		{"rotate_after", running.RotateAfter, next.RotateAfter},
		{"max_live_requests", running.MaxLiveRequests, next.MaxLiveRequests},
		{"slack", running.Slack, next.Slack},
		{"teams", running.Teams, next.Teams},
		{"integrations", running.Integrations, next.Integrations},
	} {
		if !reflect.DeepEqual(part.a, part.b) {
			out = append(out, part.name)
		}
	}
	return out
}

// policyCounters expose the policy in force and the refused reloads.
func policyCounters(p *policyState) []counter {
	return []counter{
		{name: "jitbot_policy_info", help: "The access policy in force: 1, labelled with its hash (requests record the hash they were routed under).",
			labels: []string{"hash"}, gauge: true, read: func() map[string]float64 {
				s, _ := p.snapshot()
				return map[string]float64{s.Hash: 1}
			}},
		{name: "jitbot_policy_reload_errors_total", help: "Reloads of the policy refused (an invalid file, changed integrations): the running policy stayed.",
			read: func() map[string]float64 {
				_, n := p.snapshot()
				return map[string]float64{"": float64(n)}
			}},
	}
}
