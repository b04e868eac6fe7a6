package atlastest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
)

// The project IP access list: entries of one address or one CIDR block, each
// permanent or temporary (deleteAfterDate, at most a week ahead, after which
// Atlas deletes it by itself). Atlas's rules the spec states only in prose:
//
//   - "This endpoint doesn't support concurrent POST requests": a POST that
//     arrives while another POST to the same project is being handled is
//     answered 500 UNEXPECTED_ERROR (what clients such as the Terraform
//     provider retry on), and changes nothing. SetAccessListLatency makes a
//     POST take time, so that tests can make two overlap.
//   - A POST of an entry that exists already is accepted and replaces its
//     comment and deleteAfterDate (absent: the entry becomes permanent), as
//     Atlas upserts rather than answering 409.
//   - A new entry is PENDING (getAccessListStatus) until the project's apply
//     delay and polls (Options.ApplyDelay, ApplyAfterPolls) have passed, then
//     ACTIVE.
//   - Entries are keyed by the range they cover, however written: 203.0.113.7
//     and 203.0.113.7/32 are one entry, as are compressed and full IPv6.

// RoleNetworkAccessManager is the project role the access-list writes need
// ("Project Network Access Manager"); the default credentials lack it.
const RoleNetworkAccessManager = "GROUP_NETWORK_ACCESS_MANAGER"

// AccessListEntry is one entry of a project's IP access list.
type AccessListEntry struct {
	// CIDR is the range the entry covers, in canonical form (203.0.113.7/32,
	// 2001:db8::/64).
	CIDR            string
	Comment         string
	DeleteAfterDate time.Time // zero: permanent
	Created         time.Time // simulator clock
	// Writes counts the POSTs that created or replaced it.
	Writes int
}

// netState is the simulator's access lists. Entries are guarded by Server.mu
// like every other piece of Atlas state; the in-flight POSTs and the latency
// by its own mutex, since a POST holds them while it sleeps.
type netState struct {
	entries map[string]map[netip.Prefix]*accessEntry // project id → range → entry

	mu       sync.Mutex
	latency  time.Duration
	inflight map[string]bool // project id → a POST is being handled
}

type accessEntry struct {
	AccessListEntry
	seq          int64
	prefix       netip.Prefix
	pendingPolls int
	pendingUntil time.Time
}

// SetAccessListLatency makes each access-list POST take d (real time) before
// it is applied, so that tests can send two at once.
func (s *Server) SetAccessListLatency(d time.Duration) {
	s.net.mu.Lock()
	defer s.net.mu.Unlock()
	s.net.latency = d
}

