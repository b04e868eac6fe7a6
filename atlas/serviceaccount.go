package atlas

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"

	"github.com/jitbot/jitbot/flows"
)

// ServiceAccounts makes the grants of kind flows.KindServiceAccount:
// temporary Atlas service accounts with project roles in one project
// (createGroupServiceAccount) or organization roles in the organization
// (createOrgServiceAccount), usable only from the address the request
// names (the account's access list). The secret's server-side expiry,
// secretExpiresAfterHours, is the backstop: Atlas fixes it when the secret
// is made, within the organization's bounds, so jitbot asks for the grant's
// duration rounded up to whole hours (at least MinSecretHours, at most the
// organization's maxServiceAccountSecretValidityInHours) and deletes the
// account at the grant's end whatever time the secret had left. An
// extension past the secret's expiry gets a new secret (flows.SecretLifetime).
//
// Atlas does not label service accounts, and their names need not be
// unique: jitbot's are named after the grant (jit-<local part>-<request
// id>) and described as "jitbot request <id> ...", and jitbot acts on an
// account only when both say it is this request's.
//
// Before each call that creates something in Atlas the grant records what
// it is about to do (flows.Journal): a crash between the record and the
// call leaves a request whose next Create or Delete finds the account by
// its name and description, or knows there is none.
type ServiceAccounts struct {
	p   *Provisioner
	cfg ServiceAccountConfig
	// orgs caches the organization of integrations of one project (getGroup).
	orgs sync.Map // integration → org id
}

// ServiceAccountConfig tunes ServiceAccounts. Zero values take the defaults.
type ServiceAccountConfig struct {
	// MinSecretHours is the shortest secretExpiresAfterHours Atlas accepts
	// (8 hours): a shorter grant still gets a secret this long, and jitbot
	// deletes the account at the grant's end.
	MinSecretHours int
	// MaxSecretHours bounds a secret where the organization's setting
	// cannot be read (8760 hours, Atlas's own bound).
	MaxSecretHours int
}

var (
	_ flows.Provisioner    = (*ServiceAccounts)(nil)
	_ flows.Reissuer       = (*ServiceAccounts)(nil)
	_ flows.SecretLifetime = (*ServiceAccounts)(nil)
	_ flows.Inventory      = (*ServiceAccounts)(nil)
)

const (
	saDescriptionPrefix = "jitbot request "
	maxSADescription    = 250
	saInOrganization    = "in the organization"
	saInProject         = "in project "
)

// NewServiceAccounts returns the provisioner of service accounts over p's
// clients.
func NewServiceAccounts(p *Provisioner, cfg ServiceAccountConfig) *ServiceAccounts {
	if cfg.MinSecretHours <= 0 {
		cfg.MinSecretHours = 8
	}
	if cfg.MaxSecretHours <= 0 {
		cfg.MaxSecretHours = 8760
	}
	return &ServiceAccounts{p: p, cfg: cfg}
}

// saGrantState is what a grant records on its request (flows.Grant.State),
// as JSON. Creating is written before the account is created; ClientID and
// the secret's id and expiry once Atlas answered.
type saGrantState struct {
	Creating      bool      `json:"creating,omitempty"`
	ClientID      string    `json:"client_id,omitempty"`
	OrgID         string    `json:"org_id,omitempty"`
	ProjectID     string    `json:"project_id,omitempty"` // empty: an organization service account
	SecretID      string    `json:"secret_id,omitempty"`
	SecretExpires time.Time `json:"secret_expires"`
}

func readSAState(s string) (saGrantState, error) {
	var st saGrantState
	if s == "" {
		return st, nil
	}
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return st, flows.WrapError(flows.EINTERNAL, err, "the recorded state of the service account grant cannot be read")
	}
	return st, nil
}

func (st saGrantState) String() string {
	b, _ := json.Marshal(st) // strings, a boolean and a time: it cannot fail
	return string(b)
}

// saPlace is where a grant's service account lives: the organization, or
// one project of it.
type saPlace struct {
	pr        *project // the client, aimed at the project for a project's account
	orgID     string
	projectID string // empty: an organization service account
}

