package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Records keeps the sign-in state in the store, as opaque values under a
// kind and a key, so that any replica can finish what another started.
// Implemented by store.DB (bbolt) and flowstest.Store (memory); its
// conformance suite is flowstest.SignInSuite.
type Records interface {
	// PutSignIn writes or replaces a record, gone at expires (never when
	// zero).
	PutSignIn(ctx context.Context, kind, key string, value []byte, expires time.Time) error
	// SignIn reads a live record: ENOTFOUND when missing or expired.
	SignIn(ctx context.Context, kind, key string, now time.Time) ([]byte, error)
	// TakeSignIn reads and deletes a record atomically: of concurrent
	// takers only one gets it (one-time links, a sign-in's state).
	TakeSignIn(ctx context.Context, kind, key string, now time.Time) ([]byte, error)
	DeleteSignIn(ctx context.Context, kind, key string) error
	// EachSignIn calls fn with every live record of kind.
	EachSignIn(ctx context.Context, kind string, now time.Time, fn func(key string, value []byte) error) error
	// PurgeSignIns deletes what expired.
	PurgeSignIns(ctx context.Context, now time.Time) (int, error)
}

// The kinds of records.
const (
	kindLink    = "link"    // a one-time link sent by DM: link id -> link
	kindState   = "state"   // a sign-in under way: OAuth state -> pending
	kindSession = "session" // a signed-in web session: id -> session
	kindBinding = "binding" // a trusted chat account: platform:user -> Binding
	kindPending = "pending" // a binding waiting for an admin: platform:user -> Binding
	kindSent    = "sent"    // a link sent lately to a chat account: platform:user -> link id
	// A guest's link (guest.go), by the hash of its token, never the token.
	kindGuestLink    = "guestlink"    // hash(token) -> guestLink
	kindGuestCurrent = "guestcurrent" // request id -> hash(token) of its live link
	kindGuestWatch   = "guestwatch"   // hash(token) -> guestWatch, until told it expired
	kindGuestShown   = "guestshown"   // hash(session id) -> a password shown on that session
)

// link is a one-time sign-in link, tied to one chat account.
type link struct {
	Platform string `json:"platform"`
	UserID   string `json:"user_id"`
	// Email is the chat profile's email when the link was made: the email
	// the provider's verified email must equal.
	Email   string    `json:"email"`
	Purpose purpose   `json:"purpose"`
	Issued  time.Time `json:"issued"`
}

// purpose is what a sign-in is for.
type purpose struct {
	Kind string `json:"kind"` // bind, reverify, review, stepup
	// Review is the chat account (platform:user) whose pending binding an
	// admin reviews.
	Review string `json:"review,omitempty"`
	// StepUp: the request (and extension), the approver's email, when
	// they clicked, and the acr_values the flow asks for.
	Request   string    `json:"request,omitempty"`
	Extension int       `json:"extension,omitempty"`
	Approver  string    `json:"approver,omitempty"`
	ClickAt   time.Time `json:"click_at,omitzero"`
	ACR       []string  `json:"acr,omitempty"`
	// BreakGlass: the break-glass submission the step-up is for (no
	// request exists yet); Approver is then the requester.
	BreakGlass *breakGlassAsk `json:"break_glass,omitempty"`
}

// The purposes.
const (
	purposeBind     = "bind"
	purposeReverify = "reverify"
	purposeReview   = "review"
	purposeStepUp   = "stepup"
	purposeGuest    = "guest"
)

// pending is a sign-in sent to the provider and not back yet.
type pending struct {
	Nonce    string  `json:"nonce"`
	Verifier string  `json:"verifier"`
	LinkID   string  `json:"link_id,omitempty"`
	Purpose  purpose `json:"purpose"`
	// Browser is a hash of the pre-session cookie of the browser that
	// started it: the callback must come back to that browser.
	Browser string    `json:"browser"`
	Started time.Time `json:"started"`
}

// session is a browser signed in at the provider, for one purpose.
type session struct {
	Claims  Claims    `json:"claims"`
	LinkID  string    `json:"link_id,omitempty"`
	Purpose purpose   `json:"purpose"`
	Created time.Time `json:"created"`
}

// Binding is a chat account whose person signed in at the provider.
type Binding struct {
	Platform string `json:"platform"`
	UserID   string `json:"user_id"`
	// Subject is the provider's subject: what the binding is keyed on.
	Subject string `json:"subject"`
	// ProviderEmail is the email the provider gave, and whether it said it
	// was verified.
	ProviderEmail string `json:"provider_email"`
	EmailVerified bool   `json:"email_verified"`
	// Email is the chat profile's email when it was bound: who jitbot acts
	// for, whatever the profile says later.
	Email      string    `json:"email"`
	BoundAt    time.Time `json:"bound_at"`
	VerifiedAt time.Time `json:"verified_at"`
	// ApprovedBy is the admin who approved a binding whose emails differ.
	ApprovedBy string `json:"approved_by,omitempty"`
	// ReverifySent is when the last re-verification link went out.
	ReverifySent time.Time `json:"reverify_sent,omitzero"`
}

// Account names the chat account: platform:user.
func (b Binding) Account() string { return accountKey(b.Platform, b.UserID) }

func accountKey(platform, user string) string { return platform + ":" + user }

func (x *Identities) put(ctx context.Context, kind, key string, v any, expires time.Time) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("identity: encode %s: %w", kind, err)
	}
	if err := x.deps.Records.PutSignIn(ctx, kind, key, raw, expires); err != nil {
		return fmt.Errorf("identity: save %s: %w", kind, err)
	}
	return nil
}

func (x *Identities) get(ctx context.Context, kind, key string, v any) error {
	raw, err := x.deps.Records.SignIn(ctx, kind, key, x.now())
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

func (x *Identities) take(ctx context.Context, kind, key string, v any) error {
	raw, err := x.deps.Records.TakeSignIn(ctx, kind, key, x.now())
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// Bindings lists the trusted chat accounts.
func (x *Identities) Bindings(ctx context.Context) ([]Binding, error) {
	var out []Binding
	err := x.deps.Records.EachSignIn(ctx, kindBinding, x.now(), func(_ string, v []byte) error {
		var b Binding
		if err := json.Unmarshal(v, &b); err != nil {
			return fmt.Errorf("identity: read binding: %w", err)
		}
		out = append(out, b)
		return nil
	})
	return out, err
}