// AddAccessListEntry puts an entry in a project's access list as if made
// earlier, outside jitbot (an address a team added by hand). cidr is an
// address or a CIDR block; the project is created if needed.
func (s *Server) AddAccessListEntry(projectID string, e AccessListEntry) error {
	pfx, err := parseEntry(e.CIDR)
	if err != nil {
		return fmt.Errorf("atlastest: AddAccessListEntry: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.projects[projectID]; !ok {
		s.addProjectLocked(projectID, "")
	}
	if e.Created.IsZero() {
		e.Created = s.clock.Now()
	}
	s.putEntryLocked(projectID, pfx, e, false)
	return nil
}

// AccessList returns a snapshot of a project's access list in creation
// order, after deleting the entries whose deleteAfterDate has passed on the
// simulator clock.
func (s *Server) AccessList(projectID string) []AccessListEntry {
	s.expireAccessList(s.clock.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []AccessListEntry{}
	for _, e := range s.sortedEntries(projectID) {
		out = append(out, e.AccessListEntry)
	}
	return out
}

// AccessListEntry returns one entry of a project's access list, found by the
// range it covers (an address or a CIDR block, written any way).
func (s *Server) AccessListEntry(projectID, cidr string) (AccessListEntry, bool) {
	pfx, err := parseEntry(cidr)
	if err != nil {
		return AccessListEntry{}, false
	}
	s.expireAccessList(s.clock.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.net.entries[projectID][pfx]
	if !ok {
		return AccessListEntry{}, false
	}
	return e.AccessListEntry, true
}

// expireAccessList deletes the entries whose deleteAfterDate has passed, as
// Atlas does on its own.
func (s *Server) expireAccessList(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for pid, entries := range s.net.entries {
		for pfx, e := range entries {
			if d := e.DeleteAfterDate; !d.IsZero() && !now.Before(d) {
				delete(entries, pfx)
				s.log.Info("atlas simulator: access list entry reached deleteAfterDate and was deleted",
					"project_id", pid, "cidr", e.CIDR, "delete_after", d)
			}
		}
	}
}

// sortedEntries lists a project's entries in creation order. Called with s.mu held.
func (s *Server) sortedEntries(projectID string) []*accessEntry {
	out := make([]*accessEntry, 0, len(s.net.entries[projectID]))
	for _, e := range s.net.entries[projectID] {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

// putEntryLocked creates or replaces an entry. Called with s.mu held.
func (s *Server) putEntryLocked(projectID string, pfx netip.Prefix, e AccessListEntry, pending bool) *accessEntry {
	if s.net.entries == nil {
		s.net.entries = map[string]map[netip.Prefix]*accessEntry{}
	}
	if s.net.entries[projectID] == nil {
		s.net.entries[projectID] = map[netip.Prefix]*accessEntry{}
	}
	e.CIDR = pfx.String()
	e.Writes++
	if old, ok := s.net.entries[projectID][pfx]; ok {
		old.Comment, old.DeleteAfterDate = e.Comment, e.DeleteAfterDate
		old.Writes++
		return old
	}
	s.seq++
	ae := &accessEntry{AccessListEntry: e, seq: s.seq, prefix: pfx}
	if pending {
		ae.pendingPolls = s.applyPolls
		ae.pendingUntil = s.clock.Now().Add(s.applyDelay)
	}
	s.net.entries[projectID][pfx] = ae
	return ae
}

// parseEntry reads an address or a CIDR block (the host bits must be zero)
// as the range it covers.
func parseEntry(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("the address %s must be in valid IP address or CIDR notation", s)
		}
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("the address %s must be in valid IP address or CIDR notation", s)
	}
	if p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("the CIDR block %s has host bits set; its canonical form is %s", s, p.Masked())
	}
	return p, nil
}

// wireCIDR writes a range as the spec's patterns accept it: IPv6 with all
// eight groups (2001:db8:0:0:0:0:0:0/64), since the pattern of cidrBlock
// refuses the compressed form with a prefix length.
func wireCIDR(p netip.Prefix) string {
	if p.Addr().Is4() {
		return p.String()
	}
	return fullIPv6(p.Addr()) + "/" + fmt.Sprint(p.Bits())
}

func fullIPv6(a netip.Addr) string {
	b := a.As16()
	groups := make([]string, 8)
	for i := range groups {
		groups[i] = fmt.Sprintf("%x", uint16(b[2*i])<<8|uint16(b[2*i+1]))
	}
	return strings.Join(groups, ":")
}

// warmPatterns compiles the patterns of the access-list entry schema with
// the simulator's regexp2 fallback. kin-openapi passes Options.RegexCompiler
// when it checks requests but not responses, and caches what it compiled by
// pattern: without this, the first response holding an ipAddress (whose
// pattern has a lookahead RE2 cannot compile) would fault the validator.
func (s *Server) warmPatterns() {
	warmOnce.Do(func() {
		doc := s.spec.doc
		if doc == nil || doc.Components == nil {
			return
		}
		for _, name := range []string{"NetworkPermissionEntry", "ServiceAccountIPAccessListEntry", "UserAccessListResponse"} {
			ref := doc.Components.Schemas[name]
			if ref == nil || ref.Value == nil {
				continue
			}
			for _, prop := range ref.Value.Properties {
				if prop != nil && prop.Value != nil && prop.Value.Pattern != "" {
					_ = prop.Value.VisitJSON("", openapi3.SetSchemaRegexCompiler(compileRegex))
				}
			}
		}
	})
}

var warmOnce sync.Once

// --- wire ---

type accessEntryJSON struct {
	CIDRBlock       string `json:"cidrBlock,omitempty"`
	IPAddress       string `json:"ipAddress,omitempty"`
	Comment         string `json:"comment,omitempty"`
	DeleteAfterDate string `json:"deleteAfterDate,omitempty"`
	GroupID         string `json:"groupId"`
	Links           []link `json:"links"`
}

type accessEntryBody struct {
	CIDRBlock        *string `json:"cidrBlock"`
	IPAddress        *string `json:"ipAddress"`
	AWSSecurityGroup *string `json:"awsSecurityGroup"`
	Comment          *string `json:"comment"`
	DeleteAfterDate  *string `json:"deleteAfterDate"`
}

func (q *request) accessEntryJSON(projectID string, e *accessEntry) accessEntryJSON {
	out := accessEntryJSON{
		CIDRBlock: wireCIDR(e.prefix), Comment: e.Comment, GroupID: projectID,
		Links: []link{{Href: q.base + "/api/atlas/v2/groups/" + projectID + "/accessList/" + strings.ReplaceAll(wireCIDR(e.prefix), "/", "%2F"), Rel: "self"}},
	}
	if e.prefix.IsSingleIP() {
		out.IPAddress = e.prefix.Addr().String()
		if e.prefix.Addr().Is6() {
			out.IPAddress = fullIPv6(e.prefix.Addr())
		}
	}
	if !e.DeleteAfterDate.IsZero() {
		out.DeleteAfterDate = e.DeleteAfterDate.UTC().Format(time.RFC3339)
	}
	return out
}

func entryNotFound(projectID, value string) reply {
	return errReply(http.StatusNotFound, "ATLAS_NETWORK_PERMISSION_ENTRY_NOT_FOUND",
		fmt.Sprintf("IP Address %s not on Atlas access list for group %s.", value, projectID), value, projectID)
}

// entry finds the entry the request's entryValue names. Called with s.mu held.
func (s *Server) entry(q *request, p *project) (*accessEntry, *reply) {
	value := q.param("entryValue")
	pfx, err := parseEntry(value)
	if err != nil {
		r := errReply(http.StatusBadRequest, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "The address "+value+" must be in valid IP address or CIDR notation.", value)
		return nil, &r
	}
	e, ok := s.net.entries[p.id][pfx]
	if !ok {
		r := entryNotFound(p.id, value)
		return nil, &r
	}
	return e, nil
}

func (s *Server) listAccessListEntries(q *request) reply {
	s.warmPatterns()
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	all := []accessEntryJSON{}
	for _, e := range s.sortedEntries(p.id) {
		all = append(all, q.accessEntryJSON(p.id, e))
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

func (s *Server) getAccessListEntry(q *request) reply {
	s.warmPatterns()
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	e, fail := s.entry(q, p)
	if fail != nil {
		return *fail
	}
	return reply{status: http.StatusOK, body: q.accessEntryJSON(p.id, e)}
}

// getAccessListStatus answers PENDING while a new entry is being applied;
// each call counts as one poll.
func (s *Server) getAccessListStatus(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	e, fail := s.entry(q, p)
	if fail != nil {
		return *fail
	}
	status := "ACTIVE"
	if e.pendingPolls > 0 {
		e.pendingPolls--
		status = "PENDING"
	} else if s.clock.Now().Before(e.pendingUntil) {
		status = "PENDING"
	}
	return reply{status: http.StatusOK, body: map[string]any{"STATUS": status}}
}

func (s *Server) deleteAccessListEntry(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	e, fail := s.entry(q, p)
	if fail != nil {
		return *fail
	}
	delete(s.net.entries[p.id], e.prefix)
	return reply{status: http.StatusNoContent}
}

// createAccessListEntry adds (or replaces) the entries of the body, all or
// none, refusing a POST that overlaps another to the same project.
func (s *Server) createAccessListEntry(q *request) reply {
	s.warmPatterns()
	pid := q.param("groupId")
	s.net.mu.Lock()
	if s.net.inflight == nil {
		s.net.inflight = map[string]bool{}
	}
	if s.net.inflight[pid] {
		s.net.mu.Unlock()
		return errReply(http.StatusInternalServerError, "UNEXPECTED_ERROR",
			"Unexpected error: another request is changing the IP access list of group "+pid+"; this endpoint does not support concurrent POST requests.")
	}
	s.net.inflight[pid] = true
	latency := s.net.latency
	s.net.mu.Unlock()
	defer func() {
		s.net.mu.Lock()
		delete(s.net.inflight, pid)
		s.net.mu.Unlock()
	}()
	if latency > 0 && !s.sleep(q.r.Context(), latency) {
		return errReply(http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "The request was cut short.")
	}

	var bodies []accessEntryBody
	if err := json.Unmarshal(q.body, &bodies); err != nil {
		return errReply(http.StatusBadRequest, "INVALID_JSON", "Received JSON is malformed: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, fail := s.project(q)
	if fail != nil {
		return *fail
	}
	type put struct {
		pfx netip.Prefix
		e   AccessListEntry
	}
	var puts []put
	for _, b := range bodies {
		var value string
		switch {
		case b.AWSSecurityGroup != nil:
			return errReply(http.StatusBadRequest, "INVALID_ATTRIBUTE", "Invalid attribute awsSecurityGroup specified: security groups need VPC peering, which the simulator does not have.", "awsSecurityGroup")
		case b.IPAddress != nil && b.CIDRBlock != nil:
			return errReply(http.StatusBadRequest, "BAD_WHITELIST_ADD_REQUEST", "Should not specify both the IP address and the CIDR block.")
		case b.IPAddress != nil:
			value = *b.IPAddress
			if strings.Contains(value, "/") {
				return errReply(http.StatusBadRequest, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "The address "+value+" must be in valid IP address or CIDR notation.", value)
			}
		case b.CIDRBlock != nil:
			value = *b.CIDRBlock
			if !strings.Contains(value, "/") {
				return errReply(http.StatusBadRequest, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "The address "+value+" must be in valid IP address or CIDR notation.", value)
			}
		default:
			return errReply(http.StatusBadRequest, "MISSING_ATTRIBUTE", "The required attribute cidrBlock, ipAddress or awsSecurityGroup was not specified.")
		}
		pfx, err := parseEntry(value)
		if err != nil {
			return errReply(http.StatusBadRequest, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "The address "+value+" must be in valid IP address or CIDR notation ("+err.Error()+").", value)
		}
		e := AccessListEntry{Comment: deref(b.Comment), Created: q.now}
		if b.DeleteAfterDate != nil {
			d, err := time.Parse(time.RFC3339Nano, *b.DeleteAfterDate)
			if err != nil {
				return errReply(http.StatusBadRequest, "INVALID_ATTRIBUTE", "Invalid attribute deleteAfterDate specified: "+err.Error(), "deleteAfterDate")
			}
			if r := checkDeleteAfter(q.now, d); r != nil {
				return *r
			}
			e.DeleteAfterDate = d.UTC()
		}
		puts = append(puts, put{pfx, e})
	}
	for _, pu := range puts {
		s.putEntryLocked(p.id, pu.pfx, pu.e, true)
	}
	all := []accessEntryJSON{}
	for _, e := range s.sortedEntries(p.id) {
		all = append(all, q.accessEntryJSON(p.id, e))
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}
