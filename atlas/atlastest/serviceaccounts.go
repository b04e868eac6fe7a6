package atlastest

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"sort"
	"time"
)

// Service accounts: programmatic credentials of an organization, each with
// organization roles and, in the projects it was added to, project roles.
// Atlas's rules the spec states in prose, or in its descriptions of fields:
//
//   - createGroupServiceAccount makes an organization service account that
//     is a member of the organization and holds the project roles asked for
//     in that project; deleteGroupServiceAccount only takes it out of the
//     project ("the credentials will remain active until expired or
//     manually revoked"); deleteOrgServiceAccount deletes it, with its
//     secrets and access list.
//   - A secret's expiry is fixed when it is made: secretExpiresAfterHours,
//     within the organization's bounds (SetServiceAccountSecretLimits; the
//     maximum is the organization setting maxServiceAccountSecretValidityInHours,
//     8 to 8760 hours). A request outside them is refused with 400. The
//     secret's value is returned once, by the call that makes it; listings
//     show it masked. A service account holds at most two secrets.
//   - A service account's access list holds addresses and CIDR blocks; when
//     it has entries, the account works only from them.
//
// The error codes the simulator answers with are its own names for the
// failures (Atlas's are not documented); callers should branch on status.

// DefaultSecretMinHours and DefaultSecretMaxHours bound a secret's
// secretExpiresAfterHours in an organization that set nothing else.
const (
	DefaultSecretMinHours = 8
	DefaultSecretMaxHours = 8760
	maxSecretsPerAccount  = 2
)

// ServiceAccount is a snapshot of one simulated service account.
type ServiceAccount struct {
	ClientID    string
	Name        string
	Description string
	OrgID       string
	OrgRoles    []string
	// Projects maps the projects it was added to onto its roles there.
	Projects   map[string][]string
	Secrets    []ServiceAccountSecret
	AccessList []string // canonical CIDR blocks
	Created    time.Time
}

// ServiceAccountSecret is one secret of a service account.
type ServiceAccountSecret struct {
	ID        string
	Created   time.Time
	ExpiresAt time.Time
}

type saState struct {
	accounts map[string]*simServiceAccount // by client id
	limits   map[string][2]int             // org id → min, max hours
}

type simServiceAccount struct {
	ServiceAccount
	seq     int64
	secrets []*simSecret
	access  []netip.Prefix
}

type simSecret struct {
	ServiceAccountSecret
	value string
}

// SetServiceAccountSecretLimits sets an organization's bounds on new
// secrets' secretExpiresAfterHours.
func (s *Server) SetServiceAccountSecretLimits(orgID string, minHours, maxHours int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sa.limits == nil {
		s.sa.limits = map[string][2]int{}
	}
	s.sa.limits[orgID] = [2]int{minHours, maxHours}
}

func (s *Server) secretLimitsLocked(orgID string) (int, int) {
	if l, ok := s.sa.limits[orgID]; ok {
		return l[0], l[1]
	}
	return DefaultSecretMinHours, DefaultSecretMaxHours
}

// ServiceAccounts returns a snapshot of an organization's service accounts,
// oldest first.
func (s *Server) ServiceAccounts(orgID string) []ServiceAccount {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []ServiceAccount{}
	for _, a := range s.sortedAccountsLocked() {
		if a.OrgID == orgID {
			out = append(out, a.snapshot())
		}
	}
	return out
}

func (a *simServiceAccount) snapshot() ServiceAccount {
	out := a.ServiceAccount
	out.OrgRoles = slices.Clone(a.OrgRoles)
	out.Projects = map[string][]string{}
	for g, r := range a.Projects {
		out.Projects[g] = slices.Clone(r)
	}
	out.Secrets = nil
	for _, sec := range a.secrets {
		out.Secrets = append(out.Secrets, sec.ServiceAccountSecret)
	}
	out.AccessList = nil
	for _, p := range a.access {
		out.AccessList = append(out.AccessList, p.String())
	}
	return out
}

