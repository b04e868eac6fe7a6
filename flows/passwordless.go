package flows

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
)

// DatabaseAuth is how a database user signs in. A flow of database users
// chooses it (auth): with a password jitbot makes and hands out once, or
// with none at all, as the requester's own identity at the organization's
// identity provider (Atlas workforce identity federation, OIDC) or as their
// AWS IAM role or user. A passwordless user lives in $external, is named by
// the flow's template from the requester's email (never by what a request
// says), and its requester receives connection instructions, no secret.
// Everything else (the APPLIED wait, the backstop, expiry, extension,
// revocation, reconcile) is the database user's.
//
// Such a user is one per person and project, not one per request: a second
// live grant for the same identity is refused (extend the first, or revoke
// it), and the provisioner acts only on a user labelled with the request's
// own id.
type DatabaseAuth string

// How database users sign in.
const (
	AuthPassword DatabaseAuth = ""
	AuthOIDC     DatabaseAuth = "oidc"    // oidcAuthType USER: one person, never an IdP group
	AuthAWSIAM   DatabaseAuth = "aws_iam" // awsIAMType ROLE or USER, by the ARN
)

// Passwordless reports whether users so authenticated have no password.
func (a DatabaseAuth) Passwordless() bool { return a != AuthPassword }

// String names the method for people: password, OIDC, AWS IAM.
func (a DatabaseAuth) String() string {
	switch a {
	case AuthOIDC:
		return "OIDC"
	case AuthAWSIAM:
		return "AWS IAM"
	}
	return "password"
}

// Placeholders of the identity templates, filled from the requester's
// email alice.smith@example.com: {email}, {local_part} (alice.smith) and
// {domain} (example.com).
var templatePlaceholder = regexp.MustCompile(`\{[^{}]*\}`)

var templateValues = map[string]func(local, domain string) string{
	"{email}":      func(l, d string) string { return l + "@" + d },
	"{local_part}": func(l, _ string) string { return l },
	"{domain}":     func(_, d string) string { return d },
}

// renderIdentity fills a template for requester (an email).
func renderIdentity(template, requester string) string {
	local, domain, _ := strings.Cut(requester, "@")
	return templatePlaceholder.ReplaceAllStringFunc(template, func(ph string) string {
		if f, ok := templateValues[ph]; ok {
			return f(local, domain)
		}
		return ph
	})
}

// checkTemplate reports an unknown placeholder, or a template that names
// nobody in particular.
func checkTemplate(template string) error {
	personal := false
	for _, ph := range templatePlaceholder.FindAllString(template, -1) {
		if _, ok := templateValues[ph]; !ok {
			return fmt.Errorf("unknown placeholder %s: use {email}, {local_part} or {domain}", ph)
		}
		personal = personal || ph != "{domain}"
	}
	if strings.ContainsAny(templatePlaceholder.ReplaceAllString(template, ""), "{} \t\r\n") {
		return fmt.Errorf("%q: braces belong to placeholders, and an identity has no spaces", template)
	}
	if !personal {
		return fmt.Errorf("%q names the same identity for everyone: use {email} or {local_part} so that each person signs in as themselves", template)
	}
	return nil
}

var (
	// iamARN is an IAM role's or user's ARN, as Atlas names AWS IAM users.
	iamARN = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:(role|user)/[A-Za-z0-9+=,.@_/-]{1,512}$`)
	// iamARNTemplate is the fixed part a flow's ARN template must have.
	iamARNTemplate = regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:(role|user)/\S+$`)
	// identityProviderID is the Atlas id of an identity provider: no slash,
	// no space (it is the part of an OIDC username before the slash).
	identityProviderID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// ParseDatabaseAuth reads a flow's auth setting.
func ParseDatabaseAuth(s string) (DatabaseAuth, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "password", "scram":
		return AuthPassword, nil
	case "oidc":
		return AuthOIDC, nil
	case "aws_iam", "aws-iam", "iam":
		return AuthAWSIAM, nil
	case "oidc_group", "idp_group", "oidc_idp_group":
		return "", fmt.Errorf("%q would grant a whole identity-provider group (oidcAuthType IDP_GROUP), not the one person who asked: jitbot grants people; use oidc", s)
	}
	return "", fmt.Errorf("unknown auth %q: use password, oidc or aws_iam", excerpt(s))
}

func checkIdentityProviderID(v *validator, path, id string) {
	if id != "" && !identityProviderID.MatchString(id) {
		v.add(path, "%q is not an Atlas identity provider id (letters, digits, . _ -, no slash; see the organization's federation settings)", excerpt(id))
	}
}

