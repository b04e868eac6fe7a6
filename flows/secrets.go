package flows

import "time"

// SecretKeeper holds the credentials of a grant in memory from the moment
// they are issued until the message that hands them over is sent: the
// outbox, being on disk, never holds a secret (DESIGN §4). A keeper loses
// everything when the process stops; the dispatcher then finds the secret
// missing and has a new one issued rather than send a message without it.
//
// A secret is known by its request and the time it was issued (the
// activation's or rotation's event time, Request.CredentialsIssuedAt), so a
// rotation never hands out the secret it replaced.
type SecretKeeper interface {
	// Keep holds c until Forget or until it expires. The service keeps the
	// credentials before the transition that announces them commits, so the
	// dispatcher never looks for them too early.
	Keep(id RequestID, issued time.Time, c Credentials)
	// Lookup returns the credentials held, without forgetting them: a
	// message the platform accepted but whose delivery was not recorded is
	// sent again, and must carry the same secret, not a reissued one.
	Lookup(id RequestID, issued time.Time) (Credentials, bool)
	// Forget drops the credentials once their message is recorded as sent
	// (or will never be).
	Forget(id RequestID, issued time.Time)
}
