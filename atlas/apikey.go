package atlas

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"

	"github.com/jitbot/jitbot/flows"
)

// APIKeys makes the grants of kind flows.KindAPIKey: temporary programmatic
// API keys with project roles in one project (createGroupApiKey) or
// organization roles (createOrgApiKey), usable only from the address the
// request names (the key's access list, kept on the organization's key),
// deleted at the grant's end (deleteOrgApiKey). Every call goes through the
// integration's Organization Owner credential (Integration.OrgOwner):
// deleting a key takes one, and jitbot's own credential should not hold
// it. Atlas gives keys no expiry: there is no backstop, which is why flows
// of API keys must say they accept that.
//
// Atlas shows a private key once, when the key is made: a reissue (or a
// resumed create) deletes the key and makes another. Keys have no name:
// jitbot's description starts with the grant's principal and names the
// request, and jitbot acts only on keys that carry both. Before each call
// that makes or removes a key the grant records what it is about to do.
type APIKeys struct {
	p  *Provisioner
	sa *ServiceAccounts // where a grant's key is held (locate), shared logic
}

var (
	_ flows.Provisioner = (*APIKeys)(nil)
	_ flows.Reissuer    = (*APIKeys)(nil)
	_ flows.Inventory   = (*APIKeys)(nil)
)

// NewAPIKeys returns the provisioner of programmatic API keys over p's
// clients.
func NewAPIKeys(p *Provisioner) *APIKeys {
	return &APIKeys{p: p, sa: NewServiceAccounts(p, ServiceAccountConfig{})}
}

// keyState is what a grant records on its request, as JSON. Creating is
// written before a key is made, with KeyID the key the grant holds until
// the new one is made, if any; Replacing is that key once the new one is
// recorded (KeyID), until it is deleted (make).
type keyState struct {
	Creating  bool   `json:"creating,omitempty"`
	KeyID     string `json:"key_id,omitempty"`
	Replacing string `json:"replacing,omitempty"`
}

func readKeyState(s string) (keyState, error) {
	var st keyState
	if s == "" {
		return st, nil
	}
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		return st, flows.WrapError(flows.EINTERNAL, err, "the recorded state of the API key grant cannot be read")
	}
	return st, nil
}

func (st keyState) String() string {
	b, _ := json.Marshal(st)
	return string(b)
}

func checkKeyGrant(g flows.Grant, full bool) error {
	switch {
	case g.Kind != flows.KindAPIKey:
		return flows.Errorf(flows.EINTERNAL, "refusing a grant of kind %s: this provisioner makes API keys", g.Kind)
	case !strings.HasPrefix(g.Principal, usernamePrefix):
		return flows.Errorf(flows.EINTERNAL, "refusing to manage API key %q: jitbot's are described %s...", g.Principal, usernamePrefix)
	case !full:
		return nil
	case g.RequestID == "" || len(g.Roles) == 0:
		return flows.Errorf(flows.EINTERNAL, "the API key grant %q names no request or no role", g.Principal)
	}
	for _, r := range g.Roles {
		if err := flows.APIKey().ValidateRole(r); err != nil {
			return flows.WrapError(flows.EINTERNAL, err, "refusing to grant %s", r)
		}
	}
	if _, err := flows.ParseAddress(g.Resource.Address); err != nil {
		return flows.WrapError(flows.EINTERNAL, err, "the API key grant %q names no address it is used from", g.Principal)
	}
	return nil
}

// keyDescription marks a key as a grant's: its principal first, then the
// request.
func keyDescription(g flows.Grant, pl saPlace) string {
	where := saInOrganization
	if pl.projectID != "" {
		where = saInProject + pl.projectID
	}
	return truncate(fmt.Sprintf("%s %s%s %s", g.Principal, saDescriptionPrefix, g.RequestID, where), maxSADescription)
}

