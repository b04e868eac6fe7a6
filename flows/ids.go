package flows

import "crypto/rand"

// RequestID names a request: ten characters from an alphabet without
// look-alikes, short enough to type (`revoke 8k2mq4xz7p`). It is its own type
// so that an id cannot be passed where an email, a username or a message id
// is expected.
type RequestID string

// newID returns a new random request id (50 bits).
func newID() RequestID {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic("flows: crypto/rand failed: " + err.Error()) // the runtime guarantees it does not
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return RequestID(b)
}
