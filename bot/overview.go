package bot

import (
	"context"

	"github.com/jitbot/jitbot/flows"
)

// Overview is everything a person has under way, for a page of their own
// (the Slack App Home): their access, their pending requests and what
// waits for their approval, each as they see it with its buttons.
type Overview struct {
	Active  []ListItem // granted, being set up or being removed
	Pending []ListItem // their requests waiting for approval
	Waiting []ListItem // requests (or extensions) waiting for their approval
	Ended   []ListItem // their latest requests whose access ended: Request again
}

// NewOverview sorts a person's requests (mine) and those waiting for them
// into an Overview, as v sees them.
func NewOverview(v Viewer, mine, waiting []*flows.Request) Overview {
	var active, pending []*flows.Request
	for _, r := range mine {
		if r.State == flows.StatePending {
			pending = append(pending, r)
		} else {
			active = append(active, r)
		}
	}
	return Overview{
		Active:  NewList("", "", active, v).Items,
		Pending: NewList("", "", pending, v).Items,
		Waiting: NewList("", "", waiting, v).Items,
	}
}

// Overview reads who's Overview.
func (e *Engine) Overview(ctx context.Context, who Actor) (Overview, error) {
	svc, err := e.service()
	if err != nil {
		return Overview{}, err
	}
	if who, err = e.trust(ctx, who); err != nil {
		return Overview{}, err
	}
	mine, err := svc.Mine(ctx, who.Email)
	if err != nil {
		return Overview{}, err
	}
	waiting, err := svc.Pending(ctx, who.Email)
	if err != nil {
		return Overview{}, err
	}
	ended, err := svc.Recent(ctx, who.Email)
	if err != nil {
		return Overview{}, err
	}
	ov := NewOverview(who.Viewer(), mine, waiting)
	ov.Ended = NewList("", "", ended, who.Viewer()).Items
	return ov, nil
}

// Get reads a request who may see, for a platform that must describe it
// before acting (the question a deny form asks).
func (e *Engine) Get(ctx context.Context, who Actor, id flows.RequestID) (*flows.Request, error) {
	svc, err := e.service()
	if err != nil {
		return nil, err
	}
	if who, err = e.trust(ctx, who); err != nil {
		return nil, err
	}
	return svc.Get(ctx, id, who.Email)
}
