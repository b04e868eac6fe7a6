package flows

import (
	"errors"
	"fmt"
)

// Code classifies an error for the people and programs that receive it.
type Code string

// The error codes. Messages of errors with these codes are safe to show people;
// anything that is not an *Error is internal and shown only as a generic failure.
const (
	EINVALID     Code = "invalid"     // the input is wrong; the message says how
	EFORBIDDEN   Code = "forbidden"   // the person may not do this
	ENOTFOUND    Code = "not_found"   // no such thing (or none this person may see)
	ECONFLICT    Code = "conflict"    // the thing is not in a state that allows this (includes repeats)
	EUNAVAILABLE Code = "unavailable" // a dependency is down or rate limiting; retrying may help
	EINTERNAL    Code = "internal"    // a bug or an unexpected failure
)

// Error is an error with a code and a message that is safe to show people.
// The wrapped cause is for logs only.
type Error struct {
	Code    Code
	Message string
	Err     error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error whose safe message is the formatted text. Use
// WrapError to attach a cause whose text must stay out of the message.
func Errorf(code Code, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with a safe message and a log-only cause.
func WrapError(code Code, cause error, format string, args ...any) error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: cause}
}

// ErrorCode returns the code of err, EINTERNAL when err carries none, and ""
// for nil.
func ErrorCode(err error) Code {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of err that is safe to show people.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Code != EINTERNAL {
		return e.Message
	}
	return "something went wrong on our side"
}
