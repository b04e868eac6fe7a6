package atlas

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"go.mongodb.org/atlas-sdk/v20250312020/admin"
	"golang.org/x/oauth2"

	"github.com/jitbot/jitbot/flows"
)

// leastPrivilege names the Atlas project roles jitbot's credentials need.
const leastPrivilege = "Project Database Access Admin (and Project Read Only for discovery)"

// callError is the log-only cause of a failed Atlas operation.
type callError struct {
	Op     string
	Status int    // HTTP status; 0 when no answer arrived
	Code   string // Atlas errorCode, when the answer carried one
	Err    error
}

func (e *callError) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	if e.Status != 0 {
		fmt.Fprintf(&b, ": HTTP %d", e.Status)
	}
	if e.Code != "" {
		b.WriteString(" " + e.Code)
	}
	b.WriteString(": " + e.Err.Error())
	return b.String()
}

func (e *callError) Unwrap() error { return e.Err }

// newCallError reads what Atlas answered out of an SDK failure. The status
// comes from the response when there is one, else from the error body, else
// from a failed OAuth token fetch (which never reaches the SDK as a response).
func newCallError(op string, resp *http.Response, err error) *callError {
	ce := &callError{Op: op, Err: err}
	if resp != nil {
		ce.Status = resp.StatusCode
	}
	if apiErr, ok := admin.AsError(err); ok {
		ce.Code = apiErr.GetErrorCode()
		if ce.Status == 0 {
			ce.Status = apiErr.GetError()
		}
	}
	var re *oauth2.RetrieveError
	if ce.Status == 0 && errors.As(err, &re) && re.Response != nil {
		ce.Status = re.Response.StatusCode
		if re.Response.StatusCode == http.StatusBadRequest && re.ErrorCode == "invalid_client" {
			ce.Status = http.StatusUnauthorized
		}
	}
	return ce
}

// failure returns the HTTP status and Atlas error code behind err, if any.
func failure(err error) (status int, code string) {
	var ce *callError
	if errors.As(err, &ce) {
		return ce.Status, ce.Code
	}
	return 0, ""
}

// isUsersLimit recognises the per-project user cap however Atlas words the code
// (GROUP_USERS_LIMIT_EXCEEDED today).
func isUsersLimit(code string) bool {
	c := strings.ToUpper(code)
	return strings.Contains(c, "USER") && strings.Contains(c, "LIMIT")
}

// timedOut tells a deadline from other failures to get an answer: the
// operation's context and the HTTP client's timeout report it differently.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// classify turns a failed operation into an error people can act on.
func (pr *project) classify(ce *callError) error {
	name := pr.Name
	switch {
	case errors.Is(ce, context.Canceled):
		return flows.WrapError(flows.EUNAVAILABLE, ce, "the Atlas call for integration %s was cancelled", name)
	case ce.Status == 0 && timedOut(ce):
		return flows.WrapError(flows.EUNAVAILABLE, ce, "Atlas is unavailable (integration %s did not answer in time)", name)
	case ce.Status == http.StatusUnauthorized:
		return flows.WrapError(flows.EFORBIDDEN, ce, "Atlas rejected jitbot's credentials for integration %s (check the %s)", name, pr.credentialKind())
	case ce.Status >= 400 && ce.Status < 500 && isUsersLimit(ce.Code):
		return flows.WrapError(flows.ECONFLICT, ce, "the Atlas project of integration %s has reached its limit of 100 database users", name)
	case ce.Status == http.StatusForbidden:
		return flows.WrapError(flows.EFORBIDDEN, ce, "Atlas refused jitbot for integration %s: its %s needs the roles %s", name, pr.credentialKind(), leastPrivilege)
	case ce.Status == http.StatusNotFound && ce.Code == "CLUSTER_NOT_FOUND":
		return flows.WrapError(flows.EINVALID, ce, "unknown cluster: the Atlas project of integration %s has no such cluster", name)
	case ce.Status == http.StatusNotFound && strings.Contains(ce.Code, "GROUP"):
		return flows.WrapError(flows.EINVALID, ce, "Atlas has no project %s (integration %s): check its project id", pr.ProjectID, name)
	case ce.Status == http.StatusNotFound:
		return flows.WrapError(flows.ENOTFOUND, ce, "Atlas found no such object in integration %s", name)
	case ce.Status == http.StatusConflict:
		return flows.WrapError(flows.ECONFLICT, ce, "it already exists in Atlas (integration %s)", name)
	case ce.Status == http.StatusTooManyRequests:
		return flows.WrapError(flows.EUNAVAILABLE, ce, "Atlas is rate limiting jitbot (integration %s); it will retry", name)
	case ce.Status >= 500 || ce.Status == 0:
		return flows.WrapError(flows.EUNAVAILABLE, ce, "Atlas is unavailable (integration %s)", name)
	}
	// Any other 4xx is a request Atlas considers wrong: a bug on our side.
	return flows.WrapError(flows.EINTERNAL, ce, "Atlas rejected jitbot's request for integration %s", name)
}