// compileAuth reads a flow's auth settings: only database user flows have
// them, and a passwordless flow needs what names its users.
func (p *Policy) compileAuth(v *validator, at string, fs FlowSpec, f *Flow, kind KindSpec, known bool) {
	if !known {
		return
	}
	if kind.Kind != KindDatabaseUser {
		for key, set := range map[string]bool{"auth": fs.Auth != "", "oidc_username": fs.OIDCUsername != "", "aws_iam_arn": fs.AWSIAMARN != ""} {
			if set {
				v.add(at+"."+key, "a setting of database user flows, not of %s flows", kind.Name)
			}
		}
		return
	}
	auth, err := ParseDatabaseAuth(fs.Auth)
	if err != nil {
		v.add(at+".auth", "%s", err)
		return
	}
	f.Auth = auth
	if auth != AuthOIDC && fs.OIDCUsername != "" {
		v.add(at+".oidc_username", "names OIDC users: a setting of flows with auth: oidc")
	}
	if auth != AuthAWSIAM && fs.AWSIAMARN != "" {
		v.add(at+".aws_iam_arn", "names AWS IAM users: a setting of flows with auth: aws_iam")
	}
	switch auth {
	case AuthOIDC:
		f.OIDCUsername = fs.OIDCUsername
		if f.OIDCUsername == "" {
			f.OIDCUsername = "{email}"
		}
		if err := checkTemplate(f.OIDCUsername); err != nil {
			v.add(at+".oidc_username", "%s", err)
		}
		if in, ok := p.Integration(fs.Integration); ok && in.OIDCIdentityProviderID == "" {
			v.add(at+".auth", "integration %s has no oidc_identity_provider_id: set it to the id of its workforce identity provider (the organization's federation settings), which names OIDC database users", in.Name)
		}
	case AuthAWSIAM:
		f.AWSIAMARN = strings.TrimSpace(fs.AWSIAMARN)
		switch {
		case f.AWSIAMARN == "":
			v.add(at+".aws_iam_arn", "required with auth: aws_iam: each requester's IAM role or user, such as arn:aws:iam::123456789012:role/dba-{local_part}")
		case !iamARNTemplate.MatchString(f.AWSIAMARN):
			v.add(at+".aws_iam_arn", "%q: want arn:aws:iam::<12-digit account>:role/<name> (or :user/<name>), with {local_part} or {email} in the name", excerpt(f.AWSIAMARN))
		default:
			if err := checkTemplate(f.AWSIAMARN); err != nil {
				v.add(at+".aws_iam_arn", "%s", err)
			}
		}
	}
}

// identity is the passwordless database user a flow names for requester
// in integration in, or "" for a flow of password users (whose names the
// kind makes, per request, when the grant is made).
func (f *Flow) identity(in *Integration, requester string) (string, error) {
	switch f.Auth {
	case AuthOIDC:
		name := renderIdentity(f.OIDCUsername, requester)
		if len(name) > 256 || strings.IndexFunc(name, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return "", Errorf(EFORBIDDEN, "access flow %s names OIDC users %s, which gives no valid name for %s: ask an admin to fix the flow", f.Name, f.OIDCUsername, requester)
		}
		return in.OIDCIdentityProviderID + "/" + name, nil
	case AuthAWSIAM:
		arn := renderIdentity(f.AWSIAMARN, requester)
		if !iamARN.MatchString(arn) {
			return "", Errorf(EFORBIDDEN, "access flow %s names AWS IAM identities %s, which gives no valid ARN for %s: ask an admin to fix the flow", f.Name, f.AWSIAMARN, requester)
		}
		return arn, nil
	}
	return "", nil
}

// admit applies what the flow says of this request beyond matching it: the
// rules of a network access flow on the address, and the identity of a
// passwordless database user. It returns the flow as it applies to the
// request (a copy asking one approval more for a public address) and the
// principal the flow decides ("" when the kind names it).
func (f *Flow) admit(in *Integration, requester string, t Resource) (*Flow, string, error) {
	g := f
	if t.Address != "" {
		// Network access, or a grant used from an address (kind_programmatic.go).
		if f.Network == nil {
			return nil, "", Errorf(EFORBIDDEN, "access flow %s binds no grant to an address: ask without from %s", f.Name, t.Address)
		}
		var err error
		if g, err = f.admitAddress(t); err != nil {
			return nil, "", err
		}
	}
	id, err := g.identity(in, requester)
	return g, id, err
}

// DescribeAccess says what a request gives, for people: "read on
// prod/Cluster0/sales", "read on prod/Cluster0/sales, signing in with
// OIDC", "network access from 203.0.113.7/32 to prod".
func DescribeAccess(r *Request) string {
	out := FormatRoles(r.Roles) + " on " + r.Resource.String()
	for _, k := range builtinKinds() {
		if k.Kind == r.Kind.orDefault() && k.Describe != nil {
			out = k.Describe(r.Roles, r.Resource)
		}
	}
	if r.Auth.Passwordless() {
		out += ", signing in with " + r.Auth.String()
	}
	if r.Kind.orDefault() == KindDatabaseUser && r.Resource.Address != "" {
		out += ", from " + r.Resource.Address // a combined grant: the address is on the access list as long
	}
	if r.Guest != nil {
		out += ", for " + r.Guest.Email + ", sponsored by " + r.Requester
	}
	return out
}

// refuseIdentity answers a request that names an Atlas identity itself.
func refuseIdentity(typed string, f *Flow, principal string) error {
	if principal != "" {
		return Errorf(EINVALID, "%s: jitbot grants the identity access flow %s names for you (%s), never one typed in a request", excerpt(typed), f.Name, principal)
	}
	return Errorf(EINVALID, "%s: access flow %s names what it grants by itself; an identity typed in a request is refused", excerpt(typed), f.Name)
}

// HandsOutSecret reports whether r's grant hands its requester a secret (a
// password, a token): not a passwordless database user, not network access.
// A kind jitbot does not know (a test's) is taken to.
func HandsOutSecret(r *Request) bool {
	if r.Auth.Passwordless() {
		return false
	}
	for _, k := range builtinKinds() {
		if k.Kind == r.Kind.orDefault() {
			return k.SecretName != ""
		}
	}
	return true
}
