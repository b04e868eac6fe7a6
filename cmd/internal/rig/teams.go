package rig

import (
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/infracloudio/msbotbuilder-go/schema"
)

// TeamsSend delivers act to the running jitbot's Teams endpoint, signed
// with a token of the Bot Framework fake, as Teams delivers it; anything
// but a 200 is an error.
func (r *Rig) TeamsSend(ctx context.Context, act schema.Activity) error {
	resp, err := r.BF.Deliver(ctx, "http://"+r.Addr()+"/teams/messages", act)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/teams/messages answered %d: %s", resp.StatusCode, body)
	}
	return nil
}