// keyMark reads the principal, request and project a key's description
// names; ok is false for a key that is not jitbot's.
func keyMark(desc string) (principal string, id flows.RequestID, projectID string, ok bool) {
	principal, rest, _ := strings.Cut(desc, " ")
	id, projectID, ok = saMark(principal, rest)
	return principal, id, projectID, ok
}

// owner returns the place with the Organization Owner's client, refusing
// an integration without one.
func (a *APIKeys) owner(pl saPlace) (saPlace, *admin.APIClient, error) {
	root, err := a.p.project(pl.pr.Name)
	if err != nil {
		return pl, nil, err
	}
	if root.owner == nil {
		return pl, nil, flows.Errorf(flows.EINVALID, "integration %s has no Organization Owner credential (org_owner): it cannot grant API keys", pl.pr.Name)
	}
	return pl, root.owner, nil
}

func keyForbidden(err error, g flows.Grant) error {
	if status, _ := failure(err); status != http.StatusForbidden && status != http.StatusUnauthorized {
		return err
	}
	return flows.WrapError(flows.EFORBIDDEN, err, "Atlas refused the Organization Owner credential (org_owner) of integration %s: API keys need it to hold Organization Owner", g.Integration)
}

// Create implements flows.Provisioner: it records the intent, makes the key
// and binds it to the grant's address. A retried or resumed Create deletes
// the key the last one made (its private key is lost) and makes another.
func (a *APIKeys) Create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	creds, err := a.create(ctx, g)
	if err != nil {
		return flows.Credentials{}, fmt.Errorf("atlas: create API key %q: %w", g.Principal, keyForbidden(err, g))
	}
	return creds, nil
}

func (a *APIKeys) create(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	if err := checkKeyGrant(g, true); err != nil {
		return flows.Credentials{}, err
	}
	st, err := readKeyState(g.State)
	if err != nil {
		return flows.Credentials{}, err
	}
	pl, err := a.sa.locate(ctx, g, true)
	if err != nil {
		return flows.Credentials{}, err
	}
	pl, api, err := a.owner(pl)
	if err != nil {
		return flows.Credentials{}, err
	}
	return a.make(ctx, g, pl, api, st)
}

