package flows

import (
	"slices"
	"strings"
)

// Credentials are what a requester receives when a grant becomes active or
// its secret is reissued: whatever the kind hands out (a username and
// password, a client id and secret, a key pair, instructions only), as
// labelled fields the chat engine renders in order. They go to the requester
// once, privately, and are never stored: a secret is a Secret, which
// redacts itself everywhere but in Reveal.
type Credentials struct {
	Fields []CredentialField
	// Instructions say how to use the access: the kind's own, then the
	// integration's access details, placeholders filled in.
	Instructions string
}

// CredentialField is one labelled value of Credentials: Value for what may
// be shown and quoted, Secret for what must not outlive the message.
type CredentialField struct {
	// Key names the field for the integration's access details: the
	// placeholder $<KEY in upper case> (username: $USERNAME). Secrets have
	// no placeholder: they never reach instructions. Empty: no placeholder.
	Key    string
	Label  string
	Value  string
	Secret Secret
	// Mono asks for a fixed-width, copyable rendering (names, secrets,
	// connection strings) that no markup may alter.
	Mono bool
}

// IsSecret reports whether the field holds a secret.
func (f CredentialField) IsSecret() bool { return !f.Secret.IsZero() }

// Field returns the field with the given key.
func (c Credentials) Field(key string) (CredentialField, bool) {
	i := slices.IndexFunc(c.Fields, func(f CredentialField) bool { return f.Key == key })
	if i < 0 {
		return CredentialField{}, false
	}
	return c.Fields[i], true
}

// Secrets returns the secrets the credentials carry.
func (c Credentials) Secrets() []Secret {
	var out []Secret
	for _, f := range c.Fields {
		if f.IsSecret() {
			out = append(out, f.Secret)
		}
	}
	return out
}

// Keys of the database user's credential fields.
const (
	FieldUsername         = "username"
	FieldPassword         = "password"
	FieldConnectionString = "connection_string"
)

// DatabaseUserCredentials are what the requester of a database user
// receives: its name, its password and the cluster's connection string
// (empty when it could not be found; the field stays, so every message has
// the same shape).
func DatabaseUserCredentials(username string, password Secret, connectionString string) Credentials {
	return Credentials{Fields: []CredentialField{
		{Key: FieldUsername, Label: "Username", Value: username, Mono: true},
		{Key: FieldPassword, Label: "Password", Secret: password, Mono: true},
		{Key: FieldConnectionString, Label: "Connection string", Value: connectionString, Mono: true},
	}}
}

// withInstructions adds the integration's access details to what the
// provisioner said, for a kind they are written for (KindSpec.AccessDetails),
// with $<KEY> replaced by the fields' values and $DATABASE by the target's
// database.
func (s *Service) withInstructions(r *Request, c Credentials) Credentials {
	kind, _ := s.kindOf(r)
	in, ok := s.Policy().Integration(r.Resource.Integration)
	// A passwordless user's instructions are exact; the access details are
	// written for users with a password (--username, a password prompt).
	if !ok || in.AccessDetails == "" || !kind.AccessDetails || r.Auth.Passwordless() {
		return c
	}
	pairs := []string{"$DATABASE", r.Resource.Database}
	for _, f := range c.Fields {
		if f.Key != "" && !f.IsSecret() {
			// A value the provisioner could not give (a connection string
			// that fits no connectivity) stays visibly missing in a
			// command, not an empty "" that looks deliberate.
			v := f.Value
			if v == "" {
				v = "<" + strings.ToLower(f.Label) + ">"
			}
			pairs = append(pairs, "$"+strings.ToUpper(f.Key), v)
		}
	}
	details := strings.NewReplacer(longestFirst(pairs)...).Replace(in.AccessDetails)
	if c.Instructions == "" {
		c.Instructions = details
	} else {
		c.Instructions += "\n\n" + details
	}
	return c
}

// longestFirst orders placeholder pairs so that $USERNAME is replaced
// before a $USER would cut it short.
func longestFirst(pairs []string) []string {
	type pair struct{ old, new string }
	ps := make([]pair, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		ps = append(ps, pair{pairs[i], pairs[i+1]})
	}
	slices.SortStableFunc(ps, func(a, b pair) int { return len(b.old) - len(a.old) })
	out := make([]string, 0, len(pairs))
	for _, p := range ps {
		out = append(out, p.old, p.new)
	}
	return out
}

// Keys of the fields of passwordless database users and network access.
const (
	FieldMechanism = "mechanism" // how a passwordless user signs in: MONGODB-OIDC, MONGODB-AWS
	FieldCommand   = "command"   // the mongosh command that connects
	FieldAddress   = "address"   // the address network access opens
)

// PasswordlessCredentials are what the requester of a database user without
// a password receives: its name, how it signs in, the cluster's connection
// string and the exact command that connects, with instructions. No secret:
// the identity provider or AWS proves who signs in.
func PasswordlessCredentials(auth DatabaseAuth, username, connectionString string) Credentials {
	conn := connectionString
	if conn == "" {
		conn = "<the cluster's connection string>"
	}
	c := Credentials{Fields: []CredentialField{{Key: FieldUsername, Label: "Username", Value: username, Mono: true}}}
	switch auth {
	case AuthOIDC:
		_, name, _ := strings.Cut(username, "/")
		c.Fields = append(c.Fields,
			CredentialField{Key: FieldMechanism, Label: "Sign in with", Value: "MONGODB-OIDC"},
			CredentialField{Key: FieldConnectionString, Label: "Connection string", Value: connectionString, Mono: true},
			CredentialField{Key: FieldCommand, Label: "Connect", Value: `mongosh "` + conn + `" --authenticationMechanism MONGODB-OIDC`, Mono: true})
		c.Instructions = "There is no password: you sign in as yourself (" + name + ") through your organization's identity provider. " +
			"Run the command; mongosh opens your browser to sign in."
	case AuthAWSIAM:
		c.Fields = append(c.Fields,
			CredentialField{Key: FieldMechanism, Label: "Sign in with", Value: "MONGODB-AWS"},
			CredentialField{Key: FieldConnectionString, Label: "Connection string", Value: connectionString, Mono: true},
			CredentialField{Key: FieldCommand, Label: "Connect", Value: `mongosh "` + conn + `" --authenticationMechanism MONGODB-AWS --authenticationDatabase '$external'`, Mono: true})
		if strings.Contains(username, ":role/") {
			c.Instructions = "There is no password: you sign in with the AWS credentials of the role " + username + ". " +
				"Assume it (aws sts assume-role --role-arn " + username + " --role-session-name <your name>), " +
				"export AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from its answer, then run the command."
		} else {
			c.Instructions = "There is no password: you sign in with the access keys of the IAM user " + username + " " +
				"(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment), then run the command."
		}
	}
	return c
}

// NetworkAccessCredentials are what the requester of network access
// receives: the address now on the project's access list, and what that
// means. note, when set, says more (the entry was there already).
func NetworkAccessCredentials(address, integration, note string) Credentials {
	c := Credentials{
		Fields: []CredentialField{{Key: FieldAddress, Label: "Address", Value: address, Mono: true}},
		Instructions: "Atlas now accepts connections from " + address + " to the clusters of " + integration + ", until this access ends. " +
			"Sign in with a database user as usual. When access ends, connections already open may stay open for a while.",
	}
	if note != "" {
		c.Instructions += " " + note
	}
	return c
}