func (pl saPlace) String() string {
	if pl.projectID == "" {
		return "the Atlas organization of " + pl.pr.Name
	}
	return "project " + pl.projectID + " of " + pl.pr.Name
}

// checkSAGrant refuses grants the adapter must never act on.
func checkSAGrant(g flows.Grant, full bool) error {
	switch {
	case g.Kind != flows.KindServiceAccount:
		return flows.Errorf(flows.EINTERNAL, "refusing a grant of kind %s: this provisioner makes service accounts", g.Kind)
	case !strings.HasPrefix(g.Principal, usernamePrefix):
		return flows.Errorf(flows.EINTERNAL, "refusing to manage service account %q: jitbot's are named %s...", g.Principal, usernamePrefix)
	case !full:
		return nil
	case g.RequestID == "" || len(g.Roles) == 0:
		return flows.Errorf(flows.EINTERNAL, "the service account grant %q names no request or no role", g.Principal)
	}
	for _, r := range g.Roles {
		if err := flows.ServiceAccount().ValidateRole(r); err != nil {
			return flows.WrapError(flows.EINTERNAL, err, "refusing to grant %s", r)
		}
	}
	if _, err := flows.ParseAddress(g.Resource.Address); err != nil {
		return flows.WrapError(flows.EINTERNAL, err, "the service account grant %q names no address it is used from", g.Principal)
	}
	return nil
}

// orgLevel reports whether a grant's account is the organization's: a
// grant of an organization-wide integration that names no project.
func orgLevel(pr *project, g flows.Grant) bool {
	return pr.OrgWide() && g.Resource.Project == "" && g.Resource.ProjectID == ""
}

// locate finds where g's account lives.
func (sa *ServiceAccounts) locate(ctx context.Context, g flows.Grant, create bool) (saPlace, error) {
	pr, err := sa.p.project(g.Integration)
	if err != nil {
		return saPlace{}, err
	}
	if orgLevel(pr, g) {
		return saPlace{pr: pr, orgID: pr.OrganizationID}, nil
	}
	if pr.OrgWide() {
		view, err := sa.p.target(ctx, g, create)
		if err != nil {
			return saPlace{}, err
		}
		return saPlace{pr: view, orgID: pr.OrganizationID, projectID: view.ProjectID}, nil
	}
	orgID, err := sa.orgOf(ctx, pr)
	if err != nil {
		return saPlace{}, err
	}
	return saPlace{pr: pr, orgID: orgID, projectID: pr.ProjectID}, nil
}

// orgOf returns the organization of an integration of one project.
func (sa *ServiceAccounts) orgOf(ctx context.Context, pr *project) (string, error) {
	if id, ok := sa.orgs.Load(pr.Name); ok {
		return id.(string), nil
	}
	var grp *admin.Group
	err := sa.p.do(ctx, pr, "getGroup", func(ctx context.Context) (*http.Response, error) {
		var resp *http.Response
		var err error
		grp, resp, err = pr.api.ProjectsApi.GetGroup(ctx, pr.ProjectID).Execute()
		return resp, err
	})
	if err != nil {
		return "", err
	}
	sa.orgs.Store(pr.Name, grp.GetOrgId())
	return grp.GetOrgId(), nil
}

// saDescription marks an account as a request's, and says where it lives,
// in the characters Atlas allows in a description.
func saDescription(g flows.Grant, pl saPlace) string {
	local, _, _ := strings.Cut(strings.ToLower(g.Requester), "@")
	where := saInOrganization
	if pl.projectID != "" {
		where = saInProject + pl.projectID
	}
	return truncate(fmt.Sprintf("%s%s for %s %s", saDescriptionPrefix, g.RequestID, saText.ReplaceAllString(local, "-"), where), maxSADescription)
}

var saText = regexp.MustCompile(`[^\p{L}\p{N}\-_.,' ]`)

// saMark reads the request and the project an account's name and
// description say it was made for; ok is false for an account that is not
// jitbot's.
func saMark(name, description string) (id flows.RequestID, projectID string, ok bool) {
	rest, found := strings.CutPrefix(description, saDescriptionPrefix)
	if !found || !strings.HasPrefix(name, usernamePrefix) {
		return "", "", false
	}
	first, _, _ := strings.Cut(rest, " ")
	if !strings.HasSuffix(name, "-"+first) {
		return "", "", false
	}
	if i := strings.LastIndex(rest, " "+saInProject); i >= 0 {
		projectID = rest[i+len(saInProject)+1:]
	}
	return flows.RequestID(first), projectID, true
}

