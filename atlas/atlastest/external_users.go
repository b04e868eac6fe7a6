package atlastest

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// Database users who authenticate outside MongoDB: Atlas workforce or
// workload identity federation (OIDC) and AWS IAM. They have no password;
// MongoDB asks the identity provider or AWS who they are. What Atlas
// requires of them, beyond the enums checkAuthTypes enforces:
//
//   - at most one of awsIAMType, ldapAuthType, oidcAuthType and x509Type is
//     other than NONE, and a password only for a user with none (SCRAM);
//   - the authentication database: $external for AWS IAM, x.509, LDAP users
//     and OIDC users (oidcAuthType USER), admin for SCRAM, LDAP groups and
//     OIDC groups (IDP_GROUP);
//   - the username: an IAM user's or role's ARN (awsIAMType USER or ROLE), the
//     identity provider's id, a slash and the IdP's user or group name for
//     OIDC;
//   - an update never changes how a user authenticates, nor gives a password
//     to one that has none.

// ExternalDatabase is where users authenticated outside MongoDB live.
const ExternalDatabase = "$external"

var (
	iamARN = map[string]*regexp.Regexp{
		"USER": regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:user/[A-Za-z0-9+=,.@_/-]{1,512}$`),
		"ROLE": regexp.MustCompile(`^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$`),
	}
	oidcName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}/\S{1,256}$`)
)

// authMethod names how u authenticates: "SCRAM", or the one non-NONE type
// ("oidcAuthType USER").
func authMethod(u User) (field, value string, n int) {
	for _, f := range []struct{ name, value string }{
		{"awsIAMType", u.AWSIAMType}, {"ldapAuthType", u.LDAPAuthType},
		{"oidcAuthType", u.OIDCAuthType}, {"x509Type", u.X509Type},
	} {
		if f.value != "NONE" {
			field, value = f.name, f.value
			n++
		}
	}
	return field, value, n
}

// checkExternalUser enforces Atlas's rules on how a new user authenticates.
func checkExternalUser(u User, hasPassword bool) *reply {
	field, value, n := authMethod(u)
	bad := func(code, detail string, params ...any) *reply {
		r := errReply(http.StatusBadRequest, code, detail, params...)
		return &r
	}
	switch {
	case n > 1:
		return bad("ATLAS_INVALID_AUTH_SETTINGS", "Invalid authentication settings. A database user authenticates one way: set at most one of awsIAMType, ldapAuthType, oidcAuthType and x509Type.")
	case n == 0:
		if u.DatabaseName != "admin" {
			return bad("INVALID_ATTRIBUTE", fmt.Sprintf("Invalid attribute databaseName specified: SCRAM users authenticate against admin, not %s.", u.DatabaseName), "databaseName")
		}
		return nil
	case hasPassword:
		return bad("CANNOT_SET_PASSWORD_FOR_AUTH_MECHANISM", fmt.Sprintf("Cannot set a password for a user whose %s is %s: it does not authenticate with a password.", field, value))
	}
	wantDB := ExternalDatabase
	if value == "IDP_GROUP" || (field == "ldapAuthType" && value == "GROUP") {
		wantDB = "admin"
	}
	if u.DatabaseName != wantDB {
		return bad("INVALID_ATTRIBUTE", fmt.Sprintf("Invalid attribute databaseName specified: a user whose %s is %s authenticates against %s, not %s.", field, value, wantDB, u.DatabaseName), "databaseName")
	}
	switch field {
	case "awsIAMType":
		if !iamARN[value].MatchString(u.Username) {
			kind := strings.ToLower(value)
			return bad("ATLAS_INVALID_USERNAME", fmt.Sprintf("The specified username %s is not valid for an Atlas database user: an AWS IAM %s is named by its ARN (arn:aws:iam::<account>:%s/<name>).", u.Username, kind, kind), u.Username)
		}
	case "oidcAuthType":
		if !oidcName.MatchString(u.Username) {
			return bad("ATLAS_INVALID_USERNAME", fmt.Sprintf("The specified username %s is not valid for an Atlas database user: an OIDC user or group is named <identity provider id>/<name>.", u.Username), u.Username)
		}
	}
	return nil
}

// checkExternalUpdate refuses an update that would change how a user
// authenticates or give a password to one that has none.
func checkExternalUpdate(u User, b *userBody) *reply {
	for _, f := range []struct {
		name string
		sent *string
		have string
	}{
		{"awsIAMType", b.AWSIAMType, u.AWSIAMType}, {"ldapAuthType", b.LDAPAuthType, u.LDAPAuthType},
		{"oidcAuthType", b.OIDCAuthType, u.OIDCAuthType}, {"x509Type", b.X509Type, u.X509Type},
	} {
		if f.sent != nil && orNone(f.sent) != f.have {
			r := errReply(http.StatusBadRequest, "INVALID_ATTRIBUTE",
				fmt.Sprintf("Invalid attribute %s specified: a user's authentication method cannot change (%s to %s).", f.name, f.have, orNone(f.sent)), f.name)
			return &r
		}
	}
	if field, value, n := authMethod(u); n > 0 && b.Password != nil {
		r := errReply(http.StatusBadRequest, "CANNOT_SET_PASSWORD_FOR_AUTH_MECHANISM",
			fmt.Sprintf("Cannot set a password for a user whose %s is %s: it does not authenticate with a password.", field, value))
		return &r
	}
	return nil
}