// VerifyServiceAccount says whether a client id and secret would be
// accepted now (by the simulator's clock) from address from: the account
// exists, the secret is one of its own and has not expired, and its access
// list, when it has one, holds the address. It is how tests prove that the
// credentials jitbot handed out work, and stop working.
func (s *Server) VerifyServiceAccount(clientID, secret string, from netip.Addr) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.sa.accounts[clientID]
	if !ok {
		return fmt.Errorf("no service account %s", clientID)
	}
	now := s.clock.Now()
	valid := false
	for _, sec := range a.secrets {
		if subtle.ConstantTimeCompare([]byte(sec.value), []byte(secret)) == 1 {
			if !now.Before(sec.ExpiresAt) {
				return fmt.Errorf("the secret of %s expired at %s", clientID, sec.ExpiresAt.Format(time.RFC3339))
			}
			valid = true
		}
	}
	if !valid {
		return fmt.Errorf("wrong secret for %s", clientID)
	}
	if len(a.access) > 0 && !slices.ContainsFunc(a.access, func(p netip.Prefix) bool { return p.Contains(from.Unmap()) }) {
		return fmt.Errorf("%s is not on the access list of %s", from, clientID)
	}
	return nil
}

func (s *Server) sortedAccountsLocked() []*simServiceAccount {
	out := make([]*simServiceAccount, 0, len(s.sa.accounts))
	for _, a := range s.sa.accounts {
		out = append(out, a)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].seq < out[j].seq })
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand does not fail
	return hex.EncodeToString(b)
}

// --- wire ---

type saSecretJSON struct {
	CreatedAt         string `json:"createdAt"`
	ExpiresAt         string `json:"expiresAt"`
	ID                string `json:"id"`
	MaskedSecretValue string `json:"maskedSecretValue,omitempty"`
	Secret            string `json:"secret,omitempty"`
}

type saJSON struct {
	ClientID    string         `json:"clientId"`
	CreatedAt   string         `json:"createdAt"`
	Description string         `json:"description"`
	Name        string         `json:"name"`
	Roles       []string       `json:"roles"`
	Secrets     []saSecretJSON `json:"secrets"`
}

type saBody struct {
	Description             *string   `json:"description"`
	Name                    *string   `json:"name"`
	Roles                   *[]string `json:"roles"`
	SecretExpiresAfterHours *int      `json:"secretExpiresAfterHours"`
}

type saAccessJSON struct {
	CIDRBlock string `json:"cidrBlock"`
	CreatedAt string `json:"createdAt,omitempty"`
	IPAddress string `json:"ipAddress,omitempty"`
}

func secretJSON(sec *simSecret, reveal bool) saSecretJSON {
	out := saSecretJSON{CreatedAt: sec.Created.UTC().Format(time.RFC3339), ExpiresAt: sec.ExpiresAt.UTC().Format(time.RFC3339), ID: sec.ID}
	if reveal {
		out.Secret = sec.value
	} else {
		out.MaskedSecretValue = "mdb_sa_sk_..." + sec.value[len(sec.value)-4:]
	}
	return out
}

// accountJSON shows an account as seen from a project (groupID) or the
// organization (""): the roles there, its secrets masked but the one just
// made (reveal).
func accountJSON(a *simServiceAccount, groupID string, reveal *simSecret) saJSON {
	roles := a.OrgRoles
	if groupID != "" {
		roles = a.Projects[groupID]
	}
	out := saJSON{ClientID: a.ClientID, CreatedAt: a.Created.UTC().Format(time.RFC3339), Description: a.Description, Name: a.Name,
		Roles: append([]string{}, roles...), Secrets: []saSecretJSON{}}
	for _, sec := range a.secrets {
		out.Secrets = append(out.Secrets, secretJSON(sec, sec == reveal))
	}
	return out
}

