package flows

import (
	"errors"
	"fmt"
)

// ErrStoreUnreachable says the store could not be reached at all (no
// quorum, no answer within its timeout), as opposed to refusing a change:
// nothing was written, and retrying later may work. A store marks its
// errors with StoreUnreachable; intake answers people that it cannot take
// their request now, and every replica revokes what its last due list
// says is due (OfflineRevoker).
var ErrStoreUnreachable = errors.New("the store cannot be reached")

// StoreUnreachable marks cause as the store being unreachable: an
// EUNAVAILABLE error whose safe message says so, and that errors.Is
// ErrStoreUnreachable.
func StoreUnreachable(cause error) error {
	if cause == nil || errors.Is(cause, ErrStoreUnreachable) {
		return cause
	}
	return &Error{Code: EUNAVAILABLE, Message: "jitbot's store cannot be reached now; nothing was recorded",
		Err: fmt.Errorf("%w: %w", ErrStoreUnreachable, cause)}
}

// IsStoreUnreachable reports whether err says the store could not be
// reached.
func IsStoreUnreachable(err error) bool { return errors.Is(err, ErrStoreUnreachable) }
