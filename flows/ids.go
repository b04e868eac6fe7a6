package flows

import (
	"crypto/rand"
	"strings"
)

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

// Username is the Atlas database user for a request: unique per request and
// derived from it, so a repeated create finds the same user.
func Username(requester, requestID string) string {
	local, _, _ := strings.Cut(strings.ToLower(requester), "@")
	clean := []byte(local)
	for i, c := range clean {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			clean[i] = '-'
		}
	}
	if len(clean) > 24 {
		clean = clean[:24]
	}
	return "jit-" + string(clean) + "-" + requestID
}
