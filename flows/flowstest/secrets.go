package flowstest

import (
	"sync"
	"time"

	"github.com/jitbot/jitbot/flows"
)

// Secrets is a flows.SecretKeeper that holds every secret until it is
// forgotten and remembers, for tests, every one it was given.
type Secrets struct {
	mu   sync.Mutex
	held map[secretKey]flows.Credentials
	kept []Kept
}

// Kept is one secret handed to a Secrets.
type Kept struct {
	ID          flows.RequestID
	Issued      time.Time
	Credentials flows.Credentials
}

type secretKey struct {
	id     flows.RequestID
	issued int64
}

var _ flows.SecretKeeper = (*Secrets)(nil)

func key(id flows.RequestID, issued time.Time) secretKey {
	return secretKey{id: id, issued: issued.UnixNano()}
}

// Keep implements flows.SecretKeeper.
func (s *Secrets) Keep(id flows.RequestID, issued time.Time, c flows.Credentials) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == nil {
		s.held = map[secretKey]flows.Credentials{}
	}
	s.held[key(id, issued)] = c
	s.kept = append(s.kept, Kept{ID: id, Issued: issued, Credentials: c})
}

// Lookup implements flows.SecretKeeper.
func (s *Secrets) Lookup(id flows.RequestID, issued time.Time) (flows.Credentials, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.held[key(id, issued)]
	return c, ok
}

// Forget implements flows.SecretKeeper.
func (s *Secrets) Forget(id flows.RequestID, issued time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.held, key(id, issued))
}

// Kept returns every secret kept for request id, oldest first.
func (s *Secrets) Kept(id flows.RequestID) []Kept {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Kept
	for _, k := range s.kept {
		if k.ID == id {
			out = append(out, k)
		}
	}
	return out
}

// Held counts the secrets held now.
func (s *Secrets) Held() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.held)
}
