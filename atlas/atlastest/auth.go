package atlastest

import (
	"crypto/hmac"
	"crypto/md5" //nolint:gosec // HTTP Digest as Atlas speaks it is MD5-based.
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// digestRealm is the realm real Atlas announces.
const digestRealm = "MMS Public API"

type principal struct {
	name   string
	kind   string // "digest" or "oauth"
	secret string
	roles  map[string]bool // in every project and organization
	// projectRoles are roles in one project each.
	projectRoles map[string]map[string]bool
}

type token struct {
	p       *principal
	expires time.Time // real time, see Options.TokenTTL
}

func (s *Server) addCredentials(opts Options) error {
	roles := opts.Roles
	if roles == nil {
		roles = defaultRoles()
	}
	keys := append([]Credential(nil), opts.APIKeys...)
	switch {
	case opts.PublicKey != "":
		keys = append(keys, Credential{ID: opts.PublicKey, Secret: opts.PrivateKey, Roles: roles})
	case len(opts.APIKeys) == 0:
		keys = append(keys, Credential{ID: DefaultPublicKey, Secret: DefaultPrivateKey, Roles: roles})
	}
	accounts := append([]Credential(nil), opts.ServiceAccounts...)
	switch {
	case opts.ClientID != "":
		accounts = append(accounts, Credential{ID: opts.ClientID, Secret: opts.ClientSecret, Roles: roles})
	case len(opts.ServiceAccounts) == 0:
		accounts = append(accounts, Credential{ID: DefaultClientID, Secret: DefaultClientSecret, Roles: roles})
	}
	add := func(kind string, c Credential) error {
		if c.ID == "" || c.Secret == "" {
			return fmt.Errorf("atlastest: %s credential %q: id and secret are required", kind, c.ID)
		}
		key := kind + ":" + c.ID
		if _, dup := s.creds[key]; dup {
			return fmt.Errorf("atlastest: %s credential %q given twice", kind, c.ID)
		}
		p := &principal{name: c.ID, kind: kind, secret: c.Secret, roles: map[string]bool{}, projectRoles: map[string]map[string]bool{}}
		for _, r := range c.Roles {
			p.roles[r] = true
		}
		for g, roles := range c.ProjectRoles {
			p.projectRoles[g] = map[string]bool{}
			for _, r := range roles {
				p.projectRoles[g][r] = true
			}
		}
		s.creds[key] = p
		return nil
	}
	for _, c := range keys {
		if err := add("digest", c); err != nil {
			return err
		}
	}
	for _, c := range accounts {
		if err := add("oauth", c); err != nil {
			return err
		}
	}
	return nil
}

// allowed checks the operation's x-rolesRequirements (UI role names) against the principal's
// API role names, in the project the call is about (groupID) or, for an organization's
// operation, in the organization. Organization Owner may do anything; Project Owner anything
// in its project; every project role includes Project Read Only, which Organization Read Only
// gives in every project; every organization role includes Organization Member.
func (p *principal) allowed(required []string, groupID string) bool {
	if len(required) == 0 || p.roles[RoleOrgOwner] {
		return true
	}
	roles := p.rolesIn(groupID)
	if groupID != "" && roles[RoleProjectOwner] {
		return true
	}
	for _, r := range required {
		switch r {
		case "Project Read Only":
			if roles[RoleOrgReadOnly] {
				return true
			}
			for have := range roles {
				if strings.HasPrefix(have, "GROUP_") {
					return true
				}
			}
		case "Organization Member":
			for have := range roles {
				if strings.HasPrefix(have, "ORG_") {
					return true
				}
			}
		}
		if roles[apiRoleName(r)] {
			return true
		}
	}
	return false
}

// rolesIn returns the principal's roles in a project ("" for none in particular).
func (p *principal) rolesIn(groupID string) map[string]bool {
	extra := p.projectRoles[groupID]
	if len(extra) == 0 {
		return p.roles
	}
	out := make(map[string]bool, len(p.roles)+len(extra))
	for r := range p.roles {
		out[r] = true
	}
	for r := range extra {
		out[r] = true
	}
	return out
}

// seesProject reports whether getOrgGroups shows the project to the principal: every project
// for an organization owner or read-only member, otherwise those it holds a role in.
func (p *principal) seesProject(groupID string) bool {
	if p.roles[RoleOrgOwner] || p.roles[RoleOrgReadOnly] {
		return true
	}
	for r := range p.rolesIn(groupID) {
		if strings.HasPrefix(r, "GROUP_") {
			return true
		}
	}
	return false
}

// apiRoleName turns "Project Database Access Admin" into "GROUP_DATABASE_ACCESS_ADMIN".
func apiRoleName(ui string) string {
	switch {
	case strings.HasPrefix(ui, "Project "):
		ui = "GROUP " + strings.TrimPrefix(ui, "Project ")
	case strings.HasPrefix(ui, "Organization "):
		ui = "ORG " + strings.TrimPrefix(ui, "Organization ")
	}
	return strings.ToUpper(strings.ReplaceAll(ui, " ", "_"))
}

// authenticate identifies the caller. With no credentials at all it asks for a Digest
// challenge, as Atlas does.
func (s *Server) authenticate(r *http.Request) (p *principal, challenge bool, err error) {
	h := r.Header.Get("Authorization")
	switch {
	case h == "":
		return nil, true, nil
	case strings.HasPrefix(h, "Bearer "):
		tok := strings.TrimSpace(strings.TrimPrefix(h, "Bearer "))
		s.mu.Lock()
		t, ok := s.tokens[tok]
		s.mu.Unlock()
		if !ok {
			return nil, false, errors.New("invalid or revoked access token")
		}
		if !time.Now().Before(t.expires) {
			return nil, false, errors.New("expired access token")
		}
		return t.p, false, nil
	case strings.HasPrefix(h, "Digest "):
		p, err := s.verifyDigest(r, strings.TrimPrefix(h, "Digest "))
		return p, false, err
	default:
		return nil, false, errors.New("unsupported authorization scheme")
	}
}

// digestChallenge is formatted exactly as Atlas sends it: the SDK's digest client splits on
// ", " and rejects unknown keys.
func (s *Server) digestChallenge() string {
	return fmt.Sprintf(`Digest realm="%s", domain="", nonce="%s", algorithm=MD5, qop="auth", stale=false`,
		digestRealm, s.newNonce())
}

// newNonce returns a self-authenticating nonce (issue time + HMAC), so no nonce table grows.
func (s *Server) newNonce() string {
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(time.Now().UnixNano()))
	return hex.EncodeToString(ts[:]) + s.nonceMAC(ts[:])
}

