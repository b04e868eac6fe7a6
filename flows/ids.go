package flows

import "crypto/rand"

// newID returns a short random request id that people can type: ten
// characters from an alphabet without look-alikes (50 bits).
func newID() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
	b := make([]byte, 10)
	if _, err := rand.Read(b); err != nil {
		panic("flows: crypto/rand failed: " + err.Error()) // the runtime guarantees it does not
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
