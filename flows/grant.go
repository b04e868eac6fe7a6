package flows

import (
	"strings"
)

func (s *Service) grant(r *Request) Grant {
	return Grant{
		RequestID: r.ID, Integration: r.Resource.Integration, Requester: r.Requester, Username: r.Username,
		Resource: r.Resource, Role: r.Role, ExpiresAt: r.ExpiresAt, BackstopAt: r.BackstopAt,
	}
}

// accessDetails fills in the integration's instructions for the requester.
func (s *Service) accessDetails(r *Request, c Credentials) string {
	in, ok := s.policy.Integration(r.Resource.Integration)
	if !ok || in.AccessDetails == "" {
		return ""
	}
	return strings.NewReplacer("$USERNAME", c.Username, "$CONNECTION_STRING", c.ConnectionString, "$DATABASE", r.Resource.Database).Replace(in.AccessDetails)
}
