package flows

// Where an approved grant is provisioned. The secret of a grant (a
// database user's password, a service account's or an API key's secret)
// lives in the memory of the process that created it until its message is
// sent, and only the leader's dispatcher sends messages: a replica that
// does not lead and provisioned a grant itself would hold a secret nobody
// sends, and the leader, finding it missing, would issue another (a second
// password, set and applied in Atlas again, seconds later). So a grant
// with a secret, approved by a click or a command another replica took, is
// left approved for the leader's next sweep (within a sweep interval),
// which provisions it where its message is sent from. Grants without a
// secret (Atlas UI roles, access-list entries, passwordless users) are
// provisioned at once wherever they are approved.

// provisionsHere reports whether r, just approved, is provisioned by this
// process now, or left to the leader's sweep.
func (s *Service) provisionsHere(r *Request) bool {
	if s.leading == nil || s.leading() {
		return true
	}
	_, secret := s.reissuer(r.Kind)
	return !secret || r.Auth.Passwordless()
}