// make makes the grant's key, the intent recorded first. A grant that
// holds a key already (a reissue, or a resumed make) gets the new one
// beside it: the leftovers of an interrupted make go first (every key
// described as the grant's but the one it holds: their private keys are
// lost), the new key is made and recorded, and only then is the old one
// deleted. So an active grant has a key in Atlas whenever jitbot stops.
func (a *APIKeys) make(ctx context.Context, g flows.Grant, pl saPlace, api *admin.APIClient, st keyState) (flows.Credentials, error) {
	// A state written before keys were made beside the old one names the
	// old one Replacing.
	held := firstNonEmpty(st.KeyID, st.Replacing)
	before := st != (keyState{})
	st = keyState{Creating: true, KeyID: held}
	if err := g.Record(ctx, st.String()); err != nil {
		return flows.Credentials{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not record the grant before changing Atlas")
	}
	if before {
		if err := a.removeAllBut(ctx, g, pl, api, held); err != nil {
			return flows.Credentials{}, err
		}
	}
	desc := keyDescription(g, pl)
	var k *admin.ApiKeyUserDetails
	err := a.p.do(ctx, pl.pr, "createApiKey", func(ctx context.Context) (*http.Response, error) {
		var resp *http.Response
		var err error
		if pl.projectID == "" {
			k, resp, err = api.ProgrammaticAPIKeysApi.CreateOrgApiKey(ctx, pl.orgID, &admin.CreateAtlasOrganizationApiKey{Desc: desc, Roles: g.Roles}).Execute()
		} else {
			k, resp, err = api.ProgrammaticAPIKeysApi.CreateGroupApiKey(ctx, pl.projectID, &admin.CreateAtlasProjectApiKey{Desc: desc, Roles: g.Roles}).Execute()
		}
		return resp, err
	})
	if err != nil {
		return flows.Credentials{}, err
	}
	st = keyState{KeyID: k.GetId(), Replacing: held}
	if err := g.Record(ctx, st.String()); err != nil {
		return flows.Credentials{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not record the API key Atlas made")
	}
	addr, _ := flows.ParseAddress(g.Resource.Address) // checked: checkKeyGrant
	entries := []admin.UserAccessListRequest{{CidrBlock: admin.PtrString(wireCIDR(addr))}}
	err = a.p.do(ctx, pl.pr, "createOrgAccessEntry", func(ctx context.Context) (*http.Response, error) {
		_, resp, err := api.ProgrammaticAPIKeysApi.CreateOrgAccessEntry(ctx, pl.orgID, st.KeyID, &entries).Execute()
		return resp, err
	})
	if err != nil {
		return flows.Credentials{}, err
	}
	if held != "" {
		if err := a.remove(ctx, g, pl, api, held); err != nil {
			return flows.Credentials{}, err
		}
		st = keyState{KeyID: st.KeyID}
		if err := g.Record(ctx, st.String()); err != nil {
			return flows.Credentials{}, flows.WrapError(flows.EUNAVAILABLE, err, "could not record the deletion of the API key replaced")
		}
	}
	a.p.log.InfoContext(ctx, "atlas API key created", "integration", pl.pr.Name, "where", pl.String(), "public_key", k.GetPublicKey(),
		"request_id", g.RequestID, "roles", flows.FormatRoles(g.Roles))
	where := "the Atlas organization of " + pl.pr.Name
	if pl.projectID != "" {
		on := g.Resource
		on.Address = ""
		where = on.String()
	}
	return flows.APIKeyCredentials(k.GetPublicKey(), flows.NewSecret(k.GetPrivateKey()), where, g.Resource.Address, pl.pr.BaseURL), nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// removeAll deletes the key id (when set) and every other key described as
// the grant's.
func (a *APIKeys) removeAll(ctx context.Context, g flows.Grant, pl saPlace, api *admin.APIClient, id string) error {
	ids, err := a.ours(ctx, pl, api, g)
	if err != nil {
		return err
	}
	if id != "" && !slices.Contains(ids, id) {
		ids = append(ids, id)
	}
	for _, id := range ids {
		if err := a.remove(ctx, g, pl, api, id); err != nil {
			return err
		}
	}
	return nil
}

// removeAllBut deletes every key described as the grant's but held.
func (a *APIKeys) removeAllBut(ctx context.Context, g flows.Grant, pl saPlace, api *admin.APIClient, held string) error {
	ids, err := a.ours(ctx, pl, api, g)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if id == held {
			continue
		}
		if err := a.remove(ctx, g, pl, api, id); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes one key; one already gone is no error.
func (a *APIKeys) remove(ctx context.Context, g flows.Grant, pl saPlace, api *admin.APIClient, id string) error {
	err := a.p.do(ctx, pl.pr, "deleteOrgApiKey", func(ctx context.Context) (*http.Response, error) {
		return api.ProgrammaticAPIKeysApi.DeleteOrgApiKey(ctx, pl.orgID, id).Execute()
	})
	if status, _ := failure(err); err != nil && status != http.StatusNotFound {
		return err
	}
	a.p.log.InfoContext(ctx, "atlas API key deleted", "integration", pl.pr.Name, "key_id", id, "request_id", g.RequestID)
	return nil
}

// ours lists the organization's keys and returns those described as g's.
func (a *APIKeys) ours(ctx context.Context, pl saPlace, api *admin.APIClient, g flows.Grant) ([]string, error) {
	keys, err := a.list(ctx, pl, api)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, k := range keys {
		if principal, id, _, ok := keyMark(k.GetDesc()); ok && id == g.RequestID && principal == g.Principal {
			out = append(out, k.GetId())
		}
	}
	return out, nil
}

func (a *APIKeys) list(ctx context.Context, pl saPlace, api *admin.APIClient) ([]admin.ApiKeyUserDetails, error) {
	var out []admin.ApiKeyUserDetails
	for page := 1; page <= maxPages; page++ {
		var res *admin.PaginatedApiApiUser
		err := a.p.do(ctx, pl.pr, "listOrgApiKeys", func(ctx context.Context) (*http.Response, error) {
			var resp *http.Response
			var err error
			res, resp, err = api.ProgrammaticAPIKeysApi.ListOrgApiKeys(ctx, pl.orgID).ItemsPerPage(usersPerPage).PageNum(page).Execute()
			return resp, err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, res.GetResults()...)
		if total, ok := res.GetTotalCountOk(); len(res.GetResults()) < usersPerPage || (ok && len(out) >= *total) {
			return out, nil
		}
	}
	return nil, flows.Errorf(flows.EINTERNAL, "more than %d pages of API keys in %s; giving up", maxPages, pl)
}

// Reissue implements flows.Reissuer: the key is deleted and made again
// (Atlas never shows a private key twice).
func (a *APIKeys) Reissue(ctx context.Context, g flows.Grant) (flows.Credentials, error) {
	creds, err := a.create(ctx, g)
	if err != nil {
		return flows.Credentials{}, fmt.Errorf("atlas: reissue API key %q: %w", g.Principal, keyForbidden(err, g))
	}
	return creds, nil
}

// Delete implements flows.Provisioner: the key goes (deleteOrgApiKey; its
// access list with it). A grant that recorded nothing made nothing; one
// that recorded an intent, and an orphan reconcile found, are looked for by
// their description.
func (a *APIKeys) Delete(ctx context.Context, g flows.Grant) error {
	if err := a.delete(ctx, g); err != nil {
		return fmt.Errorf("atlas: delete API key %q: %w", g.Principal, keyForbidden(err, g))
	}
	return nil
}

func (a *APIKeys) delete(ctx context.Context, g flows.Grant) error {
	if err := checkKeyGrant(g, false); err != nil {
		return err
	}
	st, err := readKeyState(g.State)
	if err != nil {
		return err
	}
	if g.Journal != nil && st == (keyState{}) {
		return nil
	}
	pl, err := a.sa.locate(ctx, g, false)
	if err != nil {
		return err
	}
	pl, api, err := a.owner(pl)
	if err != nil {
		return err
	}
	if err := a.removeAll(ctx, g, pl, api, firstNonEmpty(st.KeyID, st.Replacing)); err != nil {
		return err
	}
	return nil
}

// ManagedGrants implements flows.Inventory: the organization's keys
// described as jitbot's (in an integration of one project, those of its
// project).
func (a *APIKeys) ManagedGrants(ctx context.Context, integration string) ([]flows.ManagedGrant, error) {
	pr, err := a.p.project(integration)
	if err != nil {
		return nil, fmt.Errorf("atlas: list API keys: %w", err)
	}
	if pr.owner == nil {
		return nil, nil // it grants none
	}
	pl := saPlace{pr: pr, orgID: pr.OrganizationID}
	if !pr.OrgWide() {
		if pl.orgID, err = a.sa.orgOf(ctx, pr); err != nil {
			return nil, fmt.Errorf("atlas: list the API keys of %s: %w", integration, err)
		}
	}
	keys, err := a.list(ctx, pl, pr.owner)
	if err != nil {
		return nil, fmt.Errorf("atlas: list the API keys of %s: %w", integration, keyForbidden(err, flows.Grant{Integration: integration}))
	}
	var out []flows.ManagedGrant
	for _, k := range keys {
		principal, id, projectID, ok := keyMark(k.GetDesc())
		if !ok || (!pr.OrgWide() && projectID != pr.ProjectID) {
			continue
		}
		where := flows.Resource{Integration: integration}
		if pr.OrgWide() {
			where.ProjectID = projectID
		}
		out = append(out, flows.ManagedGrant{Principal: principal, RequestID: id, Where: where})
	}
	return out, nil
}
