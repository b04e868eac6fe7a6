package bot

import (
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Secrets is an in-memory flows.SecretKeeper: bounded, and each secret
// expires after a while, so a message that never goes out does not keep a
// password in memory for the life of the process. Create it with
// NewSecrets; it is safe for concurrent use.
type Secrets struct {
	clock flows.Clock
	ttl   time.Duration
	max   int

	mu      sync.Mutex
	entries map[secretKey]secretEntry
	// order is the keys in the order kept, for evicting the oldest when
	// full; it may hold keys forgotten since (skipped when evicting).
	order []secretKey
}

type secretKey struct {
	id     flows.RequestID
	issued int64 // UnixNano: time.Time's location and monotonic reading must not matter
}

type secretEntry struct {
	creds   flows.Credentials
	expires time.Time
}

var _ flows.SecretKeeper = (*Secrets)(nil)

// NewSecrets returns a keeper of at most max secrets (1,000 when <= 0),
// each held at most ttl (1 h when <= 0). Past either bound the dispatcher
// has the secret reissued: a bound on memory, never a lost message.
func NewSecrets(clock flows.Clock, ttl time.Duration, max int) *Secrets {
	if clock == nil {
		clock = flows.SystemClock{}
	}
	if ttl <= 0 {
		ttl = time.Hour
	}
	if max <= 0 {
		max = 1000
	}
	return &Secrets{clock: clock, ttl: ttl, max: max, entries: map[secretKey]secretEntry{}}
}

func keyOf(id flows.RequestID, issued time.Time) secretKey {
	return secretKey{id: id, issued: issued.UnixNano()}
}

// Keep implements flows.SecretKeeper.
func (s *Secrets) Keep(id flows.RequestID, issued time.Time, c flows.Credentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := keyOf(id, issued)
	if _, ok := s.entries[k]; !ok {
		s.order = append(s.order, k)
	}
	s.entries[k] = secretEntry{creds: c, expires: s.clock.Now().Add(s.ttl)}
	for len(s.entries) > s.max && len(s.order) > 0 {
		delete(s.entries, s.order[0])
		s.order = s.order[1:]
	}
	// Forgotten keys pile up in order; compact once they dominate it.
	if len(s.order) > 2*s.max {
		live := s.order[:0]
		for _, k := range s.order {
			if _, ok := s.entries[k]; ok {
				live = append(live, k)
			}
		}
		s.order = live
	}
}

// Lookup implements flows.SecretKeeper.
func (s *Secrets) Lookup(id flows.RequestID, issued time.Time) (flows.Credentials, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := keyOf(id, issued)
	e, ok := s.entries[k]
	if !ok {
		return flows.Credentials{}, false
	}
	if !s.clock.Now().Before(e.expires) {
		delete(s.entries, k)
		return flows.Credentials{}, false
	}
	return e.creds, true
}

// Forget implements flows.SecretKeeper.
func (s *Secrets) Forget(id flows.RequestID, issued time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.entries, keyOf(id, issued))
}

// Len counts the secrets held (expired ones not yet looked up included).
func (s *Secrets) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}
