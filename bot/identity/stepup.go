package identity

import (
	"context"
	"net/http"

	"github.com/jitbot/jitbot/flows"
)

func (x *Identities) stepUpOptions(ctx context.Context, p purpose) authOptions {
	return authOptions{Fresh: true}
}

func (x *Identities) stepUpPage(ctx context.Context, pd pending, c Claims) (page, int) {
	return page{Title: "Not available", Lines: []string{"Step-up approvals are not available."}}, http.StatusNotFound
}

func (x *Identities) stepUpConfirmed(ctx context.Context, s session) (page, error) {
	return page{}, flows.Errorf(flows.EINVALID, "step-up approvals are not available")
}