// saForbidden names the roles a service account grant needs when Atlas
// refuses jitbot.
func saForbidden(err error, g flows.Grant) error {
	if status, _ := failure(err); status != http.StatusForbidden {
		return err
	}
	need := "Project Owner in the project (and Organization Owner to delete the account from the organization at the end)"
	if len(g.Roles) > 0 && flows.IsOrgRole(g.Roles[0]) {
		need = "Organization Owner"
	}
	return flows.WrapError(flows.EFORBIDDEN, err, "Atlas refused jitbot for integration %s: to make service accounts (%s) its credential needs %s",
		g.Integration, flows.FormatRoles(g.Roles), need)
}

// secretHours is how long to ask a secret to live: the grant's remaining
// time rounded up, plus an hour, within the organization's bounds. It
// reports the organization's maximum cut it short.
func (sa *ServiceAccounts) secretHours(ctx context.Context, pl saPlace, g flows.Grant) int {
	left := g.ExpiresAt.Sub(sa.p.clock.Now())
	hours := int((left+time.Hour-1)/time.Hour) + 1
	most := sa.cfg.MaxSecretHours
	var set *admin.OrganizationSettings
	err := sa.p.do(ctx, pl.pr, "getOrgSettings", func(ctx context.Context) (*http.Response, error) {
		var resp *http.Response
		var err error
		set, resp, err = pl.pr.api.OrganizationsApi.GetOrgSettings(ctx, pl.orgID).Execute()
		return resp, err
	})
	if err != nil {
		sa.p.log.WarnContext(ctx, "could not read the organization's longest service account secret; asking anyway", "integration", pl.pr.Name, "err", err)
	} else if m := set.GetMaxServiceAccountSecretValidityInHours(); m > 0 {
		most = m
	}
	return max(sa.cfg.MinSecretHours, min(hours, most))
}

// findOurs lists the accounts where pl is and returns the one named and
// described as g's, or nil.
func (sa *ServiceAccounts) findOurs(ctx context.Context, pl saPlace, g flows.Grant) (string, error) {
	accounts, err := sa.list(ctx, pl)
	if err != nil {
		return "", err
	}
	for _, a := range accounts {
		if id, _, ok := saMark(a.name, a.description); ok && id == g.RequestID && a.name == g.Principal {
			return a.clientID, nil
		}
	}
	return "", nil
}

type saListed struct {
	clientID, name, description string
	secrets                     []string
}

