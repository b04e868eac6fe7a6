package flows

import "slices"

func (s *Service) grant(r *Request) Grant {
	return Grant{
		RequestID: r.ID, Kind: r.Kind.orDefault(), Integration: r.Resource.Integration, Requester: r.Requester, Principal: r.Principal,
		Resource: r.Resource, Roles: slices.Clone(r.Roles), ExpiresAt: r.ExpiresAt, BackstopAt: r.BackstopAt, Auth: r.Auth,
		Attempt: r.Attempts, State: r.GrantState, Journal: s.journal(r),
	}
}
