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
	if !ok || in.AccessDetails == "" || !kind.AccessDetails {
		return c
	}
	pairs := []string{"$DATABASE", r.Resource.Database}
	for _, f := range c.Fields {
		if f.Key != "" && !f.IsSecret() {
			pairs = append(pairs, "$"+strings.ToUpper(f.Key), f.Value)
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