// list lists the service accounts of a project or the organization, page by page.
func (sa *ServiceAccounts) list(ctx context.Context, pl saPlace) ([]saListed, error) {
	var out []saListed
	for page := 1; page <= maxPages; page++ {
		var n int
		var total *int
		err := sa.p.do(ctx, pl.pr, "listServiceAccounts", func(ctx context.Context) (*http.Response, error) {
			if pl.projectID != "" {
				res, resp, err := pl.pr.api.ServiceAccountsApi.ListGroupServiceAccounts(ctx, pl.projectID).ItemsPerPage(usersPerPage).PageNum(page).Execute()
				for _, a := range res.GetResults() {
					out = append(out, saListed{a.GetClientId(), a.GetName(), a.GetDescription(), secretIDs(a.GetSecrets())})
				}
				n = len(res.GetResults())
				total, _ = res.GetTotalCountOk() // nil-safe: res is nil when the call failed
				return resp, err
			}
			res, resp, err := pl.pr.api.ServiceAccountsApi.ListOrgServiceAccounts(ctx, pl.orgID).ItemsPerPage(usersPerPage).PageNum(page).Execute()
			for _, a := range res.GetResults() {
				out = append(out, saListed{a.GetClientId(), a.GetName(), a.GetDescription(), secretIDs(a.GetSecrets())})
			}
			n = len(res.GetResults())
			total, _ = res.GetTotalCountOk() // nil-safe: res is nil when the call failed
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		if n < usersPerPage || (total != nil && len(out) >= *total) {
			return out, nil
		}
	}
	return nil, flows.Errorf(flows.EINTERNAL, "more than %d pages of service accounts in %s; giving up", maxPages, pl)
}

func secretIDs(secrets []admin.ServiceAccountSecret) []string {
	out := make([]string, len(secrets))
	for i, s := range secrets {
		out[i] = s.Id
	}
	return out
}

// Create implements flows.Provisioner: it records the intent, creates the
// service account with a secret that expires after the grant, and binds it
// to the grant's address. A retried or resumed Create finds the account the
// last one made (recorded, or by its name and description) and gives it a
// new secret, deleting the old: jitbot never stores secrets.
func (sa *ServiceAccounts) Create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	creds, err := sa.create(ctx, g)
	if err != nil {
		return flows.Credentials{}, fmt.Errorf("atlas: create service account %q: %w", g.Principal, saForbidden(err, g))
	}
	return creds, nil
}

func (sa *ServiceAccounts) create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	if err := checkSAGrant(g, true); err != nil {
		return flows.Credentials{}, err
	}
	st, err := readSAState(g.State)
	if err != nil {
		return flows.Credentials{}, err
	}
	pl, err := sa.locate(ctx, g, true)
	if err != nil {
		return flows.Credentials{}, err
	}
	addr, _ := flows.ParseAddress(g.Resource.Address) // checked above
	if st.ClientID == "" && st.Creating {
		// A crash may have come between the create and its record.
		if st.ClientID, err = sa.findOurs(ctx, pl, g); err != nil {
			return flows.Credentials{}, err
		}
	}
	var secret flows.Secret
	if st.ClientID == "" {
		st = saGrantState{Creating: true, OrgID: pl.orgID, ProjectID: pl.projectID}
		if err := g.Record(ctx, st.String()); err != nil {
			return flows.Credentials{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not record the grant before changing Atlas")
		}
		var s admin.ServiceAccountSecret
		if st.ClientID, s, err = sa.createAccount(ctx, pl, g); err != nil {
			return flows.Credentials{}, err
		}
		secret = flows.NewSecret(s.GetSecret())
		st.SecretID, st.SecretExpires = s.Id, s.ExpiresAt
		st.Creating = false
		if err := g.Record(ctx, st.String()); err != nil {
			// The account exists: the next attempt finds it by its name.
			return flows.Credentials{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not record the service account Atlas made")
		}
		sa.p.log.InfoContext(ctx, "atlas service account created", "integration", pl.pr.Name, "where", pl.String(), "name", g.Principal,
			"client_id", st.ClientID, "request_id", g.RequestID, "roles", flows.FormatRoles(g.Roles), "secret_expires", st.SecretExpires)
	} else {
		// Ours already: nobody holds its secret any more.
		if st, secret, err = sa.replaceSecret(ctx, pl, g, st, ""); err != nil {
			return flows.Credentials{}, err
		}
	}
	if err := sa.bind(ctx, pl, st.ClientID, addr); err != nil {
		return flows.Credentials{}, err
	}
	return sa.credentials(pl, g, st, secret), nil
}

// createAccount makes the account and returns its client id and secret.
func (sa *ServiceAccounts) createAccount(ctx context.Context, pl saPlace, g flows.Grant) (string, admin.ServiceAccountSecret, error) {
	hours := sa.secretHours(ctx, pl, g)
	name, desc := g.Principal, saDescription(g, pl)
	var clientID string
	var secrets []admin.ServiceAccountSecret
	var err error
	if pl.projectID == "" {
		err = sa.p.do(ctx, pl.pr, "createOrgServiceAccount", func(ctx context.Context) (*http.Response, error) {
			a, resp, err := pl.pr.api.ServiceAccountsApi.CreateOrgServiceAccount(ctx, pl.orgID,
				&admin.OrgServiceAccountRequest{Name: name, Description: desc, Roles: g.Roles, SecretExpiresAfterHours: hours}).Execute()
			clientID, secrets = a.GetClientId(), a.GetSecrets()
			return resp, err
		})
	} else {
		err = sa.p.do(ctx, pl.pr, "createGroupServiceAccount", func(ctx context.Context) (*http.Response, error) {
			a, resp, err := pl.pr.api.ServiceAccountsApi.CreateGroupServiceAccount(ctx, pl.projectID,
				&admin.GroupServiceAccountRequest{Name: name, Description: desc, Roles: g.Roles, SecretExpiresAfterHours: hours}).Execute()
			clientID, secrets = a.GetClientId(), a.GetSecrets()
			return resp, err
		})
	}
	if err != nil {
		return "", admin.ServiceAccountSecret{}, hoursError(err, hours, pl)
	}
	if clientID == "" || len(secrets) == 0 || secrets[0].GetSecret() == "" {
		return "", admin.ServiceAccountSecret{}, flows.Errorf(flows.EINTERNAL, "Atlas made service account %s in %s but returned no client id or secret", name, pl)
	}
	return clientID, secrets[0], nil
}

// hoursError says what Atlas refused of a secret's lifetime.
func hoursError(err error, hours int, pl saPlace) error {
	if status, _ := failure(err); status == http.StatusBadRequest {
		return flows.WrapError(flows.EINVALID, err, "Atlas refused a service account secret of %d hours in %s: check the organization's bounds on service account secrets (jitbot's min_secret_hours)", hours, pl)
	}
	return err
}

// replaceSecret gives the account a new secret and deletes the others but
// keep (the secret a reissue replaces, deleted once the new one is
// recorded, so that a crash leaves the requester's working secret).
func (sa *ServiceAccounts) replaceSecret(ctx context.Context, pl saPlace, g flows.Grant, st saGrantState, keep string) (saGrantState, flows.Secret, error) {
	existing, err := sa.secretsOf(ctx, pl, st.ClientID)
	if err != nil {
		return st, flows.Secret{}, err
	}
	for _, id := range existing {
		if id != keep {
			if err := sa.deleteSecret(ctx, pl, st.ClientID, id); err != nil {
				return st, flows.Secret{}, err
			}
		}
	}
	hours := sa.secretHours(ctx, pl, g)
	var s *admin.ServiceAccountSecret
	err = sa.p.do(ctx, pl.pr, "createServiceAccountSecret", func(ctx context.Context) (*http.Response, error) {
		var resp *http.Response
		var err error
		body := &admin.ServiceAccountSecretRequest{SecretExpiresAfterHours: hours}
		if pl.projectID == "" {
			s, resp, err = pl.pr.api.ServiceAccountsApi.CreateOrgSecret(ctx, pl.orgID, st.ClientID, body).Execute()
		} else {
			s, resp, err = pl.pr.api.ServiceAccountsApi.CreateGroupSecret(ctx, pl.projectID, st.ClientID, body).Execute()
		}
		return resp, err
	})
	if err != nil {
		return st, flows.Secret{}, hoursError(err, hours, pl)
	}
	st.Creating, st.SecretID, st.SecretExpires = false, s.Id, s.ExpiresAt
	if err := g.Record(ctx, st.String()); err != nil {
		return st, flows.Secret{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not record the new secret")
	}
	if keep != "" {
		if err := sa.deleteSecret(ctx, pl, st.ClientID, keep); err != nil {
			return st, flows.Secret{}, err
		}
	}
	sa.p.log.InfoContext(ctx, "atlas service account has a new secret", "integration", pl.pr.Name, "client_id", st.ClientID,
		"request_id", g.RequestID, "secret_expires", st.SecretExpires)
	return st, flows.NewSecret(s.GetSecret()), nil
}

// secretsOf returns the ids of an account's secrets.
func (sa *ServiceAccounts) secretsOf(ctx context.Context, pl saPlace, clientID string) ([]string, error) {
	var ids []string
	err := sa.p.do(ctx, pl.pr, "getServiceAccount", func(ctx context.Context) (*http.Response, error) {
		if pl.projectID == "" {
			a, resp, err := pl.pr.api.ServiceAccountsApi.GetOrgServiceAccount(ctx, pl.orgID, clientID).Execute()
			ids = secretIDs(a.GetSecrets())
			return resp, err
		}
		a, resp, err := pl.pr.api.ServiceAccountsApi.GetGroupServiceAccount(ctx, pl.projectID, clientID).Execute()
		ids = secretIDs(a.GetSecrets())
		return resp, err
	})
	if status, _ := failure(err); status == http.StatusNotFound {
		return nil, flows.WrapError(flows.ENOTFOUND, err, "the service account %s is no longer in %s", clientID, pl)
	}
	return ids, err
}

func (sa *ServiceAccounts) deleteSecret(ctx context.Context, pl saPlace, clientID, secretID string) error {
	err := sa.p.do(ctx, pl.pr, "deleteServiceAccountSecret", func(ctx context.Context) (*http.Response, error) {
		if pl.projectID == "" {
			return pl.pr.api.ServiceAccountsApi.DeleteOrgSecret(ctx, clientID, secretID, pl.orgID).Execute()
		}
		return pl.pr.api.ServiceAccountsApi.DeleteGroupSecret(ctx, clientID, secretID, pl.projectID).Execute()
	})
	if status, _ := failure(err); status == http.StatusNotFound {
		return nil
	}
	return err
}

// bind puts the grant's address on the account's access list (a POST of
// an entry there already changes nothing).
func (sa *ServiceAccounts) bind(ctx context.Context, pl saPlace, clientID string, addr netip.Prefix) error {
	entries := []admin.ServiceAccountIPAccessListEntry{{CidrBlock: admin.PtrString(wireCIDR(addr))}}
	return sa.p.do(ctx, pl.pr, "createServiceAccountAccessList", func(ctx context.Context) (*http.Response, error) {
		var resp *http.Response
		var err error
		if pl.projectID == "" {
			_, resp, err = pl.pr.api.ServiceAccountsApi.CreateOrgAccessList(ctx, pl.orgID, clientID, &entries).Execute()
		} else {
			_, resp, err = pl.pr.api.ServiceAccountsApi.CreateAccessList(ctx, pl.projectID, clientID, &entries).Execute()
		}
		return resp, err
	})
}

func (sa *ServiceAccounts) credentials(pl saPlace, g flows.Grant, st saGrantState, secret flows.Secret) flows.Credentials {
	where := "the Atlas organization of " + pl.pr.Name
	if pl.projectID != "" {
		where = g.Resource.String()
		if g.Resource.Project == "" {
			where = "the project of " + g.Integration
		}
	}
	c := flows.ServiceAccountCredentials(st.ClientID, secret, where, g.Resource.Address, st.SecretExpires, pl.pr.BaseURL)
	if st.SecretExpires.Before(g.ExpiresAt) {
		c.Instructions += " The organization lets a secret live until " + st.SecretExpires.UTC().Format(time.RFC3339) +
			", before this access ends: ask for new credentials (rotate) then."
	}
	return c
}

// SecretExpiresAt implements flows.SecretLifetime: the expiry of the
// grant's current secret, as recorded.
func (sa *ServiceAccounts) SecretExpiresAt(g flows.Grant) time.Time {
	st, err := readSAState(g.State)
	if err != nil {
		return time.Time{}
	}
	return st.SecretExpires
}

// Reissue implements flows.Reissuer: a new secret, expiring after the
// grant's (possibly extended) end, and the old one deleted.
func (sa *ServiceAccounts) Reissue(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	creds, err := sa.reissue(ctx, g)
	if err != nil {
		return flows.Credentials{}, fmt.Errorf("atlas: new secret for service account %q: %w", g.Principal, saForbidden(err, g))
	}
	return creds, nil
}

func (sa *ServiceAccounts) reissue(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	if err := checkSAGrant(g, true); err != nil {
		return flows.Credentials{}, err
	}
	st, err := readSAState(g.State)
	if err != nil {
		return flows.Credentials{}, err
	}
	if st.ClientID == "" {
		return flows.Credentials{}, flows.Errorf(flows.ENOTFOUND, "the grant of request %s has no service account yet", g.RequestID)
	}
	pl, err := sa.locate(ctx, g, false)
	if err != nil {
		return flows.Credentials{}, err
	}
	st, secret, err := sa.replaceSecret(ctx, pl, g, st, st.SecretID)
	if err != nil {
		return flows.Credentials{}, err
	}
	return sa.credentials(pl, g, st, secret), nil
}

// Delete implements flows.Provisioner: the account goes, with its secrets
// and access list. An organization's account is deleted outright; a
// project's loses its secrets (so it stops working whatever else Atlas
// allows), leaves the project, and is deleted from the organization when
// jitbot's credential may (Organization Owner). A grant that recorded
// nothing made nothing; one that recorded its intent only is looked for by
// name and description, as is an orphan reconcile found.
func (sa *ServiceAccounts) Delete(ctx context.Context, g flows.Grant) error {
	if err := sa.delete(ctx, g); err != nil {
		return fmt.Errorf("atlas: delete service account %q: %w", g.Principal, saForbidden(err, g))
	}
	return nil
}

func (sa *ServiceAccounts) delete(ctx context.Context, g flows.Grant) error {
	if err := checkSAGrant(g, false); err != nil {
		return err
	}
	st, err := readSAState(g.State)
	if err != nil {
		return err
	}
	if g.Journal != nil && st.ClientID == "" && !st.Creating {
		return nil // nothing was recorded, so nothing was made
	}
	pl, err := sa.locate(ctx, g, false)
	if err != nil {
		return err
	}
	if st.ClientID == "" {
		if st.ClientID, err = sa.findOurs(ctx, pl, g); err != nil || st.ClientID == "" {
			return err
		}
	}
	if pl.projectID != "" {
		ids, err := sa.secretsOf(ctx, pl, st.ClientID)
		if flows.ErrorCode(err) == flows.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		for _, id := range ids {
			if err := sa.deleteSecret(ctx, pl, st.ClientID, id); err != nil {
				return err
			}
		}
		err = sa.p.do(ctx, pl.pr, "deleteGroupServiceAccount", func(ctx context.Context) (*http.Response, error) {
			return pl.pr.api.ServiceAccountsApi.DeleteGroupServiceAccount(ctx, st.ClientID, pl.projectID).Execute()
		})
		if status, _ := failure(err); err != nil && status != http.StatusNotFound {
			return err
		}
	}
	err = sa.p.do(ctx, pl.pr, "deleteOrgServiceAccount", func(ctx context.Context) (*http.Response, error) {
		return pl.pr.api.ServiceAccountsApi.DeleteOrgServiceAccount(ctx, st.ClientID, pl.orgID).Execute()
	})
	switch status, _ := failure(err); {
	case err == nil:
	case status == http.StatusNotFound:
		sa.p.log.InfoContext(ctx, "atlas service account already gone", "integration", pl.pr.Name, "client_id", st.ClientID)
		return nil
	case status == http.StatusForbidden && pl.projectID != "":
		// It works nowhere any more: no secret, no project.
		sa.p.log.InfoContext(ctx, "atlas service account left the project without a secret; jitbot may not delete it from the organization (Organization Owner)",
			"integration", pl.pr.Name, "client_id", st.ClientID, "request_id", g.RequestID)
		return nil
	default:
		return err
	}
	sa.p.log.InfoContext(ctx, "atlas service account deleted", "integration", pl.pr.Name, "where", pl.String(), "client_id", st.ClientID, "request_id", g.RequestID)
	return nil
}

// ManagedGrants implements flows.Inventory: the service accounts named and
// described as jitbot's, where the integration holds them (its project; in
// an organization-wide one, the organization's), each with its request and
// the project the description names.
func (sa *ServiceAccounts) ManagedGrants(ctx context.Context, integration string) ([]flows.ManagedGrant, error) {
	pr, err := sa.p.project(integration)
	if err != nil {
		return nil, fmt.Errorf("atlas: list service accounts: %w", err)
	}
	pl := saPlace{pr: pr, orgID: pr.OrganizationID}
	if !pr.OrgWide() {
		pl.projectID = pr.ProjectID
	}
	accounts, err := sa.list(ctx, pl)
	if err != nil {
		return nil, fmt.Errorf("atlas: list the service accounts of %s: %w", integration, err)
	}
	var out []flows.ManagedGrant
	for _, a := range accounts {
		id, projectID, ok := saMark(a.name, a.description)
		if !ok {
			continue
		}
		where := flows.Resource{Integration: integration}
		if pr.OrgWide() {
			where.ProjectID = projectID
		}
		out = append(out, flows.ManagedGrant{Principal: a.name, RequestID: id, Where: where})
	}
	return out, nil
}
