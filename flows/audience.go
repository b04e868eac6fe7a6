package flows

// Audience is who the domain wants told directly of ev about r (nil for an
// event about no request: the admins). The outbox's dispatcher asks it when
// it expands an event into deliveries, so chat decides how people are told,
// never who.
func (s *Service) Audience(ev Event, r *Request) []string { return s.audience(ev, r) }