func accessJSON(a *simServiceAccount, created time.Time) []saAccessJSON {
	out := []saAccessJSON{}
	for _, p := range a.access {
		e := saAccessJSON{CIDRBlock: wireCIDR(p), CreatedAt: created.UTC().Format(time.RFC3339)}
		out = append(out, e)
	}
	return out
}

func saNotFound(clientID string) reply {
	return errReply(http.StatusNotFound, "SERVICE_ACCOUNT_NOT_FOUND", fmt.Sprintf("No service account with client id %s exists.", clientID), clientID)
}

// --- handlers ---

// saScope is where a call is made: a project (groupID set) or an
// organization.
type saScope struct {
	orgID, groupID string
}

// scope reads the call's project or organization. Called with s.mu held.
func (s *Server) saScope(q *request) (saScope, *reply) {
	if q.param("groupId") != "" {
		p, fail := s.project(q)
		if fail != nil {
			return saScope{}, fail
		}
		return saScope{orgID: p.orgID, groupID: p.id}, nil
	}
	o, fail := s.org(q)
	if fail != nil {
		return saScope{}, fail
	}
	return saScope{orgID: o.id}, nil
}

// account finds the call's service account where the call is made. Called
// with s.mu held.
// scopedAccount is the service account a path names, in the organization
// or project the path names.
func (s *Server) scopedAccount(q *request) (saScope, *simServiceAccount, *reply) {
	sc, fail := s.saScope(q)
	if fail != nil {
		return sc, nil, fail
	}
	a, fail := s.account(q, sc)
	return sc, a, fail
}

func (s *Server) account(q *request, sc saScope) (*simServiceAccount, *reply) {
	id := q.param("clientId")
	a, ok := s.sa.accounts[id]
	if !ok || a.OrgID != sc.orgID {
		r := saNotFound(id)
		return nil, &r
	}
	if _, in := a.Projects[sc.groupID]; sc.groupID != "" && !in {
		r := errReply(http.StatusNotFound, "SERVICE_ACCOUNT_NOT_IN_GROUP", fmt.Sprintf("Service account %s is not in group %s.", id, sc.groupID), id, sc.groupID)
		return nil, &r
	}
	return a, nil
}

func (s *Server) listServiceAccounts(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, fail := s.saScope(q)
	if fail != nil {
		return *fail
	}
	all := []saJSON{}
	for _, a := range s.sortedAccountsLocked() {
		if _, in := a.Projects[sc.groupID]; a.OrgID == sc.orgID && (sc.groupID == "" || in) {
			all = append(all, accountJSON(a, sc.groupID, nil))
		}
	}
	return reply{status: http.StatusOK, body: paginate(q, all)}
}

func (s *Server) getServiceAccount(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, a, fail := s.scopedAccount(q)
	if fail != nil {
		return *fail
	}
	return reply{status: http.StatusOK, body: accountJSON(a, sc.groupID, nil)}
}

// checkHours refuses an expiry outside the organization's bounds. Called
// with s.mu held.
func (s *Server) checkHours(orgID string, hours *int) *reply {
	lo, hi := s.secretLimitsLocked(orgID)
	if hours == nil {
		r := errReply(http.StatusBadRequest, "MISSING_ATTRIBUTE", "The required attribute secretExpiresAfterHours was not specified.", "secretExpiresAfterHours")
		return &r
	}
	if *hours < lo || *hours > hi {
		r := errReply(http.StatusBadRequest, "INVALID_SERVICE_ACCOUNT_SECRET_EXPIRATION",
			fmt.Sprintf("secretExpiresAfterHours must be between %d and %d hours in organization %s; got %d.", lo, hi, orgID, *hours), lo, hi)
		return &r
	}
	return nil
}

func (s *Server) newSecretLocked(a *simServiceAccount, hours int) *simSecret {
	now := s.clock.Now().UTC().Truncate(time.Second)
	sec := &simSecret{ServiceAccountSecret: ServiceAccountSecret{ID: randomHex(12), Created: now, ExpiresAt: now.Add(time.Duration(hours) * time.Hour)},
		value: "mdb_sa_sk_" + randomHex(20)}
	a.secrets = append(a.secrets, sec)
	return sec
}

