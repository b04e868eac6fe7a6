package atlastest

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"time"
)

// Programmatic API keys: keys of an organization, with organization roles
// and, in the projects they were assigned to, project roles. Atlas's rules
// the spec states in prose:
//
//   - createGroupApiKey "creates and assigns the specified organization API
//     key to the specified project"; removeGroupApiKey only unassigns it;
//     deleteOrgApiKey, which needs Organization Owner, deletes it.
//   - The private key is returned unredacted only by the call that makes
//     the key; every other answer shows it masked.
//   - A key has no expiry.
//   - Access lists are kept on the organization's key
//     (/orgs/{orgId}/apiKeys/{apiUserId}/accessList).

// APIKey is a snapshot of one simulated programmatic API key.
type APIKey struct {
	ID, PublicKey, Desc, OrgID string
	OrgRoles                   []string
	Projects                   map[string][]string
	AccessList                 []string
}

type simAPIKey struct {
	APIKey
	seq        int64
	privateKey string
	access     []netip.Prefix
	created    time.Time
}

// APIKeys returns a snapshot of an organization's programmatic API keys
// (those it added through the API; not the simulator's own credentials).
func (s *Server) APIKeys(orgID string) []APIKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []APIKey{}
	for _, k := range s.sortedKeysLocked() {
		if k.OrgID == orgID {
			c := k.APIKey
			c.OrgRoles = slices.Clone(k.OrgRoles)
			c.Projects = map[string][]string{}
			for g, r := range k.Projects {
				c.Projects[g] = slices.Clone(r)
			}
			c.AccessList = nil
			for _, p := range k.access {
				c.AccessList = append(c.AccessList, p.String())
			}
			out = append(out, c)
		}
	}
	return out
}

// VerifyAPIKey says whether a key pair would be accepted now from address
// from: the key exists, the private key is its own, and its access list,
// when it has one, holds the address.
func (s *Server) VerifyAPIKey(publicKey, privateKey string, from netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range s.apiKeys {
		if k.PublicKey != publicKey {
			continue
		}
		if subtle.ConstantTimeCompare([]byte(k.privateKey), []byte(privateKey)) != 1 {
			return fmt.Errorf("wrong private key for %s", publicKey)
		}
		if len(k.access) > 0 && !slices.ContainsFunc(k.access, func(p netip.Prefix) bool { return p.Contains(from.Unmap()) }) {
			return fmt.Errorf("%s is not on the access list of %s", from, publicKey)
		}
		return nil
	}
	return fmt.Errorf("no API key %s", publicKey)
}

