package flows

import (
	"strings"
	"time"
)

// KindServiceAccount is a temporary Atlas service account: a programmatic
// credential (a client id and a client secret, exchanged for OAuth tokens)
// with project roles in one project, or organization roles in the
// organization, for the approved duration, usable only from the address
// the request names (its access list). Its target is written as Atlas UI
// access's is (integration/project, or the integration alone), with the
// same roles and the same refusals: never an owner role, and roles that
// create standing access only where the flow names them under
// allow_standing_access. Its flows bound the address with the network
// rules of network access flows.
//
// Atlas fixes the expiry of a service account's secret when the secret is
// made (secretExpiresAfterHours, within bounds the organization sets): that
// expiry is the backstop, and an extension past it needs a new secret
// (SecretLifetime). jitbot deletes the service account when the grant ends,
// however long its secret had left.
const KindServiceAccount Kind = "service_account"

func serviceAccount() KindSpec {
	ui := atlasUI()
	return KindSpec{
		Kind: KindServiceAccount, Name: "service account", SecretName: "client secret",
		TargetSyntax: ui.TargetSyntax + ", used from one address or range (from 203.0.113.7)",
		ParseTarget:  ParseUITarget, ValidateTarget: validateFromTarget(KindServiceAccount),
		TargetParts: 1, PatternSyntax: ui.PatternSyntax,
		Roles: ui.Roles, ValidateRole: validateUIRole, MultipleRoles: true,
		CheckRoles: ui.CheckRoles,
		// Atlas names service accounts freely (names need not be unique):
		// jitbot's are jit-<local part>-<request id>, described as its.
		Principal: databaseUsername,
		Describe: func(roles []string, t Resource) string {
			on := t
			on.Address = ""
			return "a service account with " + FormatRoles(roles) + " on " + on.String() + ", used from " + t.Address
		},
		CheckTarget: checkUITarget,
		CheckFlow:   checkProgrammaticFlow,
		FromAddress: true,
	}
}

// ServiceAccount returns the spec of KindServiceAccount.
func ServiceAccount() KindSpec { return serviceAccount() }

// validateFromTarget checks the target of a kind used from an address: a
// project or the organization, and the address.
func validateFromTarget(k Kind) func(t Resource) error {
	return func(t Resource) error {
		on := t
		on.Address = ""
		if err := validateUITarget(on); err != nil {
			return err
		}
		if t.Address == "" {
			return Errorf(EINVALID, "%s works only from the addresses it is bound to: say where you will use it from, as in from 203.0.113.7", aKind(k))
		}
		p, err := ParseAddress(t.Address)
		if err != nil {
			return err
		}
		if p.String() != t.Address {
			return Errorf(EINVALID, "address %q: write it as %s", excerpt(t.Address), p)
		}
		return nil
	}
}

// offeredTarget checks a target the forms offer (Options). A kind used
// from an address is offered without one: the person types it beside the
// choice (Choice.AskAddress), and Submit checks the two together; so only
// where the grant is (a project, the organization) is checked here.
func offeredTarget(k KindSpec, t Resource) error {
	if k.FromAddress && t.Address == "" {
		return validateUITarget(t)
	}
	return k.ValidateTarget(t)
}

// checkProgrammaticFlow checks a flow of programmatic credentials as Atlas
// UI access's are checked (its patterns and its roles), in its own words.
func checkProgrammaticFlow(fs FlowSpec, in *Integration) ValidationError {
	v := checkUIFlow(fs, in)
	for i := range v {
		v[i].Message = strings.ReplaceAll(v[i].Message, "Atlas UI access", "a programmatic credential")
	}
	return v
}

// SecretLifetime is a Reissuer whose secret Atlas expires by itself, at a
// date fixed when the secret was issued (a service account's secret): the
// grant's backstop. An extension past it needs a new secret, which the
// requester receives as after rotate.
type SecretLifetime interface {
	Reissuer
	// SecretExpiresAt is when the grant's current secret stops working, as
	// the provisioner recorded it (Grant.State); zero when unknown.
	SecretExpiresAt(g Grant) time.Time
}

// Keys of the fields of programmatic credentials.
const (
	FieldClientID     = "client_id"
	FieldClientSecret = "client_secret"
	FieldExpires      = "secret_expires"
)