func (s *Server) nonceMAC(ts []byte) string {
	m := hmac.New(sha256.New, s.nonceKey)
	m.Write(ts)
	return hex.EncodeToString(m.Sum(nil)[:16])
}

func (s *Server) validNonce(n string) bool {
	if len(n) != 16+32 {
		return false
	}
	ts, err := hex.DecodeString(n[:16])
	if err != nil {
		return false
	}
	return hmac.Equal([]byte(n[16:]), []byte(s.nonceMAC(ts)))
}

func (s *Server) verifyDigest(r *http.Request, header string) (*principal, error) {
	f := parseDigestFields(header)
	if f["realm"] != digestRealm {
		return nil, errors.New("digest: wrong realm")
	}
	if !s.validNonce(f["nonce"]) {
		return nil, errors.New("digest: unknown nonce")
	}
	if alg := f["algorithm"]; alg != "" && !strings.EqualFold(alg, "MD5") {
		return nil, fmt.Errorf("digest: unsupported algorithm %q", alg)
	}
	if f["qop"] != "auth" {
		return nil, errors.New(`digest: qop must be "auth"`)
	}
	if f["uri"] != r.RequestURI {
		return nil, fmt.Errorf("digest: uri %q does not match the request %q", f["uri"], r.RequestURI)
	}
	s.mu.Lock()
	p, ok := s.creds["digest:"+f["username"]]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("digest: unknown API key")
	}
	ha1 := md5hex(f["username"] + ":" + digestRealm + ":" + p.secret)
	ha2 := md5hex(r.Method + ":" + f["uri"])
	want := md5hex(strings.Join([]string{ha1, f["nonce"], f["nc"], f["cnonce"], f["qop"], ha2}, ":"))
	if subtle.ConstantTimeCompare([]byte(want), []byte(f["response"])) != 1 {
		return nil, errors.New("digest: wrong response (bad private key?)")
	}
	return p, nil
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s)) //nolint:gosec // Digest auth.
	return hex.EncodeToString(sum[:])
}

// parseDigestFields splits `k="v", k2=v2` honouring quotes, since a quoted uri may hold commas.
func parseDigestFields(s string) map[string]string {
	out := map[string]string{}
	for {
		s = strings.TrimLeft(s, " ,\t")
		if s == "" {
			return out
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 {
			return out
		}
		key := strings.ToLower(strings.TrimSpace(s[:eq]))
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(s); i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
					b.WriteByte(s[i])
					continue
				}
				if s[i] == '"' {
					break
				}
				b.WriteByte(s[i])
			}
			val = b.String()
			if i < len(s) {
				i++
			}
			s = s[i:]
		} else {
			end := strings.IndexByte(s, ',')
			if end < 0 {
				end = len(s)
			}
			val = strings.TrimSpace(s[:end])
			s = s[end:]
		}
		out[key] = val
	}
}

