package atlastest

import "fmt"

// AddRoles gives a credential (an API key's public key or a service
// account's client id) more project roles, such as RoleNetworkAccessManager
// for a world built with the default least-privilege roles. Call it before
// the simulator serves its first request: roles are read without a lock.
func (s *Server) AddRoles(id string, roles ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for _, kind := range []string{"digest", "oauth"} {
		if p, ok := s.creds[kind+":"+id]; ok {
			for _, r := range roles {
				p.roles[r] = true
			}
			found = true
		}
	}
	if !found {
		return fmt.Errorf("atlastest: AddRoles: no credential %q", id)
	}
	return nil
}