func (s *Server) sortedKeysLocked() []*simAPIKey {
	out := make([]*simAPIKey, 0, len(s.apiKeys))
	for _, k := range s.apiKeys {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

type roleAssignmentJSON struct {
	GroupID  string `json:"groupId,omitempty"`
	OrgID    string `json:"orgId,omitempty"`
	RoleName string `json:"roleName"`
}

type apiKeyJSON struct {
	Desc       string               `json:"desc"`
	ID         string               `json:"id"`
	Links      []link               `json:"links"`
	PrivateKey string               `json:"privateKey"`
	PublicKey  string               `json:"publicKey"`
	Roles      []roleAssignmentJSON `json:"roles"`
}

func (q *request) apiKeyJSON(k *simAPIKey, reveal bool) apiKeyJSON {
	out := apiKeyJSON{Desc: k.Desc, ID: k.ID, PublicKey: k.PublicKey, Roles: []roleAssignmentJSON{},
		Links:      []link{{Href: q.base + "/api/atlas/v2/orgs/" + k.OrgID + "/apiKeys/" + k.ID, Rel: "self"}},
		PrivateKey: "********-****-****-" + k.privateKey[len(k.privateKey)-12:]}
	if reveal {
		out.PrivateKey = k.privateKey
	}
	for _, r := range k.OrgRoles {
		out.Roles = append(out.Roles, roleAssignmentJSON{OrgID: k.OrgID, RoleName: r})
	}
	for _, g := range sortedKeys(k.Projects) {
		for _, r := range k.Projects[g] {
			out.Roles = append(out.Roles, roleAssignmentJSON{GroupID: g, RoleName: r})
		}
	}
	return out
}

type apiKeyAccessJSON struct {
	CIDRBlock string `json:"cidrBlock"`
	Created   string `json:"created"`
	Links     []link `json:"links"`
}

func (q *request) apiKeyAccessJSON(k *simAPIKey) []apiKeyAccessJSON {
	out := []apiKeyAccessJSON{}
	for _, p := range k.access {
		out = append(out, apiKeyAccessJSON{CIDRBlock: wireCIDR(p), Created: k.created.UTC().Format(time.RFC3339), Links: q.selfLink()})
	}
	return out
}

// apiKey finds the call's key in its organization. Called with s.mu held.
func (s *Server) apiKey(q *request, orgID string) (*simAPIKey, *reply) {
	id := q.param("apiUserId")
	k, ok := s.apiKeys[id]
	if !ok || k.OrgID != orgID {
		r := errReply(http.StatusNotFound, "API_KEY_NOT_FOUND", fmt.Sprintf("No API key with ID %s exists.", id), id)
		return nil, &r
	}
	return k, nil
}

func (s *Server) createAPIKey(q *request) reply {
	var b struct {
		Desc  *string   `json:"desc"`
		Roles *[]string `json:"roles"`
	}
	if err := json.Unmarshal(q.body, &b); err != nil {
		return errReply(http.StatusBadRequest, "INVALID_JSON", "Received JSON is malformed: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, fail := s.saScope(q)
	if fail != nil {
		return *fail
	}
	if b.Desc == nil || b.Roles == nil || len(*b.Roles) == 0 {
		return errReply(http.StatusBadRequest, "MISSING_ATTRIBUTE", "The required attributes desc and roles were not specified.")
	}
	known := orgRoles
	if sc.groupID != "" {
		known = projectRoles
	}
	for _, r := range *b.Roles {
		if !known[r] {
			return errReply(http.StatusBadRequest, "INVALID_ROLE", fmt.Sprintf("Invalid role %s for an API key here.", r), r)
		}
	}
	s.seq++
	k := &simAPIKey{seq: s.seq, created: s.clock.Now(), privateKey: strings.Join([]string{randomHex(4), randomHex(2), randomHex(2), randomHex(2), randomHex(6)}, "-"),
		APIKey: APIKey{ID: randomHex(12), PublicKey: strings.ToLower(randomHex(4)), Desc: *b.Desc, OrgID: sc.orgID, Projects: map[string][]string{}}}
	if sc.groupID != "" {
		k.OrgRoles = []string{RoleOrgMember}
		k.Projects[sc.groupID] = slices.Clone(*b.Roles)
	} else {
		k.OrgRoles = slices.Clone(*b.Roles)
	}
	if s.apiKeys == nil {
		s.apiKeys = map[string]*simAPIKey{}
	}
	s.apiKeys[k.ID] = k
	return reply{status: http.StatusOK, body: q.apiKeyJSON(k, true)}
}

func (s *Server) listAPIKeys(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, fail := s.saScope(q)
	if fail != nil {
		return *fail
	}
	all := []apiKeyJSON{}
	for _, k := range s.sortedKeysLocked() {
		if _, in := k.Projects[sc.groupID]; k.OrgID == sc.orgID && (sc.groupID == "" || in) {
			all = append(all, q.apiKeyJSON(k, false))
		}
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

// orgAPIKey is the API key an organization path names.
func (s *Server) orgAPIKey(q *request) (*simAPIKey, *reply) {
	o, fail := s.org(q)
	if fail != nil {
		return nil, fail
	}
	return s.apiKey(q, o.id)
}

func (s *Server) getAPIKey(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, fail := s.orgAPIKey(q)
	if fail != nil {
		return *fail
	}
	return reply{status: http.StatusOK, body: q.apiKeyJSON(k, false)}
}

func (s *Server) deleteAPIKey(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, fail := s.saScope(q)
	if fail != nil {
		return *fail
	}
	k, fail := s.apiKey(q, sc.orgID)
	if fail != nil {
		return *fail
	}
	if sc.groupID != "" {
		delete(k.Projects, sc.groupID) // unassigned; the key lives on
	} else {
		delete(s.apiKeys, k.ID)
	}
	return reply{status: http.StatusNoContent}
}

func (s *Server) listAPIKeyAccess(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, fail := s.orgAPIKey(q)
	if fail != nil {
		return *fail
	}
	return reply{status: http.StatusOK, body: paginate(q, q.apiKeyAccessJSON(k))}
}

func (s *Server) createAPIKeyAccess(q *request) reply {
	s.warmPatterns()
	var bodies []struct {
		CIDRBlock *string `json:"cidrBlock"`
		IPAddress *string `json:"ipAddress"`
	}
	if err := json.Unmarshal(q.body, &bodies); err != nil {
		return errReply(http.StatusBadRequest, "INVALID_JSON", "Received JSON is malformed: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, fail := s.orgAPIKey(q)
	if fail != nil {
		return *fail
	}
	for _, b := range bodies {
		value := ""
		switch {
		case b.IPAddress != nil && b.CIDRBlock == nil:
			value = *b.IPAddress
		case b.CIDRBlock != nil && b.IPAddress == nil:
			value = *b.CIDRBlock
		default:
			return errReply(http.StatusBadRequest, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "Give one of ipAddress and cidrBlock.")
		}
		p, err := parseEntry(value)
		if err != nil {
			return errReply(http.StatusBadRequest, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "The address "+value+" must be in valid IP address or CIDR notation.", value)
		}
		if !slices.Contains(k.access, p) {
			k.access = append(k.access, p)
		}
	}
	return reply{status: http.StatusOK, body: paginate(q, q.apiKeyAccessJSON(k))}
}

func (s *Server) deleteAPIKeyAccess(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, fail := s.orgAPIKey(q)
	if fail != nil {
		return *fail
	}
	value := q.param("ipAddress")
	p, err := parseEntry(value)
	if err != nil {
		return errReply(http.StatusBadRequest, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "The address "+value+" must be in valid IP address or CIDR notation.", value)
	}
	i := slices.Index(k.access, p)
	if i < 0 {
		return errReply(http.StatusNotFound, "ACCESS_LIST_ENTRY_NOT_FOUND", fmt.Sprintf("%s is not on the access list of API key %s.", value, k.ID), value)
	}
	k.access = slices.Delete(k.access, i, i+1)
	return reply{status: http.StatusNoContent}
}

// apiKeyOps are the programmatic API key operations (apikeys.go).
func apiKeyOps() []routedOp {
	const gk, ok = "/api/atlas/v2/groups/{groupId}/apiKeys", "/api/atlas/v2/orgs/{orgId}/apiKeys"
	accessManager, orgOwner := []string{"Project Access Manager"}, []string{"Organization Owner"}
	return []routedOp{
		{"listGroupApiKeys", http.MethodGet, gk, 200, v20230101, []string{readOnly}},
		{"createGroupApiKey", http.MethodPost, gk, 200, v20230101, accessManager},
		{"removeGroupApiKey", http.MethodDelete, gk + "/{apiUserId}", 204, v20230101, accessManager},
		{"listOrgApiKeys", http.MethodGet, ok, 200, v20230101, []string{orgMember}},
		{"createOrgApiKey", http.MethodPost, ok, 200, v20230101, orgOwner},
		{"getOrgApiKey", http.MethodGet, ok + "/{apiUserId}", 200, v20230101, []string{orgMember}},
		{"deleteOrgApiKey", http.MethodDelete, ok + "/{apiUserId}", 204, v20230101, orgOwner},
		{"listOrgAccessEntries", http.MethodGet, ok + "/{apiUserId}/accessList", 200, v20230101, []string{orgMember}},
		{"createOrgAccessEntry", http.MethodPost, ok + "/{apiUserId}/accessList", 200, v20230101, nil},
		{"deleteAccessEntry", http.MethodDelete, ok + "/{apiUserId}/accessList/{ipAddress}", 204, v20230101, nil},
	}
}

// AddAPIKey puts a programmatic API key in an organization as if made
// outside jitbot (by hand, by another tool, or by a jitbot that died before
// it recorded it), described desc, with roles in each project of projects,
// and returns its public key.
func (s *Server) AddAPIKey(orgID, desc string, projects map[string][]string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	k := &simAPIKey{seq: s.seq, created: s.clock.Now(), privateKey: randomHex(16),
		APIKey: APIKey{ID: randomHex(12), PublicKey: strings.ToLower(randomHex(4)), Desc: desc, OrgID: orgID,
			OrgRoles: []string{RoleOrgMember}, Projects: map[string][]string{}}}
	for g, r := range projects {
		k.Projects[g] = slices.Clone(r)
	}
	if s.apiKeys == nil {
		s.apiKeys = map[string]*simAPIKey{}
	}
	s.apiKeys[k.ID] = k
	return k.PublicKey
}