func (s *Server) createServiceAccount(q *request) reply {
	var b saBody
	if err := json.Unmarshal(q.body, &b); err != nil {
		return errReply(http.StatusBadRequest, "INVALID_JSON", "Received JSON is malformed: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, fail := s.saScope(q)
	if fail != nil {
		return *fail
	}
	if b.Name == nil || b.Roles == nil || len(*b.Roles) == 0 {
		return errReply(http.StatusBadRequest, "MISSING_ATTRIBUTE", "The required attributes name and roles were not specified.")
	}
	known := orgRoles
	if sc.groupID != "" {
		known = projectRoles
	}
	for _, r := range *b.Roles {
		if !known[r] {
			return errReply(http.StatusBadRequest, "INVALID_ROLE", fmt.Sprintf("Invalid role %s for a service account here.", r), r)
		}
	}
	if fail := s.checkHours(sc.orgID, b.SecretExpiresAfterHours); fail != nil {
		return *fail
	}
	s.seq++
	a := &simServiceAccount{seq: s.seq, ServiceAccount: ServiceAccount{
		ClientID: "mdb_sa_id_" + randomHex(12), Name: *b.Name, OrgID: sc.orgID, Projects: map[string][]string{},
		Created: s.clock.Now().UTC().Truncate(time.Second),
	}}
	if b.Description != nil {
		a.Description = *b.Description
	}
	if sc.groupID != "" {
		a.OrgRoles = []string{RoleOrgMember}
		a.Projects[sc.groupID] = slices.Clone(*b.Roles)
	} else {
		a.OrgRoles = slices.Clone(*b.Roles)
	}
	sec := s.newSecretLocked(a, *b.SecretExpiresAfterHours)
	if s.sa.accounts == nil {
		s.sa.accounts = map[string]*simServiceAccount{}
	}
	s.sa.accounts[a.ClientID] = a
	return reply{status: http.StatusCreated, body: accountJSON(a, sc.groupID, sec)}
}

func (s *Server) deleteServiceAccount(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, a, fail := s.scopedAccount(q)
	if fail != nil {
		return *fail
	}
	if sc.groupID != "" {
		delete(a.Projects, sc.groupID) // out of the project; still the organization's
	} else {
		delete(s.sa.accounts, a.ClientID)
	}
	return reply{status: http.StatusNoContent}
}

func (s *Server) createServiceAccountSecret(q *request) reply {
	var b struct {
		SecretExpiresAfterHours *int `json:"secretExpiresAfterHours"`
	}
	if err := json.Unmarshal(q.body, &b); err != nil {
		return errReply(http.StatusBadRequest, "INVALID_JSON", "Received JSON is malformed: "+err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, a, fail := s.scopedAccount(q)
	if fail != nil {
		return *fail
	}
	if fail := s.checkHours(sc.orgID, b.SecretExpiresAfterHours); fail != nil {
		return *fail
	}
	if len(a.secrets) >= maxSecretsPerAccount {
		return errReply(http.StatusBadRequest, "SERVICE_ACCOUNT_SECRET_LIMIT_EXCEEDED",
			fmt.Sprintf("Service account %s has %d secrets, the most it may have: delete one first.", a.ClientID, maxSecretsPerAccount))
	}
	sec := s.newSecretLocked(a, *b.SecretExpiresAfterHours)
	return reply{status: http.StatusCreated, body: secretJSON(sec, true)}
}

func (s *Server) deleteServiceAccountSecret(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, a, fail := s.scopedAccount(q)
	if fail != nil {
		return *fail
	}
	id := q.param("secretId")
	i := slices.IndexFunc(a.secrets, func(sec *simSecret) bool { return sec.ID == id })
	if i < 0 {
		return errReply(http.StatusNotFound, "SERVICE_ACCOUNT_SECRET_NOT_FOUND", fmt.Sprintf("No secret %s for service account %s.", id, a.ClientID), id)
	}
	a.secrets = slices.Delete(a.secrets, i, i+1)
	return reply{status: http.StatusNoContent}
}

func (s *Server) listServiceAccountAccess(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, a, fail := s.scopedAccount(q)
	if fail != nil {
		return *fail
	}
	return reply{status: http.StatusOK, body: paginate(q, accessJSON(a, a.Created))}
}

func (s *Server) createServiceAccountAccess(q *request) reply {
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
	_, a, fail := s.scopedAccount(q)
	if fail != nil {
		return *fail
	}
	var add []netip.Prefix
	for _, b := range bodies {
		var value string
		switch {
		case b.IPAddress != nil && b.CIDRBlock != nil:
			return errReply(http.StatusBadRequest, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "Should not specify both the IP address and the CIDR block.")
		case b.IPAddress != nil:
			value = *b.IPAddress
		case b.CIDRBlock != nil:
			value = *b.CIDRBlock
		default:
			return errReply(http.StatusBadRequest, "MISSING_ATTRIBUTE", "The required attribute cidrBlock or ipAddress was not specified.")
		}
		p, err := parseEntry(value)
		if err != nil {
			return errReply(http.StatusBadRequest, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "The address "+value+" must be in valid IP address or CIDR notation.", value)
		}
		add = append(add, p)
	}
	for _, p := range add {
		if !slices.Contains(a.access, p) {
			a.access = append(a.access, p)
		}
	}
	return reply{status: http.StatusOK, body: paginate(q, accessJSON(a, a.Created))}
}

func (s *Server) deleteServiceAccountAccess(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, a, fail := s.scopedAccount(q)
	if fail != nil {
		return *fail
	}
	value := q.param("ipAddress")
	p, err := parseEntry(value)
	if err != nil {
		return errReply(http.StatusBadRequest, "INVALID_IP_ADDRESS_OR_CIDR_NOTATION", "The address "+value+" must be in valid IP address or CIDR notation.", value)
	}
	i := slices.Index(a.access, p)
	if i < 0 {
		return errReply(http.StatusNotFound, "ACCESS_LIST_ENTRY_NOT_FOUND", fmt.Sprintf("%s is not on the access list of service account %s.", value, a.ClientID), value)
	}
	a.access = slices.Delete(a.access, i, i+1)
	return reply{status: http.StatusNoContent}
}

// getOrgSettings answers the settings service accounts depend on: the
// longest a new secret may live.
func (s *Server) getOrgSettings(q *request) reply {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, fail := s.org(q)
	if fail != nil {
		return *fail
	}
	_, hi := s.secretLimitsLocked(o.id)
	return reply{status: http.StatusOK, body: map[string]any{
		"apiAccessListRequired": false, "multiFactorAuthRequired": false, "restrictEmployeeAccess": false,
		"maxServiceAccountSecretValidityInHours": hi,
	}}
}

// AddServiceAccount puts a service account in an organization as if made
// outside jitbot (by hand, or by another tool), with project roles in
// Projects, and returns its client id. It has one secret, valid for hours.
func (s *Server) AddServiceAccount(a ServiceAccount, hours int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	sa := &simServiceAccount{seq: s.seq, ServiceAccount: ServiceAccount{
		ClientID: "mdb_sa_id_" + randomHex(12), Name: a.Name, Description: a.Description, OrgID: a.OrgID,
		OrgRoles: append([]string{RoleOrgMember}, a.OrgRoles...), Projects: map[string][]string{}, Created: s.clock.Now().UTC(),
	}}
	for g, r := range a.Projects {
		sa.Projects[g] = slices.Clone(r)
	}
	s.newSecretLocked(sa, hours)
	if s.sa.accounts == nil {
		s.sa.accounts = map[string]*simServiceAccount{}
	}
	s.sa.accounts[sa.ClientID] = sa
	return sa.ClientID
}