// clientCredentials reads a service account's id and secret from HTTP Basic auth (the SDK's
// way, with form-encoded values) or from the form.
func clientCredentials(r *http.Request, form url.Values) (id, secret string) {
	if u, p, ok := r.BasicAuth(); ok {
		if v, err := url.QueryUnescape(u); err == nil {
			u = v
		}
		if v, err := url.QueryUnescape(p); err == nil {
			p = v
		}
		return u, p
	}
	return form.Get("client_id"), form.Get("client_secret")
}

func (s *Server) serviceAccount(r *http.Request, form url.Values) (*principal, error) {
	id, secret := clientCredentials(r, form)
	s.mu.Lock()
	p, ok := s.creds["oauth:"+id]
	s.mu.Unlock()
	if !ok || subtle.ConstantTimeCompare([]byte(p.secret), []byte(secret)) != 1 {
		return nil, errors.New("invalid client credentials")
	}
	return p, nil
}

// serveToken is the OAuth 2.0 client-credentials token endpoint.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, body []byte, call *Call) {
	form, ok := s.formFromBody(w, r, body, call)
	if !ok {
		return
	}
	if gt := form.Get("grant_type"); gt != "client_credentials" {
		call.ErrorCode = "UNSUPPORTED_GRANT_TYPE"
		call.Status = s.writeJSON(w, errReply(http.StatusBadRequest, "UNSUPPORTED_GRANT_TYPE",
			fmt.Sprintf("grant_type %q is not supported; use client_credentials", gt)))
		return
	}
	p, err := s.serviceAccount(r, form)
	if err != nil {
		call.ErrorCode = "UNAUTHORIZED"
		call.Status = s.writeJSON(w, errReply(http.StatusUnauthorized, "UNAUTHORIZED", "Invalid service account client ID or secret."))
		return
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		call.Status = s.writeJSON(w, errReply(http.StatusInternalServerError, "UNEXPECTED_ERROR", "token generation failed"))
		return
	}
	tok := hex.EncodeToString(raw[:])
	s.mu.Lock()
	s.tokens[tok] = token{p: p, expires: time.Now().Add(s.tokenTTL)}
	s.tokensIssued++
	s.mu.Unlock()
	call.Principal = p.name
	data, _ := json.Marshal(map[string]any{
		"access_token": tok,
		"token_type":   "Bearer",
		"expires_in":   int(s.tokenTTL / time.Second),
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
	call.Status = http.StatusOK
}

// serveRevoke is the OAuth 2.0 revocation endpoint (RFC 7009: unknown tokens are not errors).
func (s *Server) serveRevoke(w http.ResponseWriter, r *http.Request, body []byte, call *Call) {
	form, ok := s.formFromBody(w, r, body, call)
	if !ok {
		return
	}
	p, err := s.serviceAccount(r, form)
	if err != nil {
		call.ErrorCode = "UNAUTHORIZED"
		call.Status = s.writeJSON(w, errReply(http.StatusUnauthorized, "UNAUTHORIZED", "Invalid service account client ID or secret."))
		return
	}
	call.Principal = p.name
	s.mu.Lock()
	if t, ok := s.tokens[form.Get("token")]; ok && t.p == p {
		delete(s.tokens, form.Get("token"))
		s.tokensRevoked++
	}
	s.mu.Unlock()
	w.WriteHeader(http.StatusOK)
	call.Status = http.StatusOK
}

func (s *Server) formFromBody(w http.ResponseWriter, r *http.Request, body []byte, call *Call) (url.Values, bool) {
	if r.Method != http.MethodPost {
		call.ErrorCode = "METHOD_NOT_ALLOWED"
		call.Status = s.writeJSON(w, errReply(http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", r.URL.Path+" takes POST"))
		return nil, false
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		call.ErrorCode = "INVALID_REQUEST"
		call.Status = s.writeJSON(w, errReply(http.StatusBadRequest, "INVALID_REQUEST", "cannot parse form: "+err.Error()))
		return nil, false
	}
	return form, true
}

// TokensIssued counts the access tokens the token endpoint has issued.
func (s *Server) TokensIssued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensIssued
}

// TokensRevoked counts the access tokens revoked through /api/oauth/revoke.
func (s *Server) TokensRevoked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokensRevoked
}

// ExpireTokens invalidates every issued access token, as if an hour had passed, so tests can
// check that a client recovers.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.tokens)
}