// ServiceAccountCredentials are what the requester of a service account
// receives: its client id and secret, where it holds its roles, the address
// it works from and when its secret expires in Atlas (jitbot deletes it at
// the grant's end, which may come first).
func ServiceAccountCredentials(clientID string, secret Secret, where, address string, secretExpires time.Time, baseURL string) Credentials {
	return Credentials{
		Fields: []CredentialField{
			{Key: FieldClientID, Label: "Client id", Value: clientID, Mono: true},
			{Key: FieldClientSecret, Label: "Client secret", Secret: secret, Mono: true},
			{Key: "where", Label: "Roles in", Value: where},
			{Key: FieldAddress, Label: "Works from", Value: address, Mono: true},
			{Key: FieldExpires, Label: "Secret expires in Atlas", Value: secretExpires.UTC().Format(time.RFC3339)},
		},
		Instructions: "Exchange the client id and secret for an access token (POST " + strings.TrimSuffix(baseURL, "/") + "/api/oauth/token, " +
			"grant_type=client_credentials, HTTP Basic auth with the id and secret), or give them to the Atlas CLI or an Atlas SDK. " +
			"They work only from " + address + ". When access ends jitbot deletes the service account, whatever time its secret had left.",
	}
}

// KindAPIKey is a temporary programmatic API key (a public and a private
// key, HTTP Digest), as Vault's MongoDB Atlas secrets engine hands out:
// project or organization roles, usable only from the address the request
// names, deleted at the grant's end. Atlas gives API keys no expiry of
// their own, so there is no backstop: a flow must say it accepts that
// (accept_no_backstop: true), and the integration needs an Organization
// Owner credential beside its own (deleting an API key takes one). Service
// accounts are the default programmatic kind; API keys are for tools that
// speak only Digest.
const KindAPIKey Kind = "api_key"

func apiKey() KindSpec {
	k := serviceAccount()
	k.Kind, k.Name, k.SecretName = KindAPIKey, "programmatic API key", "private key"
	k.ValidateTarget = validateFromTarget(KindAPIKey)
	k.Describe = func(roles []string, t Resource) string {
		on := t
		on.Address = ""
		return "an API key with " + FormatRoles(roles) + " on " + on.String() + ", used from " + t.Address
	}
	k.CheckFlow = func(fs FlowSpec, in *Integration) ValidationError {
		v := checkProgrammaticFlow(fs, in)
		if !fs.AcceptNoBackstop {
			v.Add("accept_no_backstop", "Atlas never expires a programmatic API key: should jitbot fail to delete one, it stays until someone does. "+
				"Set accept_no_backstop: true to grant them anyway, or grant service accounts (kind: %s), whose secrets expire by themselves", KindServiceAccount)
		}
		if !in.APIKeyOwner {
			v.Add("integration", "integration %s has no Organization Owner credential for API keys: deleting an API key takes one; "+
				"give it org_owner (client_id and client_secret, or public_key and private_key)", in.Name)
		}
		return v
	}
	return k
}

// APIKey returns the spec of KindAPIKey.
func APIKey() KindSpec { return apiKey() }

// Keys of the fields of an API key.
const (
	FieldPublicKey  = "public_key"
	FieldPrivateKey = "private_key"
)

// APIKeyCredentials are what the requester of an API key receives: its
// public and private key, where it holds its roles and the address it
// works from. Atlas shows the private key once, when the key is made.
func APIKeyCredentials(publicKey string, privateKey Secret, where, address, baseURL string) Credentials {
	return Credentials{
		Fields: []CredentialField{
			{Key: FieldPublicKey, Label: "Public key", Value: publicKey, Mono: true},
			{Key: FieldPrivateKey, Label: "Private key", Secret: privateKey, Mono: true},
			{Key: "where", Label: "Roles in", Value: where},
			{Key: FieldAddress, Label: "Works from", Value: address, Mono: true},
		},
		Instructions: "Call the Atlas Admin API (" + strings.TrimSuffix(baseURL, "/") + "/api/atlas/v2) with HTTP Digest authentication, the public key as the user name and the private key as the password, " +
			"or give them to the Atlas CLI or an Atlas SDK. They work only from " + address + ". When access ends jitbot deletes the key; Atlas would never expire it by itself.",
	}
}
