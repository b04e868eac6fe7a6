package atlastest

// countCreateLocked records that a database user was created (a 201), so
// that a test can tell a user created twice (created, deleted, created
// again: a late call of a deposed leader) from one create retried (the
// retry answered 409 USER_ALREADY_EXISTS and created nothing).
func (s *Server) countCreateLocked(project, username string) {
	if s.created == nil {
		s.created = map[string]int{}
	}
	s.created[project+"/"+username]++
}

// Creates counts, by username, the database users created in project
// (each successful createDatabaseUser, whether or not the user still
// exists).
func (s *Server) Creates(project string) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, n := range s.created {
		if len(k) > len(project) && k[:len(project)+1] == project+"/" {
			out[k[len(project)+1:]] = n
		}
	}
	return out
}
